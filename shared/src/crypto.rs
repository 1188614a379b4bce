//! The few cryptographic primitives the product needs, all from aws-lc-rs (already linked by rustls).

use aws_lc_rs::aead::{self, Aad, LessSafeKey, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::{digest, hkdf};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Base64url without padding, as used by JWTs, PKCE and our cookies.
pub fn b64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding; `None` on any malformed input.
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// `n` bytes from the operating system's CSPRNG, base64url-encoded.
pub fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the operating system CSPRNG failed");
    b64url(bytes)
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// An AES-256-GCM key bound to one purpose, derived from the session secret with HKDF-SHA256.
///
/// Sealed values are `base64url(version ‖ nonce ‖ ciphertext ‖ tag)`; the associated data names
/// what the value is for (a cookie name, a session key) so a value cannot be moved between slots.
pub struct SealingKey {
    key: LessSafeKey,
}

const SEAL_VERSION: u8 = 1;
const HKDF_SALT: &[u8] = b"scalekit-lambda-login/v1";

struct KeyLen;
impl hkdf::KeyType for KeyLen {
    fn len(&self) -> usize {
        32
    }
}

impl SealingKey {
    /// Derives the key for `purpose` from the input key material.
    pub fn derive(ikm: &[u8], purpose: &str) -> Self {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(ikm);
        let info = [purpose.as_bytes()];
        let okm = prk
            .expand(&info, KeyLen)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let mut raw = [0u8; 32];
        okm.fill(&mut raw)
            .expect("the buffer matches the requested length");
        let key = UnboundKey::new(&AES_256_GCM, &raw).expect("a 32-byte key fits AES-256-GCM");
        Self {
            key: LessSafeKey::new(key),
        }
    }

    /// Encrypts and authenticates `plaintext`, binding it to `context`.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the operating system CSPRNG failed");
        let mut buffer = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buffer,
            )
            .expect("AES-GCM sealing of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buffer.len());
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buffer);
        b64url(out)
    }

    /// Decrypts a value made by [`SealingKey::seal`] with the same key and context.
    /// `None` for anything tampered with, truncated, sealed for another context or another key.
    pub fn open(&self, sealed: &str, context: &str) -> Option<Vec<u8>> {
        let raw = b64url_decode(sealed)?;
        let (&version, rest) = raw.split_first()?;
        if version != SEAL_VERSION || rest.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return None;
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buffer = ciphertext.to_vec();
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .ok()?;
        Some(plaintext.to_vec())
    }
}

/// The current key for one purpose, plus the key of the previous session secret while a
/// rotation settles: values are sealed with the current key and opened with either, so rotating
/// the secret logs nobody out.
pub struct KeyRing {
    current: SealingKey,
    previous: Option<SealingKey>,
}

impl KeyRing {
    /// A ring of the current key and, during a rotation, the previous one.
    pub fn new(current: SealingKey, previous: Option<SealingKey>) -> Self {
        Self { current, previous }
    }

    /// Seals with the current key.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> String {
        self.current.seal(plaintext, context)
    }

    /// Opens with the current key, else the previous one.
    pub fn open(&self, sealed: &str, context: &str) -> Option<Vec<u8>> {
        self.current
            .open(sealed, context)
            .or_else(|| self.previous.as_ref()?.open(sealed, context))
    }
}

impl From<SealingKey> for KeyRing {
    fn from(current: SealingKey) -> Self {
        Self::new(current, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_round_trip_and_reject_tampering() {
        let key = SealingKey::derive(b"0123456789abcdef0123456789abcdef", "test");
        let sealed = key.seal(b"hello", "slot-a");
        assert_eq!(key.open(&sealed, "slot-a").as_deref(), Some(&b"hello"[..]));
        assert_eq!(key.open(&sealed, "slot-b"), None, "context is bound");

        let mut raw = b64url_decode(&sealed).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(key.open(&b64url(&raw), "slot-a"), None, "tag is checked");

        let other = SealingKey::derive(b"0123456789abcdef0123456789abcdeX", "test");
        assert_eq!(other.open(&sealed, "slot-a"), None, "key is checked");
        let other_purpose = SealingKey::derive(b"0123456789abcdef0123456789abcdef", "other");
        assert_eq!(
            other_purpose.open(&sealed, "slot-a"),
            None,
            "purpose is bound"
        );
        assert_eq!(key.open("", "slot-a"), None);
        assert_eq!(key.open("%%%", "slot-a"), None);
    }

    #[test]
    fn a_key_ring_opens_values_sealed_under_the_previous_secret_and_seals_with_the_new_one() {
        let old = || SealingKey::derive(b"old-secret-old-secret-old-secret", "p");
        let new = || SealingKey::derive(b"new-secret-new-secret-new-secret", "p");
        let sealed_before = old().seal(b"v", "c");
        let ring = KeyRing::new(new(), Some(old()));
        assert_eq!(ring.open(&sealed_before, "c").as_deref(), Some(&b"v"[..]));
        let sealed_after = ring.seal(b"w", "c");
        assert_eq!(new().open(&sealed_after, "c").as_deref(), Some(&b"w"[..]));
        assert_eq!(
            KeyRing::from(new()).open(&sealed_before, "c"),
            None,
            "without the previous key"
        );
    }

    #[test]
    fn random_tokens_are_distinct_and_sized() {
        let a = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32));
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
