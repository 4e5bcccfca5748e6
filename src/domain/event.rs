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
    /// Peers on shift asked to co-sign a new proposal.
    #[serde(rename = "proposal.cosign_requested")]
    ProposalCosignRequested,
    /// Nobody decided in time: more peers asked, the first ones reminded.
    #[serde(rename = "proposal.cosign_reminded")]
    ProposalCosignReminded,
    /// Still nobody: the team's managers told.
    #[serde(rename = "proposal.escalated")]
    ProposalEscalated,
    /// A manager asked named agents to co-sign it.
    #[serde(rename = "proposal.reassigned")]
    ProposalReassigned,
    /// The proposer approved alone: the peers asked and the team's
    /// managers are told.
    #[serde(rename = "proposal.acted_alone")]
    ProposalActedAlone,
    #[serde(rename = "employee.created")]
    EmployeeCreated,
    #[serde(rename = "employee.updated")]
    EmployeeUpdated,
    /// An agent said they are on shift, or off it (a lapse after
    /// inactivity is not an event: nobody acted).
    #[serde(rename = "employee.availability_changed")]
    EmployeeAvailabilityChanged,
    #[serde(rename = "token.issued")]
    TokenIssued,
    #[serde(rename = "token.revoked")]
    TokenRevoked,
    #[serde(rename = "integration.created")]
    IntegrationCreated,
    #[serde(rename = "integration.updated")]
    IntegrationUpdated,
    #[serde(rename = "webhook_endpoint.created")]
    WebhookEndpointCreated,
    #[serde(rename = "webhook_endpoint.updated")]
    WebhookEndpointUpdated,
    #[serde(rename = "webhook_endpoint.deleted")]
    WebhookEndpointDeleted,
    #[serde(rename = "webhook_endpoint.secret_rotated")]
    WebhookEndpointSecretRotated,
    /// By the delivery worker: the receiver answered 410, or kept failing.
    #[serde(rename = "webhook_endpoint.disabled")]
    WebhookEndpointDisabled,
    #[serde(rename = "webhook_endpoint.replayed")]
    WebhookEndpointReplayed,
    #[serde(rename = "webhook_delivery.redelivered")]
    WebhookDeliveryRedelivered,
    /// An admin issued a one-time sign-in link for the web pages.
    #[serde(rename = "sign_in_link.issued")]
    SignInLinkIssued,
    /// Someone signed in to the web pages (with a token or a link).
    #[serde(rename = "web_session.started")]
    WebSessionStarted,
    /// They signed out (deactivation ends sessions without an event of
    /// their own: `employee.updated` records it).
    #[serde(rename = "web_session.ended")]
    WebSessionEnded,
    /// A manager or admin promoted an exception to policy.
    #[serde(rename = "standing_approval.created")]
    StandingApprovalCreated,
    /// It stopped approving filings, from that moment.
    #[serde(rename = "standing_approval.retired")]
    StandingApprovalRetired,
}

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Proposal,
    Employee,
    Token,
    Integration,
    WebhookEndpoint,
    WebhookDelivery,
    SignInLink,
    WebSession,
    StandingApproval,
}

impl Subject {
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Proposal => "proposal",
            Subject::Employee => "employee",
            Subject::Token => "token",
            Subject::Integration => "integration",
            Subject::WebhookEndpoint => "webhook_endpoint",
            Subject::WebhookDelivery => "webhook_delivery",
            Subject::SignInLink => "sign_in_link",
            Subject::WebSession => "web_session",
            Subject::StandingApproval => "standing_approval",
        }
    }
}

impl EventType {
    pub const ALL: [EventType; 34] = [
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
        EventType::ProposalCosignRequested,
        EventType::ProposalCosignReminded,
        EventType::ProposalEscalated,
        EventType::ProposalReassigned,
        EventType::ProposalActedAlone,
        EventType::EmployeeCreated,
        EventType::EmployeeUpdated,
        EventType::EmployeeAvailabilityChanged,
        EventType::TokenIssued,
        EventType::TokenRevoked,
        EventType::IntegrationCreated,
        EventType::IntegrationUpdated,
        EventType::WebhookEndpointCreated,
        EventType::WebhookEndpointUpdated,
        EventType::WebhookEndpointDeleted,
        EventType::WebhookEndpointSecretRotated,
        EventType::WebhookEndpointDisabled,
        EventType::WebhookEndpointReplayed,
        EventType::WebhookDeliveryRedelivered,
        EventType::SignInLinkIssued,
        EventType::WebSessionStarted,
        EventType::WebSessionEnded,
        EventType::StandingApprovalCreated,
        EventType::StandingApprovalRetired,
    ];

    /// The events outbound webhooks send (every proposal event).
    pub const PROPOSAL: [EventType; 15] = [
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
        EventType::ProposalCosignRequested,
        EventType::ProposalCosignReminded,
        EventType::ProposalEscalated,
        EventType::ProposalReassigned,
        EventType::ProposalActedAlone,
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
            EventType::ProposalCosignRequested => "proposal.cosign_requested",
            EventType::ProposalCosignReminded => "proposal.cosign_reminded",
            EventType::ProposalEscalated => "proposal.escalated",
            EventType::ProposalReassigned => "proposal.reassigned",
            EventType::ProposalActedAlone => "proposal.acted_alone",
            EventType::EmployeeCreated => "employee.created",
            EventType::EmployeeUpdated => "employee.updated",
            EventType::EmployeeAvailabilityChanged => "employee.availability_changed",
            EventType::TokenIssued => "token.issued",
            EventType::TokenRevoked => "token.revoked",
            EventType::IntegrationCreated => "integration.created",
            EventType::IntegrationUpdated => "integration.updated",
            EventType::WebhookEndpointCreated => "webhook_endpoint.created",
            EventType::WebhookEndpointUpdated => "webhook_endpoint.updated",
            EventType::WebhookEndpointDeleted => "webhook_endpoint.deleted",
            EventType::WebhookEndpointSecretRotated => "webhook_endpoint.secret_rotated",
            EventType::WebhookEndpointDisabled => "webhook_endpoint.disabled",
            EventType::WebhookEndpointReplayed => "webhook_endpoint.replayed",
            EventType::WebhookDeliveryRedelivered => "webhook_delivery.redelivered",
            EventType::SignInLinkIssued => "sign_in_link.issued",
            EventType::WebSessionStarted => "web_session.started",
            EventType::WebSessionEnded => "web_session.ended",
            EventType::StandingApprovalCreated => "standing_approval.created",
            EventType::StandingApprovalRetired => "standing_approval.retired",
        }
    }

    /// Routing events: whom they ask or tell is in their payload, which
    /// webhook messages carry as `details`.
    pub fn names_people(self) -> bool {
        matches!(
            self,
            EventType::ProposalCosignRequested
                | EventType::ProposalCosignReminded
                | EventType::ProposalEscalated
                | EventType::ProposalReassigned
                | EventType::ProposalActedAlone
        )
    }

    pub fn parse(text: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == text)
    }

    pub fn subject(self) -> Subject {
        match self {
            EventType::EmployeeCreated | EventType::EmployeeUpdated | EventType::EmployeeAvailabilityChanged => {
                Subject::Employee
            }
            EventType::TokenIssued | EventType::TokenRevoked => Subject::Token,
            EventType::IntegrationCreated | EventType::IntegrationUpdated => Subject::Integration,
            EventType::WebhookEndpointCreated
            | EventType::WebhookEndpointUpdated
            | EventType::WebhookEndpointDeleted
            | EventType::WebhookEndpointSecretRotated
            | EventType::WebhookEndpointDisabled
            | EventType::WebhookEndpointReplayed => Subject::WebhookEndpoint,
            EventType::WebhookDeliveryRedelivered => Subject::WebhookDelivery,
            EventType::SignInLinkIssued => Subject::SignInLink,
            EventType::WebSessionStarted | EventType::WebSessionEnded => Subject::WebSession,
            EventType::StandingApprovalCreated | EventType::StandingApprovalRetired => Subject::StandingApproval,
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
        for event_type in EventType::PROPOSAL {
            assert_eq!(event_type.subject(), Subject::Proposal);
        }
        let proposal_events = EventType::ALL
            .iter()
            .filter(|t| t.subject() == Subject::Proposal)
            .count();
        assert_eq!(proposal_events, EventType::PROPOSAL.len());
    }
}
