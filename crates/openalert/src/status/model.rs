//! The closed value sets of status pages (named as Statuspage names them, so the public JSON
//! reads unchanged) and the rules between them. No I/O here.

use serde::Serialize;

macro_rules! closed_set {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(raw: &str) -> Result<Self, String> {
                match raw.trim() {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "`{other}` is not one of: {}",
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

closed_set! {
    /// A component's status, ordered from best to worst (maintenance is not an outage).
    ComponentStatus {
        Operational => "operational",
        UnderMaintenance => "under_maintenance",
        DegradedPerformance => "degraded_performance",
        PartialOutage => "partial_outage",
        MajorOutage => "major_outage",
    }
}

closed_set! {
    /// How bad an incident is for users.
    Impact {
        None => "none",
        Minor => "minor",
        Major => "major",
        Critical => "critical",
        Maintenance => "maintenance",
    }
}

closed_set! {
    /// Where an incident stands.
    IncidentStatus {
        Investigating => "investigating",
        Identified => "identified",
        Monitoring => "monitoring",
        Resolved => "resolved",
    }
}

closed_set! {
    /// Where a scheduled maintenance stands.
    MaintenanceStatus {
        Scheduled => "scheduled",
        InProgress => "in_progress",
        Verifying => "verifying",
        Completed => "completed",
    }
}

impl ComponentStatus {
    /// Words for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Operational => "Operational",
            Self::UnderMaintenance => "Under maintenance",
            Self::DegradedPerformance => "Degraded performance",
            Self::PartialOutage => "Partial outage",
            Self::MajorOutage => "Major outage",
        }
    }

    /// A status that tells users something is wrong (what a component may take on its own).
    pub fn is_outage_like(self) -> bool {
        matches!(
            self,
            Self::DegradedPerformance | Self::PartialOutage | Self::MajorOutage
        )
    }

    /// Time in this status counts against uptime.
    pub fn is_downtime(self) -> bool {
        matches!(self, Self::PartialOutage | Self::MajorOutage)
    }

    /// The page-wide indicator this status alone would give.
    fn indicator(self) -> Indicator {
        match self {
            Self::Operational | Self::UnderMaintenance => Indicator::None,
            Self::DegradedPerformance => Indicator::Minor,
            Self::PartialOutage => Indicator::Major,
            Self::MajorOutage => Indicator::Critical,
        }
    }
}

/// The page's overall state, as Statuspage's `status.indicator` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    None,
    Minor,
    Major,
    Critical,
}

impl Indicator {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Minor => "minor",
            Self::Major => "major",
            Self::Critical => "critical",
        }
    }
}

/// The overall status of a page: the worst of its components' statuses and of its unresolved
/// incidents' impacts, with a sentence for the banner.
pub fn overall(
    components: impl IntoIterator<Item = ComponentStatus>,
    open_impacts: impl IntoIterator<Item = Impact>,
) -> (Indicator, &'static str) {
    let mut worst = Indicator::None;
    let mut maintenance = false;
    for status in components {
        maintenance |= status == ComponentStatus::UnderMaintenance;
        worst = worst.max(status.indicator());
    }
    for impact in open_impacts {
        worst = worst.max(match impact {
            Impact::None | Impact::Maintenance => Indicator::None,
            Impact::Minor => Indicator::Minor,
            Impact::Major => Indicator::Major,
            Impact::Critical => Indicator::Critical,
        });
    }
    let description = match worst {
        Indicator::None if maintenance => "Service Under Maintenance",
        Indicator::None => "All Systems Operational",
        Indicator::Minor => "Minor Service Outage",
        Indicator::Major => "Partial System Outage",
        Indicator::Critical => "Major Service Outage",
    };
    (worst, description)
}

/// The status a maintenance's components take while it is in `status`.
pub fn maintenance_component_status(status: MaintenanceStatus) -> ComponentStatus {
    match status {
        MaintenanceStatus::InProgress | MaintenanceStatus::Verifying => {
            ComponentStatus::UnderMaintenance
        }
        MaintenanceStatus::Scheduled | MaintenanceStatus::Completed => ComponentStatus::Operational,
    }
}

/// A slug for a page's address: 2 to 60 lowercase letters, digits and inner dashes.
pub fn slug(raw: &str) -> Result<String, String> {
    let slug = raw.trim();
    let ok = (2..=60).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok {
        Ok(slug.to_string())
    } else {
        Err("must be 2 to 60 lowercase letters, digits and dashes, not starting or ending with a dash".into())
    }
}

/// A host name a page may also be served under (e.g. `status.example.com`).
pub fn host_name(raw: &str) -> Result<String, String> {
    let host = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if host.len() <= 253 && host.contains('.') && host.split('.').all(label_ok) {
        Ok(host)
    } else {
        Err("must be a host name such as status.example.com".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overall_takes_the_worst_of_components_and_incidents() {
        use ComponentStatus::*;
        assert_eq!(
            overall([Operational, Operational], []),
            (Indicator::None, "All Systems Operational")
        );
        assert_eq!(
            overall([UnderMaintenance], []).1,
            "Service Under Maintenance"
        );
        assert_eq!(overall([DegradedPerformance], []).0, Indicator::Minor);
        assert_eq!(
            overall([PartialOutage], [Impact::Minor]).0,
            Indicator::Major
        );
        assert_eq!(
            overall([Operational], [Impact::Critical]).0,
            Indicator::Critical
        );
        assert_eq!(overall([MajorOutage], []).1, "Major Service Outage");
    }

    #[test]
    fn values_parse_back_from_their_names() {
        for s in ComponentStatus::ALL {
            assert_eq!(ComponentStatus::parse(s.as_str()), Ok(*s));
        }
        for s in MaintenanceStatus::ALL {
            assert_eq!(MaintenanceStatus::parse(s.as_str()), Ok(*s));
        }
        assert!(
            IncidentStatus::parse("fixed")
                .unwrap_err()
                .contains("investigating")
        );
    }

    #[test]
    fn slugs_and_hosts_are_checked() {
        assert_eq!(slug(" acme-status ").unwrap(), "acme-status");
        for bad in ["A", "-x", "x-", "a b", "a/b", "a"] {
            assert!(slug(bad).is_err(), "{bad}");
        }
        assert_eq!(
            host_name("Status.Example.com.").unwrap(),
            "status.example.com"
        );
        for bad in ["localhost", "a..b", "-a.b", "a_b.c", "exa mple.com"] {
            assert!(host_name(bad).is_err(), "{bad}");
        }
    }
}
