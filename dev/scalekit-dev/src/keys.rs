//! RSA signing keys and their JWK form.

use std::io;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    KeyPair, RsaKeyPair, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};
use serde_json::{json, Value};

use crate::jwt::b64;
use crate::random::random_id;

/// An RS256 signing key with its key id.
pub(crate) struct SigningKey {
    pub(crate) kid: String,
    pair: RsaKeyPair,
}

impl SigningKey {
    /// A fresh 2048-bit key with a random `snk_...` key id.
    pub(crate) fn generate() -> io::Result<Self> {
        Self::generate_with_kid(random_id("snk_"))
    }

    pub(crate) fn generate_with_kid(kid: String) -> io::Result<Self> {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| io::Error::other("RSA key generation failed"))?;
        Ok(Self { kid, pair })
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        let mut signature = vec![0; self.pair.public_modulus_len()];
        // Signing with a key we generated ourselves and a buffer of the modulus length cannot fail;
        // an empty signature (rejected by every verifier) is the fallback rather than a panic.
        if self
            .pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .is_err()
        {
            signature.clear();
        }
        signature
    }

    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, self.pair.public_key().as_ref())
            .verify(message, signature)
            .is_ok()
    }

    /// The public key as a JWK (RFC 7517) in the shape Scalekit publishes at `/keys`.
    pub(crate) fn jwk(&self) -> Value {
        let public = self.pair.public_key();
        json!({
            "kty": "RSA",
            "kid": self.kid,
            "use": "sig",
            "alg": "RS256",
            "n": b64(public.modulus().big_endian_without_leading_zero()),
            "e": b64(public.exponent().big_endian_without_leading_zero()),
        })
    }

    /// The public key as X.509 SubjectPublicKeyInfo DER (the body of a `BEGIN PUBLIC KEY` PEM).
    pub(crate) fn public_spki_der(&self) -> Vec<u8> {
        match self.pair.public_key().as_der() {
            Ok(der) => der.as_ref().to_vec(),
            // Re-encoding our own valid key cannot fail; fall back to the PKCS#1 form just in case.
            Err(_) => self.pair.public_key().as_ref().to_vec(),
        }
    }
}
