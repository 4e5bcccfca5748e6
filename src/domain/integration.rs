//! Helpdesk integrations: the kinds Countersign can verify inbound calls of.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IntegrationKind {
    /// Signs with Standard Webhooks.
    Generic,
    /// Signs with `x-zendesk-webhook-signature`.
    Zendesk,
    /// Cannot sign: sends a shared token.
    Freshdesk,
}

impl IntegrationKind {
    pub const ALL: [IntegrationKind; 3] = [
        IntegrationKind::Generic,
        IntegrationKind::Zendesk,
        IntegrationKind::Freshdesk,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationKind::Generic => "generic",
            IntegrationKind::Zendesk => "zendesk",
            IntegrationKind::Freshdesk => "freshdesk",
        }
    }

    pub fn parse(text: &str) -> Option<IntegrationKind> {
        IntegrationKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in IntegrationKind::ALL {
            assert_eq!(IntegrationKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(IntegrationKind::parse("Zendesk"), None);
    }
}
