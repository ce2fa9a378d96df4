use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::FieldError;
use crate::error::AppError;

/// An RFC 9457 problem document (`application/problem+json`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Present on 422: one entry per invalid field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<Option<String>>) -> Self {
        Self {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(self)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, detail) = match &self {
            AppError::Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "one or more fields are invalid".to_string(),
            ),
            AppError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "sign in, or send `Authorization: Bearer <token>`".to_string(),
            ),
            AppError::InvalidCredentials => (StatusCode::UNAUTHORIZED, self.to_string()),
            AppError::Forbidden(_) => (StatusCode::FORBIDDEN, self.to_string()),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, self.to_string()),
            AppError::Conflict(_) => (StatusCode::CONFLICT, self.to_string()),
            AppError::BadRequest(_) => (StatusCode::BAD_REQUEST, self.to_string()),
            AppError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, self.to_string()),
            AppError::RateLimited(retry) => (
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many requests; retry in {} s", retry.seconds()),
            ),
            AppError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, self.to_string()),
            AppError::Internal(err) => {
                tracing::error!(error = ?err, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "something went wrong on our side; it has been logged".to_string(),
                )
            }
        };
        let mut problem = Problem::new(status, detail);
        let retry_after = match &self {
            AppError::RateLimited(retry) => Some(retry.seconds()),
            _ => None,
        };
        let challenge = matches!(
            self,
            AppError::Unauthenticated | AppError::InvalidCredentials
        );
        if let AppError::Validation(errors) = self {
            problem.errors = errors;
        }
        let mut response = problem.into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// JSON body extractor whose rejections are problem documents naming what is wrong.
pub struct ApiJson<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::rejection::JsonRejection;
        if !is_json_content_type(req.headers()) {
            return Err(AppError::BadRequest(
                "send the body as JSON with `Content-Type: application/json`".into(),
            ));
        }
        let bytes = match axum::body::Bytes::from_request(req, state).await {
            Ok(bytes) => bytes,
            Err(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(AppError::TooLarge(format!(
                    "the request body is larger than the limit of {} bytes",
                    super::MAX_BODY_BYTES
                )));
            }
            Err(_) => {
                return Err(AppError::BadRequest(
                    "the request body could not be read".into(),
                ));
            }
        };
        // Every request body is an object: serde would also read a struct from an array of its
        // fields in order (`[null, null]`), which no client means.
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|b| *b == b'[') {
            return Err(AppError::Validation(vec![FieldError::new(
                "body",
                "must be a JSON object, not an array",
            )]));
        }
        match Json::<T>::from_bytes(&bytes) {
            Ok(Json(value)) => Ok(Self(value)),
            Err(JsonRejection::JsonDataError(err)) => {
                // JSON has one number type: `2.0` is the integer 2 (and the API document's
                // `type: integer` admits it), but serde refuses it for an integer field.
                if let Some(Json(value)) = whole_floats_as_integers(&bytes)
                    .and_then(|normalized| Json::<T>::from_bytes(&normalized).ok())
                {
                    return Ok(Self(value));
                }
                // serde's message names the field and the expected type.
                Err(AppError::Validation(vec![FieldError::new(
                    json_error_path(&err.body_text()),
                    err.body_text(),
                )]))
            }
            Err(err) => Err(AppError::BadRequest(format!(
                "malformed JSON: {}",
                err.body_text()
            ))),
        }
    }
}

/// `application/json` or any `application/…+json` type, parameters ignored (as axum's `Json`).
fn is_json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|subtype| subtype.ends_with("+json"))
}

/// The body re-encoded with every number that has no fractional part (`2.0`, `-3e2`) written
/// as an integer, or `None` when it has none such (or is not JSON).
fn whole_floats_as_integers(bytes: &[u8]) -> Option<Vec<u8>> {
    fn walk(value: &mut serde_json::Value) -> bool {
        match value {
            serde_json::Value::Number(n) if n.is_f64() => {
                let Some(f) = n.as_f64() else {
                    return false;
                };
                // Only where a float is exact: beyond 2^53 the text (e.g. an integer too large
                // for i64, which serde_json reads as a float) may not be the value it holds.
                const EXACT: f64 = 9_007_199_254_740_992.0;
                if !(-EXACT..=EXACT).contains(&f) {
                    return false;
                }
                // serde_json's fast float reading may land a few units in the last place off
                // (`-2056603005830311.0` reads as `…311.2`): a value that close to a whole
                // number is that number.
                let whole = f.round();
                if (f - whole).abs() > f.abs() * 4.0 * f64::EPSILON && f.fract() != 0.0 {
                    return false;
                }
                *n = serde_json::Number::from(whole as i64);
                true
            }
            serde_json::Value::Array(items) => items.iter_mut().fold(false, |c, v| walk(v) | c),
            serde_json::Value::Object(map) => map.values_mut().fold(false, |c, v| walk(v) | c),
            _ => false,
        }
    }
    let mut value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if walk(&mut value) {
        serde_json::to_vec(&value).ok()
    } else {
        None
    }
}

/// Pulls the field path out of axum/serde's "Failed to deserialize the JSON body into the
/// target type: name: invalid type..." message.
fn json_error_path(message: &str) -> String {
    let rest = message
        .split_once("target type: ")
        .map(|(_, r)| r)
        .unwrap_or(message);
    match rest.split_once(": ") {
        Some((path, _)) if !path.contains(' ') => path.to_string(),
        _ => rest
            .split('`')
            .nth(1)
            .filter(|_| rest.starts_with("missing field") || rest.starts_with("unknown field"))
            .unwrap_or("body")
            .to_string(),
    }
}

/// Path extractor whose rejection is a problem document.
pub struct ApiPath<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e| AppError::BadRequest(format!("bad path parameter: {}", e.body_text())))
    }
}

/// Query-string extractor whose rejection is a 422 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e| {
                let text = e.body_text();
                let field = text
                    .split_once("query string: ")
                    .map(|(_, r)| r)
                    .and_then(|r| r.split('`').nth(1).or_else(|| r.split(':').next()))
                    .unwrap_or("query")
                    .to_string();
                AppError::Validation(vec![FieldError::new(field, text)])
            })
    }
}

#[cfg(test)]
mod tests {
    use super::{json_error_path, whole_floats_as_integers};

    #[test]
    fn whole_floats_become_integers() {
        assert_eq!(
            whole_floats_as_integers(br#"{"a":[2.0,-3e2,1.5],"b":{"c":7,"d":"2.0"}}"#).as_deref(),
            Some(&br#"{"a":[2,-300,1.5],"b":{"c":7,"d":"2.0"}}"#[..])
        );
        assert_eq!(whole_floats_as_integers(br#"{"a":1.5,"b":2}"#), None);
        assert_eq!(whole_floats_as_integers(b"1e300"), None);
        // Too large for i64: serde_json reads it as a float, which must not round it into range.
        assert_eq!(whole_floats_as_integers(b"[-9223372036854775809]"), None);
        assert_eq!(whole_floats_as_integers(b"not json"), None);
        // Read a little off by the fast float parser, still the whole number it was written as.
        assert_eq!(
            whole_floats_as_integers(b"[-2056603005830311.0, 61175575106.0]").as_deref(),
            Some(&b"[-2056603005830311,61175575106]"[..])
        );
    }

    #[test]
    fn finds_the_field_in_serde_messages() {
        assert_eq!(
            json_error_path(
                "Failed to deserialize the JSON body into the target type: email: invalid type: integer `1`, expected a string at line 1 column 10"
            ),
            "email"
        );
        assert_eq!(
            json_error_path(
                "Failed to deserialize the JSON body into the target type: missing field `password` at line 1 column 20"
            ),
            "password"
        );
        assert_eq!(
            json_error_path(
                "Failed to deserialize the JSON body into the target type: unknown field `pasword`, expected one of `email`, `password` at line 1 column 20"
            ),
            "pasword"
        );
    }
}
