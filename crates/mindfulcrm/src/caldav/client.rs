//! The CalDAV conversation: discovery (current-user-principal → calendar-home-set →
//! calendars), RFC 6578 `sync-collection` with a stored token, the ETag listing it falls back
//! to, and `calendar-multiget` to read what changed. Every request goes through the platform's
//! address guard; redirects are followed by hand (at most three), each target checked again.

use keel_platform::outbound::{Method, Outbound, OutboundError};

use super::xml::{self, Multistatus};

/// The largest answer read.
const MAX_ANSWER_BYTES: usize = 20_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DavError {
    #[error("wrong user name or password (iCloud and Fastmail need an app password)")]
    Unauthorized,
    #[error("not a CalDAV server: check the address (such as https://caldav.example.com/)")]
    NotCalDav,
    #[error("the server answered {0}")]
    Status(u16),
    #[error("{0}")]
    Network(String),
    /// The sync token was refused: read everything again.
    #[error("the server no longer knows the sync token")]
    TokenRefused,
}

impl From<OutboundError> for DavError {
    fn from(err: OutboundError) -> Self {
        match err {
            OutboundError::Status(code) => Self::Status(code),
            other => Self::Network(other.to_string()),
        }
    }
}

pub struct Dav<'a> {
    pub outbound: &'a Outbound,
    pub base: url::Url,
    pub username: &'a str,
    pub password: &'a str,
}

/// A calendar found on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteCalendar {
    pub href: String,
    pub name: String,
}

/// What changed in a calendar since a token.
#[derive(Debug, Default)]
pub struct Changes {
    pub changed: Vec<(String, String)>,
    pub deleted: Vec<String>,
    pub token: Option<String>,
}

impl Dav<'_> {
    fn url(&self, href: &str) -> Result<url::Url, DavError> {
        self.base
            .join(href)
            .map_err(|_| DavError::Network("the server named an invalid address".into()))
    }

    async fn call(
        &self,
        method: &str,
        href: &str,
        depth: &str,
        body: String,
    ) -> Result<(u16, String), DavError> {
        let method = Method::from_bytes(method.as_bytes()).expect("a valid method");
        let mut url = self.url(href)?;
        for _ in 0..4 {
            let request = self
                .outbound
                .request(method.clone(), url.as_str())
                .basic_auth(self.username, Some(self.password))
                .header("Depth", depth)
                .header("Content-Type", "application/xml; charset=utf-8")
                .body(body.clone());
            let answer = self.outbound.fetch(request, MAX_ANSWER_BYTES).await?;
            match answer.status {
                301 | 302 | 307 | 308 => {
                    let location = answer.header("location").ok_or(DavError::NotCalDav)?;
                    url = url.join(location).map_err(|_| DavError::NotCalDav)?;
                }
                401 => return Err(DavError::Unauthorized),
                status => {
                    return Ok((status, String::from_utf8_lossy(&answer.body).into_owned()));
                }
            }
        }
        Err(DavError::Network("too many redirects".into()))
    }

    async fn multistatus(
        &self,
        method: &str,
        href: &str,
        depth: &str,
        body: String,
    ) -> Result<Multistatus, DavError> {
        let (status, text) = self.call(method, href, depth, body).await?;
        if status != 207 {
            return Err(if status == 404 || status == 405 || status < 300 {
                DavError::NotCalDav
            } else {
                DavError::Status(status)
            });
        }
        xml::multistatus(&text).ok_or(DavError::NotCalDav)
    }

    /// The calendars holding events under the account's home.
    pub async fn discover(&self) -> Result<Vec<RemoteCalendar>, DavError> {
        let start = self.base.path().to_string();
        let found = self
            .multistatus("PROPFIND", &start, "0", xml::PRINCIPAL.into())
            .await?;
        let principal = found
            .responses
            .iter()
            .find_map(|r| r.principal.clone())
            .unwrap_or(start);
        let found = self
            .multistatus("PROPFIND", &principal, "0", xml::HOME_SET.into())
            .await?;
        let home = found
            .responses
            .iter()
            .find_map(|r| r.home_set.clone())
            .unwrap_or(principal);
        let listed = self
            .multistatus("PROPFIND", &home, "1", xml::CALENDARS.into())
            .await?;
        Ok(listed
            .responses
            .into_iter()
            .filter(|r| r.is_calendar && r.has_events)
            .take(200)
            .map(|r| RemoteCalendar {
                name: r
                    .display_name
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| last_segment(&r.href)),
                href: r.href,
            })
            .collect())
    }

    /// What changed since `token` (everything when `None`).
    pub async fn changes(&self, calendar: &str, token: Option<&str>) -> Result<Changes, DavError> {
        let (status, text) = self
            .call(
                "REPORT",
                calendar,
                "0",
                xml::sync_collection(token.unwrap_or("")),
            )
            .await?;
        if token.is_some() && matches!(status, 400 | 403 | 409 | 412) {
            return Err(DavError::TokenRefused);
        }
        if status != 207 {
            return Err(DavError::Status(status));
        }
        let report = xml::multistatus(&text).ok_or(DavError::NotCalDav)?;
        let mut changes = Changes {
            token: report.sync_token,
            ..Changes::default()
        };
        for r in report.responses {
            if same_path(&r.href, calendar) {
                continue;
            }
            match (r.status, r.etag) {
                (Some(404), _) => changes.deleted.push(r.href),
                (_, Some(etag)) => changes.changed.push((r.href, etag)),
                _ => {}
            }
        }
        Ok(changes)
    }

    /// Every object of the calendar with its ETag.
    pub async fn etags(&self, calendar: &str) -> Result<Vec<(String, String)>, DavError> {
        let listed = self
            .multistatus("PROPFIND", calendar, "1", xml::ETAGS.into())
            .await?;
        Ok(listed
            .responses
            .into_iter()
            .filter(|r| !same_path(&r.href, calendar))
            .filter_map(|r| Some((r.href, r.etag?)))
            .collect())
    }

    /// The iCalendar text and ETag of these objects.
    pub async fn read(
        &self,
        calendar: &str,
        hrefs: &[String],
    ) -> Result<Vec<(String, String, String)>, DavError> {
        let got = self
            .multistatus("REPORT", calendar, "1", xml::multiget(hrefs))
            .await?;
        Ok(got
            .responses
            .into_iter()
            .filter_map(|r| Some((r.href, r.etag.unwrap_or_default(), r.calendar_data?)))
            .collect())
    }
}

fn same_path(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

fn last_segment(href: &str) -> String {
    href.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(href)
        .to_string()
}
