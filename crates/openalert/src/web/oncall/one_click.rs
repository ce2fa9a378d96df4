//! One-click acknowledge / resolve.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use keel_platform::http::{AuthMethod, ClientMeta, Principal};
use keel_platform::web::{PageContext, WebError, render};
use keel_platform::{AppError, Platform};

use crate::incidents::{self, Transition};

#[derive(Template)]
#[template(path = "openalert/act.html")]
struct ActPage {
    page: PageContext,
    token: String,
    action: String,
    number: i64,
    title: String,
    status: String,
    done: bool,
}

fn link_refused() -> WebError {
    WebError::new(
        axum::http::StatusCode::NOT_FOUND,
        "This link does not work",
        "It has expired, was changed, or its incident is gone. Sign in to act on the incident.",
    )
}

/// The person a link was issued to, acting through it.
async fn link_principal(
    platform: &Platform,
    token: &str,
) -> Result<(Principal, i64, String), WebError> {
    let (incident_id, user_id, action) =
        crate::notify::check_action_token(platform, token, platform.now())
            .ok_or_else(link_refused)?;
    let user = keel_platform::store::accounts::user_by_id(platform.db.pool(), user_id)
        .await
        .map_err(AppError::from)?
        .filter(|u| u.disabled_at.is_none())
        .ok_or_else(link_refused)?;
    Ok((
        Principal {
            user,
            method: AuthMethod::SignedLink,
        },
        incident_id,
        action,
    ))
}

/// Opening the link only shows what it would do: mail scanners follow links.
pub(super) async fn act_confirm(
    State(platform): State<Platform>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let (principal, incident_id, action) = link_principal(&platform, &token).await?;
    let incident = incidents::visible_incident(&platform, &principal, incident_id)
        .await
        .map_err(|_| link_refused())?;
    render(&ActPage {
        page: PageContext {
            section: "openalert",
            ..PageContext::anonymous()
        },
        token,
        action,
        number: incident.number,
        title: incident.title,
        status: incident.status.as_str().into(),
        done: false,
    })
}

pub(super) async fn act(
    State(platform): State<Platform>,
    meta: ClientMeta,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let (principal, incident_id, action) = link_principal(&platform, &token).await?;
    let to = if action == "resolve" {
        Transition::Resolve
    } else {
        Transition::Acknowledge
    };
    let incident = match incidents::transition(&platform, &principal, incident_id, to, &meta).await
    {
        Ok(incident) => incident,
        Err(AppError::Conflict(_)) => {
            incidents::visible_incident(&platform, &principal, incident_id)
                .await
                .map_err(|_| link_refused())?
        }
        Err(AppError::NotFound(_)) => return Err(link_refused()),
        Err(err) => return Err(err.into()),
    };
    render(&ActPage {
        page: PageContext {
            section: "openalert",
            ..PageContext::anonymous()
        },
        token,
        action,
        number: incident.number,
        title: incident.title,
        status: incident.status.as_str().into(),
        done: true,
    })
}
