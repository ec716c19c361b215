//! Sync peers: the transport trait (implemented in Kotlin or Swift, or by the built-in HTTP
//! client and in-process replicas), and its adapter to the core's blocking `SyncTransport`.

use crate::error::{guard, guard_callback, CallbackError, Result, SyncError};
use crate::feed::{ChangeSet, SyncCapabilities, SyncContext};
use crate::results::ReconciliationResult;
use crate::wire::Encoding;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A sync peer reached somehow: over HTTP ([`HttpTransport`]), through the application's own
/// channel (implement this interface), or in process (`SyncManager.asTransport()`).
///
/// The methods are blocking and run on a background thread of the sync round. Throw
/// `CallbackError.Failed(code, reason)` with a statesync code (`TRANSPORT` for "try again
/// later", `UNAUTHORIZED`, ...); any other exception is `TRANSPORT`.
#[uniffi::export(with_foreign)]
pub trait SyncTransport: Send + Sync {
    /// What the peer supports. Asked once at the start of every round.
    fn capabilities(&self) -> std::result::Result<SyncCapabilities, CallbackError>;
    /// One page of the peer's changes after `cursor` (`null`: from the beginning).
    fn pull(&self, cursor: Option<String>, context: SyncContext) -> std::result::Result<ChangeSet, CallbackError>;
    /// Delivers a page of this replica's changes; the peer reconciles them. Must be idempotent.
    fn push(&self, changes: ChangeSet) -> std::result::Result<ReconciliationResult, CallbackError>;
}

/// A transport of the application seen from the core.
pub(crate) struct ForeignTransport(pub Arc<dyn SyncTransport>);

impl statesync::SyncTransport for ForeignTransport {
    fn capabilities(&self) -> statesync::Result<statesync::SyncCapabilities> {
        self.0.capabilities().map(Into::into).map_err(CallbackError::into_core)
    }

    fn pull(&self, cursor: Option<&str>, context: &statesync::SyncContext) -> statesync::Result<statesync::ChangeSet> {
        let page = self.0.pull(cursor.map(str::to_owned), context.into()).map_err(CallbackError::into_core)?;
        page.into_core()
    }

    fn push(&self, changes: &statesync::ChangeSet) -> statesync::Result<statesync::ReconciliationResult> {
        self.0.push(changes.into()).map_err(CallbackError::into_core)?.into_core()
    }
}

/// The core transport for any transport the application passed (a Kotlin or Swift object
/// implementing the interface, or a Rust-implemented one such as [`HttpTransport`]).
pub(crate) fn core_transport(transport: Arc<dyn SyncTransport>) -> Arc<dyn statesync::SyncTransport> {
    Arc::new(ForeignTransport(transport))
}

/// Rust-implemented transports answer the trait with core values converted once.
fn callback<T>(result: statesync::Result<T>) -> std::result::Result<T, CallbackError> {
    result.map_err(CallbackError::from)
}

/// Options of [`HttpTransport`].
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct HttpOptions {
    /// Headers sent with every request (`Authorization`, ...).
    #[uniffi(default)]
    pub headers: HashMap<String, String>,
    /// How long one request may take.
    #[uniffi(default = None)]
    pub timeout: Option<Duration>,
    /// The preferred encoding, used when the peer supports it (JSON otherwise).
    #[uniffi(default = None)]
    pub encoding: Option<Encoding>,
    /// zstd-compress large bodies when the peer accepts it.
    #[uniffi(default = true)]
    pub compress: bool,
}

/// The built-in client of the HTTP sync protocol (docs/protocol.md), e.g. for `statesync-hub`.
#[derive(uniffi::Object)]
pub struct HttpTransport {
    inner: statesync::HttpTransport,
}

#[uniffi::export]
impl HttpTransport {
    /// A transport to the peer serving the protocol at `base_url`: with `space`, the hub space
    /// of that id (`/v1/spaces/{space}/...`, docs/design.md §10), else the hub's `default` space
    /// (the `/v1/...` routes); with `token`, every request carries `Authorization: Bearer
    /// <token>` (the hub's shared token or a JWT; it wins over an `Authorization` header of
    /// `options`). A URL that is not absolute HTTP(S), an invalid space id (1 to 128 bytes of
    /// `A–Z a–z 0–9 . _ : @ -`), an invalid header or token, or a zero timeout is
    /// `INVALID_INPUT` (an invalid header or token when syncing).
    #[uniffi::constructor(default(options = None, space = None, token = None))]
    pub fn new(
        base_url: String,
        options: Option<HttpOptions>,
        space: Option<String>,
        token: Option<String>,
    ) -> Result<Arc<Self>> {
        guard(|| {
            let options = options.unwrap_or(HttpOptions {
                headers: HashMap::new(),
                timeout: None,
                encoding: None,
                compress: true,
            });
            let mut inner = statesync::HttpTransport::new(&base_url)?;
            if let Some(space) = &space {
                inner = inner.space(space)?;
            }
            let mut headers: Vec<(String, String)> = options.headers.into_iter().collect();
            headers.sort();
            for (name, value) in &headers {
                inner = inner.header(name, value);
            }
            // After the headers: the last value of a header wins.
            if let Some(token) = &token {
                inner = inner.token(token);
            }
            if let Some(timeout) = options.timeout {
                if timeout.is_zero() {
                    return Err(SyncError::invalid_input("timeout must be positive"));
                }
                inner = inner.timeout(timeout);
            }
            let encoding = options.encoding.unwrap_or(Encoding::Binary);
            inner = inner.encoding(encoding.into()).compress(options.compress);
            Ok(Arc::new(HttpTransport { inner }))
        })
    }

    /// The peer's base URL.
    pub fn base_url(&self) -> Result<String> {
        guard(|| Ok(self.inner.base_url().to_owned()))
    }

    /// The hub space synced with, or `null` for the hub's `default` space (no `space` given).
    pub fn space(&self) -> Result<Option<String>> {
        guard(|| Ok(self.inner.space_id().map(str::to_owned)))
    }
}

#[uniffi::export]
impl SyncTransport for HttpTransport {
    fn capabilities(&self) -> std::result::Result<SyncCapabilities, CallbackError> {
        guard_callback(|| callback(statesync::SyncTransport::capabilities(&self.inner)).map(|c| (&c).into()))
    }

    fn pull(&self, cursor: Option<String>, context: SyncContext) -> std::result::Result<ChangeSet, CallbackError> {
        guard_callback(|| {
            let context = context.to_core()?;
            callback(statesync::SyncTransport::pull(&self.inner, cursor.as_deref(), &context)).map(|c| (&c).into())
        })
    }

    fn push(&self, changes: ChangeSet) -> std::result::Result<ReconciliationResult, CallbackError> {
        guard_callback(|| {
            let changes = changes.into_core()?;
            callback(statesync::SyncTransport::push(&self.inner, &changes)).map(Into::into)
        })
    }
}

/// A replica in this process as a transport (tests, examples, in-process peers). Not marked as
/// an export, but the host calls its methods through the exported trait: they are guarded too.
pub(crate) struct ManagerTransport(pub Arc<statesync::SyncManager>);

impl SyncTransport for ManagerTransport {
    fn capabilities(&self) -> std::result::Result<SyncCapabilities, CallbackError> {
        guard_callback(|| callback(statesync::SyncTransport::capabilities(&*self.0)).map(|c| (&c).into()))
    }

    fn pull(&self, cursor: Option<String>, context: SyncContext) -> std::result::Result<ChangeSet, CallbackError> {
        guard_callback(|| {
            let context = context.to_core()?;
            callback(statesync::SyncTransport::pull(&*self.0, cursor.as_deref(), &context)).map(|c| (&c).into())
        })
    }

    fn push(&self, changes: ChangeSet) -> std::result::Result<ReconciliationResult, CallbackError> {
        guard_callback(|| {
            let changes = changes.into_core()?;
            callback(statesync::SyncTransport::push(&*self.0, &changes)).map(Into::into)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_and_token_are_checked_by_the_core() {
        let plain = HttpTransport::new("http://127.0.0.1:9".into(), None, None, None).unwrap();
        assert_eq!(plain.space().unwrap(), None);
        let spaced =
            HttpTransport::new("http://127.0.0.1:9".into(), None, Some("user:42".into()), Some("jwt".into())).unwrap();
        assert_eq!(spaced.space().unwrap().as_deref(), Some("user:42"));
        for bad in ["", "a/b", "a b", "é"] {
            let e = HttpTransport::new("http://127.0.0.1:9".into(), None, Some(bad.into()), None).err().unwrap();
            assert_eq!(e.code(), "INVALID_INPUT", "{bad:?}");
        }
        // A token that cannot be a header value fails every request with INVALID_INPUT.
        let bad_token = HttpTransport::new("http://127.0.0.1:9".into(), None, None, Some("a\nb".into())).unwrap();
        let CallbackError::Failed { code, .. } = bad_token.capabilities().unwrap_err();
        assert_eq!(code, "INVALID_INPUT");
    }
}
