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

    /// Adds `inner`'s problems as fields of the object `name`
    /// (`proposal.summary`).
    pub fn add_nested(&mut self, name: &str, inner: FieldErrors) {
        for (field, message) in inner.0 {
            self.add(format!("{name}.{field}"), message);
        }
    }
}

/// Characters that show nothing: whitespace, control characters, and the
/// zero-width and direction-changing format characters. A text made only of
/// these is empty; they are trimmed from both ends. The OpenAPI document
/// builds its text patterns from this same list.
pub const BLANK_RANGES: &[(char, char)] = &[
    ('\u{0}', '\u{20}'),
    ('\u{7f}', '\u{a0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200f}'),
    ('\u{2028}', '\u{202f}'),
    ('\u{205f}', '\u{206f}'),
    ('\u{3000}', '\u{3000}'),
    ('\u{feff}', '\u{feff}'),
];

pub fn is_blank_char(c: char) -> bool {
    BLANK_RANGES.iter().any(|(from, to)| (*from..=*to).contains(&c))
}

/// The text without blank characters at either end.
pub fn trim_blank(value: &str) -> &str {
    value.trim_matches(is_blank_char)
}

/// Checks a required text field (at most `max` characters as sent, at least
/// one that shows) and answers it trimmed of blank characters.
pub fn required_text(errors: &mut FieldErrors, field: &str, value: &str, max: usize) -> String {
    if value.chars().count() > max {
        errors.add(field, format!("must be at most {max} characters"));
    }
    let value = trim_blank(value);
    if value.is_empty() {
        errors.add(field, "must not be empty");
    }
    value.to_owned()
}

/// Checks an optional text field (at most `max` characters as sent) and
/// answers it trimmed of blank characters; blank means absent.
pub fn optional_text(errors: &mut FieldErrors, field: &str, value: Option<&str>, max: usize) -> Option<String> {
    let value = value?;
    if value.chars().count() > max {
        errors.add(field, format!("must be at most {max} characters"));
    }
    Some(trim_blank(value).to_owned()).filter(|v| !v.is_empty())
}

/// Direction-changing characters (embeddings, overrides, isolates): in a
/// name or a one-line field they make text read differently from what is
/// stored (the "Trojan Source" trick), so those fields refuse them.
pub const BIDI_CONTROLS: &[(char, char)] = &[('\u{202a}', '\u{202e}'), ('\u{2066}', '\u{2069}')];

/// The request fields that hold one line: names, references, categories,
/// summaries. They refuse control characters (line breaks included) and
/// direction-changing ones anywhere; the OpenAPI document says so from this
/// same list.
pub const SINGLE_LINE_FIELDS: &[&str] = &[
    "name",
    "email",
    "team",
    "external_id",
    "category",
    "policy_ref",
    "summary",
    "customer_ref",
    "ticket_ref",
    "acts_for_teams",
    "agent_external_id",
];

/// What a one-line field refuses anywhere: control characters and
/// direction-changing ones.
pub fn is_refused_in_a_line(c: char) -> bool {
    c.is_control() || LINE_BREAKS.contains(&c) || BIDI_CONTROLS.iter().any(|(from, to)| (*from..=*to).contains(&c))
}

/// Line and paragraph separators: breaks that are not control characters.
pub const LINE_BREAKS: [char; 2] = ['\u{2028}', '\u{2029}'];

fn check_line(errors: &mut FieldErrors, field: &str, value: &str) {
    debug_assert!(SINGLE_LINE_FIELDS.contains(&field), "{field} is not listed as one line");
    if value.chars().any(is_refused_in_a_line) {
        errors.add(
            field,
            "must be one line, without control or direction-changing characters",
        );
    }
}

/// A required one-line text: as `required_text`, and no control or
/// direction-changing character anywhere.
pub fn required_line(errors: &mut FieldErrors, field: &str, value: &str, max: usize) -> String {
    check_line(errors, field, value);
    required_text(errors, field, value, max)
}

/// An optional one-line text: as `optional_text`, and no control or
/// direction-changing character anywhere.
pub fn optional_line(errors: &mut FieldErrors, field: &str, value: Option<&str>, max: usize) -> Option<String> {
    if let Some(value) = value {
        check_line(errors, field, value);
    }
    optional_text(errors, field, value, max)
}

/// An email as a person reads it: NFC-normalised (one way of writing each
/// accented letter), the domain lower-cased; the local part keeps its case.
fn normalised_email(email: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let email: String = email.nfc().collect();
    match email.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain.to_lowercase()),
        None => email,
    }
}

/// Checks an email address: at most 254 characters as sent; trimmed of
/// blank characters, one `@` with something before it and a dot after it,
/// and nothing blank inside. Answers it normalised (NFC, lower-case domain).
pub fn email_address(errors: &mut FieldErrors, value: &str) -> String {
    check_line(errors, "email", value);
    let email = normalised_email(trim_blank(value));
    let email = email.as_str();
    let valid = value.chars().count() <= 254
        && !email.chars().any(is_blank_char)
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.contains('@'));
    if !valid {
        errors.add("email", "must be an email address like name@example.com");
    }
    email.to_owned()
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
    fn texts_are_measured_as_sent_and_trimmed_of_blank_characters() {
        let mut errors = FieldErrors::new();
        assert_eq!(required_text(&mut errors, "name", " Ada ", 5), "Ada");
        assert_eq!(required_text(&mut errors, "team", "ééé", 3), "ééé");
        assert!(errors.is_empty());
        required_text(&mut errors, "empty", "   ", 3);
        required_text(&mut errors, "long", "abcd", 3);
        required_text(&mut errors, "padded", "  ab  ", 3);
        assert_eq!(optional_text(&mut errors, "blank", Some("  "), 3), None);
        assert_eq!(errors.as_map().len(), 3);
    }

    #[test]
    fn text_that_shows_nothing_is_empty() {
        for invisible in [
            "\u{200b}\u{200b}",
            "\u{feff}",
            "\u{202e}",
            "\t\r\n",
            "\u{1c}\u{7f}",
            "\u{3000}",
        ] {
            let mut errors = FieldErrors::new();
            required_text(&mut errors, "summary", invisible, 100);
            assert_eq!(errors.as_map()["summary"], "must not be empty", "{invisible:?}");
        }
        let mut errors = FieldErrors::new();
        assert_eq!(required_text(&mut errors, "summary", "\u{200b}ok\u{feff}", 100), "ok");
        assert!(errors.is_empty());
    }

    #[test]
    fn an_email_address_has_one_at_a_dot_after_it_and_nothing_blank_inside() {
        for good in ["ada@example.com", " ada@example.com\u{200b}", "a@b."] {
            let mut errors = FieldErrors::new();
            email_address(&mut errors, good);
            assert!(errors.is_empty(), "{good:?}");
        }
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@b@c.d",
            "a\u{200b}b@c.d",
        ] {
            let mut errors = FieldErrors::new();
            email_address(&mut errors, bad);
            assert!(!errors.is_empty(), "{bad:?}");
        }
    }

    #[test]
    fn an_email_is_kept_as_a_person_reads_it() {
        let mut errors = FieldErrors::new();
        let decomposed = "Rene\u{301}@Example.COM";
        assert_eq!(email_address(&mut errors, decomposed), "Ren\u{e9}@example.com");
        assert!(errors.is_empty());
    }

    #[test]
    fn a_line_refuses_line_breaks_and_direction_changes_anywhere() {
        for bad in [
            "two\nlines",
            "\tindented",
            "admin\u{202e}nimda",
            "x\u{2066}y",
            "\u{2069}",
            "a\u{2028}b",
        ] {
            let mut errors = FieldErrors::new();
            required_line(&mut errors, "name", bad, 100);
            assert!(errors.as_map().contains_key("name"), "{bad:?}");
        }
        let mut errors = FieldErrors::new();
        assert_eq!(required_line(&mut errors, "name", " Zoë Ødegård ", 100), "Zoë Ødegård");
        assert_eq!(
            optional_line(&mut errors, "team", Some("billing"), 100).as_deref(),
            Some("billing")
        );
        assert!(errors.is_empty());
    }
}
