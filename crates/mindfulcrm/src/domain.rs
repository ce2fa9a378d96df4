//! MindfulCRM's vocabulary and rules, with no I/O.

use serde::{Deserialize, Serialize};

const DAY_MS: i64 = 86_400_000;

macro_rules! word_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub fn parse(raw: &str) -> Result<Self, String> {
                match raw.trim() {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(format!("must be one of {}", Self::ALL.join(", "))),
                }
            }
        }
    };
}

word_enum!(
    /// Where a relationship stands. `prospect`: someone you mean to get to know; `new`: met
    /// recently; `active`: in regular contact; `close`: the people who matter most;
    /// `dormant`: contact has lapsed; `archived`: kept for the record, out of every list.
    Stage { Prospect => "prospect", New => "new", Active => "active", Close => "close", Dormant => "dormant", Archived => "archived" }
);

word_enum!(InteractionKind { Email => "email", Meeting => "meeting", Call => "call", Message => "message", Note => "note" });

word_enum!(Sentiment { Positive => "positive", Neutral => "neutral", Negative => "negative" });

word_enum!(Priority { Low => "low", Normal => "normal", High => "high" });

word_enum!(TaskStatus { Open => "open", Done => "done" });

word_enum!(
    /// How a relationship with a keep-in-touch cadence is doing. `on_cadence`: talked within
    /// the cadence; `due`: the cadence has passed (or you never talked); `overdue`: twice the
    /// cadence has passed; `none`: no cadence set.
    Health { OnCadence => "on_cadence", Due => "due", Overdue => "overdue", None => "none" }
);

impl Health {
    pub fn of(cadence_days: Option<i64>, last_interaction_at: Option<i64>, now: i64) -> Self {
        let Some(days) = cadence_days else {
            return Self::None;
        };
        let Some(last) = last_interaction_at else {
            return Self::Due;
        };
        let since = now.saturating_sub(last);
        if since < days.saturating_mul(DAY_MS) {
            Self::OnCadence
        } else if since < days.saturating_mul(2 * DAY_MS) {
            Self::Due
        } else {
            Self::Overdue
        }
    }
}

/// A birthday as `YYYY-MM-DD`, or `--MM-DD` without a year (the vCard convention).
pub fn parse_birthday(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let (year, rest) = match raw.strip_prefix("--") {
        Some(rest) => (None, rest),
        None => match raw.split_once('-') {
            Some((y, rest)) => (Some(y), rest),
            None => return Err("must be YYYY-MM-DD or --MM-DD".into()),
        },
    };
    let year: i16 = match year {
        Some(y) => y
            .parse()
            .map_err(|_| "must be YYYY-MM-DD or --MM-DD".to_string())?,
        None => 2000, // a leap year, so --02-29 is accepted
    };
    let (month, day) = rest
        .split_once('-')
        .ok_or("must be YYYY-MM-DD or --MM-DD")?;
    let (month, day): (i8, i8) = (
        month
            .parse()
            .map_err(|_| "month must be a number".to_string())?,
        day.parse()
            .map_err(|_| "day must be a number".to_string())?,
    );
    jiff::civil::Date::new(year, month, day).map_err(|_| "is not a real date".to_string())?;
    Ok(raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_follows_the_cadence() {
        let now = 100 * DAY_MS;
        assert_eq!(Health::of(None, Some(now), now), Health::None);
        assert_eq!(Health::of(Some(7), None, now), Health::Due);
        assert_eq!(
            Health::of(Some(7), Some(now - 6 * DAY_MS), now),
            Health::OnCadence
        );
        assert_eq!(
            Health::of(Some(7), Some(now - 7 * DAY_MS), now),
            Health::Due
        );
        assert_eq!(
            Health::of(Some(7), Some(now - 14 * DAY_MS), now),
            Health::Overdue
        );
    }

    #[test]
    fn birthdays() {
        assert!(parse_birthday("1985-04-12").is_ok());
        assert!(parse_birthday("--02-29").is_ok());
        assert!(parse_birthday("1985-02-30").is_err());
        assert!(parse_birthday("April").is_err());
    }
}
