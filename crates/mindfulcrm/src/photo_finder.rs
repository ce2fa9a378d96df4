//! The photo finder: for a contact without a photo, pictures to choose from — their email
//! addresses at the configured avatar services (Libravatar, Gravatar: by SHA-256 of the
//! address) and their website's `og:image` and icons. Every fetch goes through the
//! outgoing-address guard with a time limit and the photo size cap; only JPEG, PNG, GIF and
//! WebP are kept (never SVG), and the chosen one goes through the usual photo checks.

use std::time::Duration;

use keel_platform::identity::Principal;
use keel_platform::outbound::Method;
use keel_platform::{AppError, AppResult, Platform};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::{self, Photo};

/// Largest page read when looking for pictures on the website.
const MAX_PAGE_BYTES: usize = 512 * 1024;
const FETCH_LIMIT: Duration = Duration::from_secs(8);
/// Addresses of a contact looked up, and pictures kept.
const MAX_EMAILS: usize = 3;
const MAX_CANDIDATES: usize = 8;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PhotoCandidate {
    pub id: i64,
    /// Where it came from: the avatar service's host or the website's.
    pub source: String,
    /// The picture itself.
    pub url: String,
}

/// Looks for pictures now and keeps them as the contact's candidates (replacing earlier ones).
pub async fn find(
    platform: &Platform,
    principal: &Principal,
    contact_id: i64,
) -> AppResult<Vec<PhotoCandidate>> {
    let contact = crate::contacts::get(platform, principal, contact_id).await?;
    let mut urls: Vec<(String, String)> = Vec::new();
    for email in contact.emails.iter().take(MAX_EMAILS) {
        let hash = keel_platform::crypto::sha256_hex(&email.value.trim().to_lowercase());
        for template in &platform.config.photo_lookup_urls {
            let url = template.replace("{sha256}", &hash);
            urls.push((host_of(&url), url));
        }
    }
    let website = contact.website.trim();
    if website.starts_with("https://") || website.starts_with("http://") {
        for url in website_pictures(platform, website).await {
            urls.push((host_of(website), url));
        }
    }
    urls.truncate(MAX_CANDIDATES * 2);
    let fetched =
        futures_util::future::join_all(urls.iter().map(|(_, url)| fetch_picture(platform, url)))
            .await;
    let mut kept: Vec<(String, Photo)> = Vec::new();
    for ((source, _), photo) in urls.into_iter().zip(fetched) {
        if let Some(photo) = photo
            && !kept.iter().any(|(_, k)| k.data == photo.data)
            && kept.len() < MAX_CANDIDATES
        {
            kept.push((source, photo));
        }
    }
    let mut tx = platform.db.begin().await?;
    store::save_photo_candidates(
        &mut tx,
        principal.user.id,
        contact_id,
        &kept,
        platform.now(),
    )
    .await?;
    tx.commit().await?;
    candidates(platform, principal, contact_id).await
}

/// The candidates found last for the contact.
pub async fn candidates(
    platform: &Platform,
    principal: &Principal,
    contact_id: i64,
) -> AppResult<Vec<PhotoCandidate>> {
    let rows = store::photo_candidates(platform.db.pool(), principal.user.id, contact_id).await?;
    Ok(rows
        .into_iter()
        .map(|(id, source)| PhotoCandidate {
            url: format!("/api/v1/crm/contacts/{contact_id}/photo-candidates/{id}"),
            id,
            source,
        })
        .collect())
}

/// One candidate's picture.
pub async fn candidate(
    platform: &Platform,
    principal: &Principal,
    contact_id: i64,
    id: i64,
) -> AppResult<Photo> {
    let data = store::photo_candidate(platform.db.pool(), principal.user.id, contact_id, id)
        .await?
        .ok_or(AppError::NotFound("photo candidate"))?;
    Photo::new(data).map_err(|e| AppError::Internal(anyhow::anyhow!("a stored candidate: {e}")))
}

/// Makes a candidate the contact's photo; the other candidates go.
pub async fn choose(
    platform: &Platform,
    principal: &Principal,
    contact_id: i64,
    id: i64,
) -> AppResult<()> {
    let photo = candidate(platform, principal, contact_id, id).await?;
    crate::contacts::set_photo(platform, principal, contact_id, photo.data).await?;
    let mut tx = platform.db.begin().await?;
    store::save_photo_candidates(&mut tx, principal.user.id, contact_id, &[], platform.now())
        .await?;
    tx.commit().await?;
    Ok(())
}

fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default()
}

/// A picture at `url`, if it is one we keep; any failure just means no candidate.
async fn fetch_picture(platform: &Platform, url: &str) -> Option<Photo> {
    let request = platform
        .outbound
        .request(Method::GET, url)
        .timeout(FETCH_LIMIT)
        .header("Accept", "image/jpeg, image/png, image/gif, image/webp");
    let answer = tokio::time::timeout(
        FETCH_LIMIT,
        platform.outbound.fetch(request, Photo::MAX_BYTES),
    )
    .await
    .ok()?
    .ok()?;
    if answer.status != 200 {
        return None;
    }
    Photo::new(answer.body).ok()
}

/// Pictures the website names for itself: `og:image`, `twitter:image`, touch icons and icons,
/// as absolute URLs.
async fn website_pictures(platform: &Platform, website: &str) -> Vec<String> {
    let Ok(base) = url::Url::parse(website) else {
        return Vec::new();
    };
    let request = platform
        .outbound
        .request(Method::GET, website)
        .timeout(FETCH_LIMIT)
        .header("Accept", "text/html");
    let page = match tokio::time::timeout(
        FETCH_LIMIT,
        platform.outbound.fetch(request, MAX_PAGE_BYTES),
    )
    .await
    {
        Ok(Ok(page)) if page.status == 200 => page,
        _ => return Vec::new(),
    };
    let html = String::from_utf8_lossy(&page.body);
    page_pictures(&html)
        .into_iter()
        .filter_map(|href| base.join(&href).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .map(|u| u.to_string())
        .collect()
}

/// The picture links of an HTML page, best first: `og:image`, `twitter:image`, then
/// `apple-touch-icon` and `icon` links.
pub fn page_pictures(html: &str) -> Vec<String> {
    let mut images = Vec::new();
    let mut icons = Vec::new();
    let lower = html.to_ascii_lowercase();
    for (start, _) in lower.match_indices('<') {
        let Some(tag) = lower[start + 1..].split(['>', '<']).next() else {
            continue;
        };
        let original = &html[start + 1..start + 1 + tag.len()];
        if let Some(rest) = tag.strip_prefix("meta ") {
            let attrs = attributes(rest, &original[5..]);
            let key = attrs
                .iter()
                .find(|(k, _)| k == "property" || k == "name")
                .map(|(_, v)| v.to_ascii_lowercase());
            if matches!(
                key.as_deref(),
                Some("og:image" | "og:image:url" | "twitter:image")
            ) && let Some((_, content)) = attrs.iter().find(|(k, _)| k == "content")
            {
                images.push(content.clone());
            }
        } else if let Some(rest) = tag.strip_prefix("link ") {
            let attrs = attributes(rest, &original[5..]);
            let rel = attrs
                .iter()
                .find(|(k, _)| k == "rel")
                .map(|(_, v)| v.to_ascii_lowercase())
                .unwrap_or_default();
            if let Some((_, href)) = attrs.iter().find(|(k, _)| k == "href") {
                if rel.contains("apple-touch-icon") {
                    icons.insert(0, href.clone());
                } else if rel.split_whitespace().any(|r| r == "icon") {
                    icons.push(href.clone());
                }
            }
        }
    }
    images.extend(icons);
    images
        .into_iter()
        .map(|u| u.replace("&amp;", "&"))
        .filter(|u| !u.trim().is_empty() && !u.to_ascii_lowercase().ends_with(".svg"))
        .collect()
}

/// `name="value"` pairs of a tag: names from the lower-cased text, values from the original.
fn attributes(lower: &str, original: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = 0;
    while let Some(eq) = lower[rest..].find('=') {
        let eq = rest + eq;
        let name = lower[rest..eq]
            .trim()
            .rsplit(char::is_whitespace)
            .next()
            .unwrap_or("")
            .to_string();
        let after = &original[eq + 1..];
        let trimmed = after.trim_start();
        let skipped = after.len() - trimmed.len();
        let (value, used) = match trimmed.chars().next() {
            Some(q @ ('"' | '\'')) => match trimmed[1..].find(q) {
                Some(end) => (trimmed[1..1 + end].to_string(), end + 2),
                None => break,
            },
            _ => {
                let end = trimmed.find(char::is_whitespace).unwrap_or(trimmed.len());
                (trimmed[..end].trim_end_matches('/').to_string(), end)
            }
        };
        out.push((name, value));
        rest = eq + 1 + skipped + used;
        if rest >= lower.len() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_name_their_pictures() {
        let html = r#"<html><head><META property="og:image" content="https://cdn.example.com/Ada.jpg?a=1&amp;b=2">
            <link rel="icon" href="/favicon.png"><link rel='apple-touch-icon' href='/touch.png'>
            <link rel="icon" href="/logo.svg"><meta name="description" content="og:image">
            <meta name=twitter:image content=/card.png></head></html>"#;
        assert_eq!(
            page_pictures(html),
            [
                "https://cdn.example.com/Ada.jpg?a=1&b=2",
                "/card.png",
                "/touch.png",
                "/favicon.png"
            ]
        );
        assert!(page_pictures("<p>no pictures</p>").is_empty());
        assert!(page_pictures("<meta property=\"og:image\" content=\"x").is_empty());
    }
}
