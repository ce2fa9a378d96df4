//! SQL for the platform's tables. Everything here is plain data access: no HTTP, no policy.
//! Functions take any executor so callers choose between the pool and a transaction.

pub mod accounts;
pub mod audit;
pub mod jobs;
pub mod retention;
pub mod teams;

pub use sqlx::any::AnyExecutor as Executor;
