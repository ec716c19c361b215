"""Type stubs of the statesync Python package: the contract of the Python API (docs/design.md#9-names-per-language).

JSON data is native Python: dict, list, str, int, float, bool, None. Anything else (including a
non-str dict key, NaN or an infinity, an int beyond ±(2**53 - 1), or nesting deeper than
MAX_DATA_DEPTH) raises InvalidInputError; tuples are accepted as lists. Arguments of the wrong
Python type elsewhere (a non-callable strategy, a non-transport) raise TypeError.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Literal, Protocol, TypeAlias, final, overload

JSON: TypeAlias = dict[str, "JSON"] | list["JSON"] | str | int | float | bool | None
# What the API accepts: read-only (covariant) containers, so `list[str]` or a `Mapping` passes.
JSONInput: TypeAlias = Mapping[str, "JSONInput"] | Sequence["JSONInput"] | str | int | float | bool | None
Clock: TypeAlias = dict[str, int]
WireEncoding: TypeAlias = Literal["json", "binary"]

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
    "InvalidInputError",
    "InternalError",
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

__version__: Final[str]
PROTOCOL_VERSION: Final[int]
WIRE_FORMAT: Final[int]
MAX_DATA_DEPTH: Final[int]

# ---- errors: one subclass per core variant, each with `.code` ------------------------------

# The codes `.code` holds, in the core's order (`cargo run -p statesync --example error_codes`;
# core/tests/error_codes.rs checks this list). statesync:error-codes
#   "NOT_FOUND", "ALREADY_EXISTS", "INVALID_STATE", "INVALID_INPUT", "CONFLICT", "RESOLVER",
#   "STORAGE", "CORRUPT", "UNSUPPORTED_FORMAT", "UNAUTHORIZED", "FORBIDDEN", "CRYPTO", "TRANSPORT",
#   "CLOSED", "INTERNAL"
# statesync:error-codes-end

class SyncError(Exception):
    code: str
    message: str
    def __init__(self, message: object = "", *args: object) -> None: ...

class NotFoundError(SyncError): ...
class AlreadyExistsError(SyncError): ...
class InvalidStateError(SyncError): ...
class InvalidInputError(SyncError): ...
class ConflictError(SyncError): ...
class ResolverError(SyncError): ...
class StorageError(SyncError): ...
class CorruptError(SyncError): ...
class UnsupportedFormatError(SyncError): ...
class TransportError(SyncError): ...
class UnauthorizedError(SyncError): ...
class ForbiddenError(SyncError): ...

class CryptoError(SyncError):
    """CRYPTO: an encrypted object does not open: a wrong or missing key, or its bytes were changed."""

class ClosedError(SyncError): ...
class InternalError(SyncError): ...  # a bug: a panic inside statesync, caught; the replica stays usable

# ---- values (immutable, comparable, printable) ----------------------------------------------

@final
class Timestamp:
    millis: int
    counter: int
    node: str
    def __new__(cls, millis: int, counter: int, node: str) -> Timestamp: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class SyncState:
    id: str
    collection: str
    data: JSON
    clock: Clock
    timestamp: Timestamp
    modified_by: str
    deleted: bool
    version: int
    hash: str
    @staticmethod
    def from_json(text: str | bytes) -> SyncState: ...  # wire JSON; InvalidStateError if malformed
    @staticmethod
    def from_dict(value: Mapping[str, Any]) -> SyncState: ...  # the same, from a parsed dict
    def to_json(self) -> str: ...  # compact wire JSON
    def to_dict(self) -> dict[str, Any]: ...  # complete form (every field)
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

class OperationKind(enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"

@final
class SyncOperation:
    op_id: str
    kind: OperationKind
    state_id: str
    collection: str
    data: JSON
    clock: Clock
    timestamp: Timestamp
    node_id: str
    def to_dict(self) -> dict[str, Any]: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class SyncConflict:
    conflict_id: str
    state_id: str
    local: SyncState
    remote: SyncState
    detected_at: int
    def __eq__(self, other: object, /) -> bool: ...

@final
class ApplyResult:
    outcome: Literal["created", "updated", "unchanged", "ignored", "conflict"]
    resolved: bool
    state: SyncState
    conflict: SyncConflict | None  # the conflict recorded by the MANUAL strategy
    def __eq__(self, other: object, /) -> bool: ...

@final
class RejectedState:
    """A state the receiving replica refused (a ReconciliationResult lists them), with the
    version that replica keeps of it when it said (`current`)."""

    id: str
    code: str  # the error code, e.g. "INVALID_STATE"
    message: str
    current: SyncState | None  # the refusing peer's kept version: what revert_rejected writes back
    def __new__(
        cls, id: str, code: str, message: str, current: SyncState | Mapping[str, Any] | str | bytes | None = None
    ) -> RejectedState: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class ReconciliationResult:
    created: int
    updated: int
    unchanged: int
    ignored: int
    conflicts: int
    resolved: int
    rejected: int  # states refused alone; the rest of the batch applied
    rejections: list[RejectedState]  # the refused states, with the reason for each
    def to_dict(self) -> dict[str, int]: ...  # the counts, "rejected" included
    def __eq__(self, other: object, /) -> bool: ...

@final
class Rejection:
    """A refused state recorded durably until a later version of it goes through
    (SyncManager.rejections()): a peer's version refused here, or one of ours a peer refused."""

    state_id: str
    code: str  # the error code, e.g. "INVALID_STATE"
    message: str  # naming the peer involved
    rejected_at: int  # local wall-clock milliseconds
    own: bool  # one of this replica's own versions, refused by a peer (revert_rejected can undo it)
    current: SyncState | None  # for an own version: the refusing peer's kept version, if it said
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class SyncReport:
    pulled: ReconciliationResult
    pushed: ReconciliationResult
    def __eq__(self, other: object, /) -> bool: ...

@final
class ChangeSet:
    states: list[SyncState]
    cursor: str
    has_more: bool
    def __new__(cls, states: Sequence[SyncState], cursor: str, has_more: bool) -> ChangeSet: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class Snapshot:
    format: int
    node_id: str
    states: list[SyncState]
    pending: list[SyncOperation]
    conflicts: list[SyncConflict]
    @staticmethod
    def from_json(text: str | bytes) -> Snapshot: ...  # CorruptError / UnsupportedFormatError / InvalidStateError
    def to_json(self) -> str: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class Capabilities:
    protocol: int
    node_id: str
    scoped_sync: bool
    binary: bool
    zstd: bool
    max_batch: int | None
    max_body_bytes: int | None  # largest request body the peer accepts; pushed pages are cut to fit
    def __new__(
        cls,
        node_id: str,
        *,
        protocol: int = ...,
        scoped_sync: bool = False,
        binary: bool = False,
        zstd: bool = False,
        max_batch: int | None = None,
        max_body_bytes: int | None = None,
    ) -> Capabilities: ...

# ---- strategies, resolutions, status, events --------------------------------------------------

Resolver: TypeAlias = Callable[[SyncState, SyncState], JSONInput | Deleted]

@final
class Deleted:
    """Returned by a resolver: the merged result is a deletion."""

DELETED: Final[Deleted]

class ConflictStrategy(enum.Enum):
    LAST_WRITE_WINS = "lastWriteWins"
    MERGE_FIELDS = "mergeFields"
    LOCAL_WINS = "localWins"
    REMOTE_WINS = "remoteWins"
    MANUAL = "manual"

Strategy: TypeAlias = ConflictStrategy | Resolver

@final
class Resolution:
    LOCAL: Final[Resolution]
    REMOTE: Final[Resolution]
    @staticmethod
    def custom(data: JSONInput) -> Resolution: ...

class Status(enum.Enum):
    IDLE = "idle"
    SYNCING = "syncing"
    CONFLICT = "conflict"
    ERROR = "error"
    CLOSED = "closed"

@final
class SyncEvent:
    name: Literal[
        "stateCreated",
        "stateUpdated",
        "stateDeleted",
        "conflictDetected",
        "conflictResolved",
        "stateRejected",
        "syncStarted",
        "syncCompleted",
        "syncFailed",
        "statusChanged",
    ]
    state: SyncState | None  # state events
    conflict: SyncConflict | None  # conflictDetected
    conflict_id: str | None  # conflictResolved
    state_id: str | None  # conflictResolved, stateRejected
    code: str | None  # stateRejected: the error code
    peer: str | None  # sync events
    message: str | None  # syncFailed, stateRejected
    previous: Status | None  # statusChanged
    current: Status | None  # statusChanged

@final
class Subscription:
    def unsubscribe(self) -> bool: ...
    def __enter__(self) -> Subscription: ...
    def __exit__(self, *exc: object) -> None: ...

@final
class ManualClock:
    """A wall clock the application (or a test) moves by hand, in milliseconds."""
    def __new__(cls, millis: int) -> ManualClock: ...
    def set(self, millis: int) -> None: ...
    def now(self) -> int: ...

# ---- transports -----------------------------------------------------------------------------

class Transport(Protocol):
    """A sync peer implemented in Python: `SyncManager.sync` and auto-sync call these from a
    worker thread; raising an exception fails the round (TransportError unless it is a SyncError)."""
    def capabilities(self) -> Capabilities: ...
    def pull(self, cursor: str | None, collections: list[str], limit: int | None) -> ChangeSet: ...
    # A mapping: counts ("created", ..., "rejected") and optional "rejections", a list of
    # RejectedState or of mappings with "id", "code", "message" (they become rejections()).
    def push(self, changes: ChangeSet) -> ReconciliationResult | Mapping[str, object]: ...

@final
class HttpTransport:
    """The built-in client of the HTTP sync protocol (docs/protocol.md): `space` names the hub
    space (`/v1/spaces/{space}/...`; an invalid id is InvalidInputError), `token` is sent as
    `Authorization: Bearer <token>`."""

    space: str | None  # None: the hub's `default` space (the `/v1/...` routes)
    def __new__(
        cls,
        base_url: str,
        *,
        space: str | None = None,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        encoding: WireEncoding = "binary",
        compress: bool = True,
    ) -> HttpTransport: ...

# ---- object storage: encryption, backups, sync through a bucket (docs/backups.md) ----------

@final
class EncryptionKey:
    """A 256-bit key sealing stored objects with XChaCha20-Poly1305 (docs/encryption.md). Opaque: its
    repr names how it was made, never its bytes; it cannot be pickled."""

    @staticmethod
    def from_bytes(key: bytes) -> EncryptionKey:
        """A key of exactly 32 bytes (`os.urandom(32)` or from a key manager); InvalidInputError otherwise."""
    @staticmethod
    def from_passphrase(passphrase: str, salt: bytes | str) -> EncryptionKey:
        """A key derived with Argon2id (the core's defaults, recorded in every sealed object) from a
        non-empty passphrase and a salt of 8 to 64 bytes (a str is its UTF-8 bytes). Releases the GIL."""
    def encrypt(self, name: str, data: bytes) -> bytes:
        """`data` sealed as the object `name`, under a fresh random nonce."""
    def decrypt(self, name: str, data: bytes) -> bytes:
        """The plaintext of `data` sealed as the object `name`; CryptoError for another key or name,
        or any changed bit."""

@final
class BackupInfo:
    """What a backup holds, as its manifest says (`list_backups`, `SyncManager.backup`)."""

    id: str
    """`backup-<UTC yyyymmddThhmmssZ>-<8 hex>`."""
    created_at: int
    """When it was written, in milliseconds since the Unix epoch."""
    label: str | None
    """The application's label, if it gave one."""
    states: int
    """States in it, tombstones included."""
    bytes: int
    """Bytes stored, all parts together."""
    parts: int
    """Number of parts."""
    sha256: str
    """SHA-256 (hex) of the compressed snapshot, before encryption and splitting."""
    encrypted: bool
    """Whether its parts are sealed with a key."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class AutoBackup:
    """A running auto-backup (`SyncManager.start_auto_backup`): stopped by `stop()`, by leaving its
    `with` block, or when it is garbage-collected."""

    last_backup: BackupInfo | None
    """The newest backup it wrote, if any."""
    last_error: tuple[str, str] | None
    """`(code, message)` of the last run's failure, if the last run failed (retried at the next interval)."""
    runs: int
    """How many runs finished, well or not."""
    def stop(self) -> None:
        """Stops it, waiting for a backup in progress to finish. Idempotent."""
    def __enter__(self) -> AutoBackup: ...
    def __exit__(self, *exc: object) -> None: ...

@final
class ObjectStoreTransport:
    """Sync through a storage URL (`file:///dir`, `memory://name/prefix`, `s3://`, `gs://`, `az://`)
    with no server: usable wherever an HttpTransport is (`SyncManager.sync`, `start_auto_sync`).
    Every replica of the bucket uses the same key, or none. An unknown scheme is InvalidInputError."""

    def __new__(cls, url: str, key: EncryptionKey | None = None) -> ObjectStoreTransport: ...
    def compact(self) -> bool:
        """Compacts the segments pushed since the newest snapshot into a new one; False when there
        was nothing to do or another replica compacted at the same time."""

def list_backups(url: str) -> list[BackupInfo]:
    """Every complete backup under the storage URL `url`, newest first."""

def verify_backup(url: str, id: str, *, key: EncryptionKey | None = None) -> BackupInfo:
    """Downloads and checks every part of backup `id`: CorruptError naming a damaged or missing part,
    CryptoError for a wrong or missing key, NotFoundError for no such backup."""

def prune_backups(url: str, *, keep_last: int | None = None, keep_within: float | None = None) -> list[str]:
    """Deletes every backup but the `keep_last` newest and those younger than `keep_within` seconds
    (give at least one); returns the ids deleted, newest first."""

# ---- the replica ----------------------------------------------------------------------------

@final
class SyncManager:
    def __new__(
        cls,
        node_id: str | None = None,
        path: str | None = None,
        *,
        strategy: Strategy | None = None,  # None: ConflictStrategy.LAST_WRITE_WINS
        collection_strategies: Mapping[str, Strategy] | None = None,
        clock: ManualClock | None = None,
        check_resolver: bool = False,
        max_clock_skew: float = 3600.0,  # seconds a received timestamp may be ahead of the clock
        max_state_bytes: int = 1048576,  # largest canonical JSON of a state's data
    ) -> SyncManager: ...
    @property
    def node_id(self) -> str: ...
    def create_state(self, data: JSONInput, id: str | None = None, collection: str | None = None) -> SyncState: ...
    def get_state(self, id: str) -> SyncState | None: ...
    def update_state(self, id: str, data: JSONInput) -> SyncState: ...
    def delete_state(self, id: str) -> SyncState: ...
    def list_states(self, collection: str | None = None, include_deleted: bool = False) -> list[SyncState]: ...
    def pending_operations(self) -> list[SyncOperation]: ...
    def acknowledge(self, op_ids: Iterable[str]) -> int: ...
    def apply_remote_state(self, state: SyncState) -> ApplyResult: ...
    def reconcile(self, states: Iterable[SyncState]) -> ReconciliationResult: ...
    def rejections(self) -> list[Rejection]: ...  # refused states, oldest first
    def conflicts(self) -> list[SyncConflict]: ...
    def resolve_conflict(self, conflict_id: str, resolution: Resolution) -> SyncState: ...
    def revert_rejected(self, state_id: str) -> SyncState: ...  # writes the peer's kept version back
    def set_strategy(self, strategy: Strategy) -> None: ...
    def set_collection_strategy(self, collection: str, strategy: Strategy | None) -> None: ...
    def changes_since(
        self, cursor: str | None = None, collections: Sequence[str] | None = None, limit: int | None = None
    ) -> ChangeSet: ...
    def apply_changes(
        self, peer: str, changes: ChangeSet, collections: Sequence[str] | None = None
    ) -> ReconciliationResult: ...
    def peer_cursor(self, peer: str, collections: Sequence[str] | None = None) -> str | None: ...
    def set_peer_cursor(self, peer: str, cursor: str | None, collections: Sequence[str] | None = None) -> None: ...
    def sync_with(
        self, other: SyncManager, collections: Sequence[str] | None = None, limit: int | None = None
    ) -> SyncReport: ...
    def sync(
        self,
        transport: Transport | HttpTransport | ObjectStoreTransport,
        collections: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> SyncReport: ...
    def start_auto_sync(
        self,
        interval: float,
        transport: Transport | HttpTransport | ObjectStoreTransport,
        collections: Sequence[str] | None = None,
    ) -> None: ...
    def stop_auto_sync(self) -> bool: ...
    def sync_now(self) -> bool: ...
    def export_state(self) -> Snapshot: ...
    @overload
    def import_state(self, snapshot: Snapshot, replace: bool = False) -> ReconciliationResult: ...
    @overload
    def import_state(self, snapshot: str | bytes, replace: bool = False) -> ReconciliationResult: ...
    def backup(self, url: str, *, key: EncryptionKey | None = None, label: str | None = None) -> BackupInfo:
        """Backs this replica up to the storage URL `url` (docs/backups.md): every state, the pending
        queue and the conflicts, sealed with `key` when given; `label` is kept in clear in the manifest.
        The GIL is released while it uploads."""
    def restore_backup(
        self,
        url: str,
        id: str,
        *,
        key: EncryptionKey | None = None,
        replace: bool = False,
        collections: Sequence[str] | None = None,
    ) -> ReconciliationResult:
        """Restores backup `id` from `url`, verified whole first: merged like `reconcile` (a backup
        never overwrites newer local data) or, with `replace`, put in place of what the replica holds;
        with `collections`, only those. CorruptError naming a damaged part, CryptoError for a wrong or
        missing key; a restore that fails changes nothing."""
    def start_auto_backup(
        self, url: str, interval: float, *, keep_last: int = 0, key: EncryptionKey | None = None
    ) -> AutoBackup:
        """Backs this replica up to `url` every `interval` seconds (at least 1; the first at once) on a
        thread of its own, then prunes to the `keep_last` newest backups (0 keeps all). The URL is
        checked before it starts (InvalidInputError)."""
    def status(self) -> Status: ...
    def subscribe(self, callback: Callable[[SyncEvent], object]) -> Subscription: ...
    def close(self) -> None: ...
    def __enter__(self) -> SyncManager: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

# ---- vector clocks --------------------------------------------------------------------------

def compare_clocks(a: Mapping[str, int], b: Mapping[str, int]) -> Literal["equal", "before", "after", "concurrent"]: ...
def merge_clocks(a: Mapping[str, int], b: Mapping[str, int]) -> Clock: ...
def dominates(a: Mapping[str, int], b: Mapping[str, int]) -> bool: ...
def increment_clock(clock: Mapping[str, int], node: str) -> tuple[Clock, int]: ...  # (new clock, new counter)

# ---- wire formats ---------------------------------------------------------------------------

WireMessage: TypeAlias = SyncState | ChangeSet | Snapshot | list[SyncOperation]

def encode(value: WireMessage, encoding: WireEncoding = "json") -> bytes: ...
def decode_state(data: bytes, encoding: WireEncoding = "json") -> SyncState: ...
def decode_change_set(data: bytes, encoding: WireEncoding = "json") -> ChangeSet: ...
def decode_page(data: bytes, encoding: WireEncoding = "json") -> ChangeSet: ...  # states checked when applied
def decode_snapshot(data: bytes, encoding: WireEncoding = "json") -> Snapshot: ...
def decode_operations(data: bytes, encoding: WireEncoding = "json") -> list[SyncOperation]: ...
def compress(data: bytes) -> bytes: ...
def decompress(data: bytes) -> bytes: ...
