//! Debug output: neither the client nor a token set shows a token or a secret.

use crate::support::{client_for, code_flow, start};

#[tokio::test]
async fn debug_output_of_the_client_and_a_token_set_contains_no_token_or_secret() {
    let idp = start().await;
    let client = client_for(&idp);
    let (tokens, tx) = code_flow(&idp, &client, "usr_bob").await;
    let id_token = &tokens.id_token;
    client
        .verify_id_token(id_token, Some(&tx.nonce))
        .await
        .expect("verifies");
    let refresh_token = tokens.refresh_token.as_ref().expect("a refresh token");
    let secrets = [
        tokens.access_token.secret(),
        refresh_token.secret(),
        id_token.secret(),
        idp.client_secret(),
        tx.nonce.secret(),
        tx.pkce_verifier.secret(),
    ];
    // Signatures and payloads are the parts that matter; the shared JOSE header prefix is not secret.
    let fragments: Vec<&str> = secrets
        .iter()
        .flat_map(|s| s.split('.'))
        .filter(|part| part.len() >= 16 && !part.starts_with("eyJhbGciOi"))
        .collect();
    let client_debug = format!("{client:?}");
    let tokens_debug = format!("{tokens:?}");
    for (what, rendered) in [("client", &client_debug), ("token set", &tokens_debug)] {
        for fragment in &fragments {
            assert!(
                !rendered.contains(fragment),
                "{what} Debug leaks {fragment:.12}…: {rendered:.200}"
            );
        }
    }
    assert!(
        tokens_debug.contains("AccessToken([redacted])"),
        "{tokens_debug}"
    );
    assert!(
        tokens_debug.contains("RefreshToken([redacted])"),
        "{tokens_debug}"
    );
    assert!(
        tokens_debug.contains("IdToken([redacted])"),
        "{tokens_debug}"
    );
}
