//! People and their roles.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a person may do. Only agents are frontline: they file and co-sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Agent,
    Manager,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "agent" => Some(Role::Agent),
            "manager" => Some(Role::Manager),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A person as the rules see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Person {
    pub id: Uuid,
    pub role: Role,
    pub active: bool,
}

impl Person {
    /// Frontline and able to act now: the only people who file and co-sign.
    pub fn is_active_agent(&self) -> bool {
        self.active && self.role == Role::Agent
    }

    /// Able to review decided proposals now.
    pub fn is_active_manager(&self) -> bool {
        self.active && self.role == Role::Manager
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in [Role::Agent, Role::Manager, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("Agent"), None);
        assert_eq!(Role::parse("owner"), None);
    }

    #[test]
    fn only_active_agents_are_frontline() {
        let id = Uuid::now_v7();
        assert!(
            Person {
                id,
                role: Role::Agent,
                active: true
            }
            .is_active_agent()
        );
        assert!(
            !Person {
                id,
                role: Role::Agent,
                active: false
            }
            .is_active_agent()
        );
        assert!(
            !Person {
                id,
                role: Role::Manager,
                active: true
            }
            .is_active_agent()
        );
        assert!(
            !Person {
                id,
                role: Role::Admin,
                active: true
            }
            .is_active_agent()
        );
    }
}
