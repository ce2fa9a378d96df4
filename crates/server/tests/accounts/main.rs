//! Accounts and security over HTTP, on SQLite and PostgreSQL.

#[path = "../common/mod.rs"]
mod common;

use std::time::Duration;

use common::{Answer, Backend, PASSWORD, TestApp};
use serde_json::{Value, json};

mod hardening;
mod pages;
mod sign_in;
mod teams;
