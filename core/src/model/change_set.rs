//! What a sync round is about ([`SyncContext`]: collections and page size) and one page of a
//! replica's changes feed ([`ChangeSet`]): the values the feed, the wire and the transports
//! share. The feed itself (cursors, pages) is `replica/feed.rs`.

use crate::model::error::{Result, SyncError};
use crate::model::state::{validate_collection, SyncState};
use std::sync::Arc;

/// What a sync round is about: a domain scope, never storage details.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncContext {
    /// Collections to sync; empty means all.
    pub collections: Vec<String>,
    /// Largest number of states in one change set; `None` means no limit.
    pub limit: Option<usize>,
}

impl SyncContext {
    /// A context from a binding's arguments, checked: every collection name valid (as a state's
    /// collection must be, see [`crate::validate_collection`]) and a `limit` of at least 1 that
    /// fits this platform's `usize`; anything else is `INVALID_INPUT`. The strictest of the
    /// checks bindings made by hand (a negative, zero or too large limit is refused, never
    /// clamped), so every host refuses the same arguments before any work starts.
    pub fn new(collections: Vec<String>, limit: Option<i64>) -> Result<SyncContext> {
        let limit = match limit {
            None => None,
            Some(l) if l < 1 => return Err(SyncError::InvalidInput(format!("limit must be at least 1, not {l}"))),
            Some(l) => Some(usize::try_from(l).map_err(|_| {
                SyncError::InvalidInput(format!(
                    "limit {l} is larger than this platform's largest page ({})",
                    usize::MAX
                ))
            })?),
        };
        let context = SyncContext { collections, limit };
        context.validate()?;
        Ok(context)
    }

    /// [`SyncContext::new`] for a host whose numbers are doubles (JavaScript): a `limit` that is
    /// not a whole number is `INVALID_INPUT` (it names no page size the core could check); a
    /// whole one is checked as by `new` (beyond `i64` it saturates, beyond any page anyway).
    pub fn from_number_limit(collections: Vec<String>, limit: Option<f64>) -> Result<SyncContext> {
        let limit = match limit {
            Some(l) if !(l.is_finite() && l.fract() == 0.0) => {
                return Err(SyncError::InvalidInput(format!("limit is {l}: a whole number above 0")));
            }
            Some(l) => Some(l as i64),
            None => None,
        };
        SyncContext::new(collections, limit)
    }

    /// Every collection, no page limit.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only these collections.
    pub fn collections<S: Into<String>>(collections: impl IntoIterator<Item = S>) -> Self {
        SyncContext { collections: collections.into_iter().map(Into::into).collect(), limit: None }
    }

    /// Pages of at most `limit` states.
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The name under which a peer's cursor for this scope is stored: the same collections in
    /// any order give the same scope.
    pub fn scope(&self) -> String {
        let mut c: Vec<&str> = self.collections.iter().map(String::as_str).collect();
        c.sort_unstable();
        c.dedup();
        serde_json::to_string(&c).expect("strings always serialise")
    }

    /// Whether states of `collection` are in this scope (no collections: every one is).
    pub fn covers(&self, collection: &str) -> bool {
        self.collections.is_empty() || self.collections.iter().any(|c| c == collection)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        for c in &self.collections {
            validate_collection(c).map_err(SyncError::InvalidInput)?;
        }
        if self.limit == Some(0) {
            return Err(SyncError::InvalidInput("limit must be at least 1".into()));
        }
        Ok(())
    }
}

/// One page of the changes feed.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeSet {
    /// The latest version of each state changed after the cursor asked for, oldest change first.
    pub states: Vec<Arc<SyncState>>,
    /// Where the next request starts. Opaque to the receiver, which stores it per peer and scope.
    pub cursor: String,
    /// True when more changes follow: ask again with `cursor`.
    pub has_more: bool,
}

#[cfg(test)]
mod tests {
    use super::SyncContext;

    #[test]
    fn a_context_is_built_only_from_valid_arguments() {
        let context = SyncContext::new(vec!["notes".into(), "todos".into()], Some(50)).unwrap();
        assert_eq!(context, SyncContext::collections(["notes", "todos"]).with_limit(50));
        assert_eq!(SyncContext::new(vec![], None).unwrap(), SyncContext::all());
        for limit in [0, -1, i64::MIN] {
            let e = SyncContext::new(vec![], Some(limit)).unwrap_err();
            assert_eq!((e.code(), e.message()), ("INVALID_INPUT", format!("limit must be at least 1, not {limit}")));
        }
        if usize::BITS < 64 {
            assert_eq!(SyncContext::new(vec![], Some(i64::MAX)).unwrap_err().code(), "INVALID_INPUT");
        } else {
            assert_eq!(SyncContext::new(vec![], Some(i64::MAX)).unwrap().limit, Some(i64::MAX as usize));
        }
        for bad in ["", "a\u{0}b", &"c".repeat(crate::MAX_COLLECTION_BYTES + 1)] {
            let e = SyncContext::new(vec!["ok".into(), bad.to_owned()], None).unwrap_err();
            assert_eq!(e.code(), "INVALID_INPUT", "{bad:?}");
        }
    }

    #[test]
    fn a_double_limit_must_be_a_whole_number() {
        assert_eq!(SyncContext::from_number_limit(vec![], Some(50.0)).unwrap().limit, Some(50));
        assert_eq!(SyncContext::from_number_limit(vec![], None).unwrap(), SyncContext::all());
        for limit in [1.5, f64::NAN, f64::INFINITY] {
            let e = SyncContext::from_number_limit(vec![], Some(limit)).unwrap_err();
            assert_eq!((e.code(), e.message()), ("INVALID_INPUT", format!("limit is {limit}: a whole number above 0")));
        }
        let e = SyncContext::from_number_limit(vec![], Some(0.0)).unwrap_err();
        assert_eq!(e.message(), "limit must be at least 1, not 0");
    }
}
