//! Secrets at rest: values the server must read back (digest signing private keys, webhook
//! secrets) are sealed with AES-256-GCM (`ring`) under a key-encryption key (KEK) kept apart
//! from the databases: `MAMORI_KEK` in the environment (64 hex digits), or a file
//! (`[server] kek_file`, by default `<data_dir>/kek.key`, created 0400 on first start). A copy
//! of a database alone — a backup, a stolen disk image of the DB files — reveals no secret.
//!
//! A sealed value is `MSv1` ‖ KEK id (the first 8 bytes of SHA-256 of the KEK) ‖ 12-byte
//! random nonce ‖ ciphertext and tag. The caller's label (which table, which row) is the
//! associated data, so a sealed value moved to another place does not open.
//!
//! **Rotation**: write a new key file, point `kek_file` at it and list the old one in
//! `previous_kek_files`, restart: every service reseals what it holds under the new key at
//! start (logged with a count); then remove the old file from the list and destroy it.

use std::path::{Path, PathBuf};

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 4] = b"MSv1";
const ID_LEN: usize = 8;
/// The text form's prefix (for TEXT columns).
const TEXT_PREFIX: &str = "mamori-sealed:v1:";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("key-encryption key {path}: {message}")]
    KeyFile { path: PathBuf, message: String },
    #[error("MAMORI_KEK: {0}")]
    Env(String),
    #[error(
        "a secret ({label}) is sealed under key {id}, which is neither the current key-encryption key nor a previous one; restore that key file (or list it in previous_kek_files)"
    )]
    UnknownKey { label: String, id: String },
    #[error("a sealed secret ({label}) is damaged or was moved from elsewhere")]
    Damaged { label: String },
    #[error("cannot seal a secret: the system's random source failed")]
    Random,
}

struct Kek {
    id: [u8; ID_LEN],
    key: LessSafeKey,
}

impl Kek {
    fn new(bytes: &[u8; 32]) -> Self {
        let digest = Sha256::digest(bytes);
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&digest[..ID_LEN]);
        let key = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, bytes).expect("a 32-byte key is an AES-256 key"),
        );
        Self { id, key }
    }
}

/// The current key-encryption key and the previous ones (for rotation).
pub struct Keyring {
    current: Kek,
    previous: Vec<Kek>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &hex::encode(self.current.id))
            .field("previous", &self.previous.len())
            .finish()
    }
}

fn parse_key(text: &str) -> Result<[u8; 32], String> {
    let t = text.trim();
    let bytes = hex::decode(t).map_err(|_| "not 64 hexadecimal digits".to_string())?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| "not 64 hexadecimal digits".to_string())
}

/// Reads a key file, refusing one that others may read.
fn read_key_file(path: &Path) -> Result<[u8; 32], SealError> {
    let fail = |message: String| SealError::KeyFile {
        path: path.into(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(fail(format!(
                "is readable by others (mode {mode:o}); chmod 0400 it"
            )));
        }
    }
    let _ = meta;
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    parse_key(&text).map_err(fail)
}

impl Keyring {
    /// A keyring of one key (tests, tools).
    pub fn from_key(key: &[u8; 32]) -> Self {
        Self {
            current: Kek::new(key),
            previous: Vec::new(),
            rng: SystemRandom::new(),
        }
    }

    /// The server's keyring: `MAMORI_KEK` if set, else `kek_file` (created 0400 with a fresh
    /// random key when missing); plus the previous keys still needed to open old values.
    pub fn load(kek_file: &Path, previous: &[PathBuf]) -> Result<Self, SealError> {
        let current = match std::env::var("MAMORI_KEK") {
            Ok(v) => parse_key(&v).map_err(SealError::Env)?,
            Err(_) => {
                if !kek_file.exists() {
                    create_key_file(kek_file)?;
                }
                read_key_file(kek_file)?
            }
        };
        let previous = previous
            .iter()
            .map(|p| read_key_file(p).map(|k| Kek::new(&k)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            current: Kek::new(&current),
            previous,
            rng: SystemRandom::new(),
        })
    }

    /// Seals `plain`, bound to `label`.
    pub fn seal(&self, plain: &[u8], label: &str) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| SealError::Random)?;
        let mut buf = plain.to_vec();
        self.current
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(label.as_bytes()),
                &mut buf,
            )
            .map_err(|_| SealError::Random)?;
        let mut out = Vec::with_capacity(MAGIC.len() + ID_LEN + NONCE_LEN + buf.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.current.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Whether `stored` is a sealed value (else it is a plaintext value from before sealing).
    pub fn is_sealed(stored: &[u8]) -> bool {
        stored.starts_with(MAGIC)
    }

    /// Whether `stored` is sealed under the current key (nothing to reseal).
    pub fn is_current(&self, stored: &[u8]) -> bool {
        Self::is_sealed(stored) && stored.get(4..4 + ID_LEN) == Some(&self.current.id[..])
    }

    /// Opens a sealed value bound to `label`.
    pub fn unseal(&self, stored: &[u8], label: &str) -> Result<Vec<u8>, SealError> {
        let damaged = || SealError::Damaged {
            label: label.to_string(),
        };
        if !Self::is_sealed(stored) || stored.len() < MAGIC.len() + ID_LEN + NONCE_LEN + 16 {
            return Err(damaged());
        }
        let id = &stored[4..4 + ID_LEN];
        let kek = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
            .ok_or_else(|| SealError::UnknownKey {
                label: label.to_string(),
                id: hex::encode(id),
            })?;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&stored[4 + ID_LEN..4 + ID_LEN + NONCE_LEN]);
        let mut buf = stored[4 + ID_LEN + NONCE_LEN..].to_vec();
        let plain = kek
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(label.as_bytes()),
                &mut buf,
            )
            .map_err(|_| damaged())?;
        Ok(plain.to_vec())
    }

    /// [`seal`](Self::seal) as text, for TEXT columns.
    pub fn seal_text(&self, plain: &str, label: &str) -> Result<String, SealError> {
        use base64::Engine;
        let sealed = self.seal(plain.as_bytes(), label)?;
        Ok(format!(
            "{TEXT_PREFIX}{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(sealed)
        ))
    }

    /// Whether a TEXT value is sealed.
    pub fn is_sealed_text(stored: &str) -> bool {
        stored.starts_with(TEXT_PREFIX)
    }

    /// Opens a value written by [`seal_text`](Self::seal_text).
    pub fn unseal_text(&self, stored: &str, label: &str) -> Result<String, SealError> {
        use base64::Engine;
        let damaged = || SealError::Damaged {
            label: label.to_string(),
        };
        let b64 = stored.strip_prefix(TEXT_PREFIX).ok_or_else(damaged)?;
        let sealed = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(b64)
            .map_err(|_| damaged())?;
        String::from_utf8(self.unseal(&sealed, label)?).map_err(|_| damaged())
    }

    /// Whether a TEXT value is sealed under the current key.
    pub fn is_current_text(&self, stored: &str) -> bool {
        use base64::Engine;
        stored
            .strip_prefix(TEXT_PREFIX)
            .and_then(|b| {
                base64::engine::general_purpose::STANDARD_NO_PAD
                    .decode(b)
                    .ok()
            })
            .is_some_and(|s| self.is_current(&s))
    }
}

fn create_key_file(path: &Path) -> Result<(), SealError> {
    use std::io::Write;
    let fail = |message: String| SealError::KeyFile {
        path: path.into(),
        message,
    };
    let mut key = [0u8; 32];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| fail("the system's random source failed".into()))?;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o400);
    let mut f = o
        .open(path)
        .map_err(|e| fail(format!("cannot create it: {e}")))?;
    writeln!(f, "{}", hex::encode(key)).map_err(|e| fail(e.to_string()))?;
    f.sync_all().map_err(|e| fail(e.to_string()))?;
    #[cfg(unix)]
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o400))
        .map_err(|e| fail(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_label() {
        let k = Keyring::from_key(&[7; 32]);
        let s = k.seal(b"private key", "trails.keys/1/us-east-1").unwrap();
        assert!(Keyring::is_sealed(&s) && k.is_current(&s));
        assert!(!s.windows(11).any(|w| w == b"private key"));
        assert_eq!(
            k.unseal(&s, "trails.keys/1/us-east-1").unwrap(),
            b"private key"
        );
        assert!(matches!(
            k.unseal(&s, "trails.keys/2/us-east-1"),
            Err(SealError::Damaged { .. })
        ));
        let mut bad = s.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert!(matches!(
            k.unseal(&bad, "trails.keys/1/us-east-1"),
            Err(SealError::Damaged { .. })
        ));
        let other = Keyring::from_key(&[8; 32]);
        assert!(matches!(
            other.unseal(&s, "trails.keys/1/us-east-1"),
            Err(SealError::UnknownKey { .. })
        ));
        let t = k.seal_text("hook secret", "guard.publishing/1").unwrap();
        assert!(Keyring::is_sealed_text(&t) && k.is_current_text(&t));
        assert_eq!(
            k.unseal_text(&t, "guard.publishing/1").unwrap(),
            "hook secret"
        );
    }

    #[test]
    fn key_files_are_created_private_and_rotation_opens_old_values() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.key"), dir.path().join("b.key"));
        let old = Keyring::load(&a, &[]).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&a).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o400);
        }
        let sealed = old.seal(b"x", "l").unwrap();
        let new = Keyring::load(&b, std::slice::from_ref(&a)).unwrap();
        assert!(!new.is_current(&sealed));
        assert_eq!(new.unseal(&sealed, "l").unwrap(), b"x");
        // A key file others can read is refused.
        #[cfg(unix)]
        {
            std::fs::set_permissions(&a, std::os::unix::fs::PermissionsExt::from_mode(0o644))
                .unwrap();
            let e = Keyring::load(&a, &[]).unwrap_err();
            assert!(e.to_string().contains("chmod 0400"), "{e}");
        }
    }
}
