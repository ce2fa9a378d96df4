//! The outgoing-request guard: the one HTTP client every feature uses to call a URL that a
//! person or a setting supplied (webhooks, chat, the SMS provider, and later mailboxes,
//! calendars and AI providers).
//!
//! Each host is resolved by the guard itself and the connection goes to the checked address,
//! so a name cannot resolve to a public address at check time and to a private one at connect
//! time. Addresses that are not public (loopback, private, link-local, cloud metadata,
//! documentation, multicast, and the IPv6 forms that embed such IPv4 addresses) are refused
//! unless an operator lists their network in `outbound_allowed_networks`. No redirects are
//! followed, no proxy is used, time is bounded, and callers see only a status code, never the
//! target's body.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
pub use reqwest::{Method, RequestBuilder};

pub mod socket;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Why an outgoing request was not made or did not succeed. The text is safe to show to the
/// people who configured the target: it never contains a response body or credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    #[error("refused: {0}")]
    Refused(String),
    #[error("request failed: {0}")]
    Failed(String),
    #[error("answered {0}")]
    Status(u16),
}

/// A network in CIDR form, e.g. `10.0.0.0/8` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{text}` is not an IP network like 10.0.0.0/8"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}` has a prefix length over {max}"))?,
        };
        Ok(Self { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_matches(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_matches(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn prefix_matches(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    a[..full] == b[..full] && (rest == 0 || (a[full] ^ b[full]) >> (8 - rest) == 0)
}

/// An IPv6 address that carries an IPv4 one (mapped, compatible, NAT64, 6to4) as that IPv4
/// address, so every spelling of one host is judged alike.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_ipv4(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let last32 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    // ::a.b.c.d (deprecated "compatible"), but not :: and ::1 themselves.
    if s[..6] == [0; 6] && (s[6] != 0 || s[7] > 1) {
        return Some(last32);
    }
    // NAT64 well-known prefix 64:ff9b::/96 (the local-use 64:ff9b:1::/48 may place the IPv4
    // address elsewhere, so it is judged as a whole in `is_public`).
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] {
        return Some(last32);
    }
    // 6to4: 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// Whether an address is on the public internet. Everything else (this machine, private and
/// carrier-grade NAT ranges, link-local including cloud metadata at 169.254.169.254,
/// documentation and benchmarking ranges, multicast, reserved) is refused by default.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(a == 0
                || a == 10
                || a == 127
                || (a == 100 && (64..128).contains(&b))
                || (a == 169 && b == 254)
                || (a == 172 && (16..32).contains(&b))
                || (a == 192 && b == 168)
                || (a == 192 && b == 0 && (c == 0 || c == 2))
                || (a == 192 && b == 88 && c == 99)
                || (a == 198 && (b == 18 || b == 19))
                || (a == 198 && b == 51 && c == 100)
                || (a == 203 && b == 0 && c == 113)
                || a >= 224)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            !(v6.is_unspecified()
                || v6.is_loopback()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10
                || (s[0] & 0xff00) == 0xff00 // multicast
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x2001 && s[1] < 0x0200) // IETF protocol assignments, Teredo
                || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only 100::/64
                || (s[0] == 0x64 && s[1] == 0xff9b) // NAT64 local use, 64:ff9b:1::/48
                || s[0] == 0) // anything else under ::/16 is reserved
        }
    }
}

/// Which addresses outgoing requests may reach.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    /// Networks allowed although they are not public (an operator's internal receivers).
    pub allowed: Vec<Network>,
}

impl AddressPolicy {
    pub fn permits(&self, ip: IpAddr) -> bool {
        is_public(ip) || self.allowed.iter().any(|n| n.contains(ip))
    }

    /// Checks what can be checked without the network: the scheme, that no credentials
    /// ride in the URL, and a host given as an address or as a name for this machine.
    /// Names are checked again, with every address they resolve to, when a request is made.
    pub fn check_url(&self, url: &url::Url) -> Result<(), OutboundError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(OutboundError::Refused(
                "only http:// and https:// URLs".into(),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(OutboundError::Refused(
                "a URL must not carry a user name or password".into(),
            ));
        }
        let ip = match url.host() {
            None => return Err(OutboundError::Refused("the URL has no host".into())),
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name == "localhost" || name.ends_with(".localhost") {
                    IpAddr::V4(Ipv4Addr::LOCALHOST)
                } else {
                    return Ok(());
                }
            }
        };
        if self.permits(ip) {
            Ok(())
        } else {
            Err(not_public())
        }
    }
}

fn not_public() -> OutboundError {
    OutboundError::Refused(
        "the address is not on the public internet (an operator may allow its network with outbound_allowed_networks)"
            .into(),
    )
}

/// Resolves names and keeps only the permitted addresses, so the connection can only go to
/// an address that was checked.
struct GuardedResolver {
    policy: Arc<AddressPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|a| policy.permits(a.ip()))
                .collect();
            if permitted.is_empty() || permitted.len() < resolved.len() {
                // A name with any non-public address is refused whole: one mixed answer is
                // how rebinding attacks start.
                return Err(Box::new(not_public()) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(permitted.into_iter()) as Addrs)
        })
    }
}

/// The guarded client. Cheap to clone.
#[derive(Clone)]
pub struct Outbound {
    http: reqwest::Client,
    policy: Arc<AddressPolicy>,
}

impl Outbound {
    pub fn new(policy: AddressPolicy, user_agent: &str) -> Self {
        let policy = Arc::new(policy);
        let http = reqwest::Client::builder()
            .dns_resolver(GuardedResolver {
                policy: policy.clone(),
            })
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(user_agent)
            .build()
            .expect("HTTP client");
        Self { http, policy }
    }

    pub fn policy(&self) -> &AddressPolicy {
        &self.policy
    }

    /// Starts a request; send it with [`Outbound::expect_success`].
    pub fn post(&self, url: &str) -> reqwest::RequestBuilder {
        self.http.post(url)
    }

    /// Starts a request of any method (CalDAV uses PROPFIND and REPORT); send it with
    /// [`Outbound::fetch`].
    pub fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.http.request(method, url)
    }

    /// Sends a request and reads its answer, whatever the status, refusing bodies over
    /// `max_bytes` while they stream in (so a huge answer never sits in memory). The URL is
    /// checked first; redirects are answered, not followed.
    pub async fn fetch(
        &self,
        request: reqwest::RequestBuilder,
        max_bytes: usize,
    ) -> Result<Fetched, OutboundError> {
        let request = request
            .build()
            .map_err(|_| OutboundError::Refused("the request could not be built".into()))?;
        self.policy.check_url(request.url())?;
        let mut response = self.http.execute(request).await.map_err(|e| describe(&e))?;
        if response
            .content_length()
            .is_some_and(|n| n > max_bytes as u64)
        {
            return Err(too_large(max_bytes));
        }
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
            if body.len() + chunk.len() > max_bytes {
                return Err(too_large(max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            status,
            headers,
            body,
        })
    }

    /// Sends a request built by [`Outbound::post`] and succeeds on a 2xx answer. The URL is
    /// checked first; a redirect counts as a failure (it is not followed).
    pub async fn expect_success(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(), OutboundError> {
        let request = request
            .build()
            .map_err(|_| OutboundError::Refused("the request could not be built".into()))?;
        self.policy.check_url(request.url())?;
        let response = self.http.execute(request).await.map_err(|e| describe(&e))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(OutboundError::Status(status.as_u16()))
        }
    }
}

/// An answer read whole by [`Outbound::fetch`].
#[derive(Debug)]
pub struct Fetched {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Fetched {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn too_large(max_bytes: usize) -> OutboundError {
    OutboundError::Failed(format!(
        "the answer is larger than {} MB",
        max_bytes / 1_000_000
    ))
}

/// A short reason without the URL (it may carry a secret in its path) or anything the target
/// sent back.
fn describe(err: &reqwest::Error) -> OutboundError {
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<OutboundError>() {
            return refused.clone();
        }
        source = e.source();
    }
    let reason = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_redirect() {
        "redirects are not followed"
    } else {
        "the connection failed"
    };
    OutboundError::Failed(reason.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for text in [
            "127.0.0.1",
            "127.255.0.9",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::808:808",
            "2002:7f00:1::",
            "fd00::1",
            "fc12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
        ] {
            assert!(!is_public(ip(text)), "{text} must not count as public");
        }
    }

    #[test]
    fn public_addresses_are_public() {
        for text in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "192.169.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip(text)), "{text} must count as public");
        }
    }

    #[test]
    fn every_spelling_of_loopback_in_a_url_is_refused() {
        let policy = AddressPolicy::default();
        for text in [
            "http://127.0.0.1/x",
            "http://127.1/x",
            "http://2130706433/x",
            "http://0x7f000001/x",
            "http://0177.0.0.1/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://[::1]:8080/x",
            "http://localhost/x",
            "http://LOCALHOST./x",
            "http://api.localhost/x",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00::1]/x",
        ] {
            let url = url::Url::parse(text).unwrap();
            assert!(
                matches!(policy.check_url(&url), Err(OutboundError::Refused(_))),
                "{text} must be refused"
            );
        }
    }

    #[test]
    fn credentials_and_other_schemes_are_refused() {
        let policy = AddressPolicy::default();
        for text in [
            "http://user:pass@example.com/x",
            "https://user@example.com/x",
            "ftp://example.com/x",
            "file:///etc/passwd",
        ] {
            let url = url::Url::parse(text).unwrap();
            assert!(policy.check_url(&url).is_err(), "{text} must be refused");
        }
        let url = url::Url::parse("https://hooks.example.com/services/x").unwrap();
        assert_eq!(policy.check_url(&url), Ok(()));
    }

    #[test]
    fn allowed_networks_open_a_private_range_and_nothing_else() {
        let policy = AddressPolicy {
            allowed: vec![Network::parse("10.20.0.0/16").unwrap()],
        };
        assert!(policy.permits(ip("10.20.3.4")));
        assert!(policy.permits(ip("::ffff:10.20.3.4")));
        assert!(!policy.permits(ip("10.21.0.1")));
        assert!(!policy.permits(ip("127.0.0.1")));
        let v6 = Network::parse("fd00:1::/32").unwrap();
        assert!(v6.contains(ip("fd00:1::5")));
        assert!(!v6.contains(ip("fd00:2::5")));
        assert!(Network::parse("10.0.0.0/33").is_err());
        assert!(Network::parse("example.com").is_err());
        assert_eq!(
            Network::parse("127.0.0.1").unwrap().to_string(),
            "127.0.0.1/32"
        );
    }
}
