//! Generating and hashing credentials. Tokens are 256 random bits with a
//! recognisable prefix, shown once and stored only as SHA-256.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

pub const TOKEN_PREFIX: &str = "cs_";
/// `cs_` + 43 characters of unpadded base64url (32 bytes).
const TOKEN_LENGTH: usize = 3 + 43;

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    bytes
}

/// A fresh API token: the clear value (to show once) and its hash (to store).
pub fn new_api_token() -> (String, [u8; 32]) {
    new_hashed_secret(TOKEN_PREFIX)
}

/// 256 random bits after `prefix`, with the SHA-256 to store: API tokens,
/// web session cookies (`css_`) and sign-in links (`csl_`).
pub fn new_hashed_secret(prefix: &str) -> (String, [u8; 32]) {
    let secret = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()));
    let hash = hash_token(&secret);
    (secret, hash)
}

/// 256 random bits as unpadded base64url (a form's CSRF token).
pub fn new_random_text() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Cheap shape check so garbage never reaches the database.
pub fn looks_like_token(token: &str) -> bool {
    token.len() == TOKEN_LENGTH
        && token.starts_with(TOKEN_PREFIX)
        && token[TOKEN_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A signing secret in the Standard Webhooks form `whsec_<base64>`.
pub fn new_signing_secret() -> String {
    format!("whsec_{}", STANDARD.encode(random_bytes::<32>()))
}

/// A secret as given in a request (Zendesk's signing secret): `Debug`
/// shows `…`, so it reaches no log or panic message however it is printed.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct GivenSecret(pub String);

impl std::fmt::Debug for GivenSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GivenSecret(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_hash_stably() {
        let (first, first_hash) = new_api_token();
        let (second, _) = new_api_token();
        assert!(looks_like_token(&first), "{first}");
        assert_ne!(first, second);
        assert_eq!(hash_token(&first), first_hash);
    }

    #[test]
    fn malformed_tokens_are_recognised() {
        assert!(!looks_like_token(""));
        assert!(!looks_like_token("cs_short"));
        assert!(!looks_like_token(&format!("xx_{}", "a".repeat(43))));
        assert!(!looks_like_token(&format!("cs_{}", "!".repeat(43))));
    }

    #[test]
    fn a_given_secret_is_never_printed() {
        let given = GivenSecret("zendesk-signing-secret".to_owned());
        assert_eq!(format!("{given:?}"), "GivenSecret(…)");
        assert_eq!(format!("{:?}", Some(given)), "Some(GivenSecret(…))");
    }

    #[test]
    fn signing_secrets_carry_32_bytes() {
        let secret = new_signing_secret();
        let decoded = STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
        assert_eq!(decoded.len(), 32);
    }
}
