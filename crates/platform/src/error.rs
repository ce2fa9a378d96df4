//! The one error type of the service layer. HTTP handlers turn it into an RFC 9457 problem
//! (`http::problem`); HTML handlers into a friendly page. Internal details are logged, never sent.

use crate::domain::FieldError;
use crate::ratelimit::RetryAfter;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("authentication required")]
    Unauthenticated,
    #[error("wrong e-mail or password")]
    InvalidCredentials,
    #[error("{0}")]
    Forbidden(&'static str),
    /// The named kind of thing does not exist — or is not visible to the caller, which a
    /// client must not be able to tell apart.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("too many requests")]
    RateLimited(RetryAfter),
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        metrics::counter!("keel_database_errors_total").increment(1);
        Self::Internal(err.into())
    }
}

impl From<RetryAfter> for AppError {
    fn from(retry: RetryAfter) -> Self {
        Self::RateLimited(retry)
    }
}

impl AppError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }
}

pub type AppResult<T> = Result<T, AppError>;
