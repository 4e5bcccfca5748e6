//! The agents' pages: the live inbox, filing and revising, "my proposals",
//! and the proposal page with its signatures, audit trail and the actions
//! the viewer may take (co-sign or decline as a peer; revise, withdraw or
//! record the outcome as the proposer; review as a manager). Each action
//! calls the same `app::proposals` use case as the REST API and answers
//! with a redirect back to the proposal (post, redirect, get).

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::format::{self, Card, Stamp, amount_of, card, currency_choices, given, stamp};
use super::page::{Frame, WebError, render, require_role, when_valid};
use super::session::{Posted, Refreshing, Signed};
use crate::app::availability::OnShift;
use crate::app::proposals::{OutcomeReport, Signing};
use crate::app::sessions::WebSession;
use crate::app::{self, AppError, IdempotencyKey, Written};
use crate::db;
use crate::domain::employee::Role;
use crate::domain::fields::{FieldErrors, optional_text, required_text};
use crate::domain::proposal::{CustomerOutcome, Decision, Status, Verdict};
use crate::requests::{CreateProposal, RecordOutcome, ReviseProposal, check_revision};
use crate::state::AppState;
use crate::views::{self, Proposal};

/// Lists show at most this many proposals (the oldest waiting first).
const LIST_LIMIT: i64 = 100;

/// An idempotency key for a form post: the key the page put in the form
/// (fresh on each render), so the same form sent twice (a double click, a
/// resend after a dropped answer) is done once. The fingerprint is the
/// route and the fields: the same key with other fields is refused, as
/// for REST.
fn form_key(session: &WebSession, route: &str, key: &str, fields: &impl std::fmt::Debug) -> Option<IdempotencyKey> {
    let key = given(key)?;
    Some(IdempotencyKey {
        key: format!("web {route} {key}"),
        scope: session.actor.idempotency_scope(),
        fingerprint: Sha256::digest(format!("{route}\0{fields:?}")).into(),
    })
}

fn proposal_path(id: Uuid) -> String {
    format!("/proposals/{id}")
}

async fn list(state: &AppState, filter: db::proposals::ListFilter) -> Result<Vec<Card>, WebError> {
    let now = state.clock.now();
    let filter = db::proposals::ListFilter {
        now,
        limit: LIST_LIMIT,
        ..filter
    };
    let mut conn = state.pool.acquire().await?;
    let rows = db::proposals::list(&mut conn, &filter).await?;
    Ok(rows.iter().map(|row| card(&views::proposal(row, now))).collect())
}

// ----------------------------------------------------------------- inbox

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    frame: Frame,
    refresh_ms: u32,
    items: Vec<Card>,
    on_shift: OnShift,
}

#[derive(Template)]
#[template(path = "inbox_items.html")]
struct InboxItems {
    items: Vec<Card>,
}

/// The inbox: what the agent was asked to co-sign first, then the rest,
/// each oldest (longest waiting) first.
async fn inbox_cards(state: &AppState, session: &WebSession) -> Result<Vec<Card>, WebError> {
    require_role(session, Role::Agent)?;
    let filter = db::proposals::ListFilter {
        signable_by: Some(session.person.id),
        oldest_first: true,
        ..db::proposals::ListFilter::default()
    };
    let asked: Vec<Uuid> = list(
        state,
        db::proposals::ListFilter {
            asked_of: Some(session.person.id),
            ..filter.clone()
        },
    )
    .await?
    .into_iter()
    .map(|card| card.id)
    .collect();
    let mut cards = list(state, filter).await?;
    for card in &mut cards {
        card.asked = asked.contains(&card.id);
    }
    cards.sort_by_key(|card| !card.asked);
    Ok(cards)
}

/// Proposals the agent may co-sign, oldest (longest waiting) first; the
/// page asks for the list again every `web.inbox_refresh_ms`.
async fn show_inbox(State(state): State<AppState>, Signed(session): Signed) -> Result<Response, WebError> {
    let items = inbox_cards(&state, &session).await?;
    let page = InboxPage {
        frame: Frame::new(&session, "Inbox", "/inbox"),
        refresh_ms: state.settings.web.inbox_refresh_ms,
        items,
        on_shift: app::availability::current(&state, &session.actor).await?,
    };
    Ok(render(StatusCode::OK, &page))
}

/// The inbox's "on shift" switch.
#[derive(Debug, Deserialize)]
struct AvailabilityForm {
    available: bool,
}

/// The agent says they are on shift (asked first to co-sign), or off it.
async fn set_availability(
    State(state): State<AppState>,
    posted: Posted<AvailabilityForm>,
) -> Result<Response, WebError> {
    let Posted { session, form } = posted;
    app::availability::set(&state, &session.actor, form.available)
        .await
        .map_err(|error| WebError::from(error).back_to("/inbox".to_owned()))?;
    Ok(Redirect::to("/inbox").into_response())
}

/// The inbox's list alone, for the page's refresh.
async fn inbox_items(State(state): State<AppState>, Refreshing(session): Refreshing) -> Result<Response, WebError> {
    let items = inbox_cards(&state, &session).await?;
    Ok(render(StatusCode::OK, &InboxItems { items }))
}

#[derive(Template)]
#[template(path = "proposal_list.html")]
struct ListPage {
    frame: Frame,
    heading: &'static str,
    empty: &'static str,
    items: Vec<Card>,
}

async fn my_proposals(State(state): State<AppState>, Signed(session): Signed) -> Result<Response, WebError> {
    require_role(&session, Role::Agent)?;
    let filter = db::proposals::ListFilter {
        proposer: Some(session.person.id),
        ..db::proposals::ListFilter::default()
    };
    let page = ListPage {
        frame: Frame::new(&session, "My proposals", "/proposals/mine"),
        heading: "My proposals",
        empty: "You have not filed a proposal yet.",
        items: list(&state, filter).await?,
    };
    Ok(render(StatusCode::OK, &page))
}

// ------------------------------------------------------- filing, revising

/// The filing and revising form's fields, as typed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TermsForm {
    category: String,
    policy_ref: String,
    summary: String,
    resolution: String,
    justification: String,
    customer_ref: String,
    ticket_ref: String,
    amount: String,
    currency: String,
    /// Sent again when the same form is posted twice (a double click): the
    /// proposal is filed once.
    form_key: String,
}

fn given_owned(text: &str) -> Option<String> {
    given(text).map(str::to_owned)
}

impl TermsForm {
    fn of(proposal: &Proposal) -> Self {
        TermsForm {
            category: proposal.category.clone(),
            policy_ref: proposal.policy_ref.clone(),
            summary: proposal.summary.clone(),
            resolution: proposal.resolution.clone(),
            justification: proposal.justification.clone(),
            customer_ref: proposal.customer_ref.clone().unwrap_or_default(),
            ticket_ref: proposal.ticket_ref.clone().unwrap_or_default(),
            amount: format::amount_field(proposal.amount_minor, proposal.currency.as_deref()),
            currency: proposal.currency.clone().unwrap_or_default(),
            form_key: String::new(),
        }
    }

    /// The amount in minor units, and its currency when an amount was typed.
    fn money(&self, errors: &mut FieldErrors) -> (Option<i64>, Option<String>) {
        let amount = given(&self.amount);
        let minor = format::typed_amount(errors, "amount_minor", amount, given(&self.currency));
        (minor, amount.and(given_owned(&self.currency)))
    }

    fn create(&self, errors: &mut FieldErrors) -> CreateProposal {
        let (amount_minor, currency) = self.money(errors);
        CreateProposal {
            category: self.category.clone(),
            policy_ref: self.policy_ref.clone(),
            summary: self.summary.clone(),
            resolution: self.resolution.clone(),
            justification: self.justification.clone(),
            customer_ref: given_owned(&self.customer_ref),
            ticket_ref: given_owned(&self.ticket_ref),
            amount_minor,
            currency,
        }
    }

    /// Every field, as a revision: what did not change changes nothing.
    fn revise(&self, errors: &mut FieldErrors) -> ReviseProposal {
        let (amount_minor, currency) = self.money(errors);
        ReviseProposal {
            category: Some(self.category.clone()),
            policy_ref: Some(self.policy_ref.clone()),
            summary: Some(self.summary.clone()),
            resolution: Some(self.resolution.clone()),
            justification: Some(self.justification.clone()),
            customer_ref: Some(given_owned(&self.customer_ref)),
            ticket_ref: Some(given_owned(&self.ticket_ref)),
            amount_minor: Some(amount_minor),
            currency: Some(currency),
        }
    }
}

#[derive(Debug, Clone)]
struct CategoryChoice {
    name: String,
    description: String,
    moves_money: bool,
}

#[derive(Template)]
#[template(path = "proposal_form.html")]
struct TermsPage {
    frame: Frame,
    /// `None` when filing; the proposal and its revision when revising.
    revising: Option<(Uuid, i32)>,
    form: TermsForm,
    categories: Vec<CategoryChoice>,
    currencies: Vec<String>,
    /// Field → what is wrong with it (shown beside the field).
    errors: HashMap<String, String>,
    /// A refusal that is about no one field.
    refusal: Option<String>,
    /// Policy references in use, offered as suggestions.
    policy_refs: Vec<String>,
}

impl TermsPage {
    fn error(&self, field: &str) -> Option<&String> {
        // The form's amount is `amount`; the rules speak of `amount_minor`.
        let alias = if field == "amount" { "amount_minor" } else { field };
        self.errors.get(field).or_else(|| self.errors.get(alias))
    }
}

async fn terms_page(
    state: &AppState,
    frame: Frame,
    revising: Option<(Uuid, i32)>,
    form: TermsForm,
) -> Result<TermsPage, WebError> {
    let mut conn = state.pool.acquire().await?;
    let policy_refs = db::proposals::common_policy_refs(&mut conn, 50).await?;
    let form_currency = form.currency.clone();
    Ok(TermsPage {
        frame,
        revising,
        form,
        categories: state
            .policy
            .categories
            .iter()
            .map(|c| CategoryChoice {
                name: c.name.clone(),
                description: c.description.clone(),
                moves_money: c.moves_money,
            })
            .collect(),
        currencies: currency_choices(&state.policy, given(&form_currency)),
        errors: HashMap::new(),
        refusal: None,
        policy_refs,
    })
}

/// The form again, with what was typed and what is wrong (422), or the
/// error page for a refusal that is not about the form.
fn refused_form(mut page: TermsPage, error: AppError) -> Response {
    match error {
        AppError::Invalid(errors) => {
            page.errors = errors.as_map().clone().into_iter().collect();
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        AppError::Policy(_) | AppError::Rule(_) => {
            let WebError::Refused { status, detail, .. } = WebError::from(error) else {
                unreachable!("rule refusals are not internal");
            };
            page.refusal = Some(detail);
            render(status, &page)
        }
        other => WebError::from(other).into_response(),
    }
}

async fn new_proposal(State(state): State<AppState>, Signed(session): Signed) -> Result<Response, WebError> {
    require_role(&session, Role::Agent)?;
    let form = TermsForm {
        form_key: crate::secrets::new_random_text(),
        ..TermsForm::default()
    };
    let page = terms_page(
        &state,
        Frame::new(&session, "File a proposal", "/proposals/new"),
        None,
        form,
    )
    .await?;
    Ok(render(StatusCode::OK, &page))
}

async fn file_proposal(State(state): State<AppState>, posted: Posted<TermsForm>) -> Result<Response, WebError> {
    let Posted { session, form } = posted;
    require_role(&session, Role::Agent)?;
    let mut errors = FieldErrors::new();
    let create = form.create(&mut errors);
    let key = form_key(&session, "POST /proposals", &form.form_key, &create);
    let terms = create.terms(&mut errors);
    let frame = Frame::new(&session, "File a proposal", "/proposals/new");
    let filed = when_valid(
        errors,
        app::proposals::file(&state, &session.actor, terms, key.as_ref()),
    )
    .await;
    match filed {
        Ok(Written::Done { value, .. }) => Ok(Redirect::to(&proposal_path(value.id)).into_response()),
        Ok(Written::Replayed { body, .. }) => {
            let filed = body
                .get("id")
                .and_then(|id| id.as_str())
                .and_then(|id| Uuid::parse_str(id).ok());
            Ok(Redirect::to(&filed.map_or_else(|| "/proposals/mine".to_owned(), proposal_path)).into_response())
        }
        Err(error) => Ok(refused_form(terms_page(&state, frame, None, form).await?, error)),
    }
}

async fn find(state: &AppState, id: Uuid) -> Result<Proposal, WebError> {
    let mut conn = state.pool.acquire().await?;
    let row = db::proposals::find(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound("proposal"))?;
    Ok(views::proposal(&row, state.clock.now()))
}

async fn revise_form(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path(id): Path<Uuid>,
) -> Result<Response, WebError> {
    require_role(&session, Role::Agent)?;
    let proposal = find(&state, id).await?;
    let frame = Frame::new(&session, "Revise the proposal", "");
    let page = terms_page(&state, frame, Some((id, proposal.revision)), TermsForm::of(&proposal)).await?;
    Ok(render(StatusCode::OK, &page))
}

async fn revise_proposal(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    posted: Posted<TermsForm>,
) -> Result<Response, WebError> {
    let Posted { session, form } = posted;
    let mut errors = FieldErrors::new();
    let change = form.revise(&mut errors).change(&mut errors);
    let revised = when_valid(errors, app::proposals::revise(&state, &session.actor, id, change)).await;
    match revised {
        Ok(_) => Ok(Redirect::to(&proposal_path(id)).into_response()),
        Err(error) => {
            let current = find(&state, id).await?.revision;
            let frame = Frame::new(&session, "Revise the proposal", "");
            Ok(refused_form(
                terms_page(&state, frame, Some((id, current)), form).await?,
                error,
            ))
        }
    }
}

// -------------------------------------------------------- proposal page

#[derive(Debug, Clone)]
struct SignatureLine {
    name: String,
    team: Option<String>,
    endorsed: bool,
    revision: i32,
    text: Option<String>,
    at: Stamp,
}

#[derive(Debug, Clone)]
struct TrailLine {
    event_type: String,
    actor: String,
    via_integration: bool,
    at: Stamp,
}

#[derive(Debug, Clone)]
struct OutcomeLine {
    executed: bool,
    amount: Option<String>,
    customer: &'static str,
    note: Option<String>,
    at: Stamp,
}

#[derive(Debug, Clone)]
struct ReviewLine {
    reviewer: String,
    verdict: &'static str,
    note: String,
    at: Stamp,
}

/// What the viewer may do with the proposal now.
#[derive(Debug, Clone, Default)]
struct Actions {
    sign: bool,
    revise_or_withdraw: bool,
    record_outcome: bool,
    review: bool,
    /// The proposer, where the company allows acting alone for the
    /// category (the rest is checked when it is sent).
    act_alone: bool,
    /// A manager, while it waits: ask named agents.
    reassign: bool,
}

/// An agent a manager may ask to co-sign.
struct AskableAgent {
    id: Uuid,
    name: String,
    team: Option<String>,
    on_shift: bool,
}

#[derive(Template)]
#[template(path = "proposal.html")]
struct ProposalPage {
    frame: Frame,
    proposal: Proposal,
    card: Card,
    signatures: Vec<SignatureLine>,
    trail: Vec<TrailLine>,
    actions: Actions,
    /// For a manager's reassignment: agents who may still co-sign it.
    askable: Vec<AskableAgent>,
    outcome: Option<OutcomeLine>,
    review: Option<ReviewLine>,
    /// A manager or admin reads a `promote_to_policy` review: the page
    /// offers to make it a standing approval.
    may_promote: bool,
    currencies: Vec<String>,
    /// Each form's idempotency key (see [`form_key`]).
    form_key: String,
}

fn actions_for(state: &AppState, session: &WebSession, proposal: &Proposal) -> Actions {
    let me = session.person.id;
    let pending = proposal.status == Status::Pending;
    let is_proposer = proposal.proposer_id == me;
    let signed_now = proposal
        .signatures
        .iter()
        .any(|s| s.employee_id == me && s.revision == proposal.revision);
    let involved = is_proposer || proposal.signatures.iter().any(|s| s.employee_id == me);
    match session.person.role {
        Role::Agent => Actions {
            sign: pending && !is_proposer && !signed_now,
            revise_or_withdraw: pending && is_proposer,
            record_outcome: is_proposer && proposal.status == Status::Approved && proposal.outcome.is_none(),
            review: false,
            act_alone: pending
                && is_proposer
                && (state.settings.routing.act_alone.iter()).any(|rule| rule.category == proposal.category),
            reassign: false,
        },
        Role::Manager => Actions {
            review: !pending && proposal.review.is_none() && !involved,
            reassign: pending,
            ..Actions::default()
        },
        Role::Admin => Actions::default(),
    }
}

async fn show_proposal(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path(id): Path<Uuid>,
) -> Result<Response, WebError> {
    let proposal = find(&state, id).await?;
    let mut conn = state.pool.acquire().await?;
    let events = db::proposals::events(&mut conn, id, None, 500).await?;
    let mut names: HashMap<Uuid, String> = HashMap::from([(proposal.proposer_id, proposal.proposer_name.clone())]);
    for signature in &proposal.signatures {
        names.insert(signature.employee_id, signature.name.clone());
    }
    if let Some(review) = &proposal.review {
        names.insert(review.reviewer_id, review.reviewer_name.clone());
    }
    for actor in events.iter().filter_map(|e| e.actor_employee_id) {
        if !names.contains_key(&actor)
            && let Some(person) = db::employees::find(&mut conn, actor).await?
        {
            names.insert(actor, person.name);
        }
    }
    let trail = events
        .iter()
        .map(|event| TrailLine {
            event_type: event.event_type.clone(),
            actor: event.actor_employee_id.map_or_else(
                || "the service".to_owned(),
                |id| names.get(&id).cloned().unwrap_or_default(),
            ),
            via_integration: event.via_integration_id.is_some(),
            at: stamp(event.occurred_at),
        })
        .collect();
    let signatures = proposal
        .signatures
        .iter()
        .map(|s| SignatureLine {
            name: s.name.clone(),
            team: s.team.clone(),
            endorsed: s.decision == Decision::Endorse,
            revision: s.revision,
            text: s.comment.clone().or_else(|| s.reason.clone()),
            at: stamp(s.created_at),
        })
        .collect();
    let outcome = proposal.outcome.as_ref().map(|o| OutcomeLine {
        executed: o.executed,
        amount: amount_of(o.actual_amount_minor, o.currency.as_deref()),
        customer: o.customer_outcome.as_str(),
        note: o.note.clone(),
        at: stamp(o.recorded_at),
    });
    let review = proposal.review.as_ref().map(|r| ReviewLine {
        reviewer: r.reviewer_name.clone(),
        verdict: r.verdict.as_str(),
        note: r.note.clone(),
        at: stamp(r.reviewed_at),
    });
    let actions = actions_for(&state, &session, &proposal);
    let askable = if actions.reassign {
        app::routing::Routing::of(&state)
            .candidates(&mut conn, id, proposal.proposer_id, state.clock.now(), false)
            .await?
            .into_iter()
            .filter(|c| !c.signed)
            .map(|c| AskableAgent {
                id: c.id,
                name: c.name,
                team: c.team,
                on_shift: c.on_shift,
            })
            .collect()
    } else {
        Vec::new()
    };
    let may_promote = matches!(session.person.role, Role::Manager | Role::Admin)
        && proposal
            .review
            .as_ref()
            .is_some_and(|r| r.verdict == Verdict::PromoteToPolicy);
    let page = ProposalPage {
        may_promote,
        frame: Frame::new(&session, proposal.summary.clone(), ""),
        card: card(&proposal),
        actions,
        askable,
        signatures,
        trail,
        outcome,
        review,
        currencies: currency_choices(&state.policy, proposal.currency.as_deref()),
        form_key: crate::secrets::new_random_text(),
        proposal,
    };
    Ok(render(StatusCode::OK, &page))
}

/// One action on a proposal from its page: `work` (the use case) runs once
/// the form's fields passed their checks, once per rendered form (see
/// [`form_key`]); then back to the proposal (done now, or done before under
/// the form's key), and a refusal's page links back to it too.
async fn act<T>(
    session: &WebSession,
    id: Uuid,
    action: &str,
    form: &impl std::fmt::Debug,
    key: &str,
    errors: FieldErrors,
    work: impl AsyncFnOnce(Option<&IdempotencyKey>) -> Result<Written<T>, AppError>,
) -> Result<Response, WebError> {
    let key = form_key(session, &format!("POST /proposals/{id}/{action}"), key, form);
    match when_valid(errors, work(key.as_ref())).await {
        Ok(_) => Ok(Redirect::to(&proposal_path(id)).into_response()),
        Err(error) => Err(WebError::from(error).back_to(proposal_path(id))),
    }
}

/// A co-sign or decline: the revision the page showed, and a comment or
/// reason.
#[derive(Debug, Deserialize)]
struct SignForm {
    revision: Option<i32>,
    #[serde(default)]
    text: String,
    #[serde(default)]
    form_key: String,
}

async fn cosign(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    posted: Posted<SignForm>,
) -> Result<Response, WebError> {
    let Posted { session, form } = posted;
    let mut errors = FieldErrors::new();
    check_revision(&mut errors, form.revision);
    let comment = optional_text(&mut errors, "comment", given(&form.text), 2000);
    let signing = Signing {
        revision: form.revision,
        if_match: None,
        text: comment,
    };
    act(&session, id, "cosign", &form, &form.form_key, errors, async |key| {
        app::proposals::cosign(&state, &session.actor, id, signing, key).await
    })
    .await
}

async fn decline(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    posted: Posted<SignForm>,
) -> Result<Response, WebError> {
    let Posted { session, form } = posted;
    let mut errors = FieldErrors::new();
    check_revision(&mut errors, form.revision);
    let reason = required_text(&mut errors, "reason", &form.text, 2000);
    let signing = Signing {
        revision: form.revision,
        if_match: None,
        text: Some(reason),
    };
    act(&session, id, "decline", &form, &form.form_key, errors, async |key| {
        app::proposals::decline(&state, &session.actor, id, signing, key).await
    })
    .await
}

#[derive(Debug, Deserialize)]
struct WithdrawForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    form_key: String,
}

async fn withdraw(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    posted: Posted<WithdrawForm>,
) -> Result<Response, WebError> {
    let Posted { session, form } = posted;
    let mut errors = FieldErrors::new();
    let reason = optional_text(&mut errors, "reason", given(&form.reason), 2000);
    act(&session, id, "withdraw", &form, &form.form_key, errors, async |key| {
        app::proposals::withdraw(&state, &session.actor, id, reason, key).await
    })
    .await
}

#[derive(Debug, Deserialize)]
struct ActAloneForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    form_key: String,
}

/// The proposer approves alone (where allowed; see `app::routing::act_alone`).
async fn act_alone(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    posted: Posted<ActAloneForm>,
) -> Result<Response, WebError> {
    let Posted { session, form } = posted;
    let mut errors = FieldErrors::new();
    let reason = required_text(&mut errors, "reason", &form.reason, 2000);
    act(&session, id, "act-alone", &form, &form.form_key, errors, async |key| {
        app::routing::act_alone(&state, &session.actor, id, reason, key).await
    })
    .await
}

/// A manager asks the agents ticked to co-sign (`employee_ids`, repeated).
async fn reassign(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    posted: Posted<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let Posted { session, form } = posted;
    let mut errors = FieldErrors::new();
    let mut employees = Vec::new();
    let mut note = String::new();
    for (field, value) in &form {
        match field.as_str() {
            "employee_ids" => match Uuid::parse_str(value) {
                Ok(id) => employees.push(id),
                Err(_) => errors.add("employee_ids", "is not an agent of this service"),
            },
            "note" => note.clone_from(value),
            _ => {}
        }
    }
    if employees.is_empty() {
        errors.add("employee_ids", "tick at least one agent to ask");
    }
    let note = optional_text(&mut errors, "note", given(&note), 2000);
    let asked = when_valid(errors, async {
        app::routing::reassign(&state, &session.actor, id, employees, note).await
    })
    .await;
    match asked {
        Ok(_) => Ok(Redirect::to(&proposal_path(id)).into_response()),
        Err(error) => Err(WebError::from(error).back_to(proposal_path(id))),
    }
}

#[derive(Debug, Deserialize)]
struct OutcomeForm {
    executed: String,
    #[serde(default)]
    actual_amount: String,
    #[serde(default)]
    currency: String,
    customer_outcome: CustomerOutcome,
    #[serde(default)]
    note: String,
    #[serde(default)]
    form_key: String,
}

async fn record_outcome(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    posted: Posted<OutcomeForm>,
) -> Result<Response, WebError> {
    let Posted { session, form } = posted;
    let mut errors = FieldErrors::new();
    let actual_amount_minor = format::typed_amount(
        &mut errors,
        "actual_amount_minor",
        given(&form.actual_amount),
        given(&form.currency),
    );
    let report: OutcomeReport = RecordOutcome {
        executed: form.executed == "yes",
        actual_amount_minor,
        // Named only with the amount it is the currency of.
        currency: actual_amount_minor.and(given_owned(&form.currency)),
        customer_outcome: form.customer_outcome,
        note: given_owned(&form.note),
    }
    .report(&mut errors);
    act(&session, id, "outcome", &form, &form.form_key, errors, async |key| {
        app::proposals::record_outcome(&state, &session.actor, id, report, key).await
    })
    .await
}

#[derive(Debug, Deserialize)]
struct ReviewForm {
    verdict: Verdict,
    #[serde(default)]
    note: String,
    #[serde(default)]
    form_key: String,
}

async fn review(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    posted: Posted<ReviewForm>,
) -> Result<Response, WebError> {
    let Posted { session, form } = posted;
    let mut errors = FieldErrors::new();
    let note = required_text(&mut errors, "note", &form.note, 5000);
    act(&session, id, "review", &form, &form.form_key, errors, async |key| {
        app::proposals::review(&state, &session.actor, id, form.verdict, note, key).await
    })
    .await
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/inbox", get(show_inbox))
        .route("/inbox/items", get(inbox_items))
        .route("/availability", post(set_availability))
        .route("/proposals", post(file_proposal))
        .route("/proposals/new", get(new_proposal))
        .route("/proposals/mine", get(my_proposals))
        .route("/proposals/{id}", get(show_proposal))
        .route("/proposals/{id}/revise", get(revise_form).post(revise_proposal))
        .route("/proposals/{id}/cosign", post(cosign))
        .route("/proposals/{id}/decline", post(decline))
        .route("/proposals/{id}/withdraw", post(withdraw))
        .route("/proposals/{id}/act-alone", post(act_alone))
        .route("/proposals/{id}/reassign", post(reassign))
        .route("/proposals/{id}/outcome", post(record_outcome))
        .route("/proposals/{id}/review", post(review))
}
