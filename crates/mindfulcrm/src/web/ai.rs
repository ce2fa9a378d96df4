//! The AI settings page: your opt-in, limit and usage; for admins also the budgets, providers
//! and models. And the contact page's assistant buttons: try a summary again, find
//! follow-ups, accept or dismiss them, find a photo.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use keel_platform::domain::OrgRole;
use keel_platform::http::Principal;
use keel_platform::web::{FormErrors, PageContext, WebError, WebUser, form_response, render};
use keel_platform::{AppError, AppResult, Platform};
use serde::Deserialize;

use super::redirect;
use crate::ai::selector::Tier;
use crate::ai::{self, AiBudgets, AiModelInput, AiProvider, AiProviderInput, AiUsage, MyAi};

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/crm/settings/ai", get(ai_page).post(save_mine))
        .route("/crm/settings/ai/budgets", post(save_budgets))
        .route("/crm/settings/ai/user-budget", post(save_user_budget))
        .route("/crm/settings/ai/providers", post(add_provider))
        .route("/crm/settings/ai/models", post(add_model))
        .route(
            "/crm/settings/ai/providers/{id}/remove",
            post(remove_provider),
        )
        .route("/crm/settings/ai/models/{id}/remove", post(remove_model))
        .route("/crm/contacts/{id}/summary", post(retry_summary))
        .route(
            "/crm/interactions/{id}/action-items",
            post(find_action_items),
        )
        .route("/crm/proposals/{id}/accept", post(accept_proposal))
        .route("/crm/proposals/{id}/dismiss", post(dismiss_proposal))
        .route("/crm/contacts/{id}/photo-candidates", post(find_photos))
        .route(
            "/crm/contacts/{id}/photo-candidates/{candidate}/use",
            post(use_photo),
        )
}

#[derive(Template)]
#[template(path = "mindfulcrm/ai.html")]
struct AiPage {
    page: PageContext,
    tab: &'static str,
    mine: MyAi,
    usage: AiUsage,
    /// Cost per day this month, as an SVG.
    chart: String,
    my_form: MyForm,
    errors: FormErrors,
    /// Admins only.
    admin: Option<AdminPart>,
}

struct AdminPart {
    budgets: AiBudgets,
    /// The whole server's calls this month.
    usage: AiUsage,
    /// Everyone, for setting one user's budget: (id, email).
    users: Vec<(i64, String)>,
    budget_form: BudgetForm,
    providers: Vec<AiProvider>,
    provider_form: ProviderForm,
    provider_errors: FormErrors,
    model_form: ModelForm,
    model_errors: FormErrors,
    tiers: [Tier; 3],
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct MyForm {
    opted_in: Option<String>,
    own_limit_usd: String,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct BudgetForm {
    global_monthly_usd: String,
    user_monthly_usd: String,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct ProviderForm {
    name: String,
    base_url: String,
    api_key: String,
    timeout_seconds: String,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct ModelForm {
    provider_id: String,
    name: String,
    context_window: String,
    input_price_per_million: String,
    output_price_per_million: String,
    tier: String,
}

/// One bar per day of the month: what the calls cost that day.
fn cost_chart(usage: &AiUsage, now: keel_platform::domain::Timestamp) -> String {
    let today = jiff::tz::TimeZone::UTC.to_datetime(now.to_jiff()).date();
    let days = today.days_in_month() as usize;
    let mut cost = vec![0.0f64; days];
    for line in &usage.by_day {
        if let Ok(day) = line.key.parse::<jiff::civil::Date>()
            && day.first_of_month() == today.first_of_month()
        {
            cost[day.day() as usize - 1] += line.cost_usd;
        }
    }
    let top = cost.iter().cloned().fold(0.0, f64::max).max(0.000_001);
    let (width, height, bar) = (days as f64 * 14.0, 80.0, 10.0);
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {width} {h}" width="100%" height="{h}" role="img" aria-label="AI cost per day this month">"#,
        h = height + 14.0
    );
    for (i, c) in cost.iter().enumerate() {
        let h = (c / top * height).max(if *c > 0.0 { 1.0 } else { 0.0 });
        svg.push_str(&format!(
            r#"<g><title>{day}: {cost}</title><rect class="bar" x="{x:.1}" y="{y:.1}" width="{bar}" height="{h:.1}"/></g>"#,
            day = i + 1,
            cost = crate::ai::ledger::dollars((c * 1_000_000.0).round() as i64),
            x = i as f64 * 14.0 + 2.0,
            y = height - h,
        ));
    }
    svg.push_str(&format!(
        r#"<text x="0" y="{y}">1</text><text x="{x:.1}" y="{y}">{days}</text></svg>"#,
        y = height + 12.0,
        x = width - 16.0,
    ));
    svg
}

/// Dollars as the page shows them (the API speaks in plain numbers).
pub fn usd(dollars: &f64) -> String {
    crate::ai::ledger::dollars((dollars * 1_000_000.0).round() as i64)
}

fn number<T: std::str::FromStr>(field: &str, raw: &str) -> AppResult<T> {
    raw.trim()
        .parse()
        .map_err(|_| AppError::field(field, "must be a number"))
}

/// Which form a failed post came from, to show it with its errors.
enum Failed {
    None,
    /// Only errors to show (the one user's budget form keeps no values).
    Errors(FormErrors),
    Mine(MyForm, FormErrors),
    Budgets(BudgetForm, FormErrors),
    Provider(ProviderForm, FormErrors),
    Model(ModelForm, FormErrors),
}

async fn view(
    platform: &Platform,
    principal: &Principal,
    failed: Failed,
    notice: Option<String>,
) -> Result<AiPage, WebError> {
    let mine = ai::mine(platform, principal).await?;
    let mut my_form = MyForm {
        opted_in: mine.opted_in.then(|| "on".into()),
        own_limit_usd: mine
            .own_limit_usd
            .map(|d| d.to_string())
            .unwrap_or_default(),
    };
    let mut errors = FormErrors::default();
    let admin = if principal.user.role == OrgRole::Admin {
        let budgets = ai::budgets(platform, principal).await?;
        Some(AdminPart {
            budget_form: BudgetForm {
                global_monthly_usd: budgets.global_monthly_usd.to_string(),
                user_monthly_usd: budgets.user_monthly_usd.to_string(),
            },
            budgets,
            usage: ai::usage(platform, principal, true).await?,
            users: keel_platform::accounts::directory(platform)
                .await?
                .into_iter()
                .map(|u| (u.id, u.email))
                .collect(),
            providers: ai::providers(platform, principal).await?,
            provider_form: ProviderForm {
                timeout_seconds: "60".into(),
                ..ProviderForm::default()
            },
            provider_errors: FormErrors::default(),
            model_form: ModelForm {
                context_window: "128000".into(),
                tier: "economy".into(),
                ..ModelForm::default()
            },
            model_errors: FormErrors::default(),
            tiers: Tier::ALL,
        })
    } else {
        None
    };
    let usage = ai::usage(platform, principal, false).await?;
    let mut page = AiPage {
        page: PageContext::signed_in(principal, "crm").with_notice(notice),
        tab: "ai",
        chart: cost_chart(&usage, platform.now()),
        usage,
        mine,
        my_form: MyForm::default(),
        errors: FormErrors::default(),
        admin,
    };
    match failed {
        Failed::None => {}
        Failed::Errors(e) => errors = e,
        Failed::Mine(form, e) => (my_form, errors) = (form, e),
        Failed::Budgets(form, e) => {
            if let Some(admin) = &mut page.admin {
                admin.budget_form = form;
            }
            errors = e;
        }
        Failed::Provider(form, e) => {
            if let Some(admin) = &mut page.admin {
                (admin.provider_form, admin.provider_errors) = (form, e);
            }
        }
        Failed::Model(form, e) => {
            if let Some(admin) = &mut page.admin {
                (admin.model_form, admin.model_errors) = (form, e);
            }
        }
    }
    page.my_form = my_form;
    page.errors = errors;
    Ok(page)
}

#[derive(Deserialize, Default)]
struct Done {
    done: Option<String>,
}

async fn ai_page(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let notice = match q.done.as_deref() {
        Some("saved") => Some("Saved."),
        Some("provider") => Some("Provider added. Add its models next."),
        Some("model") => Some("Model added."),
        Some("removed") => Some("Removed."),
        _ => None,
    };
    render(
        &view(
            &platform,
            &principal,
            Failed::None,
            notice.map(str::to_string),
        )
        .await?,
    )
}

/// Renders the outcome of a form: back to the page, or the page with the form's errors.
async fn answer(
    platform: &Platform,
    principal: &Principal,
    outcome: AppResult<()>,
    done: &str,
    failed: impl FnOnce(FormErrors) -> Failed,
) -> Result<Response, WebError> {
    form_response(
        outcome,
        |()| format!("/crm/settings/ai?done={done}"),
        |errors| view(platform, principal, failed(errors), None),
    )
    .await
}

async fn save_mine(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Form(form): Form<MyForm>,
) -> Result<Response, WebError> {
    let outcome = async {
        let own_limit_usd = match form.own_limit_usd.trim() {
            "" => None,
            raw => Some(number("own_limit_usd", raw)?),
        };
        let input = ai::MyAiInput {
            opted_in: form.opted_in.is_some(),
            own_limit_usd,
        };
        ai::set_mine(&platform, &principal, &input).await.map(drop)
    }
    .await;
    answer(&platform, &principal, outcome, "saved", |e| {
        Failed::Mine(form, e)
    })
    .await
}

async fn save_budgets(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Form(form): Form<BudgetForm>,
) -> Result<Response, WebError> {
    // Admins only: anyone else is refused outright, not shown a form error.
    keel_platform::authz::require_admin(&principal)?;
    let outcome = async {
        let input = ai::AiBudgetsInput {
            global_monthly_usd: number("global_monthly_usd", &form.global_monthly_usd)?,
            user_monthly_usd: number("user_monthly_usd", &form.user_monthly_usd)?,
        };
        ai::set_budgets(&platform, &principal, &input)
            .await
            .map(drop)
    }
    .await;
    answer(&platform, &principal, outcome, "saved", |e| {
        Failed::Budgets(form, e)
    })
    .await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct UserBudgetForm {
    user_id: String,
    /// Empty: back to the default.
    monthly_usd: String,
}

async fn save_user_budget(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Form(form): Form<UserBudgetForm>,
) -> Result<Response, WebError> {
    // Admins only: anyone else is refused outright, not shown a form error.
    keel_platform::authz::require_admin(&principal)?;
    let outcome = async {
        let user_id: i64 = number("user_id", &form.user_id)?;
        let monthly_usd = match form.monthly_usd.trim() {
            "" => None,
            raw => Some(number("user_budget_usd", raw)?),
        };
        let input = ai::UserBudgetInput { monthly_usd };
        ai::set_user_budget(&platform, &principal, user_id, &input).await
    }
    .await;
    answer(&platform, &principal, outcome, "saved", Failed::Errors).await
}

async fn add_provider(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Form(form): Form<ProviderForm>,
) -> Result<Response, WebError> {
    // Admins only: anyone else is refused outright, not shown a form error.
    keel_platform::authz::require_admin(&principal)?;
    let outcome = async {
        let timeout_seconds = match form.timeout_seconds.trim() {
            "" => None,
            raw => Some(number("timeout_seconds", raw)?),
        };
        let input = AiProviderInput {
            name: form.name.clone(),
            base_url: form.base_url.clone(),
            api_key: form.api_key.clone(),
            timeout_seconds,
        };
        ai::add_provider(&platform, &principal, &input)
            .await
            .map(drop)
    }
    .await;
    // The key is never sent back to the browser.
    let form = ProviderForm {
        api_key: String::new(),
        ..form
    };
    answer(&platform, &principal, outcome, "provider", |e| {
        Failed::Provider(form, e)
    })
    .await
}

async fn add_model(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Form(form): Form<ModelForm>,
) -> Result<Response, WebError> {
    // Admins only: anyone else is refused outright, not shown a form error.
    keel_platform::authz::require_admin(&principal)?;
    let outcome = async {
        let provider_id: i64 = number("provider_id", &form.provider_id)?;
        let input = AiModelInput {
            name: form.name.clone(),
            context_window: number("context_window", &form.context_window)?,
            input_price_per_million: number(
                "input_price_per_million",
                &form.input_price_per_million,
            )?,
            output_price_per_million: number(
                "output_price_per_million",
                &form.output_price_per_million,
            )?,
            tier: Tier::parse(form.tier.trim())
                .ok_or_else(|| AppError::field("tier", "must be economy, standard or best"))?,
        };
        ai::add_model(&platform, &principal, provider_id, &input)
            .await
            .map(drop)
    }
    .await;
    answer(&platform, &principal, outcome, "model", |e| {
        Failed::Model(form, e)
    })
    .await
}

async fn remove_provider(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    ai::remove_provider(&platform, &principal, id).await?;
    Ok(redirect("/crm/settings/ai?done=removed"))
}

async fn remove_model(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    ai::remove_model(&platform, &principal, id).await?;
    Ok(redirect("/crm/settings/ai?done=removed"))
}

/// "Try again" on a failed summary; a used-up budget shows as the contact page's notice.
async fn retry_summary(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let kind = ai::contact_texts::TextKind::Summary;
    let outcome = ai::contact_texts::get(&platform, &principal, id, kind, true)
        .await
        .map(drop);
    back_with(
        &platform,
        &principal,
        &format!("/crm/contacts/{id}"),
        outcome,
    )
    .await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Back {
    back: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AcceptForm {
    back: String,
    title: String,
    due_on: String,
}

/// Back to the page the form was on, with a notice when the assistant cannot act.
async fn back_with(
    platform: &Platform,
    principal: &Principal,
    back: &str,
    outcome: AppResult<()>,
) -> Result<Response, WebError> {
    let to = super::back(back, "/crm");
    match outcome {
        Ok(()) => Ok(redirect(&to)),
        Err(AppError::Conflict(message)) => {
            // The contact page shows why; other pages fall back to the redirect.
            let contact = to
                .strip_prefix("/crm/contacts/")
                .and_then(|id| id.parse::<i64>().ok());
            match contact {
                Some(id) => {
                    let mut page =
                        super::contact_view(platform, principal, id, None, FormErrors::default())
                            .await?;
                    page.page.notice = Some(message);
                    render(&page)
                }
                None => Ok(redirect(&to)),
            }
        }
        Err(err) => Err(err.into()),
    }
}

async fn find_action_items(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
    Form(form): Form<Back>,
) -> Result<Response, WebError> {
    let outcome = ai::proposals::find(&platform, &principal, id).await;
    back_with(&platform, &principal, &form.back, outcome).await
}

async fn accept_proposal(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
    Form(form): Form<AcceptForm>,
) -> Result<Response, WebError> {
    let input = ai::proposals::AcceptInput {
        title: Some(form.title.clone()),
        due_on: Some(form.due_on.clone()),
    };
    let outcome = ai::proposals::accept(&platform, &principal, id, &input)
        .await
        .map(drop);
    back_with(&platform, &principal, &form.back, outcome).await
}

async fn dismiss_proposal(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
    Form(form): Form<Back>,
) -> Result<Response, WebError> {
    let outcome = ai::proposals::dismiss(&platform, &principal, id).await;
    back_with(&platform, &principal, &form.back, outcome).await
}

async fn find_photos(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let found = crate::photo_finder::find(&platform, &principal, id).await?;
    if found.is_empty() {
        let mut page =
            super::contact_view(&platform, &principal, id, None, FormErrors::default()).await?;
        page.page.notice = Some("No picture found for their email addresses or website.".into());
        return render(&page);
    }
    Ok(redirect(&format!("/crm/contacts/{id}")))
}

async fn use_photo(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path((id, candidate)): Path<(i64, i64)>,
) -> Result<Response, WebError> {
    crate::photo_finder::choose(&platform, &principal, id, candidate).await?;
    Ok(redirect(&format!("/crm/contacts/{id}")))
}
