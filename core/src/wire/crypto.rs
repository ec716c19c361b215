//! Client-side encryption of stored objects (docs/encryption.md): [`EncryptionKey`] seals bytes
//! with XChaCha20-Poly1305 under a random 24-byte nonce, and authenticates the object's name and
//! the envelope's header (format version, how the key was made) with them, so a sealed object
//! moved to another name, or made under other key parameters, does not open.
//!
//! The envelope, all integers little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `SSX1` |
//! | 1 | format version, 1 |
//! | 1 | key kind: 0 raw bytes, 1 Argon2id passphrase |
//! | 13 + salt | kind 1 only: memory KiB (u32), iterations (u32), parallelism (u32), salt length (u8), salt |
//! | 24 | nonce |
//! | n + 16 | ciphertext and Poly1305 tag |
//!
//! Associated data: `statesync/sealed\0`, the object name, `\0`, then the header (every byte
//! before the nonce). A wrong key, a flipped bit anywhere, a truncation or another name all give
//! `CRYPTO`; nothing decrypted is ever returned unauthenticated.

use crate::model::error::{Result, SyncError};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::fmt;

const MAGIC: &[u8; 4] = b"SSX1";
const FORMAT_VERSION: u8 = 1;
const KIND_RAW: u8 = 0;
const KIND_ARGON2ID: u8 = 1;
const NONCE_BYTES: usize = 24;
const TAG_BYTES: usize = 16;
const AD_PREFIX: &[u8] = b"statesync/sealed\0";

/// Bytes in a raw key ([`EncryptionKey::from_bytes`]).
pub const KEY_BYTES: usize = 32;
/// Shortest salt [`EncryptionKey::from_passphrase`] takes (Argon2's own minimum).
pub const MIN_SALT_BYTES: usize = 8;
/// Longest salt: its length is stored in one byte of every sealed object.
pub const MAX_SALT_BYTES: usize = 64;

/// The cost of Argon2id when a key is derived from a passphrase. Stored in every object sealed
/// with such a key, so a reader learns which parameters to derive with when the defaults change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory, in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for KdfParams {
    /// Argon2id with 19 MiB, 2 passes, 1 lane: the OWASP recommendation the argon2 crate ships.
    fn default() -> Self {
        KdfParams {
            memory_kib: argon2::Params::DEFAULT_M_COST,
            iterations: argon2::Params::DEFAULT_T_COST,
            parallelism: argon2::Params::DEFAULT_P_COST,
        }
    }
}

/// How a key was made: what a sealed object's header records.
#[derive(Clone, PartialEq, Eq)]
enum Origin {
    Raw,
    Passphrase { params: KdfParams, salt: Vec<u8> },
}

/// A 256-bit key for XChaCha20-Poly1305, from raw bytes or a passphrase (Argon2id). Its `Debug`
/// never shows the key.
#[derive(Clone)]
pub struct EncryptionKey {
    key: [u8; KEY_BYTES],
    origin: Origin,
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::Raw => f.write_str("EncryptionKey(raw)"),
            Origin::Passphrase { params, .. } => write!(f, "EncryptionKey(argon2id {params:?})"),
        }
    }
}

impl EncryptionKey {
    /// A key of exactly [`KEY_BYTES`] random bytes (from a key manager or `os.urandom(32)`);
    /// any other length is `INVALID_INPUT`.
    pub fn from_bytes(bytes: &[u8]) -> Result<EncryptionKey> {
        let key: [u8; KEY_BYTES] = bytes.try_into().map_err(|_| {
            SyncError::InvalidInput(format!("an encryption key is {KEY_BYTES} bytes, not {}", bytes.len()))
        })?;
        Ok(EncryptionKey { key, origin: Origin::Raw })
    }

    /// A key derived from a passphrase and a salt with Argon2id at [`KdfParams::default`]. The
    /// same passphrase and salt give the same key on every platform. The salt need not be secret
    /// but should be unique per application or space ([`MIN_SALT_BYTES`] to [`MAX_SALT_BYTES`]
    /// bytes); an empty passphrase or a salt outside those bounds is `INVALID_INPUT`.
    pub fn from_passphrase(passphrase: &str, salt: &[u8]) -> Result<EncryptionKey> {
        Self::from_passphrase_with(passphrase, salt, KdfParams::default())
    }

    /// [`EncryptionKey::from_passphrase`] with other Argon2id costs (cheaper ones in tests, or the
    /// ones a sealed object's header names); costs Argon2 refuses are `INVALID_INPUT`.
    pub fn from_passphrase_with(passphrase: &str, salt: &[u8], params: KdfParams) -> Result<EncryptionKey> {
        if passphrase.is_empty() {
            return Err(SyncError::InvalidInput("the passphrase is empty".into()));
        }
        if !(MIN_SALT_BYTES..=MAX_SALT_BYTES).contains(&salt.len()) {
            return Err(SyncError::InvalidInput(format!(
                "a salt is {MIN_SALT_BYTES} to {MAX_SALT_BYTES} bytes, not {}",
                salt.len()
            )));
        }
        let argon_params =
            argon2::Params::new(params.memory_kib, params.iterations, params.parallelism, Some(KEY_BYTES))
                .map_err(|e| SyncError::InvalidInput(format!("Argon2id parameters {params:?}: {e}")))?;
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, argon_params);
        let mut key = [0u8; KEY_BYTES];
        argon
            .hash_password_into(passphrase.as_bytes(), salt, &mut key)
            .map_err(|e| SyncError::InvalidInput(format!("cannot derive a key: {e}")))?;
        Ok(EncryptionKey { key, origin: Origin::Passphrase { params, salt: salt.to_vec() } })
    }

    /// `plaintext` sealed as the object `name`, under a fresh random nonce.
    pub fn seal(&self, name: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce)
            .map_err(|e| SyncError::Internal(format!("the system has no randomness for a nonce: {e}")))?;
        Ok(self.seal_with_nonce(name, plaintext, nonce))
    }

    /// [`EncryptionKey::seal`] with a given nonce: only for the golden test vectors of
    /// `conformance/crypto/vectors.json`. Sealing two objects under one key and nonce breaks the cipher.
    #[doc(hidden)]
    pub fn seal_with_nonce(&self, name: &str, plaintext: &[u8], nonce: [u8; NONCE_BYTES]) -> Vec<u8> {
        let mut out = self.header();
        let ad = associated_data(name, &out);
        let sealed = self
            .cipher()
            .encrypt(&XNonce::from(nonce), Payload { msg: plaintext, aad: &ad })
            .expect("XChaCha20-Poly1305 seals any length a Vec holds");
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// The plaintext of the object `name` sealed by [`EncryptionKey::seal`]. Anything else, under
    /// any other name, key or key parameters, or changed in any bit, is `CRYPTO`.
    pub fn open(&self, name: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        let header_len = header_len(name, sealed)?;
        let header = &sealed[..header_len];
        if header != self.header().as_slice() {
            return Err(SyncError::Crypto(format!(
                "{name} was sealed with another kind of key: {}",
                self.mismatch(header)
            )));
        }
        if sealed.len() < header_len + NONCE_BYTES + TAG_BYTES {
            return Err(SyncError::Crypto(format!("{name} is truncated: {} bytes", sealed.len())));
        }
        let (nonce, body) = sealed[header_len..].split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().expect("split at the nonce's length");
        self.cipher()
            .decrypt(&XNonce::from(nonce), Payload { msg: body, aad: &associated_data(name, header) })
            .map_err(|_| SyncError::Crypto(format!("cannot decrypt {name}: wrong key, or the object was changed")))
    }

    /// Whether `bytes` look like a sealed object (its magic): tells an encrypted object from a
    /// plain one before any key is asked for.
    pub fn is_sealed(bytes: &[u8]) -> bool {
        bytes.starts_with(MAGIC)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new_from_slice(&self.key).expect("the key has the cipher's length")
    }

    /// The envelope's header for this key: magic, version, and how the key was made.
    fn header(&self) -> Vec<u8> {
        let mut h = Vec::with_capacity(20 + MAX_SALT_BYTES);
        h.extend_from_slice(MAGIC);
        h.push(FORMAT_VERSION);
        match &self.origin {
            Origin::Raw => h.push(KIND_RAW),
            Origin::Passphrase { params, salt } => {
                h.push(KIND_ARGON2ID);
                h.extend_from_slice(&params.memory_kib.to_le_bytes());
                h.extend_from_slice(&params.iterations.to_le_bytes());
                h.extend_from_slice(&params.parallelism.to_le_bytes());
                h.push(salt.len() as u8);
                h.extend_from_slice(salt);
            }
        }
        h
    }

    /// Why `header` (a valid one) is not this key's: what the caller must change.
    fn mismatch(&self, header: &[u8]) -> String {
        match (header[5], &self.origin) {
            (KIND_RAW, _) => "it needs a raw key (EncryptionKey.from_bytes)".into(),
            (_, Origin::Raw) => "it needs a key derived from a passphrase (EncryptionKey.from_passphrase)".into(),
            _ => {
                let word = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().expect("4 bytes"));
                format!(
                    "it needs the key derived with Argon2id memory_kib={} iterations={} parallelism={} and its own salt",
                    word(6),
                    word(10),
                    word(14)
                )
            }
        }
    }
}

/// The length of a sealed object's header, checked: magic, version and key kind known, salt
/// within the object.
fn header_len(name: &str, sealed: &[u8]) -> Result<usize> {
    if !EncryptionKey::is_sealed(sealed) || sealed.len() < 6 {
        return Err(SyncError::Crypto(format!("{name} is not an encrypted object")));
    }
    if sealed[4] != FORMAT_VERSION {
        return Err(SyncError::Crypto(format!(
            "{name} is sealed in format version {}; this build reads version {FORMAT_VERSION}",
            sealed[4]
        )));
    }
    match sealed[5] {
        KIND_RAW => Ok(6),
        KIND_ARGON2ID if sealed.len() > 18 => Ok(19 + sealed[18] as usize),
        KIND_ARGON2ID => Err(SyncError::Crypto(format!("{name} is truncated: {} bytes", sealed.len()))),
        other => Err(SyncError::Crypto(format!("{name} names an unknown key kind {other}"))),
    }
    .and_then(|len| {
        if sealed.len() < len {
            Err(SyncError::Crypto(format!("{name} is truncated: {} bytes", sealed.len())))
        } else {
            Ok(len)
        }
    })
}

fn associated_data(name: &str, header: &[u8]) -> Vec<u8> {
    let mut ad = Vec::with_capacity(AD_PREFIX.len() + name.len() + 1 + header.len());
    ad.extend_from_slice(AD_PREFIX);
    ad.extend_from_slice(name.as_bytes());
    ad.push(0);
    ad.extend_from_slice(header);
    ad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> KdfParams {
        KdfParams { memory_kib: 64, iterations: 1, parallelism: 1 }
    }

    #[test]
    fn sealed_bytes_open_under_their_name_and_key_only() {
        let key = EncryptionKey::from_bytes(&[7u8; 32]).unwrap();
        let sealed = key.seal("a/part-00001", b"hello").unwrap();
        assert_eq!(key.open("a/part-00001", &sealed).unwrap(), b"hello");
        assert_ne!(key.seal("a/part-00001", b"hello").unwrap(), sealed, "a fresh nonce each time");
        let other = EncryptionKey::from_bytes(&[8u8; 32]).unwrap();
        for (k, name, bytes) in [
            (&other, "a/part-00001", sealed.clone()),
            (&key, "a/part-00002", sealed.clone()),
            (&key, "a/part-00001", sealed[..sealed.len() - 1].to_vec()),
            (&key, "a/part-00001", sealed[..10].to_vec()),
            (&key, "a/part-00001", b"plain".to_vec()),
        ] {
            assert_eq!(k.open(name, &bytes).unwrap_err().code(), "CRYPTO");
        }
        for i in 0..sealed.len() {
            let mut flipped = sealed.clone();
            flipped[i] ^= 0x01;
            assert_eq!(key.open("a/part-00001", &flipped).unwrap_err().code(), "CRYPTO", "bit at byte {i}");
        }
    }

    #[test]
    fn passphrase_keys_record_their_parameters() {
        let a = EncryptionKey::from_passphrase_with("correct horse", b"saltsalt", cheap()).unwrap();
        let again = EncryptionKey::from_passphrase_with("correct horse", b"saltsalt", cheap()).unwrap();
        assert_eq!(a.key, again.key);
        let sealed = a.seal("x", b"data").unwrap();
        assert_eq!(again.open("x", &sealed).unwrap(), b"data");
        let pricier = KdfParams { iterations: 2, ..cheap() };
        let b = EncryptionKey::from_passphrase_with("correct horse", b"saltsalt", pricier).unwrap();
        let e = b.open("x", &sealed).unwrap_err();
        assert_eq!(e.code(), "CRYPTO");
        assert!(e.to_string().contains("memory_kib=64 iterations=1 parallelism=1"), "{e}");
        let raw = EncryptionKey::from_bytes(&a.key).unwrap();
        assert!(raw.open("x", &sealed).unwrap_err().to_string().contains("passphrase"));
    }

    #[test]
    fn bad_keys_are_invalid_input() {
        assert_eq!(EncryptionKey::from_bytes(&[0; 31]).unwrap_err().code(), "INVALID_INPUT");
        assert_eq!(EncryptionKey::from_passphrase_with("", b"saltsalt", cheap()).unwrap_err().code(), "INVALID_INPUT");
        assert_eq!(EncryptionKey::from_passphrase_with("p", b"short", cheap()).unwrap_err().code(), "INVALID_INPUT");
        assert_eq!(EncryptionKey::from_passphrase_with("p", &[1; 65], cheap()).unwrap_err().code(), "INVALID_INPUT");
        let zero = KdfParams { memory_kib: 1, ..cheap() };
        assert_eq!(EncryptionKey::from_passphrase_with("p", b"saltsalt", zero).unwrap_err().code(), "INVALID_INPUT");
        assert_eq!(format!("{:?}", EncryptionKey::from_bytes(&[9; 32]).unwrap()), "EncryptionKey(raw)");
    }
}
