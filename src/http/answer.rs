//! How the REST door takes a write's `Idempotency-Key` and answers a
//! written proposal: 201 + `Location` for a filing, 200 otherwise, the
//! `ETag` that names its revision, `Idempotent-Replayed` on a replay.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::ApiError;
use super::extract::BodyDigest;
use crate::app::{Actor, IdempotencyKey, Written};
use crate::domain::fields::FieldErrors;
use crate::views::Proposal;

const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The request's `Idempotency-Key`, if it sent one. Its fingerprint is the
/// whole request: route, who acts, through which integration, the revision
/// named in `If-Match`, and the body.
pub fn idempotency_key(
    headers: &HeaderMap,
    actor: &Actor,
    route: &str,
    body: BodyDigest,
) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let visible = |bytes: &[u8]| bytes.iter().all(|b| (0x21..=0x7e).contains(b));
    if value.is_empty() || value.len() > 255 || !visible(value.as_bytes()) {
        return Err(FieldErrors::single("Idempotency-Key", "must be 1-255 visible ASCII characters").into());
    }
    let key = value.to_str().expect("visible ASCII is text");
    let scope = actor.idempotency_scope();
    let mut hasher = Sha256::new();
    hasher.update(route.as_bytes());
    hasher.update([0]);
    hasher.update(scope.principal_id.as_bytes());
    hasher.update(scope.via_integration_id.unwrap_or(Uuid::nil()).as_bytes());
    hasher.update(headers.get(header::IF_MATCH).map_or(&b""[..], HeaderValue::as_bytes));
    hasher.update([0]);
    hasher.update(body.0);
    Ok(Some(IdempotencyKey {
        key: key.to_owned(),
        scope,
        fingerprint: hasher.finalize().into(),
    }))
}

/// A proposal's ETag names its revision: the terms a signer agrees to. Sent
/// with every proposal, it may come back as `If-Match` on a signature.
pub fn etag(revision: i32) -> HeaderValue {
    HeaderValue::from_str(&format!("\"revision-{revision}\"")).expect("digits and quotes are a valid header")
}

/// The revision named by `If-Match`, if the request sent one (an empty
/// value names none).
pub fn if_match_revision(headers: &HeaderMap) -> Result<Option<i32>, ApiError> {
    let Some(value) = headers
        .get(header::IF_MATCH)
        .filter(|value| !value.as_bytes().trim_ascii().is_empty())
    else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().strip_prefix("\"revision-"))
        .and_then(|v| v.strip_suffix('"'))
        .and_then(|v| v.parse::<i32>().ok())
        .filter(|revision| *revision >= 1)
        .map(Some)
        .ok_or_else(|| {
            FieldErrors::single(
                "If-Match",
                "must be the ETag of the proposal as read, e.g. \"revision-2\"",
            )
            .into()
        })
}

/// A proposal as read.
pub fn proposal(proposal: &Proposal) -> Response {
    ([(header::ETAG, etag(proposal.revision))], axum::Json(proposal)).into_response()
}

/// A written proposal, done now or replayed under its key.
pub fn written(written: Written<Proposal>) -> Response {
    match written {
        Written::Done { value, created } => {
            let (id, revision) = (value.id, value.revision);
            answer(
                created,
                Some(id),
                "/v1/proposals",
                Some(revision),
                axum::Json(value),
                false,
            )
        }
        Written::Replayed { body, created } => {
            let id = body["id"].as_str().and_then(|id| Uuid::parse_str(id).ok());
            let revision = body["revision"].as_i64().and_then(|r| i32::try_from(r).ok());
            answer(created, id, "/v1/proposals", revision, axum::Json(body), true)
        }
    }
}

/// Another written resource (one with an `id` and no revision), done now
/// or replayed under its key; created, its `Location` is under `collection`.
pub fn written_resource<T: Serialize>(written: Written<T>, collection: &str) -> Response {
    let (body, created, replayed) = match written {
        Written::Done { value, created } => (serde_json::to_value(value).unwrap_or_default(), created, false),
        Written::Replayed { body, created } => (body, created, true),
    };
    let id = body["id"].as_str().and_then(|id| Uuid::parse_str(id).ok());
    answer(created, id, collection, None, axum::Json(body), replayed)
}

fn answer(
    created: bool,
    id: Option<Uuid>,
    collection: &str,
    revision: Option<i32>,
    body: impl IntoResponse,
    replayed: bool,
) -> Response {
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    if let Some(id) = id.filter(|_| created) {
        let location = HeaderValue::from_str(&format!("{collection}/{id}")).expect("a UUID path is a valid header");
        headers.insert(header::LOCATION, location);
    }
    if let Some(revision) = revision {
        headers.insert(header::ETAG, etag(revision));
    }
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}
