//! The request bodies more than one door takes, and how each becomes what
//! a use case takes: filing (`CreateProposal` → `Terms`), revising
//! (`ReviseProposal` → `TermsChange`) and recording an outcome
//! (`RecordOutcome` → `OutcomeReport`), each field checked and every bad
//! one named. The REST door reads them as JSON, the inbound webhook door
//! nested in a helpdesk's request, and the pages build them from a form, so
//! a field is checked the same way whichever door it came through. The
//! counterpart of `views`: shapes in, not out. No HTTP here.

use serde::Deserialize;

use crate::app::proposals::OutcomeReport;
use crate::domain::fields::{FieldErrors, optional_line, optional_text, required_line, required_text};
use crate::domain::policy::check_money;
use crate::domain::proposal::{CustomerOutcome, Terms, TermsChange};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProposal {
    #[schema(min_length = 1, max_length = 64)]
    pub category: String,
    /// The written policy rule this departs from.
    #[schema(min_length = 1, max_length = 200)]
    pub policy_ref: String,
    #[schema(min_length = 1, max_length = 500)]
    pub summary: String,
    #[schema(min_length = 1, max_length = 5000)]
    pub resolution: String,
    #[schema(min_length = 1, max_length = 5000)]
    pub justification: String,
    #[schema(max_length = 200)]
    pub customer_ref: Option<String>,
    #[schema(max_length = 200)]
    pub ticket_ref: Option<String>,
    /// Integer minor units (cents); with `currency`.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    pub amount_minor: Option<i64>,
    /// ISO 4217, e.g. EUR; with `amount_minor`.
    pub currency: Option<String>,
}

/// Fields left out stay as they are; `null` clears an optional one.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviseProposal {
    #[schema(min_length = 1, max_length = 64)]
    pub category: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    pub policy_ref: Option<String>,
    #[schema(min_length = 1, max_length = 500)]
    pub summary: Option<String>,
    #[schema(min_length = 1, max_length = 5000)]
    pub resolution: Option<String>,
    #[schema(min_length = 1, max_length = 5000)]
    pub justification: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub customer_ref: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub ticket_ref: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    pub amount_minor: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub currency: Option<Option<String>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordOutcome {
    /// Whether the resolution was carried out.
    pub executed: bool,
    /// With `currency`, or neither.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    pub actual_amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub customer_outcome: CustomerOutcome,
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

impl CreateProposal {
    pub(crate) fn terms(self, errors: &mut FieldErrors) -> Terms {
        Terms {
            category: required_line(errors, "category", &self.category, 64),
            policy_ref: required_line(errors, "policy_ref", &self.policy_ref, 200),
            summary: required_line(errors, "summary", &self.summary, 500),
            resolution: required_text(errors, "resolution", &self.resolution, 5000),
            justification: required_text(errors, "justification", &self.justification, 5000),
            customer_ref: optional_line(errors, "customer_ref", self.customer_ref.as_deref(), 200),
            ticket_ref: optional_line(errors, "ticket_ref", self.ticket_ref.as_deref(), 200),
            amount: check_money(errors, "amount_minor", self.amount_minor, self.currency.as_deref()),
        }
    }
}

impl ReviseProposal {
    pub(crate) fn change(self, errors: &mut FieldErrors) -> TermsChange {
        TermsChange {
            category: self.category.map(|v| required_line(errors, "category", &v, 64)),
            policy_ref: self.policy_ref.map(|v| required_line(errors, "policy_ref", &v, 200)),
            summary: self.summary.map(|v| required_line(errors, "summary", &v, 500)),
            resolution: self.resolution.map(|v| required_text(errors, "resolution", &v, 5000)),
            justification: self
                .justification
                .map(|v| required_text(errors, "justification", &v, 5000)),
            customer_ref: self
                .customer_ref
                .map(|v| optional_line(errors, "customer_ref", v.as_deref(), 200)),
            ticket_ref: self
                .ticket_ref
                .map(|v| optional_line(errors, "ticket_ref", v.as_deref(), 200)),
            amount_minor: self.amount_minor,
            currency: self.currency,
        }
    }
}

impl RecordOutcome {
    pub(crate) fn report(self, errors: &mut FieldErrors) -> OutcomeReport {
        OutcomeReport {
            executed: self.executed,
            note: optional_text(errors, "note", self.note.as_deref(), 2000),
            actual_amount: check_money(
                errors,
                "actual_amount_minor",
                self.actual_amount_minor,
                self.currency.as_deref(),
            ),
            customer_outcome: self.customer_outcome,
        }
    }
}

/// Revisions count from 1.
pub(crate) fn check_revision(errors: &mut FieldErrors, revision: Option<i32>) {
    if revision.is_some_and(|revision| revision < 1) {
        errors.add("revision", "must be 1 or more");
    }
}

/// Deserialises a field that may be absent (`None`), null (`Some(None)`) or
/// set (`Some(Some(v))`): PATCH tells "leave as is" from "clear".
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}
