//! Who may do what in which space (docs/design.md §10): the space a request names, the caller's
//! identity from its bearer JWT, and the access its grants and the rules give it there.

use crate::api_error::ApiError;
use crate::identity::{Access, JwtVerifier, SpaceId};
use crate::rules::Rules;
use axum::http::{header, HeaderMap, StatusCode};
use statesync::ErrorCode;

/// The space of the Part I routes (`/v1/pull`, ...).
pub const DEFAULT_SPACE: &str = "default";

/// How the hub tells what a request may reach.
#[derive(Clone, Debug, Default)]
pub(crate) enum Gate {
    /// Every caller that passed the authorization hook (the shared `--token`, or none) reaches
    /// every space with full access: a single-tenant hub.
    #[default]
    Shared,
    /// Callers prove who they are with a bearer JWT; their grants (the token's, and the rules'
    /// shared spaces) say which spaces they reach and which collections they read and write.
    Jwt(Box<JwtVerifier>),
}

impl Gate {
    /// What the caller of a request with `headers` may do in `space`: 401 `UNAUTHORIZED` without a
    /// valid token, 403 `FORBIDDEN` for a space its grants do not name.
    pub(crate) fn access(&self, headers: &HeaderMap, space: &SpaceId, rules: &Rules) -> Result<Access, ApiError> {
        let verifier = match self {
            Gate::Shared => return Ok(Access::full()),
            Gate::Jwt(verifier) => verifier,
        };
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::auth::bearer_token_of)
            .ok_or_else(|| unauthorized("a bearer token is required".to_owned()))?;
        let identity = verifier.verify(token).map_err(|e| unauthorized(e.0))?;
        rules.grants_for(&identity).access(space).cloned().ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden.as_str(),
                format!("the token of {:?} grants no access to space {:?}", identity.subject, space.as_str()),
            )
        })
    }
}

fn unauthorized(message: String) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized.as_str(), message)
}

/// The space a route names: `default` for the Part I routes; an invalid id is 404 (no such
/// route), since it can name no space.
pub(crate) fn space_of(path: Option<&str>) -> Result<SpaceId, ApiError> {
    SpaceId::parse(path.unwrap_or(DEFAULT_SPACE)).map_err(|why| {
        ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound.as_str(), format!("no such space: {why}"))
    })
}

/// The node id a space of the hub advertises, under which clients keep their cursors for it:
/// the hub's own for `default` (as before spaces existed), `<hub>/<space>` for the others (a
/// digest of the space when that would pass the node-id limit), so a client syncing several
/// spaces of one hub keeps one cursor per space.
pub(crate) fn space_node_id(hub: &str, space: &SpaceId) -> String {
    use sha2::{Digest, Sha256};
    if space.as_str() == DEFAULT_SPACE {
        return hub.to_owned();
    }
    let named = format!("{hub}/{space}");
    if named.len() <= statesync::MAX_NODE_ID_BYTES {
        return named;
    }
    let digest = Sha256::digest(space.as_str().as_bytes());
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    let hub: String = hub.chars().take(statesync::MAX_NODE_ID_BYTES - hex.len() - 2).collect();
    format!("{hub}/~{hex}")
}

/// A space's feed position as the hub hands it out: `<space>.<sequence>`, so a cursor names its
/// space and one of another space (mixed up or forged) is refused instead of read.
pub(crate) fn cursor_of(space: &SpaceId, seq: u64) -> String {
    format!("{space}.{seq}")
}

/// The sequence of a cursor of `space` (`None`: the beginning). A cursor of another space, or
/// that is no cursor of this hub at all, is `INVALID_INPUT`.
pub(crate) fn parse_cursor(space: &SpaceId, cursor: Option<&str>) -> Result<u64, statesync::SyncError> {
    let Some(cursor) = cursor else { return Ok(0) };
    let refused = || {
        statesync::SyncError::InvalidInput(format!(
            "cursor {cursor:?} is not one this hub handed out for space {:?}",
            space.as_str()
        ))
    };
    let (named, seq) = cursor.rsplit_once('.').ok_or_else(refused)?;
    if named != space.as_str() || seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refused());
    }
    seq.parse().map_err(|_| refused())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(s: &str) -> SpaceId {
        SpaceId::parse(s).unwrap()
    }

    #[test]
    fn cursors_name_their_space() {
        let s = space("user:4.2");
        assert_eq!(parse_cursor(&s, Some(&cursor_of(&s, 17))).unwrap(), 17);
        assert_eq!(parse_cursor(&s, None).unwrap(), 0);
        for bad in ["user:4.2", "user:4.2.", "user:4.2.x", "user:4.2.-1", "other.3", "user:4.2.+3", "17", "", ".5"] {
            assert_eq!(parse_cursor(&s, Some(bad)).unwrap_err().code(), "INVALID_INPUT", "{bad:?}");
        }
        assert_eq!(parse_cursor(&s, Some("user:4.2.99999999999999999999")).unwrap_err().code(), "INVALID_INPUT");
    }

    #[test]
    fn each_space_has_a_node_id_of_its_own() {
        assert_eq!(space_node_id("hub-1", &space("default")), "hub-1");
        assert_eq!(space_node_id("hub-1", &space("user:42")), "hub-1/user:42");
        let long = space(&"x".repeat(128));
        let id = space_node_id("hub-1", &long);
        assert!(id.len() <= statesync::MAX_NODE_ID_BYTES && id.starts_with("hub-1/~"), "{id}");
        assert_ne!(id, space_node_id("hub-1", &space(&"y".repeat(128))));
        assert!(statesync::validate_node_id(&id).is_ok());
    }
}
