//! Reading an answer from Scalekit with a cap: a declared or streamed body over the cap is
//! refused as soon as it crosses it, so a broken or hostile endpoint costs bounded memory and
//! time, never the function's whole memory or its timeout.

use super::error::IdpError;

/// The body of `response`, refused with [`IdpError::TooLarge`] past `limit` bytes.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, IdpError> {
    let too_large = IdpError::TooLarge { limit };
    let declared = response.content_length();
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large);
    }
    let mut body = Vec::with_capacity(declared.map_or(0, |len| len as usize));
    while let Some(chunk) = response.chunk().await.map_err(IdpError::from_reqwest)? {
        if chunk.len() > limit - body.len() {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
