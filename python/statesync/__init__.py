"""statesync: keeps JSON application state in sync between offline-first replicas.

Example::

    from statesync import SyncManager

    with SyncManager(node_id="phone") as phone, SyncManager(node_id="laptop") as laptop:
        phone.create_state({"theme": "dark"}, id="settings", collection="prefs")
        report = laptop.sync_with(phone)                    # pull, then push
        settings = laptop.get_state("settings")            # None when there is no such state
        assert settings is not None and settings.data == {"theme": "dark"}
        laptop.update_state("settings", {"theme": "light"})
        laptop.sync_with(phone)
        print(phone.get_state("settings"))                  # SyncState(id='settings', ...)
        print(report.pulled.created)                        # 1

JSON data is native Python: dict (str keys), list, str, int, float, bool, None. The native
module ``statesync._native`` (Rust) does the work; this package re-exports it with typing
aliases and the ``Transport`` protocol. See ``__init__.pyi`` for the full typed API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal, Protocol, Union

from . import _native
from ._native import (
    DELETED,
    MAX_DATA_DEPTH,
    PROTOCOL_VERSION,
    WIRE_FORMAT,
    AlreadyExistsError,
    ApplyResult,
    AutoBackup,
    BackupInfo,
    Capabilities,
    ChangeSet,
    ClosedError,
    ConflictError,
    ConflictStrategy,
    CorruptError,
    CryptoError,
    Deleted,
    EncryptionKey,
    ForbiddenError,
    HttpTransport,
    InternalError,
    InvalidInputError,
    InvalidStateError,
    ManualClock,
    NotFoundError,
    ObjectStoreTransport,
    OperationKind,
    ReconciliationResult,
    RejectedState,
    Rejection,
    Resolution,
    ResolverError,
    Snapshot,
    Status,
    StorageError,
    Subscription,
    SyncConflict,
    SyncError,
    SyncEvent,
    SyncManager,
    SyncOperation,
    SyncReport,
    SyncState,
    Timestamp,
    TransportError,
    UnauthorizedError,
    UnsupportedFormatError,
    compare_clocks,
    compress,
    decode_change_set,
    decode_operations,
    decode_page,
    decode_snapshot,
    decode_state,
    decompress,
    dominates,
    encode,
    increment_clock,
    list_backups,
    merge_clocks,
    prune_backups,
    verify_backup,
)

__version__ = _native.__version__

# ---- typing aliases (3.9-compatible spellings of the stub's) -----------------------------------

JSON = Union[dict[str, "JSON"], list["JSON"], str, int, float, bool, None]
#: What the API accepts: read-only (covariant) containers, so ``list[str]`` or a ``Mapping`` passes.
JSONInput = Union[Mapping[str, "JSONInput"], Sequence["JSONInput"], str, int, float, bool, None]
Clock = dict[str, int]
WireEncoding = Union[Literal["json"], Literal["binary"]]
Resolver = Callable[[SyncState, SyncState], Union[JSONInput, Deleted]]
Strategy = Union[ConflictStrategy, Resolver]
WireMessage = Union[SyncState, ChangeSet, Snapshot, list[SyncOperation]]


class Transport(Protocol):
    """A sync peer implemented in Python: `SyncManager.sync` and auto-sync call these from a
    worker thread; raising an exception fails the round (TransportError unless it is a SyncError).

    `push` answers with a ReconciliationResult, or a mapping of counts ("created", ...,
    "rejected"; missing ones are 0) with optional "rejections": a list of RejectedState, or of
    mappings with "id", "code", "message" and optionally "current" (the version the peer keeps:
    a SyncState, its dict or its JSON) — the states the peer refused, which become rejections()
    of the pushing replica, and which revert_rejected() can undo to that kept version. A page
    `pull` got as bytes from a peer is best read with `decode_page`, which leaves an invalid
    state to be refused alone."""

    def capabilities(self) -> Capabilities: ...

    def pull(self, cursor: str | None, collections: list[str], limit: int | None) -> ChangeSet: ...

    def push(self, changes: ChangeSet) -> ReconciliationResult | Mapping[str, object]: ...


def _error_init(self: SyncError, message: object = "", *args: object) -> None:
    # `.message` for errors the application raises itself (in a transport, say); errors the
    # native module raises get theirs set after construction.
    Exception.__init__(self, message, *args)
    self.message = str(message)


SyncError.__init__ = _error_init

__all__ = [
    "DELETED",
    "JSON",
    "JSONInput",
    "MAX_DATA_DEPTH",
    "PROTOCOL_VERSION",
    "WIRE_FORMAT",
    "AlreadyExistsError",
    "ApplyResult",
    "AutoBackup",
    "BackupInfo",
    "Capabilities",
    "ChangeSet",
    "Clock",
    "ClosedError",
    "ConflictError",
    "ConflictStrategy",
    "CorruptError",
    "CryptoError",
    "Deleted",
    "EncryptionKey",
    "HttpTransport",
    "InternalError",
    "InvalidInputError",
    "InvalidStateError",
    "ManualClock",
    "NotFoundError",
    "ObjectStoreTransport",
    "OperationKind",
    "ReconciliationResult",
    "RejectedState",
    "Rejection",
    "Resolution",
    "Resolver",
    "ResolverError",
    "Snapshot",
    "Status",
    "StorageError",
    "Strategy",
    "Subscription",
    "SyncConflict",
    "SyncError",
    "SyncEvent",
    "SyncManager",
    "SyncOperation",
    "SyncReport",
    "SyncState",
    "Timestamp",
    "Transport",
    "TransportError",
    "UnauthorizedError",
    "ForbiddenError",
    "UnsupportedFormatError",
    "WireEncoding",
    "WireMessage",
    "__version__",
    "compare_clocks",
    "compress",
    "decode_change_set",
    "decode_operations",
    "decode_page",
    "decode_snapshot",
    "decode_state",
    "decompress",
    "dominates",
    "encode",
    "increment_clock",
    "list_backups",
    "merge_clocks",
    "prune_backups",
    "verify_backup",
]
