//! Guarded connections for protocols other than HTTP (IMAP): the same address policy as the
//! HTTP client, the name resolved once and only checked addresses dialled, and TLS verified
//! against the system's trusted roots.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{AddressPolicy, CONNECT_TIMEOUT, not_public};

/// A TLS connection made by [`tls`].
pub type TlsStream = tokio_rustls::client::TlsStream<TcpStream>;

/// Why a connection could not be made, in words a person who typed the host name can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error("host not found: check the server name")]
    HostNotFound,
    #[error("{0}")]
    Refused(String),
    #[error("connection refused: nothing answers on that port")]
    ConnectionRefused,
    #[error("timed out: the server did not answer in time")]
    TimedOut,
    #[error("TLS certificate problem: {0}")]
    Certificate(String),
    #[error("TLS failed: {0}")]
    Tls(String),
    #[error("connection failed: {0}")]
    Io(String),
}

/// Resolves `host`, refuses it whole if any address is not permitted (a mixed answer is how
/// rebinding starts), and connects to the first address that answers.
pub async fn connect(
    policy: &AddressPolicy,
    host: &str,
    port: u16,
) -> Result<TcpStream, ConnectError> {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    let resolved: Vec<SocketAddr> =
        match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::lookup_host((host, port))).await {
            Err(_) => return Err(ConnectError::TimedOut),
            Ok(Err(_)) => return Err(ConnectError::HostNotFound),
            Ok(Ok(addrs)) => addrs.collect(),
        };
    if resolved.is_empty() {
        return Err(ConnectError::HostNotFound);
    }
    if resolved.iter().any(|a| !policy.permits(a.ip())) {
        return Err(ConnectError::Refused(not_public().to_string()));
    }
    let mut last = ConnectError::HostNotFound;
    for addr in resolved {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(err)) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
                last = ConnectError::ConnectionRefused;
            }
            Ok(Err(err)) => last = ConnectError::Io(err.kind().to_string()),
            Err(_) => last = ConnectError::TimedOut,
        }
    }
    Err(last)
}

/// Wraps `stream` in TLS for `host`, verifying the certificate chain and the name.
pub async fn tls(stream: TcpStream, host: &str) -> Result<TlsStream, ConnectError> {
    let name = rustls::pki_types::ServerName::try_from(host.trim().to_string())
        .map_err(|_| ConnectError::Tls("the host name is not valid for TLS".into()))?;
    let connector = TlsConnector::from(client_config()?);
    match tokio::time::timeout(CONNECT_TIMEOUT * 2, connector.connect(name, stream)).await {
        Err(_) => Err(ConnectError::TimedOut),
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(err)) => Err(describe_tls(&err)),
    }
}

fn client_config() -> Result<Arc<rustls::ClientConfig>, ConnectError> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            crate::crypto::install_tls_provider();
            use rustls_platform_verifier::ConfigVerifierExt;
            rustls::ClientConfig::with_platform_verifier()
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(ConnectError::Tls)
}

fn describe_tls(err: &std::io::Error) -> ConnectError {
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(why)) => {
            ConnectError::Certificate(certificate_reason(why).into())
        }
        Some(other) => ConnectError::Tls(other.to_string()),
        None if err.kind() == std::io::ErrorKind::UnexpectedEof => {
            ConnectError::Tls("the server closed the connection (is TLS on that port?)".into())
        }
        None => ConnectError::Tls(err.kind().to_string()),
    }
}

fn certificate_reason(why: &rustls::CertificateError) -> &'static str {
    use rustls::CertificateError as E;
    match why {
        E::Expired | E::ExpiredContext { .. } => "the certificate has expired",
        E::NotValidForName | E::NotValidForNameContext { .. } => {
            "the certificate is for another host name"
        }
        E::UnknownIssuer => "the certificate is not signed by a trusted authority (self-signed?)",
        E::Revoked => "the certificate was revoked",
        _ => "the certificate was not accepted",
    }
}

/// Bounds how long one protocol step may take.
pub async fn within<T>(limit: Duration, step: impl Future<Output = T>) -> Result<T, ConnectError> {
    tokio::time::timeout(limit, step)
        .await
        .map_err(|_| ConnectError::TimedOut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_is_refused_by_default_and_allowed_when_listed() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let refused = connect(&AddressPolicy::default(), "127.0.0.1", port).await;
        assert!(matches!(refused, Err(ConnectError::Refused(_))));
        let refused = connect(&AddressPolicy::default(), "localhost", port).await;
        assert!(matches!(refused, Err(ConnectError::Refused(_))));
        let open = AddressPolicy {
            allowed: vec![super::super::Network::parse("127.0.0.0/8").unwrap()],
        };
        assert!(connect(&open, "127.0.0.1", port).await.is_ok());
        drop(listener);
        assert_eq!(
            connect(&open, "127.0.0.1", port).await.unwrap_err(),
            ConnectError::ConnectionRefused
        );
    }
}
