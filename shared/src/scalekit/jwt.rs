//! Compact JWS parsing and RS256 signature verification. Claims rules live in `claims.rs`.

use aws_lc_rs::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use serde_json::{Map, Value};

use super::error::TokenError;
use crate::crypto::b64url_decode;

/// Tokens larger than this are refused before any parsing (a Scalekit JWT is ~1–2 KB).
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// A JWT split into its parts, signature not yet checked.
#[derive(Debug)]
pub(crate) struct UnverifiedJwt<'a> {
    pub kid: Option<String>,
    signing_input: &'a str,
    signature: Vec<u8>,
    pub claims: Map<String, Value>,
}

impl<'a> UnverifiedJwt<'a> {
    /// Splits and decodes a compact JWS, accepting only `alg: RS256` and no `crit` extensions.
    pub fn parse(token: &'a str) -> Result<Self, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed("token too large"));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed("not a compact JWS"));
        };
        let header: Map<String, Value> = decode_json(header, "header")?;
        match header.get("alg").and_then(Value::as_str) {
            Some("RS256") => {}
            Some(other) => return Err(TokenError::UnsupportedAlgorithm(truncate(other))),
            None => return Err(TokenError::Malformed("header has no alg")),
        }
        if header.contains_key("crit") {
            return Err(TokenError::Malformed(
                "critical header extensions are not supported",
            ));
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(TokenError::Malformed("kid is not a string")),
        };
        let claims = decode_json(payload, "payload")?;
        let signature =
            b64url_decode(signature).ok_or(TokenError::Malformed("signature is not base64url"))?;
        if signature.is_empty() {
            return Err(TokenError::BadSignature);
        }
        let signing_input = token.rsplit_once('.').map_or("", |(input, _)| input);
        Ok(Self {
            kid,
            signing_input,
            signature,
            claims,
        })
    }

    /// Checks the RS256 signature with `key`.
    pub fn verify_signature(&self, key: &RsaKey) -> Result<(), TokenError> {
        RsaPublicKeyComponents {
            n: key.n.as_slice(),
            e: key.e.as_slice(),
        }
        .verify(
            &RSA_PKCS1_2048_8192_SHA256,
            self.signing_input.as_bytes(),
            &self.signature,
        )
        .map_err(|_| TokenError::BadSignature)
    }
}

fn decode_json(part: &str, what: &'static str) -> Result<Map<String, Value>, TokenError> {
    let bytes = b64url_decode(part).ok_or(TokenError::Malformed(match what {
        "header" => "header is not base64url",
        _ => "payload is not base64url",
    }))?;
    serde_json::from_slice(&bytes).map_err(|_| {
        TokenError::Malformed(match what {
            "header" => "header is not a JSON object",
            _ => "payload is not a JSON object",
        })
    })
}

fn truncate(value: &str) -> String {
    value.chars().take(16).collect()
}

/// An RSA signing key from the JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RsaKey {
    pub kid: Option<String>,
    pub n: Vec<u8>,
    pub e: Vec<u8>,
}

impl RsaKey {
    /// Reads one JWK, keeping only RSA keys usable for RS256 signatures (RFC 7517 §5: keys we
    /// cannot use, such as other key types, are ignored rather than failing the whole set).
    pub fn from_jwk(jwk: &Value) -> Option<Self> {
        let field = |name| jwk.get(name).and_then(Value::as_str);
        if field("kty") != Some("RSA") {
            return None;
        }
        if field("use").is_some_and(|u| u != "sig") || field("alg").is_some_and(|a| a != "RS256") {
            return None;
        }
        let n = b64url_decode(field("n")?)?;
        let e = b64url_decode(field("e")?)?;
        (n.len() >= 256).then(|| Self {
            kid: field("kid").map(str::to_owned),
            n,
            e,
        })
    }
}
