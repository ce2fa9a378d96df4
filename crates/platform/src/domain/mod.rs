//! Domain types shared by both products. Values are validated once, at construction;
//! code that holds one of these types can trust it. No I/O here.

mod accounts;
mod time;
mod validation;

pub use accounts::{DisplayName, Email, OrgRole, Password, TeamName, TeamRole, bounded_text};
pub use time::{Timestamp, parse_time_zone};
pub use validation::{FieldError, Validator};
