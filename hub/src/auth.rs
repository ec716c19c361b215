//! The shared-secret authorization hook (`--token`).

use axum::http::{header, HeaderMap, StatusCode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// An authorization hook that admits only requests carrying `Authorization: Bearer <token>`
/// (the scheme in any case, as RFC 7235 says): a missing or different token is answered with
/// 401 `UNAUTHORIZED`.
///
/// Tokens are compared in constant time, length included: both sides are hashed first, so
/// neither where they differ nor how long the expected token is shows in the answer's timing.
pub fn bearer_token(
    token: impl Into<String>,
) -> impl Fn(&HeaderMap) -> Result<(), (StatusCode, String)> + Send + Sync + 'static {
    let expected = Sha256::digest(token.into().as_bytes());
    move |headers: &HeaderMap| {
        let given = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()).and_then(bearer_credentials);
        // A missing token is compared too (as an empty one), so every refusal takes as long.
        let given = Sha256::digest(given.unwrap_or_default());
        if bool::from(given.as_slice().ct_eq(expected.as_slice())) {
            Ok(())
        } else {
            Err((StatusCode::UNAUTHORIZED, "a valid bearer token is required".to_owned()))
        }
    }
}

/// The token of an `Authorization: Bearer <token>` value (the scheme in any case), if it is one.
pub(crate) fn bearer_token_of(value: &str) -> Option<&str> {
    let credentials = bearer_credentials(value.as_bytes())?;
    // The credentials are a sub-slice of `value`, so they are text too.
    std::str::from_utf8(credentials).ok().filter(|t| !t.is_empty())
}

/// The credentials of an `Authorization` value of the `Bearer` scheme (matched in any case),
/// with the blanks around them removed.
fn bearer_credentials(value: &[u8]) -> Option<&[u8]> {
    let value = value.trim_ascii();
    let split = value.iter().position(|b| *b == b' ' || *b == b'\t')?;
    let (scheme, rest) = value.split_at(split);
    scheme.eq_ignore_ascii_case(b"bearer").then(|| rest.trim_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_the_token_exact() {
        let check = bearer_token("s3cret");
        for ok in ["Bearer s3cret", "bearer s3cret", "BEARER  s3cret ", "bEaReR\ts3cret"] {
            assert!(check(&with(ok)).is_ok(), "{ok:?}");
        }
        for bad in ["Bearer s3cre", "Bearer s3cret2", "Bearer S3CRET", "Basic s3cret", "Bearers3cret", "s3cret", ""] {
            assert_eq!(check(&with(bad)).unwrap_err().0, StatusCode::UNAUTHORIZED, "{bad:?}");
        }
        assert!(check(&HeaderMap::new()).is_err());
    }
}
