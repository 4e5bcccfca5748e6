//! The admins' pages: people (create, change a person's team and signer
//! groups, deactivate or reactivate, issue a
//! one-time sign-in link or an API token) and helpdesk integrations
//! (register one, see its token and secret once, give a Zendesk one the
//! secret Zendesk generated) — enough to set a team up without curl.
//! Secrets are shown on the answer to the post that made them, never
//! again, and the page is not cached.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use uuid::Uuid;

use super::format::{Stamp, given, stamp};
use super::page::{Frame, WebError, render, require_role, when_valid};
use super::session::{Nothing, Posted, Signed};
use crate::app::integrations::IntegrationChange;
use crate::app::people::{NewPerson, PersonChange};
use crate::app::sessions::WebSession;
use crate::app::{self, AppError};
use crate::db;
use crate::domain::employee::{Role, check_groups};
use crate::domain::fields::{FieldErrors, email_address, optional_line, required_line};
use crate::domain::integration::IntegrationKind;
use crate::secrets::GivenSecret;
use crate::state::AppState;

fn admin(session: &WebSession) -> Result<(), WebError> {
    require_role(session, Role::Admin)
}

/// A refused form's problems as the page lists them: (field, message),
/// with "" for a refusal about no one field.
fn shown_on_the_form(error: AppError) -> Result<Vec<(String, String)>, WebError> {
    match error {
        AppError::Invalid(errors) => Ok(errors.as_map().clone().into_iter().collect()),
        other => match WebError::from(other) {
            WebError::Refused { detail, .. } => Ok(vec![(String::new(), detail)]),
            internal => Err(internal),
        },
    }
}

// ----------------------------------------------------------------- people

#[derive(Debug, Clone)]
struct PersonLine {
    id: Uuid,
    name: String,
    email: String,
    role: &'static str,
    /// As stored (what the row's form says it showed).
    team: Option<String>,
    groups: Vec<String>,
    /// In the row's boxes: as stored, or as the admin typed them in a
    /// change that was refused.
    typed_team: String,
    typed_groups: String,
    active: bool,
    /// Why a change to this row was refused.
    refusal: Vec<(String, String)>,
}

/// A change to one person's row that was refused: the page shows the row
/// again with what the admin typed (a field left out shows what is
/// stored) and why, instead of an error page.
struct RefusedRow {
    id: Uuid,
    team: Option<String>,
    groups: Option<String>,
    errors: Vec<(String, String)>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PersonForm {
    name: String,
    email: String,
    role: String,
    team: String,
    /// Signer groups, separated by commas (e.g. `senior`).
    #[serde(default)]
    groups: String,
    external_id: String,
}

#[derive(Template)]
#[template(path = "people.html")]
struct PeoplePage {
    frame: Frame,
    people: Vec<PersonLine>,
    form: PersonForm,
    errors: Vec<(String, String)>,
    /// A secret just issued: (what it is, for whom, the value, until when).
    issued: Option<Issued>,
}

/// Not `Debug`: `value` is a live secret.
struct Issued {
    what: &'static str,
    whom: String,
    value: String,
    expires: Option<Stamp>,
}

async fn people_page(
    state: &AppState,
    session: &WebSession,
    form: PersonForm,
    errors: Vec<(String, String)>,
    issued: Option<Issued>,
) -> Result<PeoplePage, WebError> {
    people_page_with(state, session, form, errors, issued, None).await
}

async fn people_page_with(
    state: &AppState,
    session: &WebSession,
    form: PersonForm,
    errors: Vec<(String, String)>,
    issued: Option<Issued>,
    mut refused: Option<RefusedRow>,
) -> Result<PeoplePage, WebError> {
    let mut conn = state.pool.acquire().await?;
    let rows = db::employees::list(
        &mut conn,
        &db::employees::ListFilter {
            role: None,
            team: None,
            active: None,
            after: None,
            limit: 1000,
        },
    )
    .await?;
    Ok(PeoplePage {
        frame: Frame::new(session, "People", "/people"),
        people: rows
            .into_iter()
            .map(|row| {
                let refusal = refused.take_if(|refused| refused.id == row.id);
                let (typed_team, typed_groups, refusal) = match refusal {
                    Some(RefusedRow {
                        team, groups, errors, ..
                    }) => (team, groups, errors),
                    None => (None, None, Vec::new()),
                };
                PersonLine {
                    id: row.id,
                    name: row.name,
                    email: row.email,
                    role: row.role.as_str(),
                    typed_team: typed_team.unwrap_or_else(|| row.team.clone().unwrap_or_default()),
                    typed_groups: typed_groups.unwrap_or_else(|| row.groups.join(", ")),
                    team: row.team,
                    groups: row.groups,
                    active: row.active,
                    refusal,
                }
            })
            .collect(),
        form,
        errors,
        issued,
    })
}

async fn show_people(State(state): State<AppState>, Signed(session): Signed) -> Result<Response, WebError> {
    admin(&session)?;
    let page = people_page(&state, &session, PersonForm::default(), Vec::new(), None).await?;
    Ok(render(StatusCode::OK, &page))
}

async fn create_person(State(state): State<AppState>, posted: Posted<PersonForm>) -> Result<Response, WebError> {
    let Posted { session, form } = posted;
    admin(&session)?;
    let mut errors = FieldErrors::new();
    let role = Role::parse(&form.role);
    if role.is_none() {
        errors.add("role", "choose agent, manager or admin");
    }
    let person = NewPerson {
        name: required_line(&mut errors, "name", &form.name, 200),
        email: email_address(&mut errors, &form.email),
        role: role.unwrap_or(Role::Agent),
        team: optional_line(&mut errors, "team", given(&form.team), 100),
        groups: typed_groups(&mut errors, &form.groups),
        external_id: optional_line(&mut errors, "external_id", given(&form.external_id), 200),
    };
    let created = when_valid(errors, app::people::create_employee(&state, &session.actor, person)).await;
    match created {
        Ok(_) => Ok(Redirect::to("/people").into_response()),
        Err(error) => {
            let errors = shown_on_the_form(error)?;
            let page = people_page(&state, &session, form, errors, None).await?;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

/// Groups typed as "senior, billing": blanks around and between are no group.
fn typed_groups(errors: &mut FieldErrors, typed: &str) -> Vec<String> {
    let named: Vec<String> = typed
        .split(',')
        .map(str::trim)
        .filter(|group| !group.is_empty())
        .map(str::to_owned)
        .collect();
    check_groups(errors, &named)
}

/// A person's team and signer groups, edited on their row, with the values
/// the row showed (`shown_*`). Only what the admin changed is written: a
/// page loaded before another admin's change does not undo it. A field
/// left out is kept.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TeamAndGroupsForm {
    team: Option<String>,
    groups: Option<String>,
    shown_team: Option<String>,
    shown_groups: Option<String>,
}

/// `typed` read by `read`, where it says something else than `shown`.
fn edited<T: PartialEq>(
    errors: &mut FieldErrors,
    typed: Option<&str>,
    shown: Option<&str>,
    read: impl Fn(&mut FieldErrors, &str) -> T,
) -> Option<T> {
    let typed = read(errors, typed?);
    // What the page showed came from the database: it reads without errors.
    let unchanged = shown.is_some_and(|shown| read(&mut FieldErrors::new(), shown) == typed);
    (!unchanged).then_some(typed)
}

async fn edit_person(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    posted: Posted<TeamAndGroupsForm>,
) -> Result<Response, WebError> {
    let Posted { session, form } = posted;
    admin(&session)?;
    let mut errors = FieldErrors::new();
    let team = edited(
        &mut errors,
        form.team.as_deref(),
        form.shown_team.as_deref(),
        |errors, typed| optional_line(errors, "team", given(typed), 100),
    );
    let groups = edited(
        &mut errors,
        form.groups.as_deref(),
        form.shown_groups.as_deref(),
        typed_groups,
    );
    if errors.is_empty() && team.is_none() && groups.is_none() {
        return Ok(Redirect::to("/people").into_response());
    }
    let change = PersonChange {
        team,
        groups,
        ..PersonChange::default()
    };
    let updated = when_valid(errors, app::people::update_employee(&state, &session.actor, id, change)).await;
    match updated {
        Ok(_) => Ok(Redirect::to("/people").into_response()),
        Err(error) => refused_on_the_row(&state, &session, id, (form.team, form.groups), error).await,
    }
}

/// The People page again after a change to `id`'s row was refused, the
/// row showing `typed` (team, groups) and why; an error page when the
/// person is not on it (unknown, or past the page's length), where the
/// refusal could not be seen.
async fn refused_on_the_row(
    state: &AppState,
    session: &WebSession,
    id: Uuid,
    typed: (Option<String>, Option<String>),
    error: AppError,
) -> Result<Response, WebError> {
    let errors = shown_on_the_form(error)?;
    let (team, groups) = typed;
    let refused = RefusedRow {
        id,
        team,
        groups,
        errors,
    };
    let page = people_page_with(state, session, PersonForm::default(), Vec::new(), None, Some(refused)).await?;
    if !page.people.iter().any(|line| line.id == id) {
        return Err(WebError::from(AppError::NotFound("employee")).back_to("/people".to_owned()));
    }
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

async fn set_active(state: &AppState, session: &WebSession, id: Uuid, active: bool) -> Result<Response, WebError> {
    admin(session)?;
    let change = PersonChange {
        active: Some(active),
        ..PersonChange::default()
    };
    match app::people::update_employee(state, &session.actor, id, change).await {
        Ok(_) => Ok(Redirect::to("/people").into_response()),
        Err(error) => refused_on_the_row(state, session, id, (None, None), error).await,
    }
}

async fn deactivate(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    posted: Posted<Nothing>,
) -> Result<Response, WebError> {
    set_active(&state, &posted.session, id, false).await
}

async fn reactivate(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    posted: Posted<Nothing>,
) -> Result<Response, WebError> {
    set_active(&state, &posted.session, id, true).await
}

async fn person_name(state: &AppState, id: Uuid) -> Result<String, WebError> {
    let mut conn = state.pool.acquire().await?;
    Ok(db::employees::find(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound("employee"))?
        .name)
}

async fn issue_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    posted: Posted<Nothing>,
) -> Result<Response, WebError> {
    let session = posted.session;
    admin(&session)?;
    // Read before issuing: a secret once issued must reach the admin.
    let whom = person_name(&state, id).await?;
    let link = match app::sessions::issue_sign_in_link(&state, &session.actor, id).await {
        Ok(link) => link,
        Err(error) => return refused_on_the_row(&state, &session, id, (None, None), error).await,
    };
    let issued = Issued {
        what: "one-time sign-in link",
        whom,
        value: format!("{}{}", state.settings.web.public_address(&headers), link.path()),
        expires: Some(stamp(link.expires_at)),
    };
    let page = people_page(&state, &session, PersonForm::default(), Vec::new(), Some(issued)).await?;
    Ok(render(StatusCode::CREATED, &page))
}

async fn issue_token(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    posted: Posted<Nothing>,
) -> Result<Response, WebError> {
    let session = posted.session;
    admin(&session)?;
    let whom = person_name(&state, id).await?;
    let issued =
        match app::people::issue_token(&state, &session.actor, id, Some("issued on the web page".to_owned())).await {
            Ok(issued) => issued,
            Err(error) => return refused_on_the_row(&state, &session, id, (None, None), error).await,
        };
    let issued = Issued {
        what: "API token",
        whom,
        value: issued.token,
        expires: None,
    };
    let page = people_page(&state, &session, PersonForm::default(), Vec::new(), Some(issued)).await?;
    Ok(render(StatusCode::CREATED, &page))
}

// ----------------------------------------------------------- integrations

#[derive(Debug, Clone)]
struct IntegrationLine {
    id: Uuid,
    name: String,
    kind: &'static str,
    active: bool,
    has_secret: bool,
    created: Stamp,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IntegrationForm {
    name: String,
    kind: String,
    secret: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SecretForm {
    secret: String,
}

/// What a row's own form did: the secret saved, or why not, as (field,
/// message) the way the page lists a refused form's problems.
struct RowNotice {
    id: Uuid,
    saved: bool,
    messages: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "integrations.html")]
struct IntegrationsPage {
    frame: Frame,
    integrations: Vec<IntegrationLine>,
    form_name: String,
    errors: Vec<(String, String)>,
    /// Just created: (name, token, generated inbound secret, inbound URL).
    created: Option<(String, String, Option<String>, String)>,
    row_notice: Option<RowNotice>,
}

async fn integrations_page(
    state: &AppState,
    session: &WebSession,
    form_name: String,
    errors: Vec<(String, String)>,
    created: Option<(String, String, Option<String>, String)>,
) -> Result<IntegrationsPage, WebError> {
    let mut conn = state.pool.acquire().await?;
    let rows = db::integrations::list(&mut conn, None, 1000).await?;
    Ok(IntegrationsPage {
        frame: Frame::new(session, "Integrations", "/integrations"),
        integrations: rows
            .into_iter()
            .map(|row| IntegrationLine {
                id: row.id,
                name: row.name,
                kind: row.kind.as_str(),
                active: row.active,
                has_secret: row.has_secret,
                created: stamp(row.created_at),
            })
            .collect(),
        form_name,
        errors,
        created,
        row_notice: None,
    })
}

async fn show_integrations(State(state): State<AppState>, Signed(session): Signed) -> Result<Response, WebError> {
    admin(&session)?;
    let page = integrations_page(&state, &session, String::new(), Vec::new(), None).await?;
    Ok(render(StatusCode::OK, &page))
}

async fn create_integration(
    State(state): State<AppState>,
    headers: HeaderMap,
    posted: Posted<IntegrationForm>,
) -> Result<Response, WebError> {
    let Posted { session, form } = posted;
    admin(&session)?;
    let mut errors = FieldErrors::new();
    let name = required_line(&mut errors, "name", &form.name, 200);
    let kind = IntegrationKind::parse(&form.kind);
    if kind.is_none() {
        errors.add("kind", "choose generic, zendesk or freshdesk");
    }
    let secret = app::integrations::zendesk_secret(
        &mut errors,
        given(&form.secret).map(|secret| GivenSecret(secret.to_owned())),
    );
    let created = match (errors.finish(), kind) {
        (Ok(()), Some(kind)) => app::integrations::create_integration(&state, &session.actor, name, kind, secret).await,
        (Err(errors), _) => Err(AppError::Invalid(errors)),
        (Ok(()), None) => unreachable!("an unknown kind is a field error"),
    };
    match created {
        Ok(created) => {
            let inbound = format!(
                "{}/v1/integrations/{}/inbound",
                state.settings.web.public_address(&headers),
                created.row.id
            );
            let shown = (created.row.name.clone(), created.token, created.secret, inbound);
            let page = integrations_page(&state, &session, String::new(), Vec::new(), Some(shown)).await?;
            Ok(render(StatusCode::CREATED, &page))
        }
        Err(error) => {
            let errors = shown_on_the_form(error)?;
            let page = integrations_page(&state, &session, form.name, errors, None).await?;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

/// Zendesk's signing secret for a `zendesk` integration, given (or
/// replaced) on its row, through the same update as
/// `PATCH /v1/integrations/{id}`; Zendesk generates it, so an integration
/// registered before the admin had it answers inbound requests from then on.
async fn set_secret(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    posted: Posted<SecretForm>,
) -> Result<Response, WebError> {
    let Posted { session, form } = posted;
    admin(&session)?;
    let mut errors = FieldErrors::new();
    let secret = given(&form.secret).map(|secret| GivenSecret(secret.to_owned()));
    if secret.is_none() {
        errors.add("secret", "is required: paste the signing secret Zendesk shows");
    }
    let secret = app::integrations::zendesk_secret(&mut errors, secret);
    let change = IntegrationChange {
        secret,
        ..IntegrationChange::default()
    };
    let updated = match errors.finish() {
        Ok(()) => app::integrations::update_integration(&state, &session.actor, id, change).await,
        Err(errors) => Err(AppError::Invalid(errors)),
    };
    let (status, saved, messages) = match updated {
        Ok(_) => (
            StatusCode::OK,
            true,
            vec![(String::new(), "Zendesk's signing secret is saved.".to_owned())],
        ),
        // No such integration: the error page, not a refusal on a row.
        Err(error @ AppError::NotFound(_)) => return Err(error.into()),
        Err(error) => (StatusCode::UNPROCESSABLE_ENTITY, false, shown_on_the_form(error)?),
    };
    let notice = RowNotice { id, saved, messages };
    let mut page = integrations_page(&state, &session, String::new(), Vec::new(), None).await?;
    page.row_notice = Some(notice);
    Ok(render(status, &page))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/people", get(show_people).post(create_person))
        .route("/people/{id}", post(edit_person))
        .route("/people/{id}/deactivate", post(deactivate))
        .route("/people/{id}/reactivate", post(reactivate))
        .route("/people/{id}/sign-in-link", post(issue_link))
        .route("/people/{id}/token", post(issue_token))
        .route("/integrations", get(show_integrations).post(create_integration))
        .route("/integrations/{id}/secret", post(set_secret))
}
