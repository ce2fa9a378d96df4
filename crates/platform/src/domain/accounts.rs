use std::fmt;

use serde::{Deserialize, Serialize};

/// A normalised (trimmed, lower-cased) e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let value = raw.trim().to_lowercase();
        if value.is_empty() {
            return Err("is required".into());
        }
        if value.len() > 254 {
            return Err("must be at most 254 characters".into());
        }
        let Some((local, domain)) = value.split_once('@') else {
            return Err("must be an e-mail address like name@example.com".into());
        };
        let bad_char = |c: char| c.is_whitespace() || c.is_control() || c == '<' || c == '>';
        if local.is_empty()
            || domain.is_empty()
            || domain.contains('@')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || value.chars().any(bad_char)
        {
            return Err("must be an e-mail address like name@example.com".into());
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new password that meets the policy. Never logged, never serialised.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 256;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(format!("must be at least {} characters", Self::MIN_CHARS));
        }
        if chars > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        if raw.trim().is_empty() {
            return Err("must not be only spaces".into());
        }
        Ok(Self(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A required one-line name of at most `max` characters, trimmed. Control characters are
/// refused: names reach logs, mail subjects and chat messages.
pub fn bounded_text(raw: &str, max: usize) -> Result<String, String> {
    let value = raw.trim();
    if value.is_empty() {
        return Err("is required".into());
    }
    if value.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err("must not contain control characters".into());
    }
    Ok(value.to_string())
}

/// A person's name as shown in the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        bounded_text(raw, 100).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TeamName(String);

impl TeamName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        bounded_text(raw, 80).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Organisation-wide role. Admins manage users, teams and see everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrgRole {
    Admin,
    Member,
}

impl OrgRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "admin" => Ok(Self::Admin),
            "member" => Ok(Self::Member),
            _ => Err("must be `admin` or `member`".into()),
        }
    }
}

/// Role inside one team. Managers edit the team and its membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TeamRole {
    Manager,
    Member,
}

impl TeamRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manager => "manager",
            Self::Member => "member",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "manager" => Ok(Self::Manager),
            "member" => Ok(Self::Member),
            _ => Err("must be `manager` or `member`".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
    }

    #[test]
    fn email_rejects_malformed() {
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "a b@example.com",
            "a@b@c",
            "ada@.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn password_policy() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("          ").is_err());
        assert!(Password::parse("correct horse battery").is_ok());
        assert_eq!(
            format!("{:?}", Password::parse("correct horse").unwrap()),
            "Password(***)"
        );
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Ada ").unwrap().as_str(), "Ada");
        assert!(DisplayName::parse(&"x".repeat(101)).is_err());
        assert!(TeamName::parse("\u{7}").is_err());
    }
}
