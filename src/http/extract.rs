//! Extractors whose rejections speak problem JSON: a JSON body (415 for the
//! wrong content type, 400 for malformed JSON, 422 naming the field for
//! missing, unknown or mistyped fields), a query string and a UUID path id.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use utoipa::openapi::{RefOr, schema::Schema};
use uuid::Uuid;

use super::error::{ApiError, ProblemType};
use crate::domain::fields::FieldErrors;

/// SHA-256 of the raw request body, to tell an idempotent retry (same bytes)
/// from a different request under the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyDigest(pub [u8; 32]);

/// The raw request body, read whole (413 beyond the body limit), with its
/// digest: for a door that must verify the bytes before it parses them.
pub struct RawBody(pub Bytes, pub BodyDigest);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::refused(
                    ProblemType::PayloadTooLarge,
                    "the request body is larger than this server accepts",
                )
            } else {
                ApiError::bad_request(format!("could not read the request body: {rejection}"))
            }
        })?;
        let digest = BodyDigest(Sha256::digest(&bytes).into());
        Ok(RawBody(bytes, digest))
    }
}

/// A JSON body. An empty body reads as `{}`, so a body whose fields are all
/// optional may be left out; required fields are then reported missing.
pub struct Json<T>(pub T, pub BodyDigest);

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned + utoipa::PartialSchema,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let RawBody(bytes, digest) = RawBody::from_request(request, state).await?;
        let body: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            if !content_type.as_deref().is_some_and(is_json) {
                return Err(ApiError::refused(
                    ProblemType::UnsupportedMediaType,
                    "send the body as JSON with `Content-Type: application/json`",
                ));
            }
            &bytes
        };
        parse_json(body).map(|value| Json(value, digest))
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses JSON, telling malformed documents (400) from well-formed ones with
/// the wrong fields (422, naming every missing, unknown and mistyped field
/// at once).
pub fn parse_json<T: DeserializeOwned + utoipa::PartialSchema>(body: &[u8]) -> Result<T, ApiError> {
    if let Some(field) = field_with_nul(body) {
        return Err(FieldErrors::single(field, NUL_MESSAGE).into());
    }
    // serde reads a struct from an array of its fields in order too, so
    // `[null]` would pass for a body whose fields are all optional.
    let first = body.iter().find(|byte| !byte.is_ascii_whitespace());
    if first == Some(&b'[') && matches!(T::schema(), RefOr::T(Schema::Object(_))) {
        return Err(FieldErrors::single("body", NOT_AN_OBJECT).into());
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed = serde_path_to_error::deserialize(&mut deserializer);
    let value = match parsed {
        Ok(value) => value,
        // JSON has one kind of number: 5.0 is the integer 5 as much as 5
        // is. Rare enough to pay for a second parse only when needed.
        Err(error) => match with_whole_numbers_as_integers(body).and_then(|value| T::deserialize(value).ok()) {
            Some(value) => return Ok(value),
            None => return Err(with_every_field_named::<T>(body, data_problem(error))),
        },
    };
    deserializer
        .end()
        .map_err(|error| ApiError::bad_request(format!("the body is not valid JSON: {error}")))?;
    Ok(value)
}

/// Adds to a validation problem every required field the body leaves out,
/// every field the body's schema does not have and every field of the wrong
/// type: one answer names them all, so a form can show every problem at once.
fn with_every_field_named<T: DeserializeOwned + utoipa::PartialSchema>(body: &[u8], problem: ApiError) -> ApiError {
    let ApiError::Validation(mut errors) = problem else {
        return problem;
    };
    let parsed = with_whole_numbers_as_integers(body).or_else(|| serde_json::from_slice(body).ok());
    let (Some(serde_json::Value::Object(mut fields)), RefOr::T(Schema::Object(schema))) = (parsed, T::schema()) else {
        return ApiError::Validation(errors);
    };
    for name in &schema.required {
        if !fields.contains_key(name) {
            errors.add(name.clone(), format!("missing field `{name}`"));
        }
    }
    let expected: Vec<&String> = schema.properties.keys().collect();
    fields.retain(|name, _| {
        let known = schema.properties.contains_key(name);
        if !known {
            errors.add(
                name.clone(),
                format!("unknown field `{name}`, expected one of {expected:?}"),
            );
        }
        known
    });
    // Each pass sets aside the field serde stopped at, so at most one pass
    // per property. A missing field is reported only after every present
    // one was read, so that error means the rest are well-typed.
    for _ in 0..=schema.properties.len() {
        let document = serde_json::Value::Object(fields.clone()).to_string();
        let Err(error) = serde_path_to_error::deserialize::<_, T>(&mut serde_json::Deserializer::from_str(&document))
        else {
            break;
        };
        let top = match error.path().iter().next() {
            Some(serde_path_to_error::Segment::Map { key }) => Some(key.clone()),
            _ => None,
        };
        let message = in_plain_words(strip_position(&error.inner().to_string()));
        if message.starts_with("missing field") {
            break;
        }
        errors.add(field_name(&message, error.path().to_string(), "body"), message);
        match top {
            Some(key) if fields.remove(&key).is_some() => {}
            _ => break,
        }
    }
    ApiError::Validation(errors)
}

fn data_problem(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = error.path().to_string();
    let inner = error.into_inner();
    match inner.classify() {
        serde_json::error::Category::Data => {
            let message = in_plain_words(strip_position(&inner.to_string()));
            let field = field_name(&message, path, "body");
            FieldErrors::single(field, message).into()
        }
        _ => ApiError::bad_request(format!("the body is not valid JSON: {inner}")),
    }
}

/// The document with every number that is a whole number written as an
/// integer (`5.0` → `5`); `None` when it has none of those or no parse.
fn with_whole_numbers_as_integers(body: &[u8]) -> Option<serde_json::Value> {
    fn walk(value: &mut serde_json::Value) -> bool {
        match value {
            serde_json::Value::Number(number) if number.is_f64() => {
                let float = number.as_f64().unwrap_or(f64::NAN);
                // Every whole f64 in i64's range is an i64 exactly.
                let whole = float.fract() == 0.0 && float.abs() < 9.2e18;
                if whole {
                    *value = serde_json::Value::from(float as i64);
                }
                whole
            }
            serde_json::Value::Array(items) => items.iter_mut().fold(false, |changed, item| walk(item) | changed),
            serde_json::Value::Object(fields) => fields.values_mut().fold(false, |changed, item| walk(item) | changed),
            _ => false,
        }
    }
    let mut value: serde_json::Value = serde_json::from_slice(body).ok()?;
    walk(&mut value).then_some(value)
}

/// A body of fields sent as an array of them, which serde would read in
/// order.
const NOT_AN_OBJECT: &str = "must be a JSON object, not an array";

/// PostgreSQL text cannot hold NUL, so no field may: refused up front as a
/// 422 naming the field, rather than failing at the database.
const NUL_MESSAGE: &str = "must not contain NUL characters";

/// The path of the first string (or key) holding a NUL. JSON can only carry
/// one as the escape `\u0000`, so bodies without that text cost one scan.
fn field_with_nul(body: &[u8]) -> Option<String> {
    const ESCAPE: &[u8] = b"\\u0000";
    if !body.windows(ESCAPE.len()).any(|w| w == ESCAPE) {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    fn walk(value: &serde_json::Value, path: &str) -> Option<String> {
        let join = |key: &str| {
            if path.is_empty() {
                key.to_owned()
            } else {
                format!("{path}.{key}")
            }
        };
        match value {
            serde_json::Value::String(text) if text.contains('\0') => Some(if path.is_empty() {
                "body".to_owned()
            } else {
                path.to_owned()
            }),
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(index, item)| walk(item, &format!("{path}[{index}]"))),
            serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
                if key.contains('\0') {
                    Some(join(&key.replace('\0', "\\u0000")))
                } else {
                    walk(item, &join(key))
                }
            }),
            _ => None,
        }
    }
    walk(&value, "")
}

/// The field a deserialisation error is about: named in the message for
/// missing and unknown fields (whose path still points at the enclosing
/// object), else the path, else `whole` (the body or the query string).
fn field_name(message: &str, path: String, whole: &str) -> String {
    match field_from_message(message) {
        // A field missing from (or unknown to) a nested object is named
        // with the object's path: `outcome.customer_outcome`.
        Some(field) if path == "." || path == field || path.ends_with(&format!(".{field}")) => {
            field_or_path(field, path)
        }
        Some(field) => format!("{path}.{field}"),
        None if path == "." => whole.to_owned(),
        None => path,
    }
}

fn field_or_path(field: String, path: String) -> String {
    if path == "." { field } else { path }
}

fn field_from_message(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("unknown field `"))?;
    rest.split('`').next().map(str::to_owned)
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// serde's words for a value of the wrong type or range name Rust types
/// (`invalid type: string "500", expected i64`, `expected struct Terms`);
/// a person reads what the field must be, and what was sent where that
/// helps: `must be a whole number, not the text "500"`. Any other message
/// is kept as it is.
fn in_plain_words(message: String) -> String {
    let Some(rest) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
    else {
        return message;
    };
    // What was sent may itself contain the separator; what was expected
    // never does.
    let Some((sent, expected)) = rest.rsplit_once(", expected ") else {
        return message;
    };
    let must_be = match expected {
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => {
            // A whole number of the wrong size: say which are accepted.
            let whole = sent_number(sent).is_some_and(|number| number.fract() == 0.0);
            match integer_range(expected) {
                Some((min, max)) if whole => format!("must be a whole number from {min} to {max}"),
                _ => "must be a whole number".to_owned(),
            }
        }
        "f32" | "f64" => "must be a number".to_owned(),
        "a boolean" => "must be true or false".to_owned(),
        "a string" | "a borrowed string" => "must be text".to_owned(),
        "a character" => "must be a single character".to_owned(),
        "a sequence" => "must be a list".to_owned(),
        "a map" => "must be an object".to_owned(),
        kind if kind.starts_with("struct ") => "must be an object".to_owned(),
        kind if kind.contains("UUID string") => "must be an id (a UUID)".to_owned(),
        _ => return message,
    };
    match sent_in_plain_words(sent) {
        Some(sent) => format!("{must_be}, not {sent}"),
        None => must_be,
    }
}

/// What serde says was sent, as JSON shows it: `string "500"` → `the text
/// "500"`, ``integer `5` `` → `5`, `sequence` → `a list`.
fn sent_in_plain_words(sent: &str) -> Option<String> {
    let quoted = |prefix: &str| {
        sent.strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('`'))
            .and_then(|rest| rest.strip_suffix('`'))
            .map(str::to_owned)
    };
    if let Some(text) = sent.strip_prefix("string ") {
        return Some(format!("the text {text}"));
    }
    match sent {
        "null" => Some("null".to_owned()),
        "sequence" => Some("a list".to_owned()),
        "map" => Some("an object".to_owned()),
        _ => quoted("integer ")
            .or_else(|| quoted("floating point "))
            .or_else(|| quoted("boolean ")),
    }
}

/// The number serde says was sent, if it was one.
fn sent_number(sent: &str) -> Option<f64> {
    let digits = sent
        .strip_prefix("integer `")
        .or_else(|| sent.strip_prefix("floating point `"))?
        .strip_suffix('`')?;
    digits.parse().ok()
}

/// The smallest and largest value of a Rust integer type, by its name.
fn integer_range(kind: &str) -> Option<(i128, u128)> {
    Some(match kind {
        "i8" => (i8::MIN.into(), i8::MAX as u128),
        "i16" => (i16::MIN.into(), i16::MAX as u128),
        "i32" => (i32::MIN.into(), i32::MAX as u128),
        "i64" | "isize" => (i64::MIN.into(), i64::MAX as u128),
        "u8" => (0, u8::MAX.into()),
        "u16" => (0, u16::MAX.into()),
        "u32" => (0, u32::MAX.into()),
        "u64" | "usize" => (0, u64::MAX.into()),
        _ => return None,
    })
}

/// A query string, with unknown or malformed parameters reported by name.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let pairs = form_urlencoded::parse(query.as_bytes());
        if let Some((key, _)) = pairs
            .clone()
            .find(|(key, value)| key.contains('\0') || value.contains('\0'))
        {
            return Err(FieldErrors::single(key.replace('\0', "\\u0000"), NUL_MESSAGE).into());
        }
        let deserializer = serde_urlencoded::Deserializer::new(pairs);
        serde_path_to_error::deserialize(deserializer)
            .map(Query)
            .map_err(|error| {
                let path = error.path().to_string();
                let message = error.into_inner().to_string();
                let field = field_name(&message, path, "query");
                ApiError::from(FieldErrors::single(field, message))
            })
    }
}

/// The `{id}` of a path, which must be a UUID.
pub struct PathId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        Uuid::parse_str(&raw)
            .map(PathId)
            .map_err(|_| ApiError::bad_request(format!("`{raw}` in the path is not an id (a UUID)")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        reason: String,
        count: Option<u32>,
    }

    fn field_errors(error: ApiError) -> Vec<(String, String)> {
        match error {
            ApiError::Validation(errors) => {
                let problem = ApiError::Validation(errors).to_problem();
                problem.errors.unwrap().into_iter().collect()
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_field_is_named() {
        let errors = field_errors(parse_json::<Body>(b"{}").unwrap_err());
        assert_eq!(errors[0].0, "reason");
        assert!(errors[0].1.contains("missing field"), "{errors:?}");
    }

    #[test]
    fn every_missing_unknown_and_mistyped_field_is_named_at_once() {
        #[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Filing {
            category: String,
            summary: String,
            amount: Option<i64>,
        }
        let errors = field_errors(parse_json::<Filing>(br#"{"colour":"red","amount":"x"}"#).unwrap_err());
        let fields: Vec<&str> = errors.iter().map(|(field, _)| field.as_str()).collect();
        assert_eq!(fields, vec!["amount", "category", "colour", "summary"], "{errors:?}");
    }

    #[test]
    fn an_unknown_field_is_named() {
        let errors = field_errors(parse_json::<Body>(br#"{"reason":"x","reasn":"y"}"#).unwrap_err());
        assert_eq!(errors[0].0, "reasn");
    }

    #[test]
    fn a_mistyped_field_is_named_by_its_path() {
        let errors = field_errors(parse_json::<Body>(br#"{"reason":"x","count":"three"}"#).unwrap_err());
        assert_eq!(errors[0].0, "count");
        assert!(
            !errors[0].1.contains("line"),
            "positions are noise for a client: {errors:?}"
        );
    }

    #[test]
    fn a_mistyped_value_is_named_in_plain_words_not_rust_types() {
        #[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Kinds {
            amount_minor: Option<i64>,
            revision: Option<i32>,
            count: Option<u32>,
            share: Option<f64>,
            executed: Option<bool>,
            summary: Option<String>,
            groups: Option<Vec<String>>,
            id: Option<Uuid>,
        }
        let message = |body: &str| {
            let errors = field_errors(parse_json::<Kinds>(body.as_bytes()).unwrap_err());
            assert_eq!(errors.len(), 1, "{errors:?}");
            errors[0].1.clone()
        };
        for (body, expected) in [
            (
                r#"{"amount_minor":"500"}"#,
                r#"must be a whole number, not the text "500""#,
            ),
            (r#"{"revision":"1"}"#, r#"must be a whole number, not the text "1""#),
            (r#"{"revision":1.5}"#, "must be a whole number, not 1.5"),
            (r#"{"revision":true}"#, "must be a whole number, not true"),
            (
                r#"{"revision":4294967296}"#,
                "must be a whole number from -2147483648 to 2147483647, not 4294967296",
            ),
            (r#"{"count":-1}"#, "must be a whole number from 0 to 4294967295, not -1"),
            (r#"{"share":"half"}"#, r#"must be a number, not the text "half""#),
            (r#"{"executed":"yes"}"#, r#"must be true or false, not the text "yes""#),
            (r#"{"summary":7}"#, "must be text, not 7"),
            (r#"{"summary":["a"]}"#, "must be text, not a list"),
            (r#"{"groups":{"a":1}}"#, "must be a list, not an object"),
            (r#"{"id":5}"#, "must be an id (a UUID), not 5"),
        ] {
            assert_eq!(message(body), expected, "{body}");
        }
        // What serde says in plain words already stays as it is.
        assert_eq!(
            in_plain_words("unknown variant `x`, expected one of `a`, `b`".to_owned()),
            "unknown variant `x`, expected one of `a`, `b`"
        );
        assert_eq!(
            in_plain_words("invalid type: integer `5`, expected struct Terms".to_owned()),
            "must be an object, not 5"
        );
    }

    #[test]
    fn malformed_json_is_a_bad_request() {
        assert!(matches!(
            parse_json::<Body>(br#"{"reason":"#),
            Err(error) if error.kind() == ProblemType::BadRequest
        ));
        assert!(matches!(
            parse_json::<Body>(br#"{"reason":"x"} trailing"#),
            Err(error) if error.kind() == ProblemType::BadRequest
        ));
    }

    #[test]
    fn an_array_is_not_an_object_even_when_every_field_is_optional() {
        #[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Optional {
            reason: Option<String>,
        }
        for body in [&b"[null]"[..], b" [\"why\"]", b"[]"] {
            let errors = field_errors(parse_json::<Optional>(body).unwrap_err());
            assert_eq!(errors, vec![("body".to_owned(), NOT_AN_OBJECT.to_owned())]);
        }
        assert!(parse_json::<Optional>(b"{}").is_ok());
        assert_eq!(parse_json::<Vec<u32>>(b"[1, 2]").unwrap(), vec![1, 2]);
    }

    #[test]
    fn a_nul_in_any_string_is_named_before_it_reaches_the_database() {
        let errors = field_errors(parse_json::<Body>(br#"{"reason":"a\u0000b"}"#).unwrap_err());
        assert_eq!(errors, vec![("reason".to_owned(), NUL_MESSAGE.to_owned())]);
        assert_eq!(
            field_with_nul(br#"{"outer":{"list":["ok","\u0000"]}}"#).as_deref(),
            Some("outer.list[1]")
        );
        assert!(
            parse_json::<Body>(br#"{"reason":"a\\u0000 is how JSON writes NUL"}"#).is_ok(),
            "an escaped backslash followed by u0000 is plain text"
        );
    }

    #[test]
    fn json_content_types_are_recognised() {
        assert!(is_json("application/json"));
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/x-www-form-urlencoded"));
    }
}
