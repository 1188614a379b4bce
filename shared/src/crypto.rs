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
/// Sealed values are `base64url(2 ‖ key id ‖ nonce ‖ ciphertext ‖ tag)`; the associated data names
/// what the value is for (a cookie name, a session key) so a value cannot be moved between slots.
/// The key id names the secret a value was sealed under, so that during a rotation a container
/// that does not know that secret yet can tell "sealed under a key I lack" (re-read the secret)
/// from "tampered with" (refuse). Values of format 1 (no key id) are still opened.
pub struct SealingKey {
    key: LessSafeKey,
    id: KeyId,
}

/// Names the session secret a value was sealed under: 8 bytes of HKDF output, which tell nothing
/// about the secret itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyId([u8; KEY_ID_LEN]);

const KEY_ID_LEN: usize = 8;
/// The format without a key id, still opened (with every key of the ring) for values sealed
/// before key ids existed.
const SEAL_V1: u8 = 1;
const SEAL_V2: u8 = 2;
const HKDF_SALT: &[u8] = b"scalekit-lambda-login/v1";

/// Why a sealed value did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Well formed, but sealed under a key this ring does not hold: a newer (or much older)
    /// session secret. Re-reading the secret may help; the value is not known to be bad.
    #[error("sealed under a key this container does not hold")]
    UnknownKey,
    /// Tampered with, truncated, not a sealed value, or sealed for another context.
    #[error("not a valid sealed value")]
    Invalid,
}

struct KeyLen(usize);
impl hkdf::KeyType for KeyLen {
    fn len(&self) -> usize {
        self.0
    }
}

fn expand<const N: usize>(prk: &hkdf::Prk, info: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    prk.expand(&[info], KeyLen(N))
        .and_then(|okm| okm.fill(&mut out))
        .expect("8 and 32 bytes are valid HKDF-SHA256 output lengths");
    out
}

impl SealingKey {
    /// Derives the key for `purpose` from the input key material.
    pub fn derive(ikm: &[u8], purpose: &str) -> Self {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(ikm);
        let raw: [u8; 32] = expand(&prk, purpose.as_bytes());
        let key = UnboundKey::new(&AES_256_GCM, &raw).expect("a 32-byte key fits AES-256-GCM");
        Self {
            key: LessSafeKey::new(key),
            id: KeyId(expand(&prk, b"key-id")),
        }
    }

    /// The id of the secret this key was derived from (the same for every purpose).
    pub fn id(&self) -> KeyId {
        self.id
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
        let mut out = Vec::with_capacity(1 + KEY_ID_LEN + NONCE_LEN + buffer.len());
        out.push(SEAL_V2);
        out.extend_from_slice(&self.id.0);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buffer);
        b64url(out)
    }

    /// Decrypts a value made by [`SealingKey::seal`] with the same key and context.
    /// `None` for anything tampered with, truncated, sealed for another context or another key.
    pub fn open(&self, sealed: &str, context: &str) -> Option<Vec<u8>> {
        open_with(std::iter::once(self), sealed, context).ok()
    }

    fn open_body(&self, body: &[u8], context: &str) -> Result<Vec<u8>, OpenError> {
        if body.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(OpenError::Invalid);
        }
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        let nonce =
            aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError::Invalid)?;
        let mut buffer = ciphertext.to_vec();
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| OpenError::Invalid)?;
        Ok(plaintext.to_vec())
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

    fn keys(&self) -> impl Iterator<Item = &SealingKey> {
        std::iter::once(&self.current).chain(self.previous.as_ref())
    }

    /// Seals with the current key.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> String {
        self.current.seal(plaintext, context)
    }

    /// Opens with the key the value names (or, for format 1, with either key).
    pub fn open(&self, sealed: &str, context: &str) -> Option<Vec<u8>> {
        self.open_checked(sealed, context).ok()
    }

    /// As [`KeyRing::open`], telling a value sealed under a key this ring lacks from a bad one.
    pub fn open_checked(&self, sealed: &str, context: &str) -> Result<Vec<u8>, OpenError> {
        open_with(self.keys(), sealed, context)
    }
}

fn open_with<'k>(
    mut keys: impl Iterator<Item = &'k SealingKey>,
    sealed: &str,
    context: &str,
) -> Result<Vec<u8>, OpenError> {
    let raw = b64url_decode(sealed).ok_or(OpenError::Invalid)?;
    match raw.split_first() {
        Some((&SEAL_V2, rest)) if rest.len() >= KEY_ID_LEN => {
            let (id, body) = rest.split_at(KEY_ID_LEN);
            let key = keys
                .find(|key| key.id.0 == id)
                .ok_or(OpenError::UnknownKey)?;
            key.open_body(body, context)
        }
        Some((&SEAL_V1, body)) => keys
            .find_map(|key| key.open_body(body, context).ok())
            .ok_or(OpenError::Invalid),
        _ => Err(OpenError::Invalid),
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
    fn a_value_sealed_under_a_secret_the_ring_lacks_is_told_apart_from_a_bad_one() {
        let old = || SealingKey::derive(b"old-secret-old-secret-old-secret", "p");
        let new = || SealingKey::derive(b"new-secret-new-secret-new-secret", "p");
        assert_ne!(old().id(), new().id());
        assert_eq!(
            new().id(),
            SealingKey::derive(b"new-secret-new-secret-new-secret", "other").id(),
            "one id per secret, whatever the purpose"
        );
        let sealed_new = new().seal(b"v", "c");
        let warm = KeyRing::from(old());
        assert_eq!(
            warm.open_checked(&sealed_new, "c"),
            Err(OpenError::UnknownKey)
        );
        assert_eq!(
            KeyRing::new(new(), Some(old())).open_checked(&sealed_new, "c"),
            Ok(b"v".to_vec())
        );

        // Tampering is never mistaken for an unknown key.
        let mut raw = b64url_decode(&sealed_new).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let ring = KeyRing::from(new());
        assert_eq!(
            ring.open_checked(&b64url(&raw), "c"),
            Err(OpenError::Invalid)
        );
        assert_eq!(ring.open_checked(&sealed_new, "d"), Err(OpenError::Invalid));
        assert_eq!(ring.open_checked("", "c"), Err(OpenError::Invalid));
        assert_eq!(ring.open_checked("Ag", "c"), Err(OpenError::Invalid));
    }

    #[test]
    fn values_sealed_before_key_ids_still_open_with_either_key() {
        let old = SealingKey::derive(b"old-secret-old-secret-old-secret", "p");
        let new = SealingKey::derive(b"new-secret-new-secret-new-secret", "p");
        let v1 = seal_v1(&old, b"legacy", "c");
        assert_eq!(
            KeyRing::new(new, Some(old)).open(&v1, "c").as_deref(),
            Some(&b"legacy"[..])
        );
    }

    /// A format-1 value, as sealed before key ids existed.
    fn seal_v1(key: &SealingKey, plaintext: &[u8], context: &str) -> String {
        let mut raw = b64url_decode(&key.seal(plaintext, context)).unwrap();
        raw[0] = SEAL_V1;
        raw.drain(1..1 + KEY_ID_LEN);
        b64url(raw)
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
