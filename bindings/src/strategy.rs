//! Conflict strategies, the application's custom resolver (a foreign trait), and manual
//! resolutions.

use crate::error::{guard, CallbackError, Result};
use crate::state::SyncState;
use std::sync::Arc;

/// An application-supplied merge of two concurrent versions, implemented in Kotlin or Swift.
///
/// It must be deterministic and commutative (`resolve(a, b) == resolve(b, a)`), or replicas
/// will not converge; with `checkResolver` on, the manager calls it both ways round and
/// refuses a result that differs (`CONFLICT`). A thrown error aborts the whole call with
/// `RESOLVER` and changes nothing.
#[uniffi::export(with_foreign)]
pub trait ConflictResolver: Send + Sync {
    /// Merges two concurrent versions of one state.
    fn resolve(&self, local: SyncState, remote: SyncState) -> std::result::Result<Resolved, CallbackError>;
}

/// What a custom resolver decides.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Resolved {
    /// The merged data, as JSON text; the state stays (or becomes) live.
    Data {
        /// JSON text.
        data: String,
    },
    /// The state is deleted.
    Deleted,
}

/// The application's resolver seen from the core.
struct ForeignResolver(Arc<dyn ConflictResolver>);

impl statesync::ConflictResolver for ForeignResolver {
    fn resolve(
        &self,
        local: &statesync::SyncState,
        remote: &statesync::SyncState,
    ) -> std::result::Result<statesync::Resolved, String> {
        match self.0.resolve(local.into(), remote.into()).map_err(CallbackError::into_reason)? {
            Resolved::Deleted => Ok(statesync::Resolved::Deleted),
            Resolved::Data { data } => statesync::data_from_json(&data)
                .map(statesync::Resolved::Data)
                .map_err(|e| format!("the resolver returned data that cannot be stored: {}", e.message())),
        }
    }
}

/// How concurrent versions of a state are settled (docs/design.md#31-strategies).
#[derive(Clone, uniffi::Enum)]
pub enum ConflictStrategy {
    /// The later `(timestamp, node)` wins whole; clocks merge. The default.
    LastWriteWins,
    /// Concurrent edits of different fields both survive; the same field goes to the later write.
    MergeFields,
    /// Keep local data and make a new write (use on the authority).
    LocalWins,
    /// Take remote data and make a new write (use on clients of an authority).
    RemoteWins,
    /// Record the conflict until `resolveConflict`.
    Manual,
    /// Merge with the application's resolver.
    Custom {
        /// The resolver.
        resolver: Arc<dyn ConflictResolver>,
    },
}

impl std::fmt::Debug for ConflictStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.clone().into_core().name())
    }
}

impl ConflictStrategy {
    /// The core strategy.
    pub(crate) fn into_core(self) -> statesync::ConflictStrategy {
        match self {
            ConflictStrategy::LastWriteWins => statesync::ConflictStrategy::LastWriteWins,
            ConflictStrategy::MergeFields => statesync::ConflictStrategy::MergeFields,
            ConflictStrategy::LocalWins => statesync::ConflictStrategy::LocalWins,
            ConflictStrategy::RemoteWins => statesync::ConflictStrategy::RemoteWins,
            ConflictStrategy::Manual => statesync::ConflictStrategy::Manual,
            ConflictStrategy::Custom { resolver } => {
                statesync::ConflictStrategy::Custom(Arc::new(ForeignResolver(resolver)))
            }
        }
    }
}

/// A built-in strategy by its name (`lastWriteWins`, `mergeFields`, `localWins`,
/// `remoteWins`, `manual`); an unknown name is `INVALID_INPUT`.
#[uniffi::export]
pub fn strategy_from_name(name: String) -> Result<ConflictStrategy> {
    guard(|| {
        use statesync::ConflictStrategy as S;
        // The core parses the name (and words the error); this converts its built-in strategy.
        Ok(match name.parse::<S>()? {
            S::LastWriteWins => ConflictStrategy::LastWriteWins,
            S::MergeFields => ConflictStrategy::MergeFields,
            S::LocalWins => ConflictStrategy::LocalWins,
            S::RemoteWins => ConflictStrategy::RemoteWins,
            S::Manual => ConflictStrategy::Manual,
            // A bug if reached (INTERNAL through the guard): a name is never a custom strategy.
            S::Custom(_) => unreachable!("the core parsed {name:?} as a custom strategy"),
        })
    })
}

/// How the application settles a manual conflict.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Resolution {
    /// Keep the local data.
    Local,
    /// Take the remote data.
    Remote,
    /// Write this data (JSON text) instead.
    Custom {
        /// JSON text.
        data: String,
    },
}

impl Resolution {
    /// The core resolution; custom data that is not valid data JSON is `INVALID_INPUT`.
    pub(crate) fn into_core(self) -> statesync::Result<statesync::Resolution> {
        Ok(match self {
            Resolution::Local => statesync::Resolution::Local,
            Resolution::Remote => statesync::Resolution::Remote,
            Resolution::Custom { data } => statesync::Resolution::Custom(statesync::data_from_json(&data)?),
        })
    }
}
