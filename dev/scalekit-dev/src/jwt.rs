//! Compact JWS encoding (RS256, HS256, none) and RS256 verification.

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

use crate::keys::SigningKey;

/// base64url without padding, as JOSE uses everywhere.
pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn signing_input(header: &Value, claims: &Value) -> String {
    // Serializing a serde_json::Value cannot fail.
    let header = serde_json::to_vec(header).unwrap_or_default();
    let claims = serde_json::to_vec(claims).unwrap_or_default();
    format!("{}.{}", b64(&header), b64(&claims))
}

/// Signs with RS256 whatever the header says, so tests can lie in the header.
pub(crate) fn encode_rs256(header: &Value, claims: &Value, key: &SigningKey) -> String {
    let input = signing_input(header, claims);
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

pub(crate) fn encode_hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = signing_input(header, claims);
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

/// An unsecured JWS: the signature part is empty.
pub(crate) fn encode_unsigned(header: &Value, claims: &Value) -> String {
    format!("{}.", signing_input(header, claims))
}

/// Flips one bit in the middle of the signature of a compact JWS.
pub(crate) fn corrupt_signature(token: &str) -> String {
    let Some((input, signature)) = token.rsplit_once('.') else {
        return token.to_owned();
    };
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap_or_default();
    if bytes.is_empty() {
        bytes.push(0);
    }
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    format!("{input}.{}", b64(&bytes))
}

/// Shallow merge of a JSON object patch: a `null` value removes the member.
pub(crate) fn merge(target: &mut Value, patch: &Value) {
    let (Value::Object(target), Value::Object(patch)) = (target, patch) else {
        return;
    };
    for (name, value) in patch {
        if value.is_null() {
            target.remove(name);
        } else {
            target.insert(name.clone(), value.clone());
        }
    }
}

/// Verifies an RS256 compact JWS against `keys` (ignoring `exp`) and returns its claims.
/// The key is chosen by `kid`; without a `kid` every key is tried.
pub(crate) fn verify_rs256<'k>(
    token: &str,
    keys: impl IntoIterator<Item = &'k SigningKey>,
) -> Result<Value, &'static str> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a compact JWS");
    };
    let decode_json = |part: &str| -> Result<Value, &'static str> {
        let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| "bad base64url")?;
        serde_json::from_slice(&bytes).map_err(|_| "bad JSON")
    };
    let header_json = decode_json(header)?;
    if header_json.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err("alg is not RS256");
    }
    let kid = header_json.get("kid").and_then(Value::as_str);
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| "bad signature encoding")?;
    let input = format!("{header}.{claims}");
    let verified = keys
        .into_iter()
        .filter(|k| kid.is_none_or(|kid| kid == k.kid))
        .any(|k| k.verify(input.as_bytes(), &signature));
    if !verified {
        return Err("signature does not verify with a published key");
    }
    decode_json(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_overrides_adds_and_removes_members() {
        let mut target = json!({"iss": "a", "sub": "usr_1", "kid": "k"});
        merge(&mut target, &json!({"iss": "b", "kid": null, "new": 1}));
        assert_eq!(target, json!({"iss": "b", "sub": "usr_1", "new": 1}));
    }

    #[test]
    fn rs256_round_trips_and_rejects_tampering() {
        let key = SigningKey::generate().expect("key");
        let token = encode_rs256(
            &json!({"alg": "RS256", "kid": key.kid}),
            &json!({"sub": "x"}),
            &key,
        );
        assert_eq!(verify_rs256(&token, [&key]), Ok(json!({"sub": "x"})));
        assert!(verify_rs256(&corrupt_signature(&token), [&key]).is_err());
        let other = SigningKey::generate_with_kid(key.kid.clone()).expect("key");
        assert!(verify_rs256(&token, [&other]).is_err());
    }

    #[test]
    fn verification_rejects_non_rs256_algorithms() {
        let key = SigningKey::generate().expect("key");
        let hs = encode_hs256(&json!({"alg": "HS256"}), &json!({}), &key.public_spki_der());
        assert!(verify_rs256(&hs, [&key]).is_err());
        let none = encode_unsigned(&json!({"alg": "none"}), &json!({}));
        assert!(verify_rs256(&none, [&key]).is_err());
    }
}
