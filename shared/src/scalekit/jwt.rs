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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::b64url;
    use serde_json::json;

    fn rsa_jwk() -> Value {
        json!({"kty": "RSA", "kid": "snk_1", "use": "sig", "alg": "RS256",
               "n": b64url([0xC5u8; 256]), "e": "AQAB"})
    }

    fn with(patch: Value) -> Value {
        let mut jwk = rsa_jwk();
        for (name, value) in patch.as_object().unwrap() {
            if value.is_null() {
                jwk.as_object_mut().unwrap().remove(name);
            } else {
                jwk[name] = value.clone();
            }
        }
        jwk
    }

    #[test]
    fn an_rsa_signing_jwk_is_read() {
        let expected = RsaKey {
            kid: Some("snk_1".into()),
            n: vec![0xC5; 256],
            e: vec![1, 0, 1],
        };
        assert_eq!(RsaKey::from_jwk(&rsa_jwk()), Some(expected.clone()));
        // `use` and `alg` are optional members.
        assert_eq!(
            RsaKey::from_jwk(&with(json!({"use": null, "alg": null}))),
            Some(expected)
        );
        assert_eq!(
            RsaKey::from_jwk(&with(json!({"kid": null}))).map(|k| k.kid),
            Some(None)
        );
    }

    #[test]
    fn jwks_that_cannot_verify_rs256_are_ignored() {
        let cases = [
            ("kty EC", with(json!({"kty": "EC", "crv": "P-256"}))),
            ("kty oct", with(json!({"kty": "oct"}))),
            ("no kty", with(json!({"kty": null}))),
            ("use enc", with(json!({"use": "enc"}))),
            ("alg RS384", with(json!({"alg": "RS384"}))),
            ("alg none", with(json!({"alg": "none"}))),
            (
                "1024-bit modulus",
                with(json!({"n": b64url([0xC5u8; 128])})),
            ),
            ("no n", with(json!({"n": null}))),
            ("no e", with(json!({"e": null}))),
            ("n not base64url", with(json!({"n": "+/=="}))),
            ("n not a string", with(json!({"n": 12}))),
            ("not an object", json!("snk_1")),
        ];
        for (what, jwk) in cases {
            assert_eq!(RsaKey::from_jwk(&jwk), None, "{what}");
        }
    }
}

#[cfg(test)]
mod hostile_input {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic_the_parser(token in "\\PC{0,400}") {
            let _ = UnverifiedJwt::parse(&token);
        }

        #[test]
        fn arbitrary_base64_segments_are_rejected_without_panicking(
            header in "[A-Za-z0-9_-]{0,80}", payload in "[A-Za-z0-9_-]{0,200}", signature in "[A-Za-z0-9_-]{0,80}",
        ) {
            let token = format!("{header}.{payload}.{signature}");
            if let Ok(jwt) = UnverifiedJwt::parse(&token) {
                let key = RsaKey { kid: None, n: vec![0xab; 256], e: vec![1, 0, 1] };
                prop_assert!(jwt.verify_signature(&key).is_err());
            }
        }
    }
}
