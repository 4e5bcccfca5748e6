//! The standing approvals page (managers and admins): the exceptions
//! promoted to policy with the figures of their use, a retire button on
//! each in force, and the form that promotes another, pre-filled from a
//! `promote_to_policy` review (`?proposal_id=`) or a policy candidate
//! (`?category=&policy_ref=`). The same `app::standing_approvals` use
//! cases as the REST API.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{Datelike, NaiveDate};
use serde::Deserialize;
use uuid::Uuid;

use super::format::{Stamp, amount_field, currency_choices, given, money, stamp, typed_amount};
use super::page::{Frame, WebError, render, when_valid};
use super::session::{Nothing, Posted, Signed};
use crate::app::sessions::WebSession;
use crate::app::standing_approvals::{DraftFrom, ListFilter};
use crate::app::{self, AppError};
use crate::domain::fields::FieldErrors;
use crate::domain::standing::Proposed;
use crate::state::AppState;
use crate::views::StandingApproval;

/// One standing approval as a table row.
struct Line {
    id: Uuid,
    rule: String,
    limit: String,
    team: String,
    until: Option<Stamp>,
    active: bool,
    retired: Option<Stamp>,
    note: String,
    used: i64,
    amounts: String,
    outcomes: String,
    reviews: String,
}

fn line(standing: StandingApproval) -> Line {
    let usage = standing.usage;
    Line {
        id: standing.id,
        rule: format!("{} / {}", standing.category, standing.policy_ref),
        limit: match (standing.max_amount_minor, standing.currency.as_deref()) {
            (Some(minor), Some(currency)) => format!("up to {}", money(minor, currency)),
            _ => "no amount".to_owned(),
        },
        team: standing.team.unwrap_or_else(|| "everyone".to_owned()),
        until: standing.valid_until.map(stamp),
        active: standing.active,
        retired: standing.retired_at.map(stamp),
        note: standing.note,
        used: usage.proposals,
        amounts: usage
            .amounts
            .iter()
            .map(|a| {
                format!(
                    "{} approved, {} paid",
                    money(a.approved_minor, &a.currency),
                    money(a.executed_minor, &a.currency)
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        outcomes: format!(
            "{} satisfied, {} neutral, {} dissatisfied, {} not recorded",
            usage.outcomes.satisfied,
            usage.outcomes.neutral,
            usage.outcomes.dissatisfied,
            usage.outcomes.not_recorded + usage.outcomes.unknown
        ),
        reviews: format!(
            "{} endorsed, {} coached, {} not reviewed",
            usage.reviews.endorse + usage.reviews.promote_to_policy,
            usage.reviews.coach,
            usage.reviews.not_reviewed
        ),
    }
}

/// The promotion form as sent (and shown again with its errors).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StandingForm {
    category: String,
    policy_ref: String,
    max_amount: String,
    currency: String,
    team: String,
    /// The last day it applies (inclusive), e.g. 2027-02-28.
    valid_until: String,
    source_proposal_id: String,
    note: String,
}

impl StandingForm {
    fn from_draft(draft: Proposed) -> Self {
        StandingForm {
            max_amount: amount_field(draft.max_amount_minor, draft.currency.as_deref()),
            category: draft.category,
            policy_ref: draft.policy_ref,
            currency: draft.currency.unwrap_or_default(),
            team: draft.team.unwrap_or_default(),
            valid_until: draft
                .valid_until
                .map(|until| until.date_naive().to_string())
                .unwrap_or_default(),
            source_proposal_id: draft.source_proposal_id.map(|id| id.to_string()).unwrap_or_default(),
            note: draft.note,
        }
    }
}

#[derive(Template)]
#[template(path = "standing_approvals.html")]
struct StandingPage {
    frame: Frame,
    lines: Vec<Line>,
    form: StandingForm,
    categories: Vec<String>,
    currencies: Vec<String>,
    errors: Vec<(String, String)>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DraftQuery {
    proposal_id: Option<Uuid>,
    category: Option<String>,
    policy_ref: Option<String>,
}

async fn page(
    state: &AppState,
    session: &WebSession,
    form: StandingForm,
    errors: Vec<(String, String)>,
) -> Result<StandingPage, WebError> {
    let filter = ListFilter {
        limit: 200,
        ..ListFilter::default()
    };
    let mut found = app::standing_approvals::list(state, &session.actor, filter).await?;
    // In force first, then the newest.
    found.sort_by_key(|s| !s.active);
    let currencies = currency_choices(&state.policy, given(&form.currency));
    Ok(StandingPage {
        frame: Frame::new(session, "Standing approvals", "/standing-approvals"),
        lines: found.into_iter().map(line).collect(),
        categories: state.policy.categories.iter().map(|c| c.name.clone()).collect(),
        currencies,
        form,
        errors,
    })
}

async fn standing_approvals(
    State(state): State<AppState>,
    Signed(session): Signed,
    Query(query): Query<DraftQuery>,
) -> Result<Response, WebError> {
    let from = match (query.proposal_id, query.category, query.policy_ref) {
        (Some(id), _, _) => Some(DraftFrom::Proposal(id)),
        (None, Some(category), Some(policy_ref)) => Some(DraftFrom::Candidate { category, policy_ref }),
        _ => None,
    };
    let form = match from {
        Some(from) => StandingForm::from_draft(app::standing_approvals::draft(&state, &session.actor, from).await?),
        None => StandingForm::default(),
    };
    let page = page(&state, &session, form, Vec::new()).await?;
    Ok(render(StatusCode::OK, &page))
}

fn proposed(form: &StandingForm, errors: &mut FieldErrors) -> Proposed {
    let currency = given(&form.currency);
    let valid_until = given(&form.valid_until).and_then(|day| match NaiveDate::parse_from_str(day, "%Y-%m-%d") {
        // The whole last day applies: until the next midnight (UTC).
        Ok(day) if (1..=9999).contains(&day.year()) => day
            .checked_add_days(chrono::Days::new(1))
            .and_then(|next| next.and_hms_opt(0, 0, 0))
            .map(|at| at.and_utc()),
        _ => {
            errors.add("valid_until", "must be a date such as 2027-02-28");
            None
        }
    });
    let source_proposal_id = given(&form.source_proposal_id).and_then(|id| match Uuid::parse_str(id) {
        Ok(id) => Some(id),
        Err(_) => {
            errors.add("source_proposal_id", "is not a proposal id");
            None
        }
    });
    Proposed {
        category: form.category.clone(),
        policy_ref: form.policy_ref.clone(),
        max_amount_minor: typed_amount(errors, "max_amount_minor", given(&form.max_amount), currency),
        currency: given(&form.max_amount).and(currency).map(str::to_owned),
        team: given(&form.team).map(str::to_owned),
        // From now, as the service's clock tells it.
        valid_from: None,
        valid_until,
        source_proposal_id,
        note: form.note.clone(),
    }
}

async fn create(State(state): State<AppState>, posted: Posted<StandingForm>) -> Result<Response, WebError> {
    let Posted { session, form } = posted;
    let mut errors = FieldErrors::new();
    let proposed = proposed(&form, &mut errors);
    let created = when_valid(
        errors,
        app::standing_approvals::create(&state, &session.actor, proposed, None),
    )
    .await;
    match created {
        Ok(_) => Ok(Redirect::to("/standing-approvals").into_response()),
        Err(AppError::Invalid(errors)) => {
            let errors = errors.as_map().clone().into_iter().collect();
            let page = page(&state, &session, form, errors).await?;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(other) => Err(WebError::from(other).back_to("/standing-approvals".to_owned())),
    }
}

async fn retire(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    posted: Posted<Nothing>,
) -> Result<Response, WebError> {
    app::standing_approvals::retire(
        &state,
        &posted.session.actor,
        id,
        Some("retired on the web page".to_owned()),
    )
    .await
    .map_err(|error| WebError::from(error).back_to("/standing-approvals".to_owned()))?;
    Ok(Redirect::to("/standing-approvals").into_response())
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/standing-approvals", get(standing_approvals).post(create))
        .route("/standing-approvals/{id}/retire", post(retire))
}
