//! Standard Webhooks signatures: `v1,<base64 of HMAC-SHA256 over
//! "{webhook-id}.{webhook-timestamp}.{body}">`, keyed with the bytes a
//! `whsec_<base64>` secret encodes. Signing for outbound deliveries,
//! verifying for tests and (next) inbound generic integrations. No I/O.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The prefix every Standard Webhooks secret carries.
pub const SECRET_PREFIX: &str = "whsec_";

/// The key bytes of one `whsec_` secret.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("must start with whsec_")]
    Prefix,
    #[error("must be whsec_ followed by base64")]
    Base64,
    #[error("must encode at least 24 bytes")]
    TooShort,
}

impl SigningKey {
    pub fn from_secret(secret: &str) -> Result<Self, SecretError> {
        let encoded = secret.strip_prefix(SECRET_PREFIX).ok_or(SecretError::Prefix)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| SecretError::Base64)?;
        if bytes.len() < 24 {
            return Err(SecretError::TooShort);
        }
        Ok(SigningKey(bytes))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// One signature, `v1,<base64>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let digest = self.mac(id, timestamp, body).finalize().into_bytes();
        format!("v1,{}", STANDARD.encode(digest))
    }

    /// Whether `signature` (`v1,<base64>`) is this key's, compared in
    /// constant time.
    fn signed(&self, id: &str, timestamp: i64, body: &[u8], signature: &str) -> bool {
        let Some(encoded) = signature.strip_prefix("v1,") else {
            return false;
        };
        let Ok(given) = STANDARD.decode(encoded) else {
            return false;
        };
        self.mac(id, timestamp, body).verify_slice(&given).is_ok()
    }
}

/// The `webhook-signature` header value: one signature per key, space
/// separated (during a secret rotation the old and the new key both sign).
pub fn signature_header(keys: &[SigningKey], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|key| key.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether any signature in `header` was made by `key` over this message.
pub fn verify(key: &SigningKey, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    header
        .split(' ')
        .any(|signature| key.signed(id, timestamp, body, signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the Standard Webhooks specification's reference
    // libraries: this secret, id, timestamp and body sign to this value.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1614265330;
    const BODY: &str = r#"{"test": 2432232314}"#;
    const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_the_specification_example_as_the_reference_libraries_do() {
        let key = SigningKey::from_secret(SECRET).unwrap();
        assert_eq!(key.sign(ID, TIMESTAMP, BODY.as_bytes()), EXPECTED);
        assert!(verify(&key, ID, TIMESTAMP, BODY.as_bytes(), EXPECTED));
    }

    #[test]
    fn a_changed_id_timestamp_or_body_does_not_verify() {
        let key = SigningKey::from_secret(SECRET).unwrap();
        assert!(!verify(&key, "msg_other", TIMESTAMP, BODY.as_bytes(), EXPECTED));
        assert!(!verify(&key, ID, TIMESTAMP + 1, BODY.as_bytes(), EXPECTED));
        assert!(!verify(&key, ID, TIMESTAMP, br#"{"test": 2432232315}"#, EXPECTED));
        assert!(!verify(
            &key,
            ID,
            TIMESTAMP,
            BODY.as_bytes(),
            "v2,garbage v1,not-base64!"
        ));
    }

    #[test]
    fn during_a_rotation_both_keys_sign_and_either_verifies() {
        let old = SigningKey::from_secret(SECRET).unwrap();
        let new = SigningKey::from_secret(&crate::secrets::new_signing_secret()).unwrap();
        let header = signature_header(&[new.clone(), old.clone()], ID, TIMESTAMP, BODY.as_bytes());
        assert_eq!(header.split(' ').count(), 2);
        assert!(verify(&old, ID, TIMESTAMP, BODY.as_bytes(), &header));
        assert!(verify(&new, ID, TIMESTAMP, BODY.as_bytes(), &header));
    }

    #[test]
    fn secrets_must_be_whsec_base64_of_at_least_24_bytes() {
        assert_eq!(
            SigningKey::from_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err(),
            SecretError::Prefix
        );
        assert_eq!(SigningKey::from_secret("whsec_***").unwrap_err(), SecretError::Base64);
        assert_eq!(
            SigningKey::from_secret("whsec_AAAA").unwrap_err(),
            SecretError::TooShort
        );
        assert!(SigningKey::from_secret(&crate::secrets::new_signing_secret()).is_ok());
    }
}
