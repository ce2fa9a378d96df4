//! The shared platform under OpenAlert and MindfulCRM: configuration, storage for SQLite and
//! PostgreSQL, accounts and authorization, the audit log, the durable job queue, mail, the
//! realtime bus, rate limits, HTTP plumbing, the JSON API and the web UI shell.

// Templates of this crate name it by its public path, as the products' do.
extern crate self as keel_platform;

pub mod accounts;
pub mod api;
pub mod audit;
pub mod authz;
pub mod clock;
pub mod config;
pub mod contentline;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod error;
pub mod files;
pub mod http;
pub mod identity;
pub mod jobs;
pub mod mail;
pub mod observability;
pub mod outbound;
pub mod queue_admin;
pub mod ratelimit;
pub mod realtime;
pub mod redis;
pub mod retention;
pub mod seeding;
pub mod server;
pub mod spreadsheet;
pub mod state;
pub mod store;
pub mod web;

pub use error::{AppError, AppResult};
pub use state::Platform;
