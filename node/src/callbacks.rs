//! JS functions behind the core's traits: the conflict resolver, the event listener and the sync
//! transport.
//!
//! JS runs on one thread per isolate, the core on any. A resolver is called directly when the
//! core calls it on the JS thread that owns the manager (a synchronous `reconcile`), and through
//! a threadsafe function otherwise (a round running off the JS thread). The JS adapters in
//! `lib/` never throw: they answer with a typed reply ([`ResolverReply`], [`TransportReply`]),
//! so a failing callback is an ordinary error here and never an uncaught exception in the host.

use crate::errors::{from_callback, guarded, Result};
use crate::values::{handle, StateHandle};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use statesync::{
    ChangeSet, ConflictResolver, Encoding, ReconciliationResult, RejectedState, Resolved, SyncCapabilities,
    SyncContext, SyncError, SyncEvent, SyncManager, SyncState, SyncTransport,
};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::ThreadId;
use std::time::Duration;

/// The JS thread a manager belongs to, and how many calls of that thread are inside the
/// manager right now.
pub(crate) struct Owner {
    env: usize,
    thread: ThreadId,
    busy: AtomicUsize,
}

impl Owner {
    /// The owner for the current JS thread.
    pub(crate) fn current(env: &Env) -> Arc<Owner> {
        Arc::new(Owner { env: env.raw() as usize, thread: std::thread::current().id(), busy: AtomicUsize::new(0) })
    }

    fn on_js_thread(&self) -> bool {
        std::thread::current().id() == self.thread
    }

    /// Marks a call of the JS thread into the manager until the guard drops.
    pub(crate) fn enter(&self) -> Busy<'_> {
        self.busy.fetch_add(1, Ordering::SeqCst);
        Busy(self)
    }
}

/// Runs a call of the JS thread on `core`, marked as such for resolvers waiting on that thread;
/// a panic in it is `INTERNAL` (see `crate::errors`).
pub(crate) fn run_on<T>(
    owner: &Owner,
    core: &SyncManager,
    f: impl FnOnce(&SyncManager) -> statesync::Result<T>,
) -> Result<T> {
    let _busy = owner.enter();
    guarded(|| f(core))
}

/// A JS-thread call in progress (see [`Owner::enter`]).
pub(crate) struct Busy<'a>(&'a Owner);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

thread_local! {
    /// Set when a resolver called on this thread gave way: it could not reach the JS thread,
    /// which was waiting to enter the replica the calling round holds. The typed signal a round
    /// reads (`tasks::RoundTask`) to try again, rather than the error's text.
    static GAVE_WAY: Cell<bool> = const { Cell::new(false) };
}

/// Whether a resolver called on this thread gave way since the last call (which clears it).
pub(crate) fn resolver_gave_way() -> bool {
    GAVE_WAY.with(|g| g.replace(false))
}

/// What the JS resolver adapter answers (js/src/manager.ts `nativeStrategy`): `data`, or `deleted`, or `error`.
#[napi(object)]
pub struct ResolverReply {
    /// The merged data, JSON text.
    pub data: Option<String>,
    /// True: the resolver returned `DELETED`.
    pub deleted: Option<bool>,
    /// The resolver threw; its description (the adapter keeps what it threw as the cause).
    pub error: Option<String>,
}

pub(crate) type ResolverArgs = FnArgs<(StateHandle, StateHandle)>;
type ResolverTsfn =
    ThreadsafeFunction<(Arc<SyncState>, Arc<SyncState>), ResolverReply, ResolverArgs, Status, false, true>;

/// A resolver function `(local, remote) => ResolverReply`.
pub(crate) struct JsResolver {
    owner: Arc<Owner>,
    direct: FunctionRef<ResolverArgs, ResolverReply>,
    queued: ResolverTsfn,
}

impl JsResolver {
    /// Wraps the adapter function, on the JS thread that owns the manager.
    pub(crate) fn new(
        owner: Arc<Owner>,
        function: Function<'_, ResolverArgs, ResolverReply>,
    ) -> napi::Result<JsResolver> {
        let queued = function
            .build_threadsafe_function::<(Arc<SyncState>, Arc<SyncState>)>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(|ctx| Ok(FnArgs::from((handle(ctx.value.0), handle(ctx.value.1)))))?;
        Ok(JsResolver { owner, direct: function.create_ref()?, queued })
    }

    fn call_here(&self, local: &SyncState, remote: &SyncState) -> std::result::Result<ResolverReply, String> {
        let env = Env::from_raw(self.owner.env as napi::sys::napi_env);
        let function = self.direct.borrow_back(&env).map_err(|e| e.reason.clone())?;
        let args = (handle(Arc::new(local.clone())), handle(Arc::new(remote.clone())));
        function.call(args.into()).map_err(|e| e.reason.clone())
    }

    /// Asks the JS thread and waits, giving up if that thread enters this manager meanwhile:
    /// it would wait for the lock this call holds, and neither could go on.
    fn call_queued(&self, local: &SyncState, remote: &SyncState) -> std::result::Result<ResolverReply, String> {
        let (tx, rx) = mpsc::channel();
        let status = self.queued.call_with_return_value(
            (Arc::new(local.clone()), Arc::new(remote.clone())),
            ThreadsafeFunctionCallMode::NonBlocking,
            move |answer: napi::Result<ResolverReply>, _| {
                let _ = tx.send(answer.map_err(|e| e.reason));
                Ok(())
            },
        );
        if status != Status::Ok {
            return Err(format!("the resolver could not be called ({status})"));
        }
        loop {
            match rx.recv_timeout(Duration::from_millis(5)) {
                Ok(answer) => return answer,
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err("the JS environment is gone".into()),
                Err(mpsc::RecvTimeoutError::Timeout) if self.owner.busy.load(Ordering::SeqCst) > 0 => {
                    GAVE_WAY.with(|g| g.set(true));
                    return Err("the JS thread is waiting for this replica".into());
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
    }
}

impl ConflictResolver for JsResolver {
    fn resolve(&self, local: &SyncState, remote: &SyncState) -> std::result::Result<Resolved, String> {
        let answer =
            if self.owner.on_js_thread() { self.call_here(local, remote) } else { self.call_queued(local, remote) }?;
        match answer {
            ResolverReply { error: Some(message), .. } => Err(message),
            ResolverReply { deleted: Some(true), data: None, .. } => Ok(Resolved::Deleted),
            ResolverReply { data: Some(json), deleted: None | Some(false), .. } => statesync::data_from_json(&json)
                .map(Resolved::Data)
                .map_err(|e| format!("the resolver result: {}", e.message())),
            _ => Err("the resolver adapter answered neither data, deleted nor an error".into()),
        }
    }
}

/// An event as JS sees it: `name` and the fields of that kind of event.
#[napi(object, js_name = "NativeEvent", object_from_js = false)]
pub struct JsSyncEvent {
    /// `stateCreated`, ..., `statusChanged`.
    pub name: String,
    /// State events.
    pub state: Option<StateHandle>,
    /// `conflictDetected`: the conflict's JSON text.
    pub conflict: Option<String>,
    /// `conflictResolved`.
    pub conflict_id: Option<String>,
    /// `conflictResolved`, `stateRejected`.
    pub state_id: Option<String>,
    /// `stateRejected`: the error code.
    pub code: Option<String>,
    /// Sync events.
    pub peer: Option<String>,
    /// `syncFailed`, `stateRejected`.
    pub message: Option<String>,
    /// `statusChanged`.
    pub previous: Option<String>,
    /// `statusChanged`.
    pub current: Option<String>,
}

impl From<SyncEvent> for JsSyncEvent {
    fn from(event: SyncEvent) -> Self {
        let mut out = JsSyncEvent {
            name: String::new(),
            state: None,
            conflict: None,
            conflict_id: None,
            state_id: None,
            code: None,
            peer: None,
            message: None,
            previous: None,
            current: None,
        };
        out.name = match event {
            SyncEvent::StateCreated(s) => {
                out.state = Some(handle(s));
                "stateCreated"
            }
            SyncEvent::StateUpdated(s) => {
                out.state = Some(handle(s));
                "stateUpdated"
            }
            SyncEvent::StateDeleted(s) => {
                out.state = Some(handle(s));
                "stateDeleted"
            }
            SyncEvent::ConflictDetected(c) => {
                out.conflict = Some(crate::values::conflict_json(&c));
                "conflictDetected"
            }
            SyncEvent::ConflictResolved { conflict_id, state_id } => {
                out.conflict_id = Some(conflict_id);
                out.state_id = Some(state_id);
                "conflictResolved"
            }
            SyncEvent::StateRejected { state_id, code, message } => {
                out.state_id = Some(state_id);
                out.code = Some(code);
                out.message = Some(message);
                "stateRejected"
            }
            SyncEvent::SyncStarted { peer } => {
                out.peer = Some(peer);
                "syncStarted"
            }
            SyncEvent::SyncCompleted { peer } => {
                out.peer = Some(peer);
                "syncCompleted"
            }
            SyncEvent::SyncFailed { peer, message } => {
                out.peer = Some(peer);
                out.message = Some(message);
                "syncFailed"
            }
            SyncEvent::StatusChanged { previous, current } => {
                out.previous = Some(previous.as_str().into());
                out.current = Some(current.as_str().into());
                "statusChanged"
            }
        }
        .into();
        out
    }
}

/// The listener: every event is queued to the JS thread (even one committed on it), so
/// listeners see events in commit order, after the call that made them returned.
pub(crate) type ListenerTsfn = ThreadsafeFunction<SyncEvent, (), FnArgs<(JsSyncEvent,)>, Status, false, true>;

/// Makes the listener's threadsafe function.
pub(crate) fn listener(function: Function<'_, FnArgs<(JsSyncEvent,)>, ()>) -> napi::Result<ListenerTsfn> {
    function
        .build_threadsafe_function::<SyncEvent>()
        .callee_handled::<false>()
        .weak::<true>()
        .build_callback(|ctx| Ok(FnArgs::from((JsSyncEvent::from(ctx.value),))))
}

/// What the JS transport adapter answers: bytes or text on success, or the error.
#[napi(object)]
pub struct TransportReply {
    /// `pull`: the change set, binary wire format.
    pub bytes: Option<Uint8Array>,
    /// `capabilities` and `push`: JSON text.
    pub text: Option<String>,
    /// The failure's message (the adapter keeps what the method threw as the cause).
    pub error: Option<String>,
    /// The failure's code: that of a SyncError the method threw, else `TRANSPORT`.
    pub error_code: Option<String>,
}

/// A request to the JS transport adapter.
pub(crate) enum TransportCall {
    Capabilities,
    Pull(String),
    Push(Vec<u8>),
}

type TransportArgs = FnArgs<(String, Either<String, Buffer>)>;
/// The JS transport adapter: `(op, arg) => Promise<TransportReply>`.
pub(crate) type TransportAdapter<'scope> = Function<'scope, TransportArgs, Promise<TransportReply>>;
type TransportTsfn = ThreadsafeFunction<TransportCall, Promise<TransportReply>, TransportArgs, Status, false, true>;

/// A transport written in JS: the adapter `(op, arg) => Promise<TransportReply>`.
pub(crate) struct JsTransport {
    tsfn: TransportTsfn,
}

impl JsTransport {
    /// Wraps the adapter function.
    pub(crate) fn new(function: TransportAdapter<'_>) -> napi::Result<JsTransport> {
        let tsfn = function
            .build_threadsafe_function::<TransportCall>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(|ctx| {
                Ok(FnArgs::from(match ctx.value {
                    TransportCall::Capabilities => ("capabilities".to_string(), Either::A(String::new())),
                    TransportCall::Pull(args) => ("pull".to_string(), Either::A(args)),
                    TransportCall::Push(bytes) => ("push".to_string(), Either::B(Buffer::from(bytes))),
                }))
            })?;
        Ok(JsTransport { tsfn })
    }

    /// Calls the adapter and waits for its promise. Never called on the JS thread: rounds run
    /// off it, so the JS thread is free to run the adapter.
    fn call(&self, request: TransportCall, method: &str) -> statesync::Result<TransportReply> {
        let reply = futures::executor::block_on(async {
            let promise = self.tsfn.call_async(request).await?;
            promise.await
        })
        .map_err(|e| SyncError::Transport(format!("transport.{method}() could not be called: {}", e.reason)))?;
        match reply.error {
            Some(message) => Err(from_callback(reply.error_code.as_deref(), message, SyncError::Transport)),
            None => Ok(reply),
        }
    }

    fn text(reply: TransportReply, method: &str) -> statesync::Result<serde_json::Value> {
        let text = reply.text.ok_or_else(|| SyncError::Transport(format!("transport.{method}() returned nothing")))?;
        serde_json::from_str(&text)
            .map_err(|e| SyncError::Transport(format!("transport.{method}() returned something that is not JSON: {e}")))
    }
}

/// The `rejections` of a push result: `[{id, code, message, current?}]`, strings all but
/// `current`, the peer's kept version as its wire JSON object (what JSON.stringify writes of a
/// `SyncState`; the shared `pushCounts` parses one given as text; null or absent: none); no
/// rejections when absent.
fn rejections(value: &serde_json::Value) -> statesync::Result<Vec<RejectedState>> {
    let malformed = |v: &serde_json::Value| {
        SyncError::Transport(format!(
            "transport.push() returned rejections = {v}, expected an array of {{id, code, message}} strings"
        ))
    };
    let kept = |item: &serde_json::Value| -> statesync::Result<Option<Arc<statesync::SyncState>>> {
        let parsed = match item.get("current") {
            None | Some(serde_json::Value::Null) => return Ok(None),
            Some(v) => statesync::SyncState::from_value(v.clone()),
        };
        parsed.map(|s| Some(Arc::new(s))).map_err(|e| {
            SyncError::Transport(format!("transport.push() returned a rejection whose current is {}", e.message()))
        })
    };
    let items = match value.get("rejections") {
        None | Some(serde_json::Value::Null) => return Ok(Vec::new()),
        Some(serde_json::Value::Array(items)) => items,
        Some(v) => return Err(malformed(v)),
    };
    items
        .iter()
        .map(|item| {
            let field =
                |key: &str| item.get(key).and_then(|f| f.as_str()).map(str::to_owned).ok_or_else(|| malformed(item));
            let mut refused = RejectedState::coded(&field("id")?, &field("code")?, field("message")?);
            refused.current = kept(item)?;
            Ok(refused)
        })
        .collect()
}

/// A whole number field of a JSON object the application's transport returned.
fn count(value: &serde_json::Value, key: &str, method: &str) -> statesync::Result<Option<u64>> {
    match value.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            SyncError::Transport(format!("transport.{method}() returned {key} = {v}, expected a whole number"))
        }),
    }
}

impl SyncTransport for JsTransport {
    fn capabilities(&self) -> statesync::Result<SyncCapabilities> {
        let reply = self.call(TransportCall::Capabilities, "capabilities")?;
        let text =
            reply.text.ok_or_else(|| SyncError::Transport("transport.capabilities() returned nothing".into()))?;
        // The core reads the camelCase names a JS transport returns; what it refuses is the
        // transport's fault, so TRANSPORT.
        let capabilities = SyncCapabilities::from_json(&text)
            .map_err(|e| SyncError::Transport(format!("transport.capabilities() returned {}", e.message())))?;
        if capabilities.node_id.is_empty() {
            return Err(SyncError::Transport(
                "transport.capabilities() must return an object with a string nodeId".into(),
            ));
        }
        Ok(capabilities)
    }

    fn pull(&self, cursor: Option<&str>, context: &SyncContext) -> statesync::Result<ChangeSet> {
        let args = serde_json::json!({
            "cursor": cursor,
            "collections": context.collections,
            "limit": context.limit,
        });
        let reply = self.call(TransportCall::Pull(args.to_string()), "pull")?;
        let bytes = reply.bytes.ok_or_else(|| SyncError::Transport("transport.pull() returned nothing".into()))?;
        // Each state is checked by the replica that applies it, which refuses a bad one alone.
        statesync::decode_page(&bytes, Encoding::Binary)
    }

    fn push(&self, changes: &ChangeSet) -> statesync::Result<ReconciliationResult> {
        let reply = self.call(TransportCall::Push(statesync::encode(changes, Encoding::Binary)), "push")?;
        let value = Self::text(reply, "push")?;
        let get = |key: &str| count(&value, key, "push").map(|c| c.unwrap_or(0));
        let rejections = rejections(&value)?;
        Ok(ReconciliationResult {
            created: get("created")?,
            updated: get("updated")?,
            unchanged: get("unchanged")?,
            ignored: get("ignored")?,
            conflicts: get("conflicts")?,
            resolved: get("resolved")?,
            // As the HTTP client reads a push answer: at least the refused states listed.
            rejected: get("rejected")?.max(rejections.len() as u64),
            rejections,
        })
    }
}
