//! What every page shares: the frame around it (who is signed in, their
//! navigation, the CSRF token for the sign-out form), rendering a template,
//! and the error pages. A refusal reads as the REST API's problem does: the
//! same status, title and detail, through the one mapping from `AppError`
//! in `crate::problem`.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::app::AppError;
use crate::app::sessions::WebSession;
use crate::domain::employee::Role;
use crate::domain::fields::FieldErrors;
use crate::problem::ApiError;

/// The navigation of a role: (path, label).
fn navigation(role: Role) -> &'static [(&'static str, &'static str)] {
    match role {
        Role::Agent => &[
            ("/inbox", "Inbox"),
            ("/proposals/new", "File a proposal"),
            ("/proposals/mine", "My proposals"),
        ],
        Role::Manager => &[
            ("/reviews", "Review queue"),
            ("/reports", "Reports"),
            ("/standing-approvals", "Standing approvals"),
        ],
        Role::Admin => &[
            ("/people", "People"),
            ("/integrations", "Integrations"),
            ("/standing-approvals", "Standing approvals"),
        ],
    }
}

/// Who is signed in, as the page header shows them.
#[derive(Debug, Clone)]
pub struct Who {
    pub name: String,
    pub team: Option<String>,
    pub role: &'static str,
}

#[derive(Debug, Clone)]
pub struct NavItem {
    pub path: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// The page around the content.
#[derive(Debug, Clone)]
pub struct Frame {
    pub title: String,
    /// `None` on the sign-in pages.
    pub who: Option<Who>,
    pub nav: Vec<NavItem>,
    pub csrf: String,
}

impl Frame {
    pub fn new(session: &WebSession, title: impl Into<String>, current: &'static str) -> Self {
        Frame {
            title: title.into(),
            who: Some(Who {
                name: session.name.clone(),
                team: session.team.clone(),
                role: session.person.role.as_str(),
            }),
            nav: navigation(session.person.role)
                .iter()
                .map(|(path, label)| NavItem {
                    path,
                    label,
                    current: *path == current,
                })
                .collect(),
            csrf: session.csrf_token.clone(),
        }
    }

    pub fn anonymous(title: &str) -> Self {
        Frame {
            title: title.to_owned(),
            who: None,
            nav: Vec::new(),
            csrf: String::new(),
        }
    }
}

/// The session's person must hold `role` (a 403 page otherwise).
pub fn require_role(session: &WebSession, role: Role) -> Result<(), WebError> {
    session.actor.require(role).map(|_| ()).map_err(WebError::from)
}

fn html(status: StatusCode, page: String) -> Response {
    let content_type = HeaderValue::from_static("text/html; charset=utf-8");
    (status, [(header::CONTENT_TYPE, content_type)], page).into_response()
}

/// Runs the use case `work` once the form's fields passed their checks
/// (`errors` empty); refused with every bad field otherwise.
pub async fn when_valid<T>(
    errors: FieldErrors,
    work: impl Future<Output = Result<T, AppError>>,
) -> Result<T, AppError> {
    errors.finish().map_err(AppError::Invalid)?;
    work.await
}

pub fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(page) => html(status, page),
        Err(error) => WebError::Internal(anyhow::Error::new(error).context("rendering a page")).into_response(),
    }
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum WebError {
    /// No working session: to the sign-in page.
    SignIn,
    /// Refused: the status, a title and what happened.
    Refused {
        status: StatusCode,
        title: String,
        detail: String,
        /// The page to go back to, to try again.
        back: Option<String>,
    },
    Internal(anyhow::Error),
}

impl WebError {
    /// A post that did not come from one of this service's own forms.
    pub fn forged() -> Self {
        WebError::Refused {
            status: StatusCode::FORBIDDEN,
            title: "This form could not be accepted".to_owned(),
            detail: "It did not come from a page of this session (a missing or stale form token). \
                     Go back, reload the page and send it again."
                .to_owned(),
            back: None,
        }
    }

    pub fn bad_form(detail: &str) -> Self {
        WebError::Refused {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            title: "This form is incomplete".to_owned(),
            detail: detail.to_owned(),
            back: None,
        }
    }

    /// The error page links back to `path`.
    pub fn back_to(self, path: String) -> Self {
        match self {
            WebError::Refused {
                status, title, detail, ..
            } => WebError::Refused {
                status,
                title,
                detail,
                back: Some(path),
            },
            other => other,
        }
    }
}

impl From<AppError> for WebError {
    fn from(error: AppError) -> Self {
        match ApiError::from(error) {
            ApiError::Internal(error) => WebError::Internal(error),
            refusal => {
                let problem = refusal.to_problem();
                let mut detail = problem.detail;
                for (field, message) in problem.errors.into_iter().flatten() {
                    detail.push_str(&format!("; {field}: {message}"));
                }
                WebError::Refused {
                    status: refusal.status(),
                    title: problem.title,
                    detail,
                    back: None,
                }
            }
        }
    }
}

impl From<sqlx::Error> for WebError {
    fn from(error: sqlx::Error) -> Self {
        WebError::from(AppError::from(error))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    frame: Frame,
    status: u16,
    detail: String,
    back: Option<String>,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, title, detail, back) = match self {
            WebError::SignIn => return Redirect::to("/sign-in").into_response(),
            WebError::Refused {
                status,
                title,
                detail,
                back,
            } => (status, title, detail, back),
            WebError::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "internal error on a page");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong".to_owned(),
                    "The service could not show this page. Try again in a moment.".to_owned(),
                    None,
                )
            }
        };
        let page = ErrorPage {
            frame: Frame::anonymous(&title),
            status: status.as_u16(),
            detail,
            back,
        };
        match page.render() {
            Ok(page) => html(status, page),
            Err(_) => (status, "The page could not be shown.").into_response(),
        }
    }
}
