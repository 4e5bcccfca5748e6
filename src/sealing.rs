//! Secrets the service must read back (an integration's inbound signing
//! secret, a webhook endpoint's outbound one) are stored sealed: AES-256-GCM
//! under a key that lives outside the database (`secrets.key`, or the key
//! file), so a dump of the database alone does not hand them out.
//!
//! A sealed value reads `sealed:v1:<key id>:<base64url of nonce ‖ ciphertext
//! ‖ tag>`. The key id (8 hex digits of a hash of the key) says which key
//! sealed it, so a replica started with another key is refused by name
//! instead of failing every signature. What the value is (which column of
//! which row) is bound in as associated data: a sealed value copied to
//! another row or column does not open. A value in clear is never used:
//! the service seals those at start (`app::sealing`).

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use sha2::{Digest, Sha256};
use uuid::Uuid;

const PREFIX: &str = "sealed:v1:";
const KEY_LEN: usize = 32;

/// Which stored secret a value is, and whose: bound into the seal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The inbound secret of this integration.
    IntegrationSecret(Uuid),
    /// A signing secret of this webhook endpoint.
    EndpointSecret(Uuid),
}

impl Purpose {
    fn associated_data(self) -> Vec<u8> {
        let (label, id): (&[u8], Uuid) = match self {
            Purpose::IntegrationSecret(id) => (b"countersign integration inbound secret ", id),
            Purpose::EndpointSecret(id) => (b"countersign webhook endpoint secret ", id),
        };
        [label, id.as_bytes()].concat()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("the value is sealed with key {found}, which is not configured (configured: {configured})")]
    UnknownKey { found: String, configured: String },
    #[error("the sealed value is damaged or was sealed for another use")]
    Damaged,
    #[error("the value is not sealed")]
    NotSealed,
}

struct SealingKey {
    id: String,
    key: LessSafeKey,
}

impl SealingKey {
    fn new(bytes: &[u8; KEY_LEN]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"countersign sealing key id\0")
            .chain_update(bytes)
            .finalize();
        SealingKey {
            id: hex::encode(&digest[..4]),
            key: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("32 bytes make an AES-256 key")),
        }
    }
}

/// Seals with the current key; opens with it or any previous one.
pub struct Sealer {
    current: SealingKey,
    previous: Vec<SealingKey>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("key_id", &self.current.id)
            .finish_non_exhaustive()
    }
}

/// Where the key came from, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Setting,
    File(PathBuf),
    CreatedFile(PathBuf),
}

/// Decodes a key as configured: base64 of exactly 32 bytes.
pub fn decode_key(text: &str) -> Result<[u8; KEY_LEN], String> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|_| "must be base64 (e.g. `openssl rand -base64 32`)".to_owned())?;
    bytes
        .try_into()
        .map_err(|bytes: Vec<u8>| format!("must be base64 of 32 bytes, not {}", bytes.len()))
}

impl Sealer {
    pub fn new(current: &[u8; KEY_LEN], previous: &[[u8; KEY_LEN]]) -> Self {
        Sealer {
            current: SealingKey::new(current),
            previous: previous.iter().map(SealingKey::new).collect(),
        }
    }

    /// The key `secrets.key` names, or else the one in `key_file`, created
    /// (readable by this user only) when it does not exist yet.
    pub fn load(key: &str, previous: &[String], key_file: &Path) -> anyhow::Result<(Sealer, KeySource)> {
        let previous = previous
            .iter()
            .map(|text| decode_key(text).map_err(|e| anyhow::anyhow!("secrets.previous_keys: {e}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if !key.trim().is_empty() {
            let key = decode_key(key).map_err(|e| anyhow::anyhow!("secrets.key: {e}"))?;
            return Ok((Sealer::new(&key, &previous), KeySource::Setting));
        }
        if key_file.as_os_str().is_empty() {
            anyhow::bail!("secrets.key is not set and secrets.key_file is empty: no key to seal secrets with");
        }
        let (key, source) = match std::fs::read_to_string(key_file) {
            Ok(text) => {
                let key = decode_key(&text).map_err(|e| anyhow::anyhow!("{} {e}", key_file.display()))?;
                (key, KeySource::File(key_file.to_owned()))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                (create_key_file(key_file)?, KeySource::CreatedFile(key_file.to_owned()))
            }
            Err(error) => return Err(anyhow::anyhow!("reading {}: {error}", key_file.display())),
        };
        Ok((Sealer::new(&key, &previous), source))
    }

    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    pub fn seal(&self, purpose: Purpose, secret: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the operating system's random source is available");
        let mut sealed = secret.as_bytes().to_vec();
        self.current
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose.associated_data().as_slice()),
                &mut sealed,
            )
            .expect("AES-GCM seals any secret of sensible length");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}:{}", self.current.id, URL_SAFE_NO_PAD.encode(out))
    }

    pub fn open(&self, purpose: Purpose, stored: &str) -> Result<String, SealError> {
        let rest = stored.strip_prefix(PREFIX).ok_or(SealError::NotSealed)?;
        let (id, encoded) = rest.split_once(':').ok_or(SealError::Damaged)?;
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|key| key.id == id)
            .ok_or_else(|| SealError::UnknownKey {
                found: id.to_owned(),
                configured: self.current.id.clone(),
            })?;
        let mut bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| SealError::Damaged)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Damaged);
        }
        let mut sealed = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).map_err(|_| SealError::Damaged)?;
        let plain = key
            .key
            .open_in_place(nonce, Aad::from(purpose.associated_data().as_slice()), &mut sealed)
            .map_err(|_| SealError::Damaged)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::Damaged)
    }

    /// Whether `stored` needs writing again: still in clear (from before
    /// sealing existed) or sealed with a previous key.
    pub fn is_stale(&self, stored: &str) -> bool {
        match stored.strip_prefix(PREFIX).and_then(|rest| rest.split_once(':')) {
            Some((id, _)) => id != self.current.id,
            None => true,
        }
    }

    /// `stored` as it should now be stored: sealed, with the current key
    /// (a value still in clear, from before sealing existed, is sealed).
    pub fn reseal(&self, purpose: Purpose, stored: &str) -> Result<String, SealError> {
        let secret = match self.open(purpose, stored) {
            Err(SealError::NotSealed) => stored.to_owned(),
            other => other?,
        };
        Ok(self.seal(purpose, &secret))
    }
}

fn create_key_file(path: &Path) -> anyhow::Result<[u8; KEY_LEN]> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    let mut key = [0u8; KEY_LEN];
    getrandom::fill(&mut key)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| anyhow::anyhow!("creating {}: {e}", parent.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow::anyhow!("creating the key file {}: {e}", path.display()))?;
    writeln!(file, "{}", STANDARD.encode(key))?;
    file.sync_all()?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(byte: u8) -> Sealer {
        Sealer::new(&[byte; KEY_LEN], &[])
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_purpose() {
        let sealer = sealer(1);
        let (id, other_id) = (Uuid::now_v7(), Uuid::now_v7());
        let purpose = Purpose::IntegrationSecret(id);
        let sealed = sealer.seal(purpose, "whsec_abc");
        assert!(sealed.starts_with("sealed:v1:"), "{sealed}");
        assert!(!sealed.contains("whsec_abc"));
        assert_ne!(sealed, sealer.seal(purpose, "whsec_abc"), "fresh nonce each time");
        assert_eq!(sealer.open(purpose, &sealed).unwrap(), "whsec_abc");
        assert_eq!(
            sealer.open(Purpose::EndpointSecret(id), &sealed),
            Err(SealError::Damaged)
        );
        assert_eq!(
            sealer.open(Purpose::IntegrationSecret(other_id), &sealed),
            Err(SealError::Damaged),
            "copied to another row, it does not open"
        );
        let other = super::tests::sealer(2);
        assert!(matches!(
            other.open(purpose, &sealed),
            Err(SealError::UnknownKey { .. })
        ));
        assert_eq!(sealer.open(purpose, "whsec_abc"), Err(SealError::NotSealed));
        let mut damaged = sealed.clone();
        damaged.pop();
        damaged.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(sealer.open(purpose, &damaged), Err(SealError::Damaged));
    }

    #[test]
    fn a_previous_key_opens_and_resealing_moves_to_the_current_one() {
        let purpose = Purpose::EndpointSecret(Uuid::now_v7());
        let old = sealer(1);
        let sealed = old.seal(purpose, "s");
        let new = Sealer::new(&[2; KEY_LEN], &[[1; KEY_LEN]]);
        assert!(new.is_stale(&sealed));
        assert!(new.is_stale("whsec_in_clear"));
        let resealed = new.reseal(purpose, &sealed).unwrap();
        assert!(!new.is_stale(&resealed));
        assert_eq!(new.open(purpose, &resealed).unwrap(), "s");
        let from_clear = new.reseal(purpose, "whsec_in_clear").unwrap();
        assert_eq!(new.open(purpose, &from_clear).unwrap(), "whsec_in_clear");
    }

    #[test]
    fn the_key_file_is_created_once_private_and_then_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/secrets.key");
        let (first, source) = Sealer::load("", &[], &path).unwrap();
        assert_eq!(source, KeySource::CreatedFile(path.clone()));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let (again, source) = Sealer::load("", &[], &path).unwrap();
        assert_eq!(source, KeySource::File(path.clone()));
        assert_eq!(first.key_id(), again.key_id());
        let (set, source) = Sealer::load(&STANDARD.encode([7u8; 32]), &[], &path).unwrap();
        assert_eq!(source, KeySource::Setting);
        assert_ne!(set.key_id(), first.key_id());
        assert!(Sealer::load("c2hvcnQ=", &[], &path).is_err());
    }
}
