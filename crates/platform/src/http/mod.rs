//! HTTP plumbing shared by every router: the problem+json error shape, authentication
//! extractors and the middleware stack.

pub mod extract;
pub mod middleware;
pub mod problem;

pub use extract::{AuthMethod, ClientMeta, Principal};

/// Default limit on request bodies; ingestion endpoints set their own.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
pub use problem::Problem;
