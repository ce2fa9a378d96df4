//! Who is calling and from where: what services receive from the HTTP layer (which builds
//! these from requests in `http::extract`) and record in audit entries and sessions.

use std::net::IpAddr;

use crate::store::accounts::User;

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Session {
        id: i64,
    },
    Token {
        id: i64,
    },
    /// A signed single-purpose link (e.g. acknowledge from a notification email); it never
    /// reaches a general endpoint, only the page that checked the signature.
    SignedLink,
    /// The server acting for this user, with their rights, in work it does on a schedule
    /// (e.g. reading the report a summary mail carries).
    Scheduled,
}

/// The authenticated caller. Extracting it refuses (401) anonymous, revoked, expired and
/// disabled callers; every protected handler takes one.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub method: AuthMethod,
}

impl Principal {
    pub fn session_id(&self) -> Option<i64> {
        match self.method {
            AuthMethod::Session { id } => Some(id),
            AuthMethod::Token { .. } | AuthMethod::SignedLink | AuthMethod::Scheduled => None,
        }
    }
}

/// Where a request came from, for audit records, sessions and rate limits.
#[derive(Debug, Clone)]
pub struct ClientMeta {
    pub ip: IpAddr,
    pub user_agent: String,
}
