use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use crate::accounts;
use crate::error::AppError;
pub use crate::identity::{AuthMethod, ClientMeta, Principal};
use crate::state::Platform;

pub const SESSION_COOKIE: &str = "keel_session";

/// The value of a cookie in the request, if present.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    cookie_in(&parts.headers, name)
}

/// The value of a cookie in `headers`, if present.
pub fn cookie_in<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The bearer token in `Authorization`, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

impl FromRequestParts<Platform> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, platform: &Platform) -> Result<Self, AppError> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(principal.clone());
        }
        let principal = if let Some(token) = bearer(parts) {
            accounts::authenticate_token(platform, token).await?
        } else if let Some(cookie) = cookie(parts, SESSION_COOKIE) {
            accounts::authenticate_session(platform, cookie).await?
        } else {
            None
        };
        let principal = principal.ok_or(AppError::Unauthenticated)?;
        parts.extensions.insert(principal.clone());
        Ok(principal)
    }
}

impl axum::extract::OptionalFromRequestParts<Platform> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        platform: &Platform,
    ) -> Result<Option<Self>, AppError> {
        match <Principal as FromRequestParts<Platform>>::from_request_parts(parts, platform).await {
            Ok(p) => Ok(Some(p)),
            Err(AppError::Unauthenticated) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl ClientMeta {
    pub fn from_parts(parts: &Parts, trust_proxy_headers: bool) -> Self {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ci| ci.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let forwarded = trust_proxy_headers
            .then(|| parts.headers.get("x-forwarded-for"))
            .flatten()
            .and_then(|v| v.to_str().ok())
            // The last hop is the one our own proxy appended; earlier ones are client-supplied.
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(300)
            .collect();
        Self {
            ip: forwarded.unwrap_or(peer),
            user_agent,
        }
    }
}

impl FromRequestParts<Platform> for ClientMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        platform: &Platform,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::from_parts(parts, platform.config.trust_proxy_headers))
    }
}

/// `Set-Cookie` for a new session (or, with `None`, clearing it).
pub fn session_cookie(platform: &Platform, value: Option<&str>) -> axum::http::HeaderValue {
    let secure = if platform.config.is_https() {
        "; Secure"
    } else {
        ""
    };
    let cookie = match value {
        Some(v) => format!(
            "{SESSION_COOKIE}={v}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            platform.config.session_max_age.as_secs()
        ),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    };
    axum::http::HeaderValue::from_str(&cookie).expect("cookie is ASCII")
}
