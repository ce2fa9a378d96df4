//! The IMAP side of mailbox sync: connect through the platform's outgoing-address guard, log
//! in, find the folders, and read message headers in UID batches. Every step has a time
//! limit, and no single answer from the server may exceed [`MAX_RESPONSE_BYTES`], so a
//! hostile server gets an error instead of our memory.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::types::NameAttribute;
use futures_util::TryStreamExt;
use keel_platform::domain::Timestamp;
use keel_platform::outbound::AddressPolicy;
use keel_platform::outbound::socket::{self, ConnectError};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The most one server answer (one message's header and snippet, one LIST line, the UID list)
/// may take.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// The longest run of bytes without a line break: far beyond any real header line, and it
/// stops a server that streams one endless line (each read would re-parse all of it).
const MAX_LINE_BYTES: usize = 1024 * 1024;
/// Folders beyond this many are not looked at.
const MAX_FOLDERS: usize = 5_000;
/// The longest one command may take.
const STEP: Duration = Duration::from_secs(60);
/// The longest a server may take to greet.
const GREETING: Duration = Duration::from_secs(10);
/// How much of each body is read for the snippet.
pub const SNIPPET_BYTES: usize = 2048;
/// How much of each body is read when the account keeps bodies.
pub const BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Implicit,
    StartTls,
    /// Only for a server on this machine.
    Plain,
}

impl TlsMode {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "implicit" => Some(Self::Implicit),
            "starttls" => Some(Self::StartTls),
            "plain" => Some(Self::Plain),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Implicit => "implicit",
            Self::StartTls => "starttls",
            Self::Plain => "plain",
        }
    }
}

pub struct Credentials {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: String,
    pub password: String,
}

/// Why a mailbox could not be read, in words that say what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    #[error("{0}")]
    Connect(#[from] ConnectError),
    #[error("not an IMAP server: check the host and port (IMAP is usually 993 with TLS)")]
    NotImap,
    #[error("wrong user name or password (Gmail, Outlook and iCloud need an app password)")]
    WrongPassword,
    #[error("the server is limiting access for now ({0}); sync will try again later")]
    Throttled(String),
    #[error("the server does not offer STARTTLS: choose implicit TLS (usually port 993)")]
    NoStartTls,
    #[error("the server answered something unexpected: {0}")]
    Protocol(String),
    #[error("the server sent an oversized answer (over {} MB, or a line over {} MB)", MAX_RESPONSE_BYTES / 1_048_576, MAX_LINE_BYTES / 1_048_576)]
    TooLarge,
    #[error("the mailbox has more than {MAX_FOLDERS} folders")]
    TooManyFolders,
}

impl MailError {
    /// Whether a retry soon could help (as opposed to the user changing a setting).
    pub fn is_throttled(&self) -> bool {
        matches!(self, Self::Throttled(_))
    }
}

impl From<async_imap::error::Error> for MailError {
    fn from(err: async_imap::error::Error) -> Self {
        use async_imap::error::Error as E;
        match err {
            E::Io(io) if io.kind() == std::io::ErrorKind::OutOfMemory => Self::TooLarge,
            E::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                Self::Connect(ConnectError::TimedOut)
            }
            E::Io(io) => Self::Connect(ConnectError::Io(io.kind().to_string())),
            E::No(text) | E::Bad(text) if is_throttled(&text) => Self::Throttled(short(&text)),
            E::No(text) | E::Bad(text) => Self::Protocol(short(&text)),
            E::Parse(_) => Self::Protocol("a response could not be read".into()),
            E::ConnectionLost => Self::Connect(ConnectError::Io("the server hung up".into())),
            other => Self::Protocol(short(&other.to_string())),
        }
    }
}

fn is_throttled(text: &str) -> bool {
    let upper = text.to_ascii_uppercase();
    upper.contains("[THROTTLED]") || upper.contains("[UNAVAILABLE]") || upper.contains("[LIMIT]")
}

fn short(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// The socket under the IMAP client, counting what it reads since the last answer we took.
#[derive(Debug)]
pub struct Conn {
    inner: Inner,
    read: Arc<AtomicUsize>,
    since_newline: usize,
}

#[derive(Debug)]
enum Inner {
    Plain(TcpStream),
    Tls(Box<socket::TlsStream>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = match &mut this.inner {
            Inner::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        let fresh = &buf.filled()[before..];
        this.since_newline = match fresh.iter().rposition(|&b| b == b'\n') {
            Some(at) => fresh.len() - at - 1,
            None => this.since_newline + fresh.len(),
        };
        if this.read.fetch_add(fresh.len(), Ordering::Relaxed) + fresh.len() > MAX_RESPONSE_BYTES
            || this.since_newline > MAX_LINE_BYTES
        {
            return Poll::Ready(Err(std::io::ErrorKind::OutOfMemory.into()));
        }
        polled
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match &mut self.get_mut().inner {
            Inner::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Plain(s) => Pin::new(s).poll_flush(cx),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A logged-in IMAP session.
pub struct Session {
    session: async_imap::Session<Conn>,
    read: Arc<AtomicUsize>,
    condstore: bool,
}

/// A folder to read; `sent` for the Sent folder, whose messages went out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderName {
    pub name: String,
    pub sent: bool,
}

/// A folder to read, and what the server says about it when selected.
#[derive(Debug, Clone)]
pub struct Folder {
    pub uid_validity: u32,
    pub uid_next: Option<u32>,
    pub highest_modseq: Option<u64>,
    pub exists: u32,
}

/// One message as fetched: its UID, the server's arrival time, the header block and the
/// first bytes of the body.
pub struct Fetched {
    pub uid: u32,
    pub received_at: Option<Timestamp>,
    pub header: Vec<u8>,
    pub text: Vec<u8>,
}

/// Whether `host` names this machine (where an unencrypted connection is acceptable).
pub fn is_local_host(host: &str) -> bool {
    let host = host
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Session {
    pub async fn open(policy: &AddressPolicy, creds: &Credentials) -> Result<Self, MailError> {
        let read = Arc::new(AtomicUsize::new(0));
        let tcp = socket::connect(policy, &creds.host, creds.port).await?;
        let conn = match creds.tls {
            TlsMode::Implicit => Conn {
                inner: Inner::Tls(Box::new(socket::tls(tcp, &creds.host).await?)),
                read: read.clone(),
                since_newline: 0,
            },
            TlsMode::Plain => Conn {
                inner: Inner::Plain(tcp),
                read: read.clone(),
                since_newline: 0,
            },
            TlsMode::StartTls => {
                let mut client = async_imap::Client::new(Conn {
                    inner: Inner::Plain(tcp),
                    read: read.clone(),
                    since_newline: 0,
                });
                greeting(&mut client).await?;
                socket::within(STEP, client.run_command_and_check_ok("STARTTLS", None))
                    .await?
                    .map_err(|_| MailError::NoStartTls)?;
                let Inner::Plain(tcp) = client.into_inner().inner else {
                    unreachable!("STARTTLS starts on a plain connection")
                };
                Conn {
                    inner: Inner::Tls(Box::new(socket::tls(tcp, &creds.host).await?)),
                    read: read.clone(),
                    since_newline: 0,
                }
            }
        };
        let mut client = async_imap::Client::new(conn);
        if creds.tls != TlsMode::StartTls {
            greeting(&mut client).await?;
        }
        read.store(0, Ordering::Relaxed);
        let mut session =
            match socket::within(STEP, client.login(&creds.username, &creds.password)).await? {
                Ok(session) => session,
                Err((async_imap::error::Error::No(text), _)) if is_throttled(&text) => {
                    return Err(MailError::Throttled(short(&text)));
                }
                Err((async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_), _)) => {
                    return Err(MailError::WrongPassword);
                }
                Err((other, _)) => return Err(other.into()),
            };
        let caps = socket::within(STEP, session.capabilities()).await??;
        let condstore = caps.has_str("CONDSTORE");
        Ok(Self {
            session,
            read,
            condstore,
        })
    }

    /// INBOX, the Sent folder (by its `\Sent` mark, else by a usual name) and the folders
    /// that exist among `picked`; each once.
    pub async fn folders(&mut self, picked: &[String]) -> Result<Vec<FolderName>, MailError> {
        self.read.store(0, Ordering::Relaxed);
        let mut names = socket::within(STEP, self.session.list(Some(""), Some("*"))).await??;
        let mut all: Vec<(String, bool, bool)> = Vec::new();
        while let Some(name) = socket::within(STEP, names.try_next()).await?? {
            self.read.store(0, Ordering::Relaxed);
            if all.len() >= MAX_FOLDERS {
                return Err(MailError::TooManyFolders);
            }
            let attributes = name.attributes();
            all.push((
                name.name().to_string(),
                attributes.contains(&NameAttribute::Sent),
                attributes.contains(&NameAttribute::NoSelect),
            ));
        }
        drop(names);
        let mut chosen = vec![FolderName {
            name: "INBOX".to_string(),
            sent: false,
        }];
        let sent = all
            .iter()
            .find(|(_, is_sent, _)| *is_sent)
            .or_else(|| {
                all.iter().find(|(name, _, _)| {
                    let leaf = name.rsplit(['/', '.']).next().unwrap_or(name);
                    ["sent", "sent items", "sent messages", "sent mail"]
                        .contains(&leaf.to_lowercase().as_str())
                })
            })
            .map(|(name, _, _)| name.clone());
        chosen.extend(sent.map(|name| FolderName { name, sent: true }));
        for folder in picked {
            if all
                .iter()
                .any(|(name, _, no_select)| name == folder && !no_select)
                && !chosen.iter().any(|c| &c.name == folder)
            {
                chosen.push(FolderName {
                    name: folder.clone(),
                    sent: false,
                });
            }
        }
        Ok(chosen)
    }

    pub async fn select(&mut self, folder: &str) -> Result<Folder, MailError> {
        self.read.store(0, Ordering::Relaxed);
        let mailbox = if self.condstore {
            socket::within(STEP, self.session.select_condstore(folder)).await??
        } else {
            socket::within(STEP, self.session.examine(folder)).await??
        };
        Ok(Folder {
            uid_validity: mailbox
                .uid_validity
                .ok_or_else(|| MailError::Protocol("the folder has no UIDVALIDITY".into()))?,
            uid_next: mailbox.uid_next,
            highest_modseq: mailbox.highest_modseq,
            exists: mailbox.exists,
        })
    }

    /// UIDs above `after` of messages that arrived on or after `since`, ascending.
    pub async fn uids_since(
        &mut self,
        after: u32,
        since: jiff::civil::Date,
    ) -> Result<Vec<u32>, MailError> {
        self.read.store(0, Ordering::Relaxed);
        // After the first run only new UIDs are asked for: a date test would make the server
        // look at every message of the folder, not just the new ones.
        let query = if after > 0 {
            format!("UID {}:*", after.saturating_add(1))
        } else {
            format!(
                "UID {}:* SINCE {}",
                after.saturating_add(1),
                since.strftime("%-d-%b-%Y")
            )
        };
        let found = socket::within(STEP, self.session.uid_search(query)).await??;
        let mut uids: Vec<u32> = found.into_iter().filter(|&u| u > after).collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// Header and the first `text_bytes` of the body of the messages with these UIDs.
    pub async fn fetch(
        &mut self,
        uids: &[u32],
        text_bytes: usize,
    ) -> Result<Vec<Fetched>, MailError> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        self.read.store(0, Ordering::Relaxed);
        let items = format!("(UID INTERNALDATE BODY.PEEK[HEADER] BODY.PEEK[TEXT]<0.{text_bytes}>)");
        let mut stream =
            socket::within(STEP, self.session.uid_fetch(uid_set(uids), items)).await??;
        let mut out = Vec::with_capacity(uids.len());
        while let Some(fetch) = socket::within(STEP, stream.try_next()).await?? {
            self.read.store(0, Ordering::Relaxed);
            let Some(uid) = fetch.uid else { continue };
            out.push(Fetched {
                uid,
                received_at: fetch
                    .internal_date()
                    .map(|d| Timestamp::from_millis(d.timestamp_millis())),
                header: fetch.header().unwrap_or_default().to_vec(),
                text: fetch
                    .text()
                    .map(|t| t[..t.len().min(text_bytes)].to_vec())
                    .unwrap_or_default(),
            });
        }
        Ok(out)
    }

    pub async fn logout(mut self) {
        let _ = socket::within(Duration::from_secs(5), self.session.logout()).await;
    }
}

async fn greeting(client: &mut async_imap::Client<Conn>) -> Result<(), MailError> {
    match socket::within(GREETING, client.read_response()).await? {
        Ok(Some(response)) => match response.parsed() {
            async_imap::imap_proto::Response::Data {
                status: async_imap::imap_proto::Status::Ok | async_imap::imap_proto::Status::PreAuth,
                ..
            } => Ok(()),
            async_imap::imap_proto::Response::Data {
                status: async_imap::imap_proto::Status::Bye,
                ..
            } => Err(MailError::Throttled(
                "the server closed the connection".into(),
            )),
            _ => Err(MailError::NotImap),
        },
        Ok(None) => Err(MailError::NotImap),
        Err(err) if err.kind() == std::io::ErrorKind::OutOfMemory => Err(MailError::NotImap),
        Err(_) => Err(MailError::NotImap),
    }
}

/// `1:3,7,9:10` for 1, 2, 3, 7, 9, 10 (sorted input).
fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_compress_runs() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
    }

    #[test]
    fn local_hosts() {
        for host in ["localhost", "127.0.0.1", "::1", "[::1]", "127.8.0.1"] {
            assert!(is_local_host(host), "{host}");
        }
        for host in ["mail.example.com", "10.0.0.1", "localhost.example.com"] {
            assert!(!is_local_host(host), "{host}");
        }
    }

    #[test]
    fn throttling_is_recognised() {
        let err: MailError = async_imap::error::Error::No(
            "[THROTTLED] Account exceeded command or bandwidth limits".into(),
        )
        .into();
        assert!(err.is_throttled());
    }
}
