//! Every kind of event Countersign records, named in one place. The audit
//! log stores these names; outbound webhooks will send the proposal ones.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum EventType {
    #[serde(rename = "proposal.created")]
    ProposalCreated,
    #[serde(rename = "proposal.revised")]
    ProposalRevised,
    #[serde(rename = "proposal.cosigned")]
    ProposalCosigned,
    #[serde(rename = "proposal.declined")]
    ProposalDeclined,
    #[serde(rename = "proposal.approved")]
    ProposalApproved,
    #[serde(rename = "proposal.rejected")]
    ProposalRejected,
    #[serde(rename = "proposal.withdrawn")]
    ProposalWithdrawn,
    #[serde(rename = "proposal.expired")]
    ProposalExpired,
    #[serde(rename = "proposal.outcome_recorded")]
    ProposalOutcomeRecorded,
    #[serde(rename = "proposal.reviewed")]
    ProposalReviewed,
    #[serde(rename = "employee.created")]
    EmployeeCreated,
    #[serde(rename = "employee.updated")]
    EmployeeUpdated,
    #[serde(rename = "token.issued")]
    TokenIssued,
    #[serde(rename = "token.revoked")]
    TokenRevoked,
    #[serde(rename = "integration.created")]
    IntegrationCreated,
    #[serde(rename = "integration.updated")]
    IntegrationUpdated,
}

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Proposal,
    Employee,
    Token,
    Integration,
}

impl Subject {
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Proposal => "proposal",
            Subject::Employee => "employee",
            Subject::Token => "token",
            Subject::Integration => "integration",
        }
    }
}

impl EventType {
    pub const ALL: [EventType; 16] = [
        EventType::ProposalCreated,
        EventType::ProposalRevised,
        EventType::ProposalCosigned,
        EventType::ProposalDeclined,
        EventType::ProposalApproved,
        EventType::ProposalRejected,
        EventType::ProposalWithdrawn,
        EventType::ProposalExpired,
        EventType::ProposalOutcomeRecorded,
        EventType::ProposalReviewed,
        EventType::EmployeeCreated,
        EventType::EmployeeUpdated,
        EventType::TokenIssued,
        EventType::TokenRevoked,
        EventType::IntegrationCreated,
        EventType::IntegrationUpdated,
    ];

    /// The stored name, e.g. `proposal.approved`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ProposalCreated => "proposal.created",
            EventType::ProposalRevised => "proposal.revised",
            EventType::ProposalCosigned => "proposal.cosigned",
            EventType::ProposalDeclined => "proposal.declined",
            EventType::ProposalApproved => "proposal.approved",
            EventType::ProposalRejected => "proposal.rejected",
            EventType::ProposalWithdrawn => "proposal.withdrawn",
            EventType::ProposalExpired => "proposal.expired",
            EventType::ProposalOutcomeRecorded => "proposal.outcome_recorded",
            EventType::ProposalReviewed => "proposal.reviewed",
            EventType::EmployeeCreated => "employee.created",
            EventType::EmployeeUpdated => "employee.updated",
            EventType::TokenIssued => "token.issued",
            EventType::TokenRevoked => "token.revoked",
            EventType::IntegrationCreated => "integration.created",
            EventType::IntegrationUpdated => "integration.updated",
        }
    }

    pub fn parse(text: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == text)
    }

    pub fn subject(self) -> Subject {
        match self {
            EventType::EmployeeCreated | EventType::EmployeeUpdated => Subject::Employee,
            EventType::TokenIssued | EventType::TokenRevoked => Subject::Token,
            EventType::IntegrationCreated | EventType::IntegrationUpdated => Subject::Integration,
            _ => Subject::Proposal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_serde_writes_the_same_name() {
        for event_type in EventType::ALL {
            assert_eq!(EventType::parse(event_type.as_str()), Some(event_type));
            assert_eq!(serde_json::to_value(event_type).unwrap(), event_type.as_str());
            assert!(event_type.as_str().starts_with(event_type.subject().as_str()));
        }
        assert_eq!(EventType::parse("proposal.deleted"), None);
    }
}
