//! MindfulCRM's SQL. Every statement is scoped by `user_id`: a row of another user is as good
//! as missing (the server-wide AI providers and budgets are the admin's). Policy (validation, derived fields) lives in the service modules.

mod ai;
mod caldav;
mod contacts;
mod feeds;
mod interactions;
mod mail;
mod merge;
mod photos;
pub mod retention;
mod schedule;
mod tasks;

pub use ai::*;
pub use caldav::*;
pub use contacts::*;
pub use feeds::*;
pub use interactions::*;
pub use mail::*;
pub use merge::*;
pub use photos::*;
pub use schedule::*;
pub use tasks::*;
