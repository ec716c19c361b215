"""Type stubs of the native module: the classes live here and are re-exported by `statesync`."""

from statesync import (
    DELETED as DELETED,
)
from statesync import (
    MAX_DATA_DEPTH as MAX_DATA_DEPTH,
)
from statesync import (
    PROTOCOL_VERSION as PROTOCOL_VERSION,
)
from statesync import (
    WIRE_FORMAT as WIRE_FORMAT,
)
from statesync import (
    AlreadyExistsError as AlreadyExistsError,
)
from statesync import (
    ApplyResult as ApplyResult,
)
from statesync import (
    AutoBackup as AutoBackup,
)
from statesync import (
    BackupInfo as BackupInfo,
)
from statesync import (
    Capabilities as Capabilities,
)
from statesync import (
    ChangeSet as ChangeSet,
)
from statesync import (
    ClosedError as ClosedError,
)
from statesync import (
    ConflictError as ConflictError,
)
from statesync import (
    ConflictStrategy as ConflictStrategy,
)
from statesync import (
    CorruptError as CorruptError,
)
from statesync import (
    CryptoError as CryptoError,
)
from statesync import (
    Deleted as Deleted,
)
from statesync import (
    EncryptionKey as EncryptionKey,
)
from statesync import (
    ForbiddenError as ForbiddenError,
)
from statesync import (
    HttpTransport as HttpTransport,
)
from statesync import (
    InternalError as InternalError,
)
from statesync import (
    InvalidInputError as InvalidInputError,
)
from statesync import (
    InvalidStateError as InvalidStateError,
)
from statesync import (
    ManualClock as ManualClock,
)
from statesync import (
    NotFoundError as NotFoundError,
)
from statesync import (
    ObjectStoreTransport as ObjectStoreTransport,
)
from statesync import (
    OperationKind as OperationKind,
)
from statesync import (
    ReconciliationResult as ReconciliationResult,
)
from statesync import (
    RejectedState as RejectedState,
)
from statesync import (
    Rejection as Rejection,
)
from statesync import (
    Resolution as Resolution,
)
from statesync import (
    ResolverError as ResolverError,
)
from statesync import (
    Snapshot as Snapshot,
)
from statesync import (
    Status as Status,
)
from statesync import (
    StorageError as StorageError,
)
from statesync import (
    Subscription as Subscription,
)
from statesync import (
    SyncConflict as SyncConflict,
)
from statesync import (
    SyncError as SyncError,
)
from statesync import (
    SyncEvent as SyncEvent,
)
from statesync import (
    SyncManager as SyncManager,
)
from statesync import (
    SyncOperation as SyncOperation,
)
from statesync import (
    SyncReport as SyncReport,
)
from statesync import (
    SyncState as SyncState,
)
from statesync import (
    Timestamp as Timestamp,
)
from statesync import (
    TransportError as TransportError,
)
from statesync import (
    UnauthorizedError as UnauthorizedError,
)
from statesync import (
    UnsupportedFormatError as UnsupportedFormatError,
)
from statesync import (
    compare_clocks as compare_clocks,
)
from statesync import (
    compress as compress,
)
from statesync import (
    decode_change_set as decode_change_set,
)
from statesync import (
    decode_operations as decode_operations,
)
from statesync import (
    decode_page as decode_page,
)
from statesync import (
    decode_snapshot as decode_snapshot,
)
from statesync import (
    decode_state as decode_state,
)
from statesync import (
    decompress as decompress,
)
from statesync import (
    dominates as dominates,
)
from statesync import (
    encode as encode,
)
from statesync import (
    increment_clock as increment_clock,
)
from statesync import (
    list_backups as list_backups,
)
from statesync import (
    merge_clocks as merge_clocks,
)
from statesync import (
    prune_backups as prune_backups,
)
from statesync import (
    verify_backup as verify_backup,
)

__all__ = [
    "__version__",
    "PROTOCOL_VERSION",
    "WIRE_FORMAT",
    "MAX_DATA_DEPTH",
    "SyncError",
    "NotFoundError",
    "AlreadyExistsError",
    "InvalidStateError",
    "InvalidInputError",
    "ConflictError",
    "ResolverError",
    "StorageError",
    "CorruptError",
    "UnsupportedFormatError",
    "TransportError",
    "UnauthorizedError",
    "ForbiddenError",
    "CryptoError",
    "ClosedError",
    "InternalError",
    "OperationKind",
    "ConflictStrategy",
    "Status",
    "Timestamp",
    "SyncState",
    "SyncOperation",
    "SyncConflict",
    "ApplyResult",
    "ReconciliationResult",
    "RejectedState",
    "Rejection",
    "SyncReport",
    "ChangeSet",
    "Snapshot",
    "Capabilities",
    "Resolution",
    "Deleted",
    "DELETED",
    "SyncEvent",
    "ManualClock",
    "HttpTransport",
    "EncryptionKey",
    "BackupInfo",
    "AutoBackup",
    "ObjectStoreTransport",
    "SyncManager",
    "Subscription",
    "encode",
    "decode_state",
    "decode_change_set",
    "decode_page",
    "decode_snapshot",
    "decode_operations",
    "compress",
    "decompress",
    "compare_clocks",
    "merge_clocks",
    "dominates",
    "increment_clock",
    "list_backups",
    "verify_backup",
    "prune_backups",
    "_rust_w1",
    "_unpickle",
]

__version__: str

def _rust_w1(keys: int, updates: int) -> float:
    """Benchmark hook (not API): core workload W1a in Rust, GIL released; returns the seconds
    `updates` update_state calls over `keys` states took."""

def _unpickle(kind: str, payload: object) -> object: ...  # pickle's reconstructor of values
