//! Originals sealed at rest: XChaCha20-Poly1305 with a 32-byte key from a key file, a
//! random nonce per file, and the sha256 of the plaintext as associated data.
//!
//! A sealed file (all integers fixed-size, no length fields to trust):
//!
//! ```text
//! 0   8   magic "QVSEAL" 0x00 0x01 (format version 1)
//! 8   8   key id: the first 8 bytes of sha256("qorovul seal key id" 0x00 key)
//! 16  24  nonce
//! 40  32  sha256 of the plaintext (the associated data)
//! 72  …   ciphertext, then the 16-byte Poly1305 tag
//! ```
//!
//! The key id only makes "wrong key" a clear error instead of "authentication failed";
//! it reveals nothing of the key. Anything altered in the nonce, hash or ciphertext fails
//! authentication.

use crate::hash::hex;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

const MAGIC: &[u8; 8] = b"QVSEAL\x00\x01";
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 24;
const HASH_LEN: usize = 32;
const TAG_LEN: usize = 16;
/// Bytes before the ciphertext.
pub const HEADER_LEN: usize = MAGIC.len() + KEY_ID_LEN + NONCE_LEN + HASH_LEN;

/// A 32-byte sealing key. Its bytes are never printed (`Debug` shows the key id) and are
/// overwritten when it is dropped.
pub struct SealKey {
    bytes: [u8; SealKey::LEN],
}

impl SealKey {
    /// Key length in bytes.
    pub const LEN: usize = 32;

    /// A key from exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let bytes: [u8; Self::LEN] = bytes
            .try_into()
            .map_err(|_| format!("a sealing key is exactly {} bytes, got {}", Self::LEN, bytes.len()))?;
        Ok(Self { bytes })
    }

    /// A new random key (from the operating system's generator).
    pub fn generate() -> Result<Self, String> {
        let mut bytes = [0u8; Self::LEN];
        getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a new key: {e}"))?;
        Ok(Self { bytes })
    }

    /// Reads a key file: exactly 32 raw bytes, readable by its owner only.
    pub fn load(path: &Path) -> Result<Self, String> {
        let what = |e: &dyn fmt::Display| format!("key file {}: {e}", path.display());
        let meta = std::fs::metadata(path).map_err(|e| what(&e))?;
        if !meta.is_file() {
            return Err(what(&"not a regular file"));
        }
        if meta.len() != Self::LEN as u64 {
            return Err(what(&format!(
                "{} bytes; a key file holds exactly {} raw bytes (a new one is made by SealKey::create)",
                meta.len(),
                Self::LEN
            )));
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(what(&format!(
                "mode {mode:03o} lets group or others read it; `chmod 600 {}` (owner only)",
                path.display()
            )));
        }
        let bytes = std::fs::read(path).map_err(|e| what(&e))?;
        Self::from_bytes(&bytes).map_err(|e| what(&e))
    }

    /// Creates a key file with a new random key, mode 0600. Refuses to replace an existing
    /// file: originals sealed with the old key would become unreadable.
    pub fn create(path: &Path) -> Result<Self, String> {
        let what = |e: &dyn fmt::Display| format!("key file {}: {e}", path.display());
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| what(&e))?;
        }
        let key = Self::generate()?;
        let mut file =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    what(&"already exists; not replacing a key that may have sealed originals")
                } else {
                    what(&e)
                }
            })?;
        if let Err(e) = file.write_all(&key.bytes).and_then(|_| file.sync_all()) {
            let _ = std::fs::remove_file(path);
            return Err(what(&e));
        }
        Ok(key)
    }

    /// [`load`](Self::load)s the key file, or [`create`](Self::create)s it when absent.
    pub fn load_or_create(path: &Path) -> Result<Self, String> {
        if path.exists() { Self::load(path) } else { Self::create(path) }
    }

    /// The raw key, for a secret that shares this key-file format (the deployment's
    /// correlation key, `personal::CorrelationKey`).
    pub(crate) fn bytes(&self) -> &[u8; Self::LEN] {
        &self.bytes
    }

    /// The key's id (hex), as written in the files it seals.
    pub fn id(&self) -> String {
        hex(&self.id_bytes())
    }

    fn id_bytes(&self) -> [u8; KEY_ID_LEN] {
        let mut h = Sha256::new();
        h.update(b"qorovul seal key id\x00");
        h.update(self.bytes);
        let d = h.finalize();
        d[..KEY_ID_LEN].try_into().expect("8 of 32 bytes")
    }

    /// Seals `plaintext` with a fresh random nonce.
    pub fn seal(&self, plaintext: &[u8]) -> Result<Sealed, String> {
        let hash: [u8; HASH_LEN] = Sha256::digest(plaintext).into();
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| format!("no randomness for a nonce: {e}"))?;
        let cipher = XChaCha20Poly1305::new((&self.bytes).into());
        let ciphertext = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: &hash })
            .map_err(|_| "sealing failed".to_string())?;
        let mut bytes = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&self.id_bytes());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&hash);
        bytes.extend_from_slice(&ciphertext);
        Ok(Sealed { bytes, plaintext_sha256: hex(&hash) })
    }
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealKey({})", self.id())
    }
}

impl Drop for SealKey {
    fn drop(&mut self) {
        for b in self.bytes.iter_mut() {
            // SAFETY: `b` is a valid, aligned, exclusive reference; volatile so the
            // compiler does not drop the store as dead.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

/// A sealed file and the sha256 (hex) of what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub bytes: Vec<u8>,
    pub plaintext_sha256: String,
}

/// Why a sealed file could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Too short or without the magic bytes: not a file this module sealed.
    #[error("not a qorovul sealed file: {0}")]
    NotSealed(String),
    /// A format version this build does not read.
    #[error("sealed file format version {0}, this build reads version 1")]
    Version(u8),
    /// Sealed with another key.
    #[error("sealed with key {file}, not with this key ({key}): use the key file it was sealed with")]
    WrongKey { file: String, key: String },
    /// The key matches but authentication failed: the file was altered or damaged.
    #[error("the sealed file was altered or damaged (authentication failed): do not trust its contents")]
    Tampered,
}

/// Whether `bytes` look like a sealed file (of any version), so readers can tell sealed
/// originals from plain ones without a key.
pub fn is_sealed(bytes: &[u8]) -> bool {
    bytes.len() >= MAGIC.len() && bytes[..MAGIC.len() - 1] == MAGIC[..MAGIC.len() - 1]
}

/// Opens a sealed file with `key`; the plaintext is returned only if it is exactly what
/// was sealed.
pub fn open_sealed(key: &SealKey, bytes: &[u8]) -> Result<Vec<u8>, SealError> {
    if bytes.len() < MAGIC.len() || bytes[..MAGIC.len() - 1] != MAGIC[..MAGIC.len() - 1] {
        return Err(SealError::NotSealed("no QVSEAL header".into()));
    }
    if bytes[MAGIC.len() - 1] != MAGIC[MAGIC.len() - 1] {
        return Err(SealError::Version(bytes[MAGIC.len() - 1]));
    }
    if bytes.len() < HEADER_LEN + TAG_LEN {
        return Err(SealError::NotSealed(format!(
            "{} bytes, shorter than the {} of a header and tag",
            bytes.len(),
            HEADER_LEN + TAG_LEN
        )));
    }
    let (id, rest) = bytes[MAGIC.len()..].split_at(KEY_ID_LEN);
    let (nonce, rest) = rest.split_at(NONCE_LEN);
    let (hash, ciphertext) = rest.split_at(HASH_LEN);
    if id != key.id_bytes() {
        return Err(SealError::WrongKey { file: hex(id), key: key.id() });
    }
    let cipher = XChaCha20Poly1305::new((&key.bytes).into());
    let plaintext = cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: hash })
        .map_err(|_| SealError::Tampered)?;
    // Implied by the tag (the hash is the associated data); checked for the reader's sake.
    if Sha256::digest(&plaintext).as_slice() != hash {
        return Err(SealError::Tampered);
    }
    Ok(plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    /// A fresh temporary directory for one test, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("qv-seal-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn key() -> SealKey {
        SealKey::from_bytes(&[7u8; 32]).unwrap()
    }

    fn hex_sha256(bytes: &[u8]) -> String {
        crate::hash::sha256_hex(bytes)
    }

    #[test]
    fn a_sealed_original_opens_only_with_its_key_and_only_unaltered() {
        let key = key();
        let plaintext = b"an unredacted JPEG, say".repeat(50);
        let sealed = key.seal(&plaintext).unwrap();
        assert_eq!(sealed.plaintext_sha256, hex_sha256(&plaintext));
        assert_eq!(open_sealed(&key, &sealed.bytes).unwrap(), plaintext);
        assert!(!sealed.bytes.windows(16).any(|w| w == &plaintext[..16]), "plaintext visible in the sealed file");

        let other = SealKey::from_bytes(&[8u8; 32]).unwrap();
        match open_sealed(&other, &sealed.bytes) {
            Err(e @ SealError::WrongKey { .. }) => {
                assert!(e.to_string().contains(&key.id()) && e.to_string().contains(&other.id()), "{e}")
            }
            other => panic!("expected WrongKey, got {other:?}"),
        }
        // Every byte after the key id is covered: nonce, hash, ciphertext, tag.
        for at in [16, 39, 40, 71, HEADER_LEN, HEADER_LEN + 100, sealed.bytes.len() - 1] {
            let mut tampered = sealed.bytes.clone();
            tampered[at] ^= 0x01;
            assert_eq!(open_sealed(&key, &tampered), Err(SealError::Tampered), "flipped byte {at}");
        }
        let mut truncated = sealed.bytes.clone();
        truncated.truncate(sealed.bytes.len() - 1);
        assert_eq!(open_sealed(&key, &truncated), Err(SealError::Tampered));
        assert!(matches!(open_sealed(&key, &sealed.bytes[..50]), Err(SealError::NotSealed(_))));
        assert!(matches!(open_sealed(&key, b"\xFF\xD8\xFF\xE0 a plain JPEG"), Err(SealError::NotSealed(_))));
        assert!(matches!(open_sealed(&key, &[]), Err(SealError::NotSealed(_))));
        let mut v2 = sealed.bytes.clone();
        v2[7] = 2;
        assert_eq!(open_sealed(&key, &v2), Err(SealError::Version(2)));
        // An empty plaintext seals and opens too.
        assert_eq!(open_sealed(&key, &key.seal(b"").unwrap().bytes).unwrap(), b"");
    }

    #[test]
    fn key_files_are_created_owner_only_never_replaced_and_checked_on_load() {
        let dir = TempDir::new("keys");
        let path = dir.0.join("sub/seal.key");
        let created = SealKey::create(&path).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!((meta.len(), meta.permissions().mode() & 0o777), (32, 0o600));
        let loaded = SealKey::load(&path).unwrap();
        assert_eq!(loaded.id(), created.id());
        assert_eq!(SealKey::load_or_create(&path).unwrap().id(), created.id());
        assert_eq!(format!("{loaded:?}"), format!("SealKey({})", created.id()), "Debug shows the key id only");
        let known = key();
        assert!(!format!("{known:?}").contains("0707070707"), "Debug shows key bytes: {known:?}");

        let err = SealKey::create(&path).unwrap_err();
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(SealKey::load(&path).unwrap().id(), created.id(), "the key must survive a second create");

        let short = dir.0.join("short.key");
        std::fs::write(&short, [1u8; 31]).unwrap();
        std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = SealKey::load(&short).unwrap_err();
        assert!(err.contains("31 bytes") && err.contains("exactly 32"), "{err}");
        let hexed = dir.0.join("hex.key");
        std::fs::write(&hexed, "ab".repeat(32)).unwrap();
        std::fs::set_permissions(&hexed, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(SealKey::load(&hexed).unwrap_err().contains("64 bytes"));

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = SealKey::load(&path).unwrap_err();
        assert!(err.contains("chmod 600"), "{err}");

        let err = SealKey::load(&dir.0.join("missing.key")).unwrap_err();
        assert!(err.contains("missing.key"), "{err}");
        assert!(SealKey::from_bytes(&[0u8; 33]).unwrap_err().contains("exactly 32 bytes, got 33"));
        let fresh = SealKey::load_or_create(&dir.0.join("fresh.key")).unwrap();
        assert_ne!(fresh.id(), created.id(), "keys are random");
    }
}
