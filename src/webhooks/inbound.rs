//! Verifying an inbound helpdesk request before its body is read, by the
//! integration's kind, and naming the sender's id for the delivery. No I/O:
//! the caller hands over the headers, the raw body, the secret and the time.
//!
//! - `generic`: Standard Webhooks (`webhook-id`, `webhook-timestamp`,
//!   `webhook-signature`, a `whsec_` secret Countersign generated).
//! - `zendesk`: `x-zendesk-webhook-signature` = base64 HMAC-SHA256 of the
//!   `x-zendesk-webhook-signature-timestamp` value followed by the body,
//!   keyed with the secret Zendesk generated (as its text). The signature
//!   does not cover Zendesk's invocation id, so what it does cover is
//!   hashed: the same signed request under another id is the same delivery.
//! - `freshdesk`: cannot sign. A shared token, as `Authorization: Bearer`,
//!   as the password of HTTP Basic, or in `x-countersign-token`, compared in
//!   constant time. Weaker: whoever sees one request can send others until
//!   the token is changed, and nothing dates a request.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::signature::{self, SigningKey};
use crate::domain::integration::IntegrationKind;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The largest sender id kept (the schema allows 255 with what is added).
const MAX_ID_LEN: usize = 200;

/// A request that verified: who the sender says this delivery is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The sender's id for this delivery, if it sent one (Freshdesk sends
    /// one only when its template sets `Idempotency-Key`).
    pub delivery_id: Option<String>,
    /// SHA-256 of what the signature covers, where that excludes the id.
    pub signed_hash: Option<[u8; 32]>,
}

/// Why a request was refused, said so that the helpdesk's admin can fix it
/// and an attacker learns nothing they did not send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the `{0}` header is missing")]
    Missing(&'static str),
    #[error("the `{0}` header is malformed")]
    Malformed(&'static str),
    #[error("the request's timestamp is more than {0} s away from now (a stale or replayed request)")]
    Stale(u64),
    #[error("the signature does not match the body (check the integration's secret)")]
    BadSignature,
    #[error("the token does not match the integration's")]
    BadToken,
    #[error("this integration has no signing secret yet: give Zendesk's with PATCH /v1/integrations/{{id}}")]
    NoSecret,
}

/// What to check a request against.
pub struct Check<'a> {
    pub kind: IntegrationKind,
    /// The integration's secret, opened; `None` when it has none yet.
    pub secret: Option<&'a str>,
    pub now: DateTime<Utc>,
    pub tolerance_secs: u64,
}

/// Verifies `body` as sent with these headers (`header` looks one up by
/// its lowercase name).
pub fn verify<'h>(
    check: &Check<'_>,
    header: impl Fn(&str) -> Option<&'h str>,
    body: &[u8],
) -> Result<Verified, Refusal> {
    let secret = check.secret.ok_or(Refusal::NoSecret)?;
    match check.kind {
        IntegrationKind::Generic => verify_standard(check, secret, header, body),
        IntegrationKind::Zendesk => verify_zendesk(check, secret, header, body),
        IntegrationKind::Freshdesk => verify_token(secret, header),
    }
}

fn required<'h>(header: &impl Fn(&str) -> Option<&'h str>, name: &'static str) -> Result<&'h str, Refusal> {
    header(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(Refusal::Missing(name))
}

fn sender_id(value: &str, name: &'static str) -> Result<String, Refusal> {
    if value.len() > MAX_ID_LEN || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Refusal::Malformed(name));
    }
    Ok(value.to_owned())
}

fn fresh(check: &Check<'_>, at: DateTime<Utc>) -> Result<(), Refusal> {
    let away = (check.now - at).num_seconds().unsigned_abs();
    if away > check.tolerance_secs {
        return Err(Refusal::Stale(check.tolerance_secs));
    }
    Ok(())
}

fn verify_standard<'h>(
    check: &Check<'_>,
    secret: &str,
    header: impl Fn(&str) -> Option<&'h str>,
    body: &[u8],
) -> Result<Verified, Refusal> {
    let id = sender_id(required(&header, "webhook-id")?, "webhook-id")?;
    let timestamp: i64 = required(&header, "webhook-timestamp")?
        .parse()
        .map_err(|_| Refusal::Malformed("webhook-timestamp"))?;
    let signatures = required(&header, "webhook-signature")?;
    let at = DateTime::from_timestamp(timestamp, 0).ok_or(Refusal::Malformed("webhook-timestamp"))?;
    fresh(check, at)?;
    // The secret was generated here; one that does not parse signs nothing.
    let key = SigningKey::from_secret(secret).map_err(|_| Refusal::BadSignature)?;
    if !signature::verify(&key, &id, timestamp, body, signatures) {
        return Err(Refusal::BadSignature);
    }
    Ok(Verified {
        delivery_id: Some(id),
        signed_hash: None,
    })
}

/// Zendesk's signature: base64 HMAC-SHA256 over `timestamp ‖ body`.
pub fn zendesk_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    STANDARD.encode(zendesk_mac(secret, timestamp, body).finalize().into_bytes())
}

fn zendesk_mac(secret: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(body);
    mac
}

fn verify_zendesk<'h>(
    check: &Check<'_>,
    secret: &str,
    header: impl Fn(&str) -> Option<&'h str>,
    body: &[u8],
) -> Result<Verified, Refusal> {
    const SIGNATURE: &str = "x-zendesk-webhook-signature";
    const TIMESTAMP: &str = "x-zendesk-webhook-signature-timestamp";
    const INVOCATION: &str = "x-zendesk-webhook-invocation-id";
    let signature = required(&header, SIGNATURE)?;
    let timestamp = required(&header, TIMESTAMP)?;
    let at = DateTime::parse_from_rfc3339(timestamp).map_err(|_| Refusal::Malformed(TIMESTAMP))?;
    fresh(check, at.with_timezone(&Utc))?;
    let given = STANDARD.decode(signature).map_err(|_| Refusal::BadSignature)?;
    zendesk_mac(secret, timestamp, body)
        .verify_slice(&given)
        .map_err(|_| Refusal::BadSignature)?;
    let signed_hash = Sha256::new()
        .chain_update(timestamp.as_bytes())
        .chain_update([0])
        .chain_update(body)
        .finalize()
        .into();
    // Every Zendesk request carries its invocation id; a test from its
    // admin page does too. The id is not signed, so it is kept together
    // with the body it came with: a captured request sent under someone
    // else's future id takes nothing from them. Without an id, what was
    // signed is the id.
    let body_hash = Sha256::digest(body);
    let delivery_id = match header(INVOCATION).map(str::trim).filter(|v| !v.is_empty()) {
        Some(id) => format!("{}:{}", sender_id(id, INVOCATION)?, hex::encode(&body_hash[..8])),
        None => format!("signed:{}", hex::encode(signed_hash)),
    };
    Ok(Verified {
        delivery_id: Some(delivery_id),
        signed_hash: Some(signed_hash),
    })
}

fn verify_token<'h>(secret: &str, header: impl Fn(&str) -> Option<&'h str>) -> Result<Verified, Refusal> {
    let given = match (header("x-countersign-token"), header("authorization")) {
        (Some(token), _) => token.trim().to_owned(),
        (None, Some(authorization)) => token_of_authorization(authorization.trim())?,
        (None, None) => return Err(Refusal::Missing("authorization")),
    };
    // Both sides hashed to the same length, then compared in constant time.
    let token_mac = |token: &str| {
        let mut mac = HmacSha256::new_from_slice(b"countersign inbound token").expect("HMAC takes any key");
        mac.update(token.as_bytes());
        mac
    };
    let expected = token_mac(secret).finalize().into_bytes();
    if token_mac(&given).verify_slice(&expected).is_err() {
        return Err(Refusal::BadToken);
    }
    let delivery_id = header("idempotency-key")
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|id| sender_id(id, "idempotency-key"))
        .transpose()?;
    Ok(Verified {
        delivery_id,
        signed_hash: None,
    })
}

/// The token in `Bearer <token>`, or the password of `Basic <user:password>`
/// (Freshdesk's webhook action offers both).
fn token_of_authorization(value: &str) -> Result<String, Refusal> {
    const NAME: &str = "authorization";
    let (scheme, rest) = value.split_once(' ').ok_or(Refusal::Malformed(NAME))?;
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" => Ok(rest.trim().to_owned()),
        "basic" => {
            let decoded = STANDARD.decode(rest.trim()).map_err(|_| Refusal::Malformed(NAME))?;
            let text = String::from_utf8(decoded).map_err(|_| Refusal::Malformed(NAME))?;
            let (_, password) = text.split_once(':').ok_or(Refusal::Malformed(NAME))?;
            Ok(password.to_owned())
        }
        _ => Err(Refusal::Malformed(NAME)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const BODY: &[u8] = br#"{"action":"cosign"}"#;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn check(kind: IntegrationKind, secret: &str, now: &str) -> Check<'static> {
        Check {
            kind,
            secret: Some(Box::leak(secret.to_owned().into_boxed_str())),
            now: at(now),
            tolerance_secs: 300,
        }
    }

    fn run(check: &Check<'_>, headers: &[(&str, String)], body: &[u8]) -> Result<Verified, Refusal> {
        let headers: HashMap<String, String> = headers.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        verify(check, |name| headers.get(name).map(String::as_str), body)
    }

    #[test]
    fn standard_webhooks_verify_within_the_window_only() {
        let key = SigningKey::from_secret(SECRET).unwrap();
        let ts = at("2026-11-26T10:00:00Z").timestamp();
        let headers = |ts: i64, body: &[u8]| {
            vec![
                ("webhook-id", "msg_1".to_owned()),
                ("webhook-timestamp", ts.to_string()),
                (
                    "webhook-signature",
                    signature::signature_header(std::slice::from_ref(&key), "msg_1", ts, body),
                ),
            ]
        };
        let check = check(IntegrationKind::Generic, SECRET, "2026-11-26T10:04:59Z");
        let verified = run(&check, &headers(ts, BODY), BODY).unwrap();
        assert_eq!(verified.delivery_id.as_deref(), Some("msg_1"));
        assert_eq!(run(&check, &headers(ts, BODY), b"{}"), Err(Refusal::BadSignature));
        assert_eq!(run(&check, &headers(ts - 2, BODY), BODY), Err(Refusal::Stale(300)));
        assert_eq!(
            run(&check, &headers(ts, BODY)[..2], BODY),
            Err(Refusal::Missing("webhook-signature"))
        );
    }

    #[test]
    fn zendesk_signs_timestamp_and_body_with_its_own_secret() {
        let secret = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==";
        let ts = "2026-11-26T10:00:00Z";
        let headers = |signature: String| {
            vec![
                ("x-zendesk-webhook-signature", signature),
                ("x-zendesk-webhook-signature-timestamp", ts.to_owned()),
                ("x-zendesk-webhook-invocation-id", "8350205582".to_owned()),
            ]
        };
        let check = check(IntegrationKind::Zendesk, secret, "2026-11-26T10:03:00Z");
        let verified = run(&check, &headers(zendesk_signature(secret, ts, BODY)), BODY).unwrap();
        assert!(verified.delivery_id.unwrap().starts_with("8350205582:"));
        assert!(verified.signed_hash.is_some());
        assert_eq!(
            run(&check, &headers(zendesk_signature("other", ts, BODY)), BODY),
            Err(Refusal::BadSignature)
        );
        let late = super::tests::check(IntegrationKind::Zendesk, secret, "2026-11-26T10:05:01Z");
        assert_eq!(
            run(&late, &headers(zendesk_signature(secret, ts, BODY)), BODY),
            Err(Refusal::Stale(300))
        );
        let none = Check { secret: None, ..check };
        assert_eq!(run(&none, &headers(String::new()), BODY), Err(Refusal::NoSecret));
    }

    #[test]
    fn freshdesk_sends_its_token_as_bearer_basic_or_header() {
        let check = check(IntegrationKind::Freshdesk, SECRET, "2026-11-26T10:00:00Z");
        let basic = format!("Basic {}", STANDARD.encode(format!("freshdesk:{SECRET}")));
        for headers in [
            vec![("authorization", format!("Bearer {SECRET}"))],
            vec![("authorization", basic)],
            vec![
                ("x-countersign-token", SECRET.to_owned()),
                ("idempotency-key", "t-1".to_owned()),
            ],
        ] {
            assert!(run(&check, &headers, BODY).is_ok(), "{headers:?}");
        }
        let keyed = run(
            &check,
            &[
                ("x-countersign-token", SECRET.to_owned()),
                ("idempotency-key", "t-1".to_owned()),
            ],
            BODY,
        );
        assert_eq!(keyed.unwrap().delivery_id.as_deref(), Some("t-1"));
        assert_eq!(
            run(&check, &[("authorization", "Bearer whsec_nope".to_owned())], BODY),
            Err(Refusal::BadToken)
        );
        assert_eq!(run(&check, &[], BODY), Err(Refusal::Missing("authorization")));
    }
}
