//! The middleware every response passes through: security headers, cross-origin request
//! refusal (CSRF), rate limits, header-size limits and request metrics.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::extract::{ClientMeta, SESSION_COOKIE, bearer};
use super::problem::Problem;
use crate::error::AppError;
use crate::ratelimit::Limit;
use crate::state::Platform;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";
/// The vendored API explorer sets inline styles at run time.
const CSP_API_DOCS: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                            img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
                            form-action 'self'; frame-ancestors 'none'";

/// The default policy, also allowing images from `origin` (e.g. a status page's logo).
pub fn csp_with_images(origin: &str) -> String {
    CSP.replace(
        "img-src 'self' data:",
        &format!("img-src 'self' data: {origin}"),
    )
}

/// Paths that machines post to from anywhere (monitoring tools); never cookie-authenticated.
pub const MACHINE_PATH_PREFIXES: &[&str] = &["/v2/", "/integrations/"];

pub async fn security_headers(
    State(platform): State<Platform>,
    request: Request,
    next: Next,
) -> Response {
    let is_docs = request.uri().path().starts_with("/api/docs");
    let is_static = request.uri().path().starts_with("/static/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let csp = if is_docs { CSP_API_DOCS } else { CSP };
    // A handler may send a stricter or more specific policy of its own (see `csp_with_images`).
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        );
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        // Our own pages' requests name their page (the CSRF check's last resort for browsers
        // without Sec-Fetch-Site); other sites never learn our URLs.
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    );
    if platform.config.is_https() {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    if !is_static && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Refuses state-changing requests a browser sent from another site. Browsers label every
/// request with `Sec-Fetch-Site` (and `Origin` on POST); programs that send neither, or that
/// authenticate with a bearer token, are not browsers riding on a cookie and pass.
pub async fn cross_origin_guard(request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let path = request.uri().path();
    let machine = MACHINE_PATH_PREFIXES.iter().any(|p| path.starts_with(p));
    let headers = request.headers();
    let has_bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "));
    if safe || machine || has_bearer {
        return next.run(request).await;
    }
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let header_text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let allowed = match site {
        Some("same-origin" | "none") => true,
        Some(_) => false,
        // Older browsers: the Origin, else the Referer, must be this server. A request with
        // neither is a program's, which is fine unless it rides on a session cookie.
        None => match (header_text(header::ORIGIN), header_text(header::REFERER)) {
            (Some(origin), _) => is_same_origin(origin, headers, request.uri()),
            (None, Some(referer)) => is_same_origin(referer, headers, request.uri()),
            (None, None) => super::extract::cookie_in(headers, SESSION_COOKIE).is_none(),
        },
    };
    if allowed {
        next.run(request).await
    } else {
        metrics::counter!("keel_csrf_refused_total").increment(1);
        Problem::new(
            StatusCode::FORBIDDEN,
            "cross-origin request refused: this action must come from keel's own pages".to_string(),
        )
        .into_response()
    }
}

/// Errors made below the handlers (a body over the size limit, a body that is not UTF-8, a
/// method a path does not take, a timeout) come as plain text or nothing; API clients get a
/// problem document like every other error. HTML and problem documents pass untouched.
pub async fn problem_for_bare_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !(content_type.is_empty() || content_type.starts_with("text/plain")) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let detail = axum::body::to_bytes(body, 4096)
        .await
        .ok()
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .filter(|text| !text.is_empty());
    let mut problem = Problem::new(status, detail).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(value) = parts.headers.get(&name) {
            problem.headers_mut().insert(name, value.clone());
        }
    }
    problem
}

/// Whether an `Origin` or `Referer` value names the host this request was sent to.
/// The host comes from `Host`, or over HTTP/2 from the request's own authority.
pub fn is_same_origin(value: &str, headers: &HeaderMap, uri: &axum::http::Uri) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or("");
    let Ok(url) = url::Url::parse(value) else {
        return false;
    };
    let authority = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => return false,
    };
    !host.is_empty() && authority.eq_ignore_ascii_case(host)
}

/// Per-token (or, without one, per-client-IP) request budget on the API.
pub async fn api_rate_limit(
    State(platform): State<Platform>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let key = match bearer(&parts) {
        Some(token) => format!(
            "api-token:{}",
            &platform.secret.hash_token("rate-limit", token)[..16]
        ),
        None => match super::extract::cookie(&parts, SESSION_COOKIE) {
            Some(cookie) => format!(
                "api-session:{}",
                &platform.secret.hash_token("rate-limit", cookie)[..16]
            ),
            None => format!(
                "api-ip:{}",
                ClientMeta::from_parts(&parts, platform.config.trust_proxy_headers).ip
            ),
        },
    };
    let request = Request::from_parts(parts, body);
    match platform
        .limiter
        .hit(
            &key,
            Limit::per_minute(platform.config.rate_limit_per_minute),
        )
        .await
    {
        Ok(()) => next.run(request).await,
        Err(retry) => {
            metrics::counter!("keel_rate_limited_total", "scope" => "api").increment(1);
            AppError::RateLimited(retry).into_response()
        }
    }
}

/// Total size of request headers we accept (hyper already caps their count).
const MAX_HEADER_BYTES: usize = 32 * 1024;

pub async fn header_size_limit(request: Request, next: Next) -> Response {
    let size: usize = request
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if size > MAX_HEADER_BYTES {
        return Problem::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("request headers total {size} bytes; the limit is {MAX_HEADER_BYTES}"),
        )
        .into_response();
    }
    next.run(request).await
}

/// Request counts and latency by route template and status.
pub async fn record_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("keel_http_requests_total", &labels).increment(1);
    metrics::histogram!("keel_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

type HostFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Option<String>> + Send>>;

/// Claims requests that name another host than keel's own: gives the path prefix that host's
/// requests are served under (`status.example.com/` → `/status/example/`), or `None`.
pub type HostPrefix = std::sync::Arc<dyn Fn(Platform, String) -> HostFuture + Send + Sync>;

/// Serves requests for a host name a product claims (a status page's own domain) under the
/// path prefix the product gives: `/` and everything else move under it, except paths already
/// in the prefix's first segment (the page's own links and assets). Keel's own host, and any
/// host when no public URL is configured, pass untouched without a lookup.
pub async fn route_by_host(
    State((platform, claims)): State<(Platform, std::sync::Arc<Vec<HostPrefix>>)>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(own) = platform
        .config
        .public_url
        .as_ref()
        .and_then(|u| u.host_str())
    else {
        return next.run(request).await;
    };
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|h| {
            h.rsplit_once(':').map_or(h, |(name, port)| {
                if port.bytes().all(|b| b.is_ascii_digit()) {
                    name
                } else {
                    h
                }
            })
        })
        .map(str::to_ascii_lowercase);
    let Some(host) = host.filter(|h| h != own && !h.is_empty()) else {
        return next.run(request).await;
    };
    for claim in claims.iter() {
        let Some(prefix) = claim(platform.clone(), host.clone()).await else {
            continue;
        };
        let path = request.uri().path();
        let first_segment = prefix.split('/').nth(1).unwrap_or_default();
        let own_path = path
            .strip_prefix('/')
            .and_then(|p| p.split('/').next())
            .is_some_and(|segment| segment == first_segment);
        if !own_path {
            let rewritten = match request.uri().query() {
                Some(q) => format!("{}{}?{q}", prefix.trim_end_matches('/'), path),
                None => format!("{}{}", prefix.trim_end_matches('/'), path),
            };
            if let Ok(uri) = rewritten.parse() {
                *request.uri_mut() = uri;
            }
        }
        break;
    }
    next.run(request).await
}
