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

/// A signer group's name (e.g. `senior`): 1-64 lowercase letters, digits
/// or underscores, as configuration and people name them alike.
pub fn is_group_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The most signer groups one person is in.
pub const MAX_GROUPS: usize = 20;

/// Checks a person's signer groups as sent (at most [`MAX_GROUPS`], each a
/// group name) and answers them sorted, each once; problems go into
/// `errors` as `groups`.
pub fn check_groups(errors: &mut super::fields::FieldErrors, groups: &[String]) -> Vec<String> {
    if groups.len() > MAX_GROUPS {
        errors.add("groups", format!("must name at most {MAX_GROUPS} groups"));
    }
    if let Some(bad) = groups.iter().find(|g| !is_group_name(g)) {
        errors.add(
            "groups",
            format!("`{bad}` is not a group name: 1-64 lowercase letters, digits or underscores"),
        );
    }
    let mut names = groups.to_vec();
    names.sort();
    names.dedup();
    names
}

/// Why a change to people is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeopleViolation {
    #[error("this is the last active admin; make someone else admin first")]
    LastActiveAdmin,
    #[error("the employee is inactive; reactivate them first")]
    Inactive,
}

/// Whether a change takes an active admin's role or activity away.
pub fn stops_administering(before: &Person, after: &Person) -> bool {
    let was_admin = before.active && before.role == Role::Admin;
    let stays_admin = after.active && after.role == Role::Admin;
    was_admin && !stays_admin
}

/// Somebody must always be able to administer: a change that takes the
/// last active admin's role or activity away is refused.
pub fn check_admins_remain(before: &Person, after: &Person, other_active_admins: i64) -> Result<(), PeopleViolation> {
    if stops_administering(before, after) && other_active_admins == 0 {
        Err(PeopleViolation::LastActiveAdmin)
    } else {
        Ok(())
    }
}

/// Tokens go to active people only.
pub fn check_may_hold_token(person: &Person) -> Result<(), PeopleViolation> {
    if person.active {
        Ok(())
    } else {
        Err(PeopleViolation::Inactive)
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

    #[test]
    fn the_last_active_admin_stays_one() {
        let admin = Person {
            id: Uuid::now_v7(),
            role: Role::Admin,
            active: true,
        };
        let demoted = Person {
            role: Role::Manager,
            ..admin
        };
        let deactivated = Person { active: false, ..admin };
        for after in [demoted, deactivated] {
            assert_eq!(
                check_admins_remain(&admin, &after, 0),
                Err(PeopleViolation::LastActiveAdmin)
            );
            assert_eq!(check_admins_remain(&admin, &after, 1), Ok(()));
        }
        assert_eq!(check_admins_remain(&admin, &admin, 0), Ok(()), "renaming is fine");
        assert_eq!(check_admins_remain(&deactivated, &deactivated, 0), Ok(()));
    }

    #[test]
    fn only_active_people_get_tokens() {
        let person = Person {
            id: Uuid::now_v7(),
            role: Role::Agent,
            active: true,
        };
        assert_eq!(check_may_hold_token(&person), Ok(()));
        assert_eq!(
            check_may_hold_token(&Person {
                active: false,
                ..person
            }),
            Err(PeopleViolation::Inactive)
        );
    }
}
