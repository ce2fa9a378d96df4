//! Account fixtures: what a signed-out visitor does (password resets, sign-in attempts).

use serde_json::json;

use super::{Answer, Api, TestApp};

impl TestApp {
    /// Requests as a browser that is not signed in (a fresh cookie jar).
    pub fn visitor(&self) -> Api<'_> {
        self.api(&self.new_client())
    }

    /// Asks for a password-reset mail for `email`, as a signed-out visitor.
    pub async fn request_password_reset(&self, email: &str) -> Answer {
        self.visitor()
            .post("/api/v1/auth/password-reset", json!({"email": email}))
            .await
    }

    /// Sets a new password with the token from a reset mail, as a signed-out visitor.
    pub async fn confirm_password_reset(&self, token: &str, password: &str) -> Answer {
        self.visitor()
            .post(
                "/api/v1/auth/password-reset/confirm",
                json!({"token": token, "password": password}),
            )
            .await
    }

    /// One sign-in attempt from a fresh browser, whatever it answers.
    pub async fn try_login(&self, email: &str, password: &str) -> Answer {
        self.visitor()
            .post(
                "/api/v1/auth/login",
                json!({"email": email, "password": password}),
            )
            .await
    }
}
