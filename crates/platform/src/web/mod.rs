//! Server-rendered pages of the platform: first-run setup, sign-in, password reset, home,
//! account and administration. Pages call the same services as the JSON API.

mod account;
mod admin;
mod auth;
pub mod home;
mod page;

use axum::Router;
use axum::routing::{get, post};

use crate::state::Platform;

pub use page::{
    FormErrors, Nav, PageContext, ProductLink, WebError, WebUser, form_response, not_found_page,
    register_products, render, render_invalid,
};

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/", get(auth::home))
        .route("/setup", get(auth::setup_page).post(auth::setup_submit))
        .route("/login", get(auth::login_page).post(auth::login_submit))
        .route("/logout", post(auth::logout))
        .route(
            "/forgot-password",
            get(auth::forgot_page).post(auth::forgot_submit),
        )
        .route(
            "/reset-password",
            get(auth::reset_page).post(auth::reset_submit),
        )
        .route("/account", get(account::page))
        .route("/account/profile", post(account::profile))
        .route("/account/password", post(account::password))
        .route("/account/delete", post(account::delete))
        .route(
            "/account/sessions/{id}/revoke",
            post(account::revoke_session),
        )
        .route("/account/sessions/revoke-all", post(account::revoke_all))
        .route("/account/tokens", post(account::create_token))
        .route("/account/tokens/{id}/revoke", post(account::revoke_token))
        .route("/admin", get(admin::index))
        .route("/admin/users", get(admin::users).post(admin::create_user))
        .route("/admin/users/{id}/{action}", post(admin::user_action))
        .route("/admin/teams", get(admin::teams).post(admin::create_team))
        .route("/teams/{id}", get(admin::team))
        .route("/teams/{id}/members", post(admin::put_member))
        .route(
            "/teams/{id}/members/{user_id}/remove",
            post(admin::remove_member),
        )
        .route("/admin/audit", get(admin::audit))
        .route("/admin/jobs", get(admin::jobs))
        .route("/admin/jobs/{id}/{action}", post(admin::job_action))
        .route("/static/{*path}", get(page::static_asset))
}

/// Every IANA time-zone name, sorted: the choices of a time-zone field.
pub fn time_zone_names() -> &'static [String] {
    static NAMES: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        let mut names: Vec<String> = jiff::tz::db().available().map(|n| n.to_string()).collect();
        names.sort();
        names
    });
    &NAMES
}

/// A count with thousands separators, as pages show numbers: `100,000`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_are_grouped() {
        for (n, text) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (100_000, "100,000"),
            (-1_234_567, "-1,234,567"),
        ] {
            assert_eq!(super::thousands(n), text);
        }
    }
}
