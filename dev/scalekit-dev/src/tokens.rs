//! Minting ID tokens, access tokens and refresh tokens (with the injected faults applied),
//! client-credentials access tokens and back-channel logout tokens.

use aws_lc_rs::digest;
use serde_json::{json, Map, Value};

use crate::jwt::{b64, corrupt_signature, encode_hs256, encode_rs256, encode_unsigned, merge};
use crate::random::{random_id, random_token};
use crate::state::{
    now, Grant, RefreshGrant, Shared, State, API_TOKEN_TTL_SECS, ID_TOKEN_TTL_SECS,
    LOGOUT_TOKEN_TTL_SECS,
};
use crate::users::{connection_of, find_user, permissions_of};
use crate::IdTokenSigning;

/// Issues a token response for `grant` and returns its JSON body. A refresh token is included
/// when `with_refresh_token`; it is stored in `state`.
pub(crate) fn token_response(
    shared: &Shared,
    state: &mut State,
    grant: &Grant,
    with_refresh_token: bool,
) -> Value {
    let now = now();
    let access_token = access_token(shared, state, grant, now);
    let id_token = id_token(shared, state, grant, &access_token, now);
    state
        .issued
        .extend([access_token.clone(), id_token.clone()]);
    let mut body = json!({
        "access_token": access_token,
        "id_token": id_token,
        "expires_in": shared.access_token_ttl_secs,
        "token_type": "Bearer",
    });
    if with_refresh_token {
        body["refresh_token"] = Value::String(new_refresh_token(state, grant));
    }
    body
}

pub(crate) fn new_refresh_token(state: &mut State, grant: &Grant) -> String {
    let token = random_token();
    state.issued.push(token.clone());
    let grant = Grant {
        // The nonce belongs to the authorization request; refreshed ID tokens carry none.
        nonce: None,
        ..grant.clone()
    };
    state
        .refresh_tokens
        .insert(token.clone(), RefreshGrant { used: false, grant });
    token
}

/// The token response of the client-credentials grant: an access token for Scalekit's own API
/// (the Sessions API accepts it as a Bearer token), no refresh or ID token.
pub(crate) fn client_credentials_response(shared: &Shared, state: &mut State) -> Value {
    let now = now();
    let exp = now + API_TOKEN_TTL_SECS;
    let claims = json!({
        "iss": shared.issuer,
        "aud": [shared.client_id],
        "client_id": shared.client_id,
        "sub": shared.client_id,
        "iat": now,
        "nbf": now,
        "exp": exp,
        "jti": random_id("tkn_"),
        "scopes": [],
    });
    let key = state.current_key();
    let header = json!({"alg": "RS256", "kid": key.kid, "typ": "JWT"});
    let token = encode_rs256(&header, &claims, &key);
    state.issued.push(token.clone());
    state.api_tokens.insert(token.clone(), exp);
    json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": API_TOKEN_TTL_SECS,
    })
}

/// The `events` member of a logout token (OIDC Back-Channel Logout 1.0 §2.4).
pub(crate) const BACKCHANNEL_LOGOUT_EVENT: &str =
    "http://schemas.openid.net/event/backchannel-logout";

/// A back-channel logout token signed with the current key: `iss`, `aud`, `iat`, `exp`
/// (+120 s), a random `jti` and `events`, then `claims_patch` merged in (it brings `sid` and
/// `sub`; a `null` removes a claim). `header_patch` is merged into
/// `{"alg":"RS256","kid":...,"typ":"logout+jwt"}` the same way.
pub(crate) fn logout_token(
    shared: &Shared,
    state: &State,
    header_patch: &Value,
    claims_patch: &Value,
) -> String {
    let now = now();
    let mut claims = json!({
        "iss": shared.issuer,
        "aud": [shared.client_id],
        "iat": now,
        "exp": now + LOGOUT_TOKEN_TTL_SECS,
        "jti": random_token(),
        "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
    });
    merge(&mut claims, claims_patch);
    let key = state.current_key();
    let mut header = json!({"alg": "RS256", "kid": key.kid, "typ": "logout+jwt"});
    merge(&mut header, header_patch);
    encode_rs256(&header, &claims, &key)
}

fn role(grant: &Grant) -> Option<&'static str> {
    let org = grant.organization_id.as_deref()?;
    find_user(&grant.user_id).map_or(Some("member"), |u| u.role_in(org))
}

fn access_token(shared: &Shared, state: &State, grant: &Grant, now: u64) -> String {
    let mut claims = json!({
        "iss": shared.issuer,
        "aud": [shared.client_id],
        "client_id": shared.client_id,
        "sub": grant.user_id,
        "sid": grant.session_id,
        "iat": now,
        "nbf": now,
        "exp": now + shared.access_token_ttl_secs,
        "jti": random_id("tkn_"),
        "scope": grant.scope,
    });
    if let Some(org) = &grant.organization_id {
        claims["oid"] = json!(org);
    }
    let role = role(grant);
    claims["roles"] = json!(role.into_iter().collect::<Vec<_>>());
    claims["permissions"] = json!(role.map_or(&[][..], permissions_of));
    if let Some(patch) = &state.faults.access_token_claims {
        merge(&mut claims, patch);
    }
    let key = state.current_key();
    let header = json!({"alg": "RS256", "kid": key.kid, "typ": "JWT"});
    encode_rs256(&header, &claims, &key)
}

/// `at_hash`: base64url of the left half of SHA-256(access token) (OIDC Core §3.1.3.6).
fn at_hash(access_token: &str) -> String {
    let digest = digest::digest(&digest::SHA256, access_token.as_bytes());
    b64(&digest.as_ref()[..16])
}

fn id_token(shared: &Shared, state: &State, grant: &Grant, access_token: &str, now: u64) -> String {
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(shared.issuer));
    claims.insert("aud".into(), json!([shared.client_id]));
    claims.insert("azp".into(), json!(shared.client_id));
    claims.insert("sub".into(), json!(grant.user_id));
    if let Some(org) = &grant.organization_id {
        claims.insert("oid".into(), json!(org));
        claims.insert("amr".into(), json!([connection_of(org)]));
    }
    claims.insert("exp".into(), json!(now + ID_TOKEN_TTL_SECS));
    claims.insert("iat".into(), json!(now));
    if let Some(nonce) = &grant.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    if let Some(user) = find_user(&grant.user_id) {
        claims.insert("email".into(), json!(user.email));
        claims.insert("email_verified".into(), json!(true));
        claims.insert("name".into(), json!(user.name));
        claims.insert("given_name".into(), json!(user.given_name));
        claims.insert("family_name".into(), json!(user.family_name));
    }
    claims.insert("sid".into(), json!(grant.session_id));
    claims.insert("at_hash".into(), json!(at_hash(access_token)));
    let mut claims = Value::Object(claims);

    let faults = &state.faults;
    if let Some(patch) = &faults.id_token_claims {
        merge(&mut claims, patch);
    }
    let key = state.current_key();
    let mut header = json!({"alg": "RS256", "kid": key.kid, "typ": "JWT"});
    if let Some(patch) = &faults.id_token_header {
        merge(&mut header, patch);
    }
    match &faults.id_token_signing {
        None => encode_rs256(&header, &claims, &key),
        Some((IdTokenSigning::Bad, _)) => corrupt_signature(&encode_rs256(&header, &claims, &key)),
        Some((IdTokenSigning::None, _)) => {
            header["alg"] = json!("none");
            encode_unsigned(&header, &claims)
        }
        Some((IdTokenSigning::Hs256WithPublicKey, _)) => {
            header["alg"] = json!("HS256");
            encode_hs256(&header, &claims, &key.public_spki_der())
        }
        Some((IdTokenSigning::UnpublishedKey, rogue)) => {
            encode_rs256(&header, &claims, rogue.as_deref().unwrap_or(&key))
        }
    }
}
