//! HTTP plumbing shared by every router: the problem+json error shape, authentication
//! extractors and the middleware stack.

pub mod extract;
pub mod middleware;
pub mod problem;

pub use extract::{AuthMethod, ClientMeta, Principal};
pub use problem::Problem;
