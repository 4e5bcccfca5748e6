//! What is wrong with a request's fields, field by field, and the text
//! checks every door applies the same way (REST today, inbound webhooks and
//! web forms next). No HTTP here: each door renders these in its own way.

use std::collections::BTreeMap;

/// Field → message, collected while validating a request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<String, String>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the first problem with a field; later ones for it are dropped.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_insert_with(|| message.into());
    }

    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    /// `Ok` when nothing was wrong, else every bad field.
    pub fn finish(self) -> Result<(), FieldErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

/// Trims a required text field and checks its length.
pub fn required_text(errors: &mut FieldErrors, field: &str, value: &str, max: usize) -> String {
    let value = value.trim();
    if value.is_empty() {
        errors.add(field, "must not be empty");
    } else if value.chars().count() > max {
        errors.add(field, format!("must be at most {max} characters"));
    }
    value.to_owned()
}

/// Trims an optional text field; blank means absent.
pub fn optional_text(errors: &mut FieldErrors, field: &str, value: Option<&str>, max: usize) -> Option<String> {
    let value = value.map(str::trim).filter(|v| !v.is_empty())?;
    if value.chars().count() > max {
        errors.add(field, format!("must be at most {max} characters"));
    }
    Some(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_problem_with_a_field_is_the_one_reported() {
        let mut errors = FieldErrors::new();
        errors.add("summary", "must not be empty");
        errors.add("summary", "must be at most 500 characters");
        assert_eq!(errors.as_map()["summary"], "must not be empty");
        assert!(errors.finish().is_err());
        assert!(FieldErrors::new().finish().is_ok());
    }

    #[test]
    fn texts_are_trimmed_and_measured_in_characters() {
        let mut errors = FieldErrors::new();
        assert_eq!(required_text(&mut errors, "name", "  Ada  ", 3), "Ada");
        assert_eq!(required_text(&mut errors, "team", "ééé", 3), "ééé");
        assert!(errors.is_empty());
        required_text(&mut errors, "empty", "   ", 3);
        required_text(&mut errors, "long", "abcd", 3);
        assert_eq!(optional_text(&mut errors, "blank", Some("  "), 3), None);
        assert_eq!(errors.as_map().len(), 2);
    }
}
