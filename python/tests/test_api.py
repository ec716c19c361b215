"""Python-specific behaviour of the statesync binding (the contract is python/statesync/__init__.pyi).

The conformance suite (test_conformance.py) checks the core's rules through the binding; these
tests check what only the binding can get wrong: exceptions and their cause chain, events and
callbacks, context managers, threads and the GIL, pickling, Python values at the edges, Python
transports, auto-sync, and the built-in HTTP client against the Rust hub.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import os
import pickle
import queue
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Callable, NoReturn

import pytest

import statesync
from statesync import ConflictStrategy, Resolution, Status

# ---- helpers -------------------------------------------------------------------------------------

ERRORS = [
    (statesync.NotFoundError, "NOT_FOUND"),
    (statesync.AlreadyExistsError, "ALREADY_EXISTS"),
    (statesync.InvalidStateError, "INVALID_STATE"),
    (statesync.InvalidInputError, "INVALID_INPUT"),
    (statesync.ConflictError, "CONFLICT"),
    (statesync.ResolverError, "RESOLVER"),
    (statesync.StorageError, "STORAGE"),
    (statesync.CorruptError, "CORRUPT"),
    (statesync.UnsupportedFormatError, "UNSUPPORTED_FORMAT"),
    (statesync.TransportError, "TRANSPORT"),
    (statesync.UnauthorizedError, "UNAUTHORIZED"),
    (statesync.CryptoError, "CRYPTO"),
    (statesync.ClosedError, "CLOSED"),
    (statesync.InternalError, "INTERNAL"),
]

ZERO_COUNTS = {"created": 0, "updated": 0, "unchanged": 0, "ignored": 0, "conflicts": 0, "resolved": 0, "rejected": 0}


def strict_eq(a: Any, b: Any) -> bool:
    """JSON equality that also keeps int vs float, bool vs int and the sign of -0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(strict_eq(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(strict_eq(a[k], b[k]) for k in a)
    return a == b


def states_by_id(m: statesync.SyncManager) -> dict[str, dict[str, Any]]:
    """Every stored version (tombstones included), comparable across replicas."""
    return {s.id: s.to_dict() for s in m.list_states(include_deleted=True)}


@pytest.fixture
def managers() -> Iterator[Callable[..., statesync.SyncManager]]:
    """A factory of SyncManagers that are all closed after the test."""
    opened: list[statesync.SyncManager] = []

    def make(node_id: str | None = None, **kwargs: Any) -> statesync.SyncManager:
        m = statesync.SyncManager(node_id, **kwargs)
        opened.append(m)
        return m

    yield make
    for m in opened:
        try:
            m.stop_auto_sync()
        except statesync.SyncError:
            pass
        try:
            m.close()
        except statesync.SyncError:
            pass


def concurrent_pair(
    managers: Callable[..., statesync.SyncManager], **a_kwargs: Any
) -> tuple[statesync.SyncManager, statesync.SyncManager, statesync.SyncState]:
    """Replicas A (configured by a_kwargs) and B that wrote `s` concurrently; returns B's version."""
    a = managers("A", **a_kwargs)
    b = managers("B")
    a.create_state({"v": 1, "from": "A"}, id="s")
    remote = b.create_state({"v": 2, "from": "B"}, id="s")
    return a, b, remote


class PeerTransport:
    """A sync peer implemented in Python: another in-process SyncManager."""

    def __init__(self, other: statesync.SyncManager) -> None:
        self.other = other
        self.calls: list[Any] = []
        self.lock = threading.Lock()

    def capabilities(self) -> statesync.Capabilities:
        return statesync.Capabilities(node_id=self.other.node_id, scoped_sync=True)

    def pull(self, cursor: str | None, collections: list[str], limit: int | None) -> statesync.ChangeSet:
        with self.lock:
            self.calls.append(("pull", cursor, list(collections), limit))
        return self.other.changes_since(cursor, collections, limit)

    def push(self, changes: statesync.ChangeSet) -> Any:
        with self.lock:
            self.calls.append(("push", [s.id for s in changes.states]))
        return self.other.reconcile(changes.states)


# ---- constants, values, enums -----------------------------------------------------------------------


def test_module_constants() -> None:
    assert isinstance(statesync.__version__, str) and statesync.__version__
    assert statesync.PROTOCOL_VERSION == 1
    assert statesync.WIRE_FORMAT == 1
    assert isinstance(statesync.MAX_DATA_DEPTH, int) and statesync.MAX_DATA_DEPTH >= 1


def test_enums_carry_the_contract_names() -> None:
    assert {s.value for s in ConflictStrategy} == {"lastWriteWins", "mergeFields", "localWins", "remoteWins", "manual"}
    assert {s.value for s in Status} == {"idle", "syncing", "conflict", "error", "closed"}
    assert {k.value for k in statesync.OperationKind} == {"create", "update", "delete"}
    assert ConflictStrategy("mergeFields") is ConflictStrategy.MERGE_FIELDS


def test_state_fields_and_to_dict(managers: Callable[..., statesync.SyncManager]) -> None:
    clock = statesync.ManualClock(5000)
    m = managers("A", clock=clock)
    s = m.create_state({"theme": "dark"}, id="settings", collection="prefs")
    assert s.id == "settings" and s.collection == "prefs"
    assert s.data == {"theme": "dark"}
    assert s.clock == {"A": 1}
    assert s.timestamp == statesync.Timestamp(5000, 0, "A")
    assert (s.timestamp.millis, s.timestamp.counter, s.timestamp.node) == (5000, 0, "A")
    assert s.modified_by == "A" and s.deleted is False and s.version == 1
    assert s.hash == "730dbbcf9f17f860"  # README "Hash": {"data":{"theme":"dark"},"deleted":false}
    d = s.to_dict()
    assert d == {
        "id": "settings",
        "collection": "prefs",
        "data": {"theme": "dark"},
        "clock": {"A": 1},
        "timestamp": {"millis": 5000, "counter": 0, "node": "A"},
        "modified_by": "A",
        "deleted": False,
        "version": 1,
        "hash": "730dbbcf9f17f860",
    }
    assert statesync.SyncState.from_dict(d) == s
    assert statesync.SyncState.from_json(s.to_json()) == s
    compact = json.loads(s.to_json())
    assert "modified_by" not in compact and "deleted" not in compact  # the compact wire form
    # the default id is generated, the default collection is "default"
    t = m.create_state([1, 2])
    assert t.id and t.collection == "default"
    tomb = m.delete_state("settings")
    assert tomb.deleted is True and tomb.data is None and tomb.hash == "a2fd5e02fc0d43cd"
    assert m.get_state("settings") is None


def test_values_are_immutable_comparable_hashable_printable(managers: Callable[..., statesync.SyncManager]) -> None:
    m = managers("A")
    s = m.create_state({"v": 1}, id="s")
    same = m.get_state("s")
    assert same == s and hash(same) == hash(s) and len({s, same}) == 1
    assert s != m.update_state("s", {"v": 2})
    assert s != "s" and s != None  # noqa: E711 - comparing with foreign objects is False, not an error
    for attr, value in [("data", {"v": 9}), ("id", "x"), ("version", 7), ("clock", {})]:
        with pytest.raises((AttributeError, TypeError)):
            setattr(s, attr, value)
    assert s.data == {"v": 1}
    # mutating a returned dict does not reach the stored state
    s.data["v"] = 99
    s.clock["Z"] = 5
    assert s.data == {"v": 1} and s.clock == {"A": 1}
    assert m.get_state("s").data == {"v": 2}
    assert m.list_states()[0].clock == {"A": 2}
    assert "s" in repr(s) and repr(m.pending_operations()[0]) and str(s)
    ts = statesync.Timestamp(1, 2, "n")
    assert ts == statesync.Timestamp(1, 2, "n") and ts != statesync.Timestamp(1, 3, "n")
    assert hash(ts) == hash(statesync.Timestamp(1, 2, "n")) and repr(ts)
    with pytest.raises((AttributeError, TypeError)):
        ts.millis = 5  # type: ignore[misc]


def test_capabilities_changeset_resolution_constructors(managers: Callable[..., statesync.SyncManager]) -> None:
    caps = statesync.Capabilities("peer")
    assert caps.node_id == "peer" and caps.protocol == statesync.PROTOCOL_VERSION
    assert (caps.scoped_sync, caps.binary, caps.zstd, caps.max_batch, caps.max_body_bytes) == (
        False,
        False,
        False,
        None,
        None,
    )
    caps = statesync.Capabilities("peer", scoped_sync=True, binary=True, zstd=True, max_batch=10, max_body_bytes=4096)
    assert (caps.scoped_sync, caps.binary, caps.zstd) == (True, True, True)
    assert (caps.max_batch, caps.max_body_bytes) == (10, 4096)
    assert "max_body_bytes=4096" in repr(caps)
    m = managers("A")
    s = m.create_state(1, id="s")
    page = statesync.ChangeSet([s], "7", True)
    assert page.states == [s] and page.cursor == "7" and page.has_more is True
    assert page == statesync.ChangeSet([s], "7", True) and page != statesync.ChangeSet([], "7", True)
    assert Resolution.LOCAL is not Resolution.REMOTE
    Resolution.custom({"merged": True})
    assert isinstance(statesync.DELETED, statesync.Deleted)


def test_operation_and_result_types(managers: Callable[..., statesync.SyncManager]) -> None:
    clock = statesync.ManualClock(1000)
    a = managers("A", clock=clock)
    b = managers("B")
    a.create_state({"v": 1}, id="s", collection="c")
    a.update_state("s", {"v": 2})
    a.delete_state("s")
    ops = a.pending_operations()
    assert [o.kind for o in ops] == [
        statesync.OperationKind.CREATE,
        statesync.OperationKind.UPDATE,
        statesync.OperationKind.DELETE,
    ]
    assert [o.op_id for o in ops] == ["A:1", "A:2", "A:3"]
    assert ops[0].state_id == "s" and ops[0].collection == "c" and ops[0].node_id == "A"
    assert ops[0].data == {"v": 1} and ops[2].data is None and ops[1].clock == {"A": 2}
    assert isinstance(ops[0].timestamp, statesync.Timestamp)
    assert ops[0].to_dict()["op_id"] == "A:1"
    assert a.acknowledge([ops[0].op_id, "unknown:1"]) == 1
    assert a.acknowledge(iter([ops[1].op_id])) == 1  # any iterable of ids
    assert [o.op_id for o in a.pending_operations()] == ["A:3"]
    # ApplyResult / ReconciliationResult / SyncReport
    tomb = a.list_states(include_deleted=True)[0]
    r = b.apply_remote_state(tomb)
    assert isinstance(r, statesync.ApplyResult)
    assert r.outcome == "created" and r.resolved is False and r.state == tomb and r.conflict is None
    assert b.apply_remote_state(tomb).outcome == "unchanged"
    counts = b.reconcile([tomb])
    assert isinstance(counts, statesync.ReconciliationResult)
    assert counts.to_dict() == dict(ZERO_COUNTS, unchanged=1)
    assert (counts.created, counts.updated, counts.unchanged, counts.ignored, counts.conflicts, counts.resolved) == (
        0,
        0,
        1,
        0,
        0,
        0,
    )
    assert counts.rejected == 0 and counts.rejections == []
    assert repr(counts) == (
        "ReconciliationResult(created=0, updated=0, unchanged=1, ignored=0, conflicts=0, resolved=0)"
    )
    assert b.reconcile(s for s in [tomb]).unchanged == 1  # any iterable of states
    report = a.sync_with(b)
    assert isinstance(report, statesync.SyncReport)
    assert isinstance(report.pulled, statesync.ReconciliationResult)
    assert report.pulled == report.pulled and report.pushed.to_dict().keys() == ZERO_COUNTS.keys()


# ---- exceptions -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls,code", ERRORS, ids=[c for _, c in ERRORS])
def test_exception_hierarchy(cls: type, code: str) -> None:
    assert issubclass(cls, statesync.SyncError)
    assert issubclass(statesync.SyncError, Exception)
    assert cls is not statesync.SyncError
    assert not issubclass(statesync.SyncError, cls)


def test_every_error_class_is_distinct() -> None:
    assert len({cls for cls, _ in ERRORS}) == len(ERRORS)


def _panic(m: statesync.SyncManager, missing: Callable[[str], NoReturn]) -> None:
    """Calls the test build's `SyncManager._panic_for_tests()`: a panic inside the core, in a
    transaction with the replica's lock held."""
    call = getattr(m, "_panic_for_tests", None)
    if call is None:
        missing("this build has no SyncManager._panic_for_tests (built without the crate's `testing` feature)")
    call()


def _trigger(
    code: str, managers: Callable[..., statesync.SyncManager], tmp_dir: Path, missing: Callable[[str], NoReturn]
) -> None:
    """Makes the binding raise the error of `code` through a real call."""
    if code == "NOT_FOUND":
        managers("A").update_state("missing", 1)
    elif code == "ALREADY_EXISTS":
        m = managers("A")
        m.create_state(1, id="s")
        m.create_state(2, id="s")
    elif code == "INVALID_STATE":
        statesync.SyncState.from_json("{not json")
    elif code == "INVALID_INPUT":
        managers("A").create_state(1, id="")
    elif code == "CONFLICT":
        a, _, remote = concurrent_pair(managers, strategy=lambda local, remote: local.data, check_resolver=True)
        a.apply_remote_state(remote)
    elif code == "RESOLVER":
        a, _, remote = concurrent_pair(managers, strategy=_raise_value_error, check_resolver=False)
        a.apply_remote_state(remote)
    elif code == "STORAGE":
        managers("A", path=str(tmp_dir / "no" / "such" / "directory" / "a.db"))
    elif code == "CORRUPT":
        statesync.Snapshot.from_json('{"format": 1, "node_id": ')
    elif code == "UNSUPPORTED_FORMAT":
        statesync.Snapshot.from_json('{"format": 7, "node_id": "A", "states": [], "pending": [], "conflicts": []}')
    elif code == "TRANSPORT":
        managers("A").sync(_RaisingTransport(ConnectionError("down")))
    elif code == "UNAUTHORIZED":
        # from a transport (the hub's real 401 is test_http_transport_token)
        managers("A").sync(_RaisingTransport(statesync.UnauthorizedError("token expired")))
    elif code == "CRYPTO":
        # an object that was never sealed (the golden vectors and test_cloud.py cover the rest)
        statesync.EncryptionKey.from_bytes(bytes(32)).decrypt("object", b"plain")
    elif code == "CLOSED":
        m = managers("A")
        m.close()
        m.list_states()
    elif code == "INTERNAL":
        _panic(managers("A"), missing)
    else:  # pragma: no cover
        raise AssertionError(code)


def _raise_value_error(local: Any, remote: Any) -> Any:
    raise ValueError("this resolver refuses")


class _RaisingTransport:
    def __init__(self, error: BaseException, where: str = "pull") -> None:
        self.error, self.where = error, where

    def capabilities(self) -> statesync.Capabilities:
        if self.where == "capabilities":
            raise self.error
        return statesync.Capabilities(node_id="peer", scoped_sync=True)

    def pull(self, cursor: Any, collections: Any, limit: Any) -> statesync.ChangeSet:
        raise self.error

    def push(self, changes: Any) -> Any:  # pragma: no cover - never reached
        raise self.error


@pytest.mark.parametrize("cls,code", ERRORS, ids=[c for _, c in ERRORS])
def test_raised_errors_carry_code_and_message(
    cls: type,
    code: str,
    managers: Callable[..., statesync.SyncManager],
    tmp_dir: Path,
    prerequisite_missing: Callable[[str], NoReturn],
) -> None:
    with pytest.raises(statesync.SyncError) as info:
        _trigger(code, managers, tmp_dir, prerequisite_missing)
    e = info.value
    assert type(e) is cls, f"{code} raised as {type(e).__name__}"
    assert e.code == code
    assert isinstance(e.message, str) and e.message
    assert str(e)


@pytest.mark.parametrize("cls,code", ERRORS, ids=[c for _, c in ERRORS])
def test_errors_can_be_raised_by_python_code(cls: type, code: str) -> None:
    error = cls("made in Python")
    assert error.code == code
    assert error.message == "made in Python"
    assert "made in Python" in str(error)
    with pytest.raises(statesync.SyncError):
        raise error


def test_a_transport_raising_a_sync_error_subclass_keeps_its_code(
    managers: Callable[..., statesync.SyncManager],
) -> None:
    a = managers("A")
    with pytest.raises(statesync.UnauthorizedError) as info:
        a.sync(_RaisingTransport(statesync.UnauthorizedError("token expired")))
    assert info.value.code == "UNAUTHORIZED"
    assert a.status() is Status.ERROR


def test_except_clauses_catch_by_class(managers: Callable[..., statesync.SyncManager]) -> None:
    m = managers("A")
    try:
        m.delete_state("nope")
    except statesync.NotFoundError as e:
        caught = e
    else:  # pragma: no cover
        pytest.fail("no NotFoundError")
    assert caught.code == "NOT_FOUND"
    try:
        m.update_state("nope", 1)
    except statesync.AlreadyExistsError:  # pragma: no cover
        pytest.fail("wrong class caught")
    except statesync.SyncError as e:
        assert isinstance(e, statesync.NotFoundError)
    try:
        m.create_state(1, id="")
    except Exception as e:  # a plain `except Exception` catches it too
        assert isinstance(e, statesync.InvalidInputError)
    else:  # pragma: no cover
        pytest.fail("no error")


def test_resolver_exception_is_the_cause_and_store_is_unchanged(
    managers: Callable[..., statesync.SyncManager],
) -> None:
    original = ValueError("the resolver cannot merge these")

    def resolver(local: statesync.SyncState, remote: statesync.SyncState) -> Any:
        raise original

    for check in (False, True):
        a, b, remote = concurrent_pair(managers, strategy=resolver, check_resolver=check)
        before = a.export_state()
        with pytest.raises(statesync.ResolverError) as info:
            a.apply_remote_state(remote)
        assert info.value.code == "RESOLVER"
        assert info.value.__cause__ is original
        assert a.export_state() == before
        with pytest.raises(statesync.ResolverError) as info:
            a.reconcile([remote])
        assert isinstance(info.value.__cause__, ValueError)
        assert a.export_state() == before
        with pytest.raises(statesync.ResolverError):
            a.sync_with(b)
        assert a.list_states() == before.states  # nothing pulled either
        a.close()
        b.close()


def test_resolver_results(managers: Callable[..., statesync.SyncManager]) -> None:
    calls: list[Any] = []

    def resolver(local: statesync.SyncState, remote: statesync.SyncState) -> Any:
        calls.append((local.id, remote.id))
        assert isinstance(local, statesync.SyncState) and isinstance(remote, statesync.SyncState)
        return {"merged": sorted([local.data["from"], remote.data["from"]])}

    a, _, remote = concurrent_pair(managers, strategy=resolver, check_resolver=True)
    result = a.apply_remote_state(remote)
    assert result.outcome == "conflict" and result.resolved is True
    assert result.state.data == {"merged": ["A", "B"]}
    assert result.conflict is None  # settled automatically: nothing recorded
    assert calls and all(c == ("s", "s") for c in calls)

    deleting, _, remote = concurrent_pair(
        managers, strategy=lambda local, remote: statesync.DELETED, check_resolver=True
    )
    result = deleting.apply_remote_state(remote)
    assert result.state.deleted is True and result.state.data is None
    assert deleting.get_state("s") is None


def test_resolver_returning_a_non_json_value_fails_cleanly(managers: Callable[..., statesync.SyncManager]) -> None:
    a, _, remote = concurrent_pair(managers, strategy=lambda local, remote: object(), check_resolver=False)
    before = a.export_state()
    with pytest.raises(statesync.SyncError) as info:
        a.apply_remote_state(remote)
    assert info.value.code in ("RESOLVER", "INVALID_INPUT")
    assert a.export_state() == before


def test_strategy_setters(managers: Callable[..., statesync.SyncManager]) -> None:
    a, b, remote = concurrent_pair(managers)
    a.set_strategy(ConflictStrategy.MANUAL)
    applied = a.apply_remote_state(remote)
    assert applied.outcome == "conflict" and applied.resolved is False
    assert a.status() is Status.CONFLICT
    [conflict] = a.conflicts()
    assert applied.conflict == conflict
    assert applied.state == a.get_state("s")  # the local version is kept
    assert conflict.state_id == "s" and conflict.remote == remote and conflict.local.data["from"] == "A"
    resolved = a.resolve_conflict(conflict.conflict_id, Resolution.custom({"v": 3}))
    assert resolved.data == {"v": 3} and a.conflicts() == [] and a.status() is Status.IDLE
    with pytest.raises(statesync.NotFoundError):
        a.resolve_conflict(conflict.conflict_id, Resolution.LOCAL)
    # per-collection: a Python callable, then removed again
    a.set_collection_strategy("c", lambda local, remote: {"picked": "python"})
    a.create_state({"v": 1}, id="x", collection="c")
    other = b.create_state({"v": 2}, id="x", collection="c")
    assert a.apply_remote_state(other).state.data == {"picked": "python"}
    a.set_collection_strategy("c", None)
    a.set_strategy(lambda local, remote: {"picked": "default"})
    a.create_state({"v": 1}, id="y", collection="c")
    assert a.apply_remote_state(b.create_state({"v": 2}, id="y", collection="c")).state.data == {"picked": "default"}


# ---- events ------------------------------------------------------------------------------------------


def test_events_of_local_writes_in_order(managers: Callable[..., statesync.SyncManager], wait: Any) -> None:
    m = managers("A")
    events: list[statesync.SyncEvent] = []
    m.subscribe(events.append)
    created = m.create_state({"v": 1}, id="s")
    updated = m.update_state("s", {"v": 2})
    deleted = m.delete_state("s")
    assert wait(lambda: len(events) >= 3)
    assert [e.name for e in events] == ["stateCreated", "stateUpdated", "stateDeleted"]
    assert [e.state for e in events] == [created, updated, deleted]
    assert events[0].conflict is None and events[0].peer is None


def test_conflict_and_status_events(managers: Callable[..., statesync.SyncManager], wait: Any) -> None:
    a, _, remote = concurrent_pair(managers, strategy=ConflictStrategy.MANUAL)
    events: list[statesync.SyncEvent] = []
    a.subscribe(events.append)
    assert a.apply_remote_state(remote).outcome == "conflict"
    assert wait(lambda: "statusChanged" in [e.name for e in events])
    names = [e.name for e in events]
    assert names.index("conflictDetected") < names.index("statusChanged")
    detected = events[names.index("conflictDetected")]
    assert detected.conflict.state_id == "s" and detected.conflict.remote == remote
    status = events[names.index("statusChanged")]
    assert (status.previous, status.current) == (Status.IDLE, Status.CONFLICT)

    del events[:]
    cid = a.conflicts()[0].conflict_id
    a.resolve_conflict(cid, Resolution.REMOTE)
    assert wait(lambda: "statusChanged" in [e.name for e in events])
    names = [e.name for e in events]
    resolved = events[names.index("conflictResolved")]
    assert (resolved.conflict_id, resolved.state_id) == (cid, "s")
    assert "stateUpdated" in names
    status = events[names.index("statusChanged")]
    assert (status.previous, status.current) == (Status.CONFLICT, Status.IDLE)
    assert names.index("conflictResolved") < names.index("statusChanged")


def test_sync_events(managers: Callable[..., statesync.SyncManager], wait: Any) -> None:
    a, b = managers("A"), managers("B")
    b.create_state(1, id="from-b")
    events: list[statesync.SyncEvent] = []
    a.subscribe(events.append)
    a.sync_with(b)
    assert wait(lambda: "syncCompleted" in [e.name for e in events] and events[-1].name == "statusChanged")
    names = [e.name for e in events]
    assert names.index("syncStarted") < names.index("stateCreated") < names.index("syncCompleted")
    assert events[names.index("syncStarted")].peer == "B"
    assert events[names.index("syncCompleted")].peer == "B"
    changes = [(e.previous, e.current) for e in events if e.name == "statusChanged"]
    assert changes == [(Status.IDLE, Status.SYNCING), (Status.SYNCING, Status.IDLE)]
    assert a.status() is Status.IDLE


def test_close_emits_status_closed(managers: Callable[..., statesync.SyncManager], wait: Any) -> None:
    m = managers("A")
    events: list[statesync.SyncEvent] = []
    m.subscribe(events.append)
    m.close()
    assert wait(lambda: len(events) >= 1)
    assert [(e.name, e.previous, e.current) for e in events] == [("statusChanged", Status.IDLE, Status.CLOSED)]


def test_unsubscribe_and_subscription_context_manager(
    managers: Callable[..., statesync.SyncManager], wait: Any
) -> None:
    m = managers("A")
    first: list[str] = []
    sentinel: list[str] = []
    sub = m.subscribe(lambda e: first.append(e.state.id) if e.state is not None else None)
    m.create_state(1, id="one")
    assert wait(lambda: first == ["one"])
    assert sub.unsubscribe() is True
    assert sub.unsubscribe() is False
    # registered later: called after `first` would have been
    m.subscribe(lambda e: sentinel.append(e.state.id) if e.state is not None else None)
    m.create_state(2, id="two")
    assert wait(lambda: sentinel == ["two"])
    assert first == ["one"]

    scoped: list[str] = []
    with m.subscribe(lambda e: scoped.append(e.state.id) if e.state is not None else None) as handle:
        assert isinstance(handle, statesync.Subscription)
        m.create_state(3, id="three")
        assert wait(lambda: scoped == ["three"])
    m.create_state(4, id="four")
    assert wait(lambda: sentinel == ["two", "three", "four"])
    assert scoped == ["three"]


def test_a_raising_listener_breaks_nothing(
    managers: Callable[..., statesync.SyncManager], wait: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = managers("A")
    seen: list[str] = []
    reported: list[BaseException] = []
    # the binding's README: a listener's exception goes to sys.unraisablehook
    monkeypatch.setattr(sys, "unraisablehook", lambda info: reported.append(info.exc_value))

    def bad(event: statesync.SyncEvent) -> None:
        raise RuntimeError("listener bug")

    subscription = m.subscribe(bad)
    m.subscribe(lambda e: seen.append(e.name))
    s = m.create_state({"v": 1}, id="s")  # must not raise
    assert s.id == "s" and m.get_state("s") == s
    assert wait(lambda: seen == ["stateCreated"])
    m.update_state("s", {"v": 2})
    assert wait(lambda: seen == ["stateCreated", "stateUpdated"])
    assert wait(lambda: len(reported) == 2)
    assert all(isinstance(e, RuntimeError) and str(e) == "listener bug" for e in reported)
    subscription.unsubscribe()  # before the hook is restored and close() emits statusChanged


def test_a_listener_may_call_back_into_the_manager(managers: Callable[..., statesync.SyncManager], wait: Any) -> None:
    m = managers("A")
    seen: list[str] = []

    def echo(event: statesync.SyncEvent) -> None:
        if event.name == "stateCreated" and not event.state.id.startswith("echo-"):
            assert m.get_state(event.state.id) is not None
            m.create_state({"echo": event.state.id}, id="echo-" + event.state.id)
        if event.state is not None:
            seen.append(event.state.id)

    m.subscribe(echo)
    m.create_state(1, id="s")
    assert wait(lambda: seen == ["s", "echo-s"])
    assert m.get_state("echo-s").data == {"echo": "s"}


def test_subscribe_after_close_is_closed(managers: Callable[..., statesync.SyncManager]) -> None:
    m = managers("A")
    m.close()
    with pytest.raises(statesync.ClosedError):
        m.subscribe(lambda e: None)


# ---- context manager, close, storage ------------------------------------------------------------------


def test_sync_manager_context_manager_closes(tmp_dir: Path) -> None:
    path = str(tmp_dir / "a.db")
    with statesync.SyncManager("A", path=path) as m:
        assert isinstance(m, statesync.SyncManager)
        m.create_state({"v": 1}, id="s")
    assert m.status() is Status.CLOSED
    for call in (
        lambda: m.get_state("s"),
        lambda: m.create_state(1, id="t"),
        lambda: m.update_state("s", 2),
        lambda: m.list_states(),
        lambda: m.export_state(),
        lambda: m.pending_operations(),
        lambda: m.changes_since(),
        lambda: m.node_id,
    ):
        with pytest.raises(statesync.ClosedError) as info:
            call()
        assert info.value.code == "CLOSED"
    m.close()  # closing twice is harmless

    with pytest.raises(KeyError):
        with statesync.SyncManager("A", path=path) as again:
            assert again.get_state("s").data == {"v": 1}
            raise KeyError("propagates")
    assert again.status() is Status.CLOSED


def test_closed_manager_refuses_sync(managers: Callable[..., statesync.SyncManager]) -> None:
    a, b = managers("A"), managers("B")
    b.close()
    with pytest.raises(statesync.ClosedError):
        a.sync_with(b)
    with pytest.raises(statesync.ClosedError):
        b.sync_with(a)
    with pytest.raises(statesync.ClosedError):
        b.sync(PeerTransport(a))
    with pytest.raises(statesync.ClosedError):
        b.start_auto_sync(0.05, PeerTransport(a))


def test_sqlite_keeps_everything_and_node_id(tmp_dir: Path) -> None:
    path = str(tmp_dir / "generated.db")
    with statesync.SyncManager(path=path) as m:
        node = m.node_id
        assert isinstance(node, str) and node
        m.create_state({"v": 1}, id="s")
        m.set_peer_cursor("peer", "12", ["b", "a"])
        snapshot = m.export_state()
    with statesync.SyncManager(path=path) as m:
        assert m.node_id == node
        assert m.export_state() == snapshot
        assert m.peer_cursor("peer", ["a", "b"]) == "12"
        assert m.peer_cursor("peer", ["a", "b", "a"]) == "12"
        assert m.peer_cursor("peer") is None


def test_peer_cursor_validation(managers: Callable[..., statesync.SyncManager]) -> None:
    m = managers("A")
    assert m.peer_cursor("B") is None
    m.set_peer_cursor("B", "3")
    assert m.peer_cursor("B") == "3" and m.peer_cursor("B", []) == "3"
    m.set_peer_cursor("B", None)
    assert m.peer_cursor("B") is None
    with pytest.raises(statesync.InvalidInputError):
        m.set_peer_cursor("", "3")


def test_a_file_that_is_not_a_database_is_corrupt(tmp_dir: Path) -> None:
    path = tmp_dir / "garbage.db"
    path.write_bytes(b"this is not a database " * 200)
    with pytest.raises(statesync.CorruptError):
        statesync.SyncManager("A", path=str(path))


def test_generated_node_ids_differ(managers: Callable[..., statesync.SyncManager]) -> None:
    a, b = managers(), managers()
    assert a.node_id and b.node_id and a.node_id != b.node_id


# ---- threads -----------------------------------------------------------------------------------------


def _run_threads(targets: list[Callable[[], None]], timeout: float = 120.0) -> None:
    errors: list[BaseException] = []

    def guard(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        return run

    threads = [threading.Thread(target=guard(t), daemon=True) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not [t for t in threads if t.is_alive()], "threads did not finish within the bounded wait"
    if errors:
        raise errors[0]


def test_eight_threads_share_one_manager(managers: Callable[..., statesync.SyncManager], wait: Any) -> None:
    m, peer = managers("A"), managers("B")
    threads, per_thread = 8, 100
    seen: list[Any] = []
    seen_lock = threading.Lock()

    def listen(event: statesync.SyncEvent) -> None:
        if event.state is not None:
            with seen_lock:
                seen.append((event.name, event.state.id))

    m.subscribe(listen)
    barrier = threading.Barrier(threads)

    def worker(t: int) -> Callable[[], None]:
        def run() -> None:
            barrier.wait(30)
            for i in range(per_thread):
                sid = f"t{t}-{i}"
                m.create_state({"t": t, "i": i, "v": 0}, id=sid, collection=f"c{t % 2}")
                m.update_state(sid, {"t": t, "i": i, "v": 1})
                got = m.get_state(sid)
                assert got is not None and got.data == {"t": t, "i": i, "v": 1}
                if i % 10 == 0:
                    assert len(m.list_states(f"c{t % 2}")) >= 1
                    m.changes_since(None, None, 25)
                    m.pending_operations()
                    m.export_state()
                if t % 4 == 0 and i % 8 == 0:
                    m.sync_with(peer)

        return run

    _run_threads([worker(t) for t in range(threads)])

    total = threads * per_thread
    states = m.list_states()
    assert len(states) == total
    assert all(s.version == 2 and s.data["v"] == 1 and list(s.clock) == ["A"] for s in states)
    # one write counter: every write got its own value
    counters = [s.clock["A"] for s in states]
    assert len(set(counters)) == total
    pending = m.pending_operations()
    assert len(pending) == 2 * total
    assert sorted(o.op_id for o in pending) == sorted(f"A:{k}" for k in range(1, 2 * total + 1))
    last_op = {o.state_id: o for o in pending}
    for s in states:
        assert last_op[s.id].clock == s.clock and last_op[s.id].data == s.data
    page = m.changes_since()
    assert sorted(s.id for s in page.states) == sorted(s.id for s in states)
    # events: one created and one updated per state, in commit order per state
    assert wait(lambda: len(seen) >= 2 * total)
    assert len(seen) == 2 * total
    order = [name for name, sid in seen if sid == "t3-7"]
    assert order == ["stateCreated", "stateUpdated"]
    m.sync_with(peer)
    assert states_by_id(peer) == states_by_id(m)
    assert m.status() is Status.IDLE


def test_two_managers_sync_with_each_other_from_threads(managers: Callable[..., statesync.SyncManager]) -> None:
    a, b = managers("A"), managers("B")
    for i in range(10):
        a.create_state({"n": i}, id=f"shared-{i}")
    a.sync_with(b)
    done = threading.Event()
    rounds = {"a": 0, "b": 0}
    start = threading.Barrier(6)  # four writers and two syncers begin together

    def writer(m: statesync.SyncManager, tag: str) -> Callable[[], None]:
        def run() -> None:
            start.wait(30)
            for i in range(60):
                m.create_state({"by": tag, "i": i}, id=f"{tag}-{i}")
                m.update_state(f"shared-{i % 10}", {"by": tag, "i": i})
                if i % 15 == 0:
                    m.delete_state(f"{tag}-{i}")

        return run

    def syncer(m: statesync.SyncManager, other: statesync.SyncManager, key: str) -> Callable[[], None]:
        def run() -> None:
            start.wait(30)
            while True:  # at least one round, then until the writers are done
                m.sync_with(other)
                rounds[key] += 1
                if done.is_set():
                    break

        return run

    writers = [writer(a, "a1"), writer(a, "a2"), writer(b, "b1"), writer(b, "b2")]

    def writers_then_done() -> None:
        try:
            _run_threads(writers)
        finally:
            done.set()

    _run_threads([writers_then_done, syncer(a, b, "a"), syncer(b, a, "b")])
    assert rounds["a"] >= 1 and rounds["b"] >= 1
    a.sync_with(b)
    a.sync_with(b)
    assert states_by_id(a) == states_by_id(b)
    assert len(states_by_id(a)) == 10 + 4 * 60
    assert {s.id for s in a.list_states()} == {s.id for s in b.list_states()}
    deleted = {s.id for s in a.list_states(include_deleted=True) if s.deleted}
    assert deleted == {f"{tag}-{i}" for tag in ("a1", "a2", "b1", "b2") for i in (0, 15, 30, 45)}
    assert a.conflicts() == [] and b.conflicts() == []


# ---- pickling ------------------------------------------------------------------------------------------


def test_values_pickle_round_trip(managers: Callable[..., statesync.SyncManager]) -> None:
    a, b = managers("A", strategy=ConflictStrategy.MANUAL), managers("B")
    s = a.create_state({"v": 1, "nested": [1, 2.5, None, "ü"]}, id="s", collection="c")
    a.create_state(None, id="gone")
    a.delete_state("gone")
    remote = b.create_state({"v": 2}, id="s", collection="c")
    a.apply_remote_state(remote)  # a manual conflict, so the snapshot has one
    page = a.changes_since(None, None, 1)
    snapshot = a.export_state()
    assert snapshot.pending and snapshot.conflicts
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        for value in (s, remote, page, snapshot, a.list_states(include_deleted=True)):
            copy = pickle.loads(pickle.dumps(value, protocol=protocol))
            assert copy == value
            assert type(copy) is type(value)
        tomb = pickle.loads(pickle.dumps(a.list_states(include_deleted=True), protocol=protocol))
        assert [t.deleted for t in tomb] == [t.deleted for t in a.list_states(include_deleted=True)]
    # an unpickled value is a working value
    copy = pickle.loads(pickle.dumps(snapshot))
    c = managers("C")
    assert c.import_state(copy).created == len(snapshot.states)
    assert pickle.loads(pickle.dumps(s)).to_dict() == s.to_dict()
    assert b.apply_remote_state(pickle.loads(pickle.dumps(s))).outcome == "conflict"


def test_sync_manager_refuses_pickling(managers: Callable[..., statesync.SyncManager]) -> None:
    m = managers("A")
    with pytest.raises(TypeError):
        pickle.dumps(m)
    with pytest.raises(TypeError):
        pickle.dumps(m, protocol=pickle.HIGHEST_PROTOCOL)


# ---- big data and depth ------------------------------------------------------------------------------


def test_five_megabyte_string(managers: Callable[..., statesync.SyncManager]) -> None:
    big = ("0123456789abcdef" * (5 * 1024 * 1024 // 16)) + "ü👋"
    with pytest.raises(statesync.InvalidInputError, match="max_state_bytes"):
        managers("default").create_state({"blob": big}, id="big")  # above the default 1 MiB
    a, b = managers("A", max_state_bytes=8 << 20), managers("B", max_state_bytes=8 << 20)
    s = a.create_state({"blob": big}, id="big")
    assert a.get_state("big").data["blob"] == big
    assert a.sync_with(b).pushed.created == 1
    assert b.get_state("big") == s
    assert statesync.decode_state(statesync.encode(s, "binary"), "binary") == s
    assert statesync.decode_state(statesync.decompress(statesync.compress(statesync.encode(s, "json")))) == s


def test_hundred_thousand_element_list(managers: Callable[..., statesync.SyncManager], tmp_dir: Path) -> None:
    items = list(range(100_000))
    with statesync.SyncManager("A", path=str(tmp_dir / "a.db")) as a:
        s = a.create_state(items, id="list")
        assert a.get_state("list").data == items
        snapshot = a.export_state()
    with statesync.SyncManager("A", path=str(tmp_dir / "a.db")) as a:
        assert a.get_state("list") == s
    b = managers("B")
    assert b.import_state(snapshot).created == 1
    assert b.get_state("list").data == items
    assert b.import_state(snapshot.to_json()).unchanged == 1


def _nested_list(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _nested_dict(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"k": value}
    return value


def test_data_depth_limit(managers: Callable[..., statesync.SyncManager]) -> None:
    limit = statesync.MAX_DATA_DEPTH
    a, b = managers("A"), managers("B")
    ok = a.create_state(_nested_list(limit), id="ok")
    assert ok.data == _nested_list(limit)
    a.create_state(_nested_dict(limit), id="ok-dict")
    before = a.export_state()
    for deep in (_nested_list(limit + 1), _nested_dict(limit + 1), [_nested_dict(limit)]):
        with pytest.raises(statesync.InvalidInputError) as info:
            a.create_state(deep, id="deep")
        assert info.value.code == "INVALID_INPUT"
        with pytest.raises(statesync.InvalidInputError):
            a.update_state("ok", deep)
    assert a.export_state() == before
    # a received state that deep is INVALID_STATE (parsing or applying it)
    remote = b.create_state(1, id="r").to_dict()
    remote["data"] = _nested_list(limit + 1)
    del remote["hash"]
    with pytest.raises(statesync.InvalidStateError):
        a.apply_remote_state(statesync.SyncState.from_dict(remote))
    # a custom resolution that deep is INVALID_INPUT
    m, _, r = concurrent_pair(managers, strategy=ConflictStrategy.MANUAL)
    m.apply_remote_state(r)
    [conflict] = m.conflicts()
    with pytest.raises(statesync.InvalidInputError):
        m.resolve_conflict(conflict.conflict_id, Resolution.custom(_nested_list(limit + 1)))
    assert len(m.conflicts()) == 1


DEEP_SCRIPT = textwrap.dedent(
    """
    import sys
    import statesync

    DEPTH = 100_000
    deep_list = 1
    for _ in range(DEPTH):
        deep_list = [deep_list]
    deep_dict = 1
    for _ in range(DEPTH):
        deep_dict = {"k": deep_dict}

    def expect(cls, fn, what):
        try:
            fn()
        except cls:
            print("ok", what)
            return
        except BaseException as e:
            print("WRONG", what, type(e).__name__, str(e)[:200])
            return
        print("WRONG", what, "no exception")

    m = statesync.SyncManager("A")
    m.create_state(1, id="s")
    expect(statesync.InvalidInputError, lambda: m.create_state(deep_list, id="deep"), "create list")
    expect(statesync.InvalidInputError, lambda: m.create_state(deep_dict, id="deep"), "create dict")
    expect(statesync.InvalidInputError, lambda: m.update_state("s", deep_list), "update list")
    text = "[" * DEPTH + "]" * DEPTH
    state = m.get_state("s").to_dict()
    rest = '"clock":{"B":1},"timestamp":{"millis":1,"counter":0,"node":"B"},"version":1'
    state_text = '{"id":"r","data":' + text + "," + rest + "}"
    apply = m.apply_remote_state
    expect(statesync.InvalidStateError, lambda: apply(statesync.SyncState.from_json(state_text)), "from_json")
    state["data"] = deep_list
    del state["hash"]
    expect(statesync.InvalidStateError, lambda: apply(statesync.SyncState.from_dict(state)), "from_dict")
    wire = '{"format":1,"state":' + state_text + "}"
    expect(statesync.CorruptError, lambda: statesync.decode_state(wire.encode(), "json"), "decode_state")
    snapshot = '{"format":1,"node_id":"A","states":[' + state_text + '],"pending":[],"conflicts":[]}'
    expect(statesync.CorruptError, lambda: statesync.Snapshot.from_json(snapshot), "snapshot")
    assert m.get_state("s").data == 1 and m.get_state("deep") is None
    print("DONE")
    """
)


def test_hundred_thousand_deep_data_raises_and_does_not_crash(tmp_dir: Path) -> None:
    """Run in a child process: a stack overflow would kill the interpreter, not fail a test."""
    script = tmp_dir / "deep.py"
    script.write_text(DEEP_SCRIPT, encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=str(tmp_dir))
    assert proc.returncode == 0, f"the interpreter died (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}"
    assert "DONE" in proc.stdout, proc.stdout + proc.stderr[-3000:]
    wrong = [line for line in proc.stdout.splitlines() if line.startswith("WRONG")]
    assert not wrong, "\n".join(wrong)


# ---- JSON value fidelity --------------------------------------------------------------------------------

FIDELITY_DATA = {
    "int": 1,
    "float": 1.0,
    "neg_float": -2.5,
    "zero": 0,
    "zero_float": 0.0,
    "neg_zero": -0.0,
    "tiny": 5e-324,
    "huge": 1.7976931348623157e308,
    "big_float": 1e300,
    "max_safe": 2**53 - 1,
    "min_safe": -(2**53 - 1),
    "beyond_2_53_as_float": float(2**53 + 2),
    "true": True,
    "false": False,
    "none": None,
    "text": 'héllo 👋 "quoted" \\ back\nline\ttab \u0000 nul \u2028 \U0010ffff',
    "empty_text": "",
    "list": [1, 1.5, "x", None, True, False, [], {}],
    "nested": {"a": {"b": {"c": [1, {"d": 2.0}]}}},
    "ключ 🔑": "значение",
    "": "empty key",
}


def _fidelity_copies(m: statesync.SyncManager, other: statesync.SyncManager, s: statesync.SyncState) -> list[Any]:
    copies = [
        m.get_state(s.id).data,
        statesync.SyncState.from_json(s.to_json()).data,
        statesync.SyncState.from_dict(s.to_dict()).data,
        statesync.decode_state(statesync.encode(s, "binary"), "binary").data,
        statesync.decode_state(statesync.encode(s, "json"), "json").data,
        statesync.Snapshot.from_json(m.export_state().to_json()).states[0].data,
    ]
    other.sync_with(m)
    copies.append(other.get_state(s.id).data)
    return copies


def test_json_value_fidelity(managers: Callable[..., statesync.SyncManager], tmp_dir: Path) -> None:
    path = str(tmp_dir / "fidelity.db")
    with statesync.SyncManager("A", path=path) as m:
        s = m.create_state(FIDELITY_DATA, id="data")
        assert strict_eq(s.data, FIDELITY_DATA)
        for i, copy in enumerate(_fidelity_copies(m, managers("B"), s)):
            assert strict_eq(copy, FIDELITY_DATA), f"copy {i} differs: {copy!r}"
    with statesync.SyncManager("A", path=path) as m:
        assert strict_eq(m.get_state("data").data, FIDELITY_DATA)
        assert strict_eq(m.pending_operations()[0].data, FIDELITY_DATA)


@pytest.mark.parametrize(
    "value",
    [None, True, False, 0, -1, 42, 4.5, 1e-7, "", "text", [], {}, [None], {"a": None}, 2**53 - 1, -(2**53 - 1)],
    ids=repr,
)
def test_top_level_values_round_trip(managers: Callable[..., statesync.SyncManager], value: Any) -> None:
    m = managers("A")
    s = m.create_state(value, id="v")
    assert strict_eq(s.data, value) and strict_eq(m.get_state("v").data, value)
    assert s.deleted is False


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        -float("inf"),
        {"x": float("nan")},
        object(),
        {1: "int key"},
        {"s": {1, 2}},
        b"bytes",
        2**64,
        -(2**63) - 1,
        2**53,
        -(2**53),
        2**63 - 1,
        2**64 - 1,
        [1, {"deep": [float("inf")]}],
        {"k": object()},
    ],
    ids=[
        "nan",
        "inf",
        "-inf",
        "nested-nan",
        "object",
        "int-key",
        "set",
        "bytes",
        "2**64",
        "below-i64",
        "2**53",
        "-2**53",
        "i64-max",
        "u64-max",
        "nested-inf",
        "nested-object",
    ],
)
def test_non_json_values_are_invalid_input(managers: Callable[..., statesync.SyncManager], value: Any) -> None:
    """Values JSON cannot carry exactly raise InvalidInputError instead of being stored
    approximately (the stub's module docstring)."""
    m = managers("A")
    m.create_state(1, id="ok")
    before = m.export_state()
    with pytest.raises(statesync.InvalidInputError):
        m.create_state(value, id="bad")
    with pytest.raises(statesync.InvalidInputError):
        m.update_state("ok", value)
    with pytest.raises(statesync.InvalidInputError):
        m.create_state([value], id="bad")
    assert m.export_state() == before


def test_tuples_are_accepted_as_lists(managers: Callable[..., statesync.SyncManager]) -> None:
    m = managers("A")
    s = m.create_state({"t": (1, (2, "x"), ())}, id="t")
    assert strict_eq(s.data, {"t": [1, [2, "x"], []]})
    assert strict_eq(m.get_state("t").data, {"t": [1, [2, "x"], []]})


def test_wrong_python_types_are_type_errors(managers: Callable[..., statesync.SyncManager]) -> None:
    """A non-callable strategy or a non-transport is a TypeError (the stub's module docstring)."""
    with pytest.raises(TypeError):
        statesync.SyncManager("A", strategy=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        statesync.SyncManager("A", collection_strategies={"c": 7})  # type: ignore[dict-item]
    m = managers("A")
    with pytest.raises(TypeError):
        m.set_strategy([ConflictStrategy.MANUAL])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        m.set_collection_strategy("c", 3.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        m.sync(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        m.start_auto_sync(0.05, object())  # type: ignore[arg-type]
    assert m.sync_now() is False
    with pytest.raises(TypeError):
        m.sync_with(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        m.apply_remote_state({"id": "s"})  # type: ignore[arg-type]


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_a_panic_inside_the_core_is_an_internal_error_and_the_replica_works_on(
    storage: str,
    managers: Callable[..., statesync.SyncManager],
    tmp_dir: Path,
    prerequisite_missing: Callable[[str], NoReturn],
) -> None:
    path = str(tmp_dir / "a.db") if storage == "sqlite" else None
    m = managers("A", path=path)
    m.create_state({"v": 1}, id="before")
    events: list[statesync.SyncEvent] = []
    with m.subscribe(events.append):
        try:
            _panic(m, prerequisite_missing)
        except Exception as e:  # an ordinary exception (pyo3's PanicException is a BaseException)
            error = e
        else:  # pragma: no cover
            pytest.fail("_panic_for_tests() returned")
        assert type(error) is statesync.InternalError and isinstance(error, statesync.SyncError)
        assert error.code == "INTERNAL"
        assert "panic_for_tests was called" in error.message, error.message
        assert error.__cause__ is None
        # The panicking transaction left nothing and announced nothing.
        assert m.get_state("panic-for-tests") is None
        assert events == []
        # The same replica reads and writes on: its lock was not left poisoned or held.
        assert m.get_state("before").data == {"v": 1}  # type: ignore[union-attr]
        m.update_state("before", {"v": 2})
        m.create_state({"v": 3}, id="after")
        assert [e.name for e in events] == ["stateUpdated", "stateCreated"]
    assert [s.id for s in m.list_states(include_deleted=True)] == ["after", "before"]
    assert [op.op_id for op in m.pending_operations()] == ["A:1", "A:2", "A:3"]
    assert m.status() is Status.IDLE
    # A second panic is the same error, and the replica still works.
    with pytest.raises(statesync.InternalError):
        _panic(m, prerequisite_missing)
    m.delete_state("after")
    if path is not None:  # and what it committed is durable
        m.close()
        reopened = managers(None, path=path)
        assert {s.id: s.data for s in reopened.list_states(include_deleted=True)} == {"after": None, "before": {"v": 2}}
        assert reopened.node_id == "A"


# ---- vector clocks ---------------------------------------------------------------------------------------


def test_vector_clock_helpers(managers: Callable[..., statesync.SyncManager]) -> None:
    cmp = statesync.compare_clocks
    assert cmp({"a": 1}, {"a": 1}) == "equal"
    assert cmp({}, {}) == "equal"
    assert cmp({"a": 0}, {}) == "equal"  # missing entries are 0
    assert cmp({"a": 1}, {"a": 2}) == "before"
    assert cmp({"a": 1}, {"a": 1, "b": 1}) == "before"
    assert cmp({"a": 2, "b": 1}, {"a": 1}) == "after"
    assert cmp({"a": 1}, {"b": 1}) == "concurrent"
    assert cmp({"a": 2, "b": 1}, {"a": 1, "b": 2}) == "concurrent"
    merged = statesync.merge_clocks({"a": 1, "b": 5}, {"a": 3, "c": 2})
    assert merged == {"a": 3, "b": 5, "c": 2} and isinstance(merged, dict)
    assert statesync.merge_clocks({}, {}) == {}
    assert statesync.dominates({"a": 2}, {"a": 1}) is True
    assert statesync.dominates({"a": 1}, {"a": 1}) is True
    assert statesync.dominates({"a": 1}, {"a": 2}) is False
    assert statesync.dominates({"a": 1}, {"b": 1}) is False
    big = 2**53 - 1
    assert cmp({"a": big}, {"a": big - 1}) == "after"
    # with the clocks of real states
    a, b = managers("A"), managers("B")
    s1 = a.create_state(1, id="s")
    s2 = a.update_state("s", 2)
    other = b.create_state(3, id="s")
    assert cmp(s1.clock, s2.clock) == "before" and cmp(s2.clock, s1.clock) == "after"
    assert cmp(s2.clock, other.clock) == "concurrent"
    assert statesync.merge_clocks(s2.clock, other.clock) == {"A": 2, "B": 1}
    assert statesync.dominates(statesync.merge_clocks(s2.clock, other.clock), other.clock)


def test_increment_clock() -> None:
    clock = {"A": 2, "B": 5}
    assert statesync.increment_clock(clock, "B") == ({"A": 2, "B": 6}, 6)
    assert clock == {"A": 2, "B": 5}  # the argument is left as it was
    assert statesync.increment_clock(clock, "C") == ({"A": 2, "B": 5, "C": 1}, 1)
    assert statesync.increment_clock({}, "A") == ({"A": 1}, 1)
    assert statesync.increment_clock({"A": 0}, "A") == ({"A": 1}, 1)  # a zero entry is no entry
    incremented, counter = statesync.increment_clock({"A": 1}, "A")
    assert type(incremented) is dict and type(counter) is int
    assert statesync.compare_clocks(incremented, {"A": 1}) == "after"
    big = 2**53 - 1
    assert statesync.increment_clock({"A": big}, "A") == ({"A": big + 1}, big + 1)


def test_vector_clock_helpers_refuse_bad_input() -> None:
    for bad in ({"a": -1}, {"a": "1"}, {"a": 1.5}, {1: 1}, [("a", 1)]):
        with pytest.raises((statesync.InvalidInputError, TypeError, ValueError, OverflowError)):
            statesync.compare_clocks(bad, {})  # type: ignore[arg-type]
        with pytest.raises((statesync.InvalidInputError, TypeError, ValueError, OverflowError)):
            statesync.increment_clock(bad, "a")  # type: ignore[arg-type]


# ---- Python transports -------------------------------------------------------------------------------------


def test_sync_through_a_python_transport(managers: Callable[..., statesync.SyncManager]) -> None:
    a, b = managers("A"), managers("B")
    a.create_state({"v": 1}, id="a1")
    a.create_state({"v": 2}, id="a2", collection="other")
    b.create_state({"v": 3}, id="b1")
    transport = PeerTransport(b)
    report = a.sync(transport)
    assert isinstance(report, statesync.SyncReport)
    assert report.pulled.created == 1 and report.pushed.created == 2
    assert states_by_id(a) == states_by_id(b)
    assert a.pending_operations() == []  # acknowledged as the peer accepted them
    assert transport.calls[0] == ("pull", None, [], None)
    assert any(c[0] == "push" for c in transport.calls)
    again = a.sync(transport)
    for counts in (again.pulled, again.pushed):
        assert counts.created == counts.updated == counts.conflicts == 0
    b.update_state("b1", {"v": 4})
    assert a.sync(transport).pulled.updated == 1
    assert a.get_state("b1").data == {"v": 4}


def test_scoped_and_paged_sync_through_a_python_transport(managers: Callable[..., statesync.SyncManager]) -> None:
    a, b = managers("A"), managers("B")
    for i in range(5):
        a.create_state(i, id=f"x{i}", collection="x")
        b.create_state(i, id=f"y{i}", collection="y")
    b.create_state("bx", id="bx", collection="x")
    transport = PeerTransport(b)
    report = a.sync(transport, collections=["x"], limit=2)
    assert report.pulled.created == 1 and report.pushed.created == 5
    assert {s.id for s in b.list_states("x")} == {f"x{i}" for i in range(5)} | {"bx"}
    assert a.list_states("y") == []
    pulls = [c for c in transport.calls if c[0] == "pull"]
    assert all(c[2] == ["x"] and c[3] == 2 for c in pulls)
    assert all(len(c[1]) <= 2 for c in transport.calls if c[0] == "push")
    assert len([c for c in transport.calls if c[0] == "push"]) >= 3


def test_push_may_answer_with_a_mapping(managers: Callable[..., statesync.SyncManager]) -> None:
    class MappingTransport(PeerTransport):
        def push(self, changes: statesync.ChangeSet) -> Any:
            return dict(self.other.reconcile(changes.states).to_dict())

    a, b = managers("A"), managers("B")
    a.create_state(1, id="s")
    report = a.sync(MappingTransport(b))
    assert report.pushed.to_dict() == dict(ZERO_COUNTS, created=1)
    assert b.get_state("s").data == 1


def test_a_raising_transport_is_a_transport_error(managers: Callable[..., statesync.SyncManager], wait: Any) -> None:
    a, b = managers("A"), managers("B")
    a.create_state(1, id="s")
    events: list[statesync.SyncEvent] = []
    a.subscribe(events.append)
    before = a.export_state()
    with pytest.raises(statesync.TransportError) as info:
        a.sync(_RaisingTransport(ConnectionError("network is down")))
    assert info.value.code == "TRANSPORT"
    assert wait(lambda: "syncFailed" in [e.name for e in events])
    failed = [e for e in events if e.name == "syncFailed"][0]
    assert failed.peer == "peer" and isinstance(failed.message, str) and failed.message
    assert a.status() is Status.ERROR
    assert a.export_state() == before
    # a failure to even ask for capabilities fails the round too
    with pytest.raises(statesync.TransportError):
        a.sync(_RaisingTransport(OSError("no route"), where="capabilities"))
    # the next successful round clears the error
    a.sync(PeerTransport(b))
    assert a.status() is Status.IDLE
    assert b.get_state("s").data == 1


def test_transport_error_keeps_the_cause(managers: Callable[..., statesync.SyncManager]) -> None:
    a = managers("A")
    original = ConnectionError("reset by peer")
    with pytest.raises(statesync.TransportError) as info:
        a.sync(_RaisingTransport(original))
    assert info.value.__cause__ is original


def test_names_and_scopes_are_checked_by_the_core_with_its_messages(
    managers: Callable[..., statesync.SyncManager],
) -> None:
    """Strategy and encoding names, collections and limits are parsed and checked by the core:
    INVALID_INPUT with the core's message, the same in every binding."""
    m = managers("A")
    with pytest.raises(statesync.InvalidInputError) as info:
        m.set_strategy("bogus")  # type: ignore[arg-type]
    assert info.value.code == "INVALID_INPUT"
    assert info.value.message == (
        'unknown conflict strategy "bogus": use lastWriteWins, mergeFields, localWins, remoteWins, manual'
    )
    m.set_strategy("mergeFields")  # type: ignore[arg-type]  # a value of the enum is accepted too
    state = m.create_state(1, id="s")
    with pytest.raises(statesync.InvalidInputError) as info:
        statesync.encode(state, "xml")  # type: ignore[arg-type]
    assert info.value.message == 'unknown wire encoding "xml": use "json" or "binary"'
    for limit in (0, -3):
        with pytest.raises(statesync.InvalidInputError) as info:
            m.changes_since(None, None, limit)
        assert info.value.message == f"limit must be at least 1, not {limit}"
    with pytest.raises(statesync.InvalidInputError):
        m.changes_since(None, [""])
    assert [s.id for s in m.changes_since(None, ["default"], 1).states] == ["s"]


class _AppError(Exception):
    """An application's own exception class, raised by its callbacks in the cause tests."""


# Every call that runs a custom resolver on a concurrent remote version.
RESOLVER_CALLS: dict[str, Callable[[statesync.SyncManager, statesync.SyncManager, statesync.SyncState], object]] = {
    "apply_remote_state": lambda a, b, remote: a.apply_remote_state(remote),
    "reconcile": lambda a, b, remote: a.reconcile([remote]),
    "apply_changes": lambda a, b, remote: a.apply_changes("B", b.changes_since()),
    "import_state": lambda a, b, remote: a.import_state(b.export_state()),
    "sync_with": lambda a, b, remote: a.sync_with(b),
    "sync": lambda a, b, remote: a.sync(PeerTransport(b)),
}


@pytest.mark.parametrize("check", [False, True], ids=["plain", "check_resolver"])
@pytest.mark.parametrize("call", list(RESOLVER_CALLS))
def test_a_resolver_exception_is_the_cause_itself(
    call: str, check: bool, managers: Callable[..., statesync.SyncManager]
) -> None:
    """The cause design, the same in Python, Node and the browser: the error a call raises has
    the callback's code, and its `__cause__` is the very object the callback raised."""
    original = _AppError("cannot merge")

    def resolver(local: statesync.SyncState, remote: statesync.SyncState) -> Any:
        raise original

    a, b, remote = concurrent_pair(managers, strategy=resolver, check_resolver=check)
    with pytest.raises(statesync.ResolverError) as info:
        RESOLVER_CALLS[call](a, b, remote)
    assert info.value.code == "RESOLVER"
    assert info.value.__cause__ is original
    # The next call that fails for another reason does not inherit the old cause.
    with pytest.raises(statesync.NotFoundError) as later:
        a.update_state("missing", 1)
    assert later.value.__cause__ is None


class _FailingPeer(PeerTransport):
    """A Python transport over another manager whose method `where` raises `error`."""

    def __init__(self, other: statesync.SyncManager, where: str, error: BaseException) -> None:
        super().__init__(other)
        self.where, self.error = where, error

    def capabilities(self) -> statesync.Capabilities:
        if self.where == "capabilities":
            raise self.error
        return super().capabilities()

    def pull(self, cursor: str | None, collections: list[str], limit: int | None) -> statesync.ChangeSet:
        if self.where == "pull":
            raise self.error
        return super().pull(cursor, collections, limit)

    def push(self, changes: statesync.ChangeSet) -> Any:
        if self.where == "push":
            raise self.error
        return super().push(changes)


@pytest.mark.parametrize("where", ["capabilities", "pull", "push"])
def test_a_transport_exception_is_the_cause_itself(where: str, managers: Callable[..., statesync.SyncManager]) -> None:
    a, b = managers("A"), managers("B")
    a.create_state(1, id="to-push")  # so that the round reaches push
    original = _AppError(f"{where} failed")
    with pytest.raises(statesync.TransportError) as info:
        a.sync(_FailingPeer(b, where, original))
    assert info.value.code == "TRANSPORT"
    assert info.value.__cause__ is original
    # A SyncError raised by the transport keeps its code; it is the cause of the error raised.
    refused = statesync.UnauthorizedError("token expired")
    with pytest.raises(statesync.UnauthorizedError) as info:
        a.sync(_FailingPeer(b, where, refused))
    assert info.value.code == "UNAUTHORIZED"
    assert info.value.__cause__ is refused


def test_a_transport_raising_a_sync_error_keeps_its_code(managers: Callable[..., statesync.SyncManager]) -> None:
    """Raising a SyncError from a transport fails the round with that error, not TRANSPORT."""
    a, b = managers("A"), managers("B")

    class Refusing(PeerTransport):
        def pull(self, cursor: Any, collections: Any, limit: Any) -> statesync.ChangeSet:
            return self.other.changes_since("not-a-cursor")  # raises InvalidInputError

    with pytest.raises(statesync.InvalidInputError):
        a.sync(Refusing(b))


def test_a_peer_with_our_own_node_id_is_refused(managers: Callable[..., statesync.SyncManager]) -> None:
    a, b = managers("A"), managers("B")

    class Impostor(PeerTransport):
        def capabilities(self) -> statesync.Capabilities:
            return statesync.Capabilities(node_id="A", scoped_sync=True)

    with pytest.raises(statesync.InvalidInputError):
        a.sync(Impostor(b))
    with pytest.raises(statesync.InvalidInputError):
        a.sync_with(managers("A"))


def test_auto_sync_converges_and_stops(managers: Callable[..., statesync.SyncManager], wait: Any) -> None:
    a, b = managers("A"), managers("B")
    transport = PeerTransport(b)
    assert a.sync_now() is False  # not running yet
    a.start_auto_sync(0.05, transport)
    with pytest.raises(statesync.InvalidInputError):
        a.start_auto_sync(0.05, transport)
    a.create_state({"v": 1}, id="from-a")
    b.create_state({"v": 2}, id="from-b")
    assert a.sync_now() is True
    assert wait(lambda: b.get_state("from-a") is not None and a.get_state("from-b") is not None, 10.0)
    a.update_state("from-a", {"v": 3})
    assert wait(lambda: b.get_state("from-a").data == {"v": 3}, 10.0)
    assert wait(lambda: a.pending_operations() == [], 10.0)
    assert a.stop_auto_sync() is True
    assert a.stop_auto_sync() is False
    assert a.sync_now() is False
    calls = len(transport.calls)
    a.create_state(1, id="after-stop")
    assert b.get_state("after-stop") is None
    assert len(transport.calls) == calls  # stopped means no more rounds
    # it can start again, and close() stops it
    a.start_auto_sync(0.05, transport)
    assert wait(lambda: b.get_state("after-stop") is not None, 10.0)
    a.close()
    assert a.status() is Status.CLOSED


def test_auto_sync_survives_a_failing_transport(managers: Callable[..., statesync.SyncManager], wait: Any) -> None:
    a, b = managers("A"), managers("B")

    class Flaky(PeerTransport):
        failures = 2

        def pull(self, cursor: Any, collections: Any, limit: Any) -> statesync.ChangeSet:
            if Flaky.failures > 0:
                Flaky.failures -= 1
                raise ConnectionError("flaky")
            return super().pull(cursor, collections, limit)

    failed: list[str] = []
    a.subscribe(lambda e: failed.append(e.name) if e.name == "syncFailed" else None)
    a.create_state(1, id="s")
    a.start_auto_sync(0.05, Flaky(b))
    assert wait(lambda: b.get_state("s") is not None, 10.0)
    assert wait(lambda: len(failed) >= 2)
    assert wait(lambda: a.status() is Status.IDLE, 10.0)
    assert a.stop_auto_sync() is True


STOP_MID_ROUND_SCRIPT = textwrap.dedent(
    """
    import threading
    import time

    import statesync

    a = statesync.SyncManager("A")
    b = statesync.SyncManager("B")
    entered = threading.Event()
    events = []
    a.subscribe(lambda e: events.append(e.name))


    class Slow:
        def capabilities(self):
            return statesync.Capabilities(node_id="B", scoped_sync=True)

        def pull(self, cursor, collections, limit):
            entered.set()
            time.sleep(0.3)  # the round is in progress while the main thread stops auto-sync
            return b.changes_since(cursor, collections, limit)

        def push(self, changes):
            return b.reconcile(changes.states)


    a.create_state(1, id="s")
    a.start_auto_sync(0.05, Slow())
    assert entered.wait(10)
    print("stopped", a.stop_auto_sync())  # waits for the round: must not hold the GIL meanwhile
    entered.clear()
    a.create_state(2, id="t")
    a.start_auto_sync(0.05, Slow())
    assert entered.wait(10)
    a.close()  # stops auto-sync mid-round as well
    print("closed", a.status().value, "syncStarted" in events)
    print("DONE")
    """
)


def test_stopping_auto_sync_mid_round_does_not_deadlock(tmp_dir: Path) -> None:
    """stop_auto_sync() and close() wait for a round whose Python transport needs the GIL.

    Run in a child process with a bounded wait: a deadlock there fails this test only."""
    script = tmp_dir / "stop_mid_round.py"
    script.write_text(STOP_MID_ROUND_SCRIPT, encoding="utf-8")
    try:
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"deadlock: stop_auto_sync()/close() never returned\n{e.stdout!r}")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "stopped True" in proc.stdout and "closed closed True" in proc.stdout and "DONE" in proc.stdout


def test_auto_sync_calls_python_resolvers_and_listeners_from_its_worker(
    managers: Callable[..., statesync.SyncManager], wait: Any
) -> None:
    threads: list[int] = []

    def max_v(local: statesync.SyncState, remote: statesync.SyncState) -> Any:
        threads.append(threading.get_ident())
        return {"v": max(local.data["v"], remote.data["v"])}

    a, b = managers("A", strategy=max_v, check_resolver=True), managers("B", strategy=max_v)
    a.create_state({"v": 1}, id="s")
    b.create_state({"v": 7}, id="s")
    heard: list[str] = []
    a.subscribe(lambda e: heard.append(e.name))
    a.start_auto_sync(0.05, PeerTransport(b))
    assert wait(lambda: a.get_state("s").data == {"v": 7} and b.get_state("s").data == {"v": 7}, 10.0)
    assert a.stop_auto_sync() is True
    assert threads and threading.get_ident() not in threads
    assert wait(lambda: "syncCompleted" in heard and "stateUpdated" in heard)
    assert states_by_id(a) == states_by_id(b)


def test_keyword_arguments_of_the_contract(managers: Callable[..., statesync.SyncManager]) -> None:
    a, b = managers(node_id="A"), managers(node_id="B")
    a.create_state(data={"v": 1}, id="x1", collection="x")
    a.create_state({"v": 2}, id="y1", collection="y")
    assert [s.id for s in a.list_states(collection="x", include_deleted=False)] == ["x1"]
    page = a.changes_since(cursor=None, collections=["x"], limit=1)
    assert [s.id for s in page.states] == ["x1"]
    assert b.apply_changes("A", page, collections=["x"]).created == 1
    assert b.peer_cursor("A", collections=["x"]) == page.cursor
    b.set_peer_cursor("A", None, collections=["x"])
    assert b.peer_cursor("A", collections=["x"]) is None
    report = b.sync_with(a, collections=["y"], limit=5)
    assert report.pulled.created == 1
    snapshot = a.export_state()
    c = managers("C")
    assert c.import_state(snapshot.to_json().encode("utf-8"), replace=True).created == 2
    assert c.export_state().pending == snapshot.pending
    assert c.import_state(snapshot=snapshot).unchanged == 2


# ---- refused states: limits, rejections, the stateRejected event ---------------------------------------


def test_limits_are_accepted_as_int_or_float(managers: Callable[..., statesync.SyncManager]) -> None:
    for skew in (0, 0.5, 3600, 7200.0):
        managers(max_clock_skew=skew)
    for size in (1, 10, 1 << 30):
        managers(max_state_bytes=size)
    managers(max_clock_skew=60, max_state_bytes=4096)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_clock_skew": -1},
        {"max_clock_skew": -0.5},
        {"max_clock_skew": float("nan")},
        {"max_clock_skew": float("inf")},
        {"max_clock_skew": True},
        {"max_clock_skew": "60"},
        {"max_clock_skew": None},
        {"max_clock_skew": 10**400},
        {"max_state_bytes": 0},
        {"max_state_bytes": -1},
        {"max_state_bytes": 1.5},
        {"max_state_bytes": 1024.0},
        {"max_state_bytes": True},
        {"max_state_bytes": "1024"},
        {"max_state_bytes": None},
        {"max_state_bytes": 2**64},
    ],
    ids=repr,
)
def test_bad_limits_are_invalid_input(tmp_dir: Path, kwargs: dict[str, Any]) -> None:
    path = tmp_dir / "never.db"
    with pytest.raises(statesync.InvalidInputError) as raised:
        statesync.SyncManager("A", str(path), **kwargs)
    assert raised.value.code == "INVALID_INPUT" and next(iter(kwargs)) in raised.value.message
    assert not path.exists()  # refused before anything was opened


def test_max_state_bytes_bounds_local_writes_and_remote_states(managers: Callable[..., statesync.SyncManager]) -> None:
    a = managers("A", max_state_bytes=10)
    a.create_state({"k": 12}, id="small")  # {"k":12} is 8 bytes of canonical JSON
    before = a.export_state()
    with pytest.raises(statesync.InvalidInputError, match="max_state_bytes"):
        a.create_state({"k": "longer than ten"}, id="big")
    with pytest.raises(statesync.InvalidInputError, match="max_state_bytes"):
        a.update_state("small", {"k": "longer than ten"})
    assert a.export_state() == before
    remote = managers("B").create_state({"k": "longer than ten"}, id="big")
    with pytest.raises(statesync.InvalidStateError, match="bytes"):
        a.apply_remote_state(remote)
    result = a.reconcile([remote])
    assert (result.created, result.rejected) == (0, 1)
    assert [(r.id, r.code) for r in result.rejections] == [("big", "INVALID_STATE")]
    assert a.export_state() == before


def test_max_clock_skew_refuses_states_from_the_future(managers: Callable[..., statesync.SyncManager]) -> None:
    a = managers("A", clock=statesync.ManualClock(10_000), max_clock_skew=1.5)
    b = managers("B", clock=statesync.ManualClock(11_500))
    c = managers("C", clock=statesync.ManualClock(11_501))
    assert a.apply_remote_state(b.create_state(1, id="at-the-limit")).outcome == "created"
    with pytest.raises(statesync.InvalidStateError, match="ahead"):
        a.apply_remote_state(c.create_state(2, id="beyond"))
    assert managers("D", clock=statesync.ManualClock(10_000)).apply_remote_state(c.get_state("beyond")).outcome == (
        "created"  # the default skew is an hour
    )


def test_reconcile_refuses_one_state_alone(managers: Callable[..., statesync.SyncManager]) -> None:
    a, b = managers("A"), managers("B")
    s1 = a.create_state({"v": 1}, id="s1", collection="c1")
    s2 = a.create_state({"v": 2}, id="s2")
    b.create_state({"v": 3}, id="s1", collection="c2")
    result = b.reconcile([s1, s2])
    assert (result.created, result.rejected) == (1, 1)
    assert result.to_dict() == dict(ZERO_COUNTS, created=1, rejected=1)
    [refused] = result.rejections
    assert isinstance(refused, statesync.RejectedState)
    assert (refused.id, refused.code) == ("s1", "INVALID_STATE") and "collection" in refused.message
    kept = b.get_state("s1")
    assert refused.current == kept  # the version the refusing replica keeps
    assert refused == statesync.RejectedState("s1", "INVALID_STATE", refused.message, kept)
    assert refused != statesync.RejectedState("s1", "INVALID_STATE", refused.message)  # without it
    assert refused != statesync.RejectedState("s1", "INVALID_STATE", "another reason", kept)
    assert hash(refused) == hash(statesync.RejectedState("s1", "INVALID_STATE", refused.message, kept))
    assert repr(refused).startswith("RejectedState(id='s1', code='INVALID_STATE', message=")
    assert repr(refused).endswith(", current=<version 1>)")
    assert repr(result) == (
        "ReconciliationResult(created=1, updated=0, unchanged=0, ignored=0, conflicts=0, resolved=0, "
        "rejected=1, rejections=['s1'])"
    )
    with pytest.raises(AttributeError):
        refused.id = "other"  # type: ignore[misc]
    assert b.get_state("s1").collection == "c2" and b.get_state("s2") == s2
    assert b.rejections() == []  # reconcile reports; only sync rounds record
    for value in (refused, result):
        assert pickle.loads(pickle.dumps(value)) == value


def test_a_pull_records_a_refused_state_and_announces_it(tmp_dir: Path, wait: Any) -> None:
    clock = statesync.ManualClock(5_000)
    path = str(tmp_dir / "b.db")
    with statesync.SyncManager("A", clock=clock) as a:
        a.create_state({"v": 1}, id="s1", collection="c1")
        a.create_state({"v": 2}, id="s2")
        with statesync.SyncManager("B", path, clock=clock) as b:
            b.create_state({"v": 3}, id="s1", collection="c2")
            events: list[statesync.SyncEvent] = []
            b.subscribe(events.append)
            report = b.sync_with(a)
            assert (report.pulled.created, report.pulled.rejected) == (1, 1)
            assert [(r.id, r.code) for r in report.pulled.rejections] == [("s1", "INVALID_STATE")]
            assert wait(lambda: "stateRejected" in [e.name for e in events])
            event = events[[e.name for e in events].index("stateRejected")]
            assert (event.state_id, event.code) == ("s1", "INVALID_STATE")
            assert event.message is not None and '"A"' in event.message  # names the peer
            assert event.state is None and event.conflict is None and event.peer is None
            assert repr(event).startswith("SyncEvent(name='stateRejected', state_id='s1', code='INVALID_STATE'")
            [rejection] = b.rejections()
            assert isinstance(rejection, statesync.Rejection)
            assert (rejection.state_id, rejection.code, rejection.message) == ("s1", "INVALID_STATE", event.message)
            assert rejection.rejected_at == 5_000
            assert repr(rejection).startswith("Rejection(state_id='s1', code='INVALID_STATE', message=")
            assert pickle.loads(pickle.dumps(rejection)) == rejection
            assert hash(rejection) == hash(b.rejections()[0])
            assert b.sync_with(a).pulled.rejected == 0  # the same version is not pulled again
        with statesync.SyncManager("B", path, clock=clock) as b:
            assert b.rejections() == [rejection]  # durable


class RefusingTransport(PeerTransport):
    """A peer that refuses every state whose id starts with "bad", answering as `answer` says."""

    def __init__(self, other: statesync.SyncManager, answer: str) -> None:
        super().__init__(other)
        self.answer = answer

    def push(self, changes: statesync.ChangeSet) -> Any:
        good = [s for s in changes.states if not s.id.startswith("bad")]
        result = self.other.reconcile(good)
        refused = [statesync.RejectedState(s.id, "INVALID_STATE", "refused by the test") for s in changes.states]
        refused = [r for r in refused if r.id.startswith("bad")]
        if self.answer == "objects":
            return dict(result.to_dict(), rejections=refused)
        if self.answer == "mappings":
            listed = [{"id": r.id, "code": r.code, "message": r.message} for r in refused]
            return {**result.to_dict(), "rejections": listed}
        return {"created": result.created, "rejections": [{"id": r.id, "code": r.code} for r in refused]}


@pytest.mark.parametrize("answer", ["objects", "mappings", "no-count-no-message"])
def test_a_push_answer_with_rejections_records_them(
    managers: Callable[..., statesync.SyncManager], wait: Any, answer: str
) -> None:
    a, b = managers("A", clock=statesync.ManualClock(7_000)), managers("B")
    a.create_state(1, id="good")
    a.create_state(2, id="bad-1")
    a.create_state(3, id="bad-2")
    events: list[statesync.SyncEvent] = []
    a.subscribe(events.append)
    report = a.sync(RefusingTransport(b, answer))
    assert (report.pushed.created, report.pushed.rejected) == (1, 2)
    assert [r.id for r in report.pushed.rejections] == ["bad-1", "bad-2"]
    message = "" if answer == "no-count-no-message" else "refused by the test"
    assert [(r.state_id, r.code, r.rejected_at) for r in a.rejections()] == [
        ("bad-1", "INVALID_STATE", 7_000),
        ("bad-2", "INVALID_STATE", 7_000),
    ]
    assert all(r.message.endswith(message) and '"B"' in r.message for r in a.rejections())
    assert a.pending_operations() == []  # the refused versions are not pushed again
    assert wait(lambda: [e.state_id for e in events if e.name == "stateRejected"] == ["bad-1", "bad-2"])
    assert [s.id for s in b.list_states()] == ["good"]


@pytest.mark.parametrize(
    "answer",
    [
        {"created": 1, "rejections": [{"code": "INVALID_STATE"}]},
        {"created": 1, "rejections": [{"id": 1, "code": "INVALID_STATE"}]},
        {"created": 1, "rejections": 5},
        {"created": 1, "rejected": -1},
    ],
    ids=["no-id", "int-id", "not-a-list", "negative-count"],
)
def test_a_malformed_push_answer_is_a_transport_error(
    managers: Callable[..., statesync.SyncManager], answer: dict[str, Any]
) -> None:
    class Answering(PeerTransport):
        def push(self, changes: statesync.ChangeSet) -> Any:
            return answer

    a = managers("A")
    a.create_state(1, id="s")
    with pytest.raises(statesync.TransportError, match="push"):
        a.sync(Answering(managers("B")))
    assert a.rejections() == [] and len(a.pending_operations()) == 1


# ---- rejected writes: the peer's kept version and revert_rejected (design §10) ----------------------


class KeptVersionTransport(PeerTransport):
    """A peer that refuses what its replica refuses and answers with each refusal as a mapping,
    its kept version (`current`) given as `form` says: the SyncState, its dict, its JSON text or
    nothing at all."""

    def __init__(self, other: statesync.SyncManager, form: str) -> None:
        super().__init__(other)
        self.form = form

    def push(self, changes: statesync.ChangeSet) -> Any:
        result = self.other.reconcile(changes.states)
        refused: list[dict[str, Any]] = []
        for r in result.rejections:
            item: dict[str, Any] = {"id": r.id, "code": r.code, "message": r.message}
            if r.current is not None and self.form != "none":
                forms = {"object": r.current, "dict": r.current.to_dict(), "json": r.current.to_json()}
                item["current"] = forms[self.form]
            refused.append(item)
        return {**result.to_dict(), "rejections": refused}


def test_revert_rejected_writes_the_peers_version_back_and_it_syncs(
    managers: Callable[..., statesync.SyncManager], wait: Any
) -> None:
    a, b = managers("A"), managers("B", max_state_bytes=20)
    a.create_state({"t": 1}, id="s")
    assert a.sync(PeerTransport(b)).pushed.created == 1
    a.update_state("s", {"t": "far more than twenty bytes of text"})
    # through a Python transport returning the peer's ReconciliationResult: its kept version rides along
    report = a.sync(PeerTransport(b))
    [refused] = report.pushed.rejections
    assert (refused.id, refused.code) == ("s", "INVALID_STATE") and refused.current == b.get_state("s")
    [rejection] = a.rejections()
    assert rejection.own is True and rejection.current == b.get_state("s")
    assert repr(rejection).endswith(", own=True, current=<version 1>)")
    assert pickle.loads(pickle.dumps(rejection)) == rejection
    events: list[statesync.SyncEvent] = []
    a.subscribe(events.append)
    reverted = a.revert_rejected("s")
    assert isinstance(reverted, statesync.SyncState)
    assert (reverted.data, reverted.clock, reverted.version, reverted.deleted) == ({"t": 1}, {"A": 3}, 3, False)
    assert a.get_state("s") == reverted and a.rejections() == []
    assert [o.state_id for o in a.pending_operations()] == ["s"]
    assert wait(lambda: [e.name for e in events if e.name == "stateUpdated"] == ["stateUpdated"])
    report = a.sync(PeerTransport(b))
    assert (report.pushed.updated, report.pushed.rejected) == (1, 0)
    assert b.get_state("s") == a.get_state("s") and a.pending_operations() == []


@pytest.mark.parametrize("form", ["object", "dict", "json", "none"])
def test_a_push_answers_kept_version_reaches_the_rejection(
    managers: Callable[..., statesync.SyncManager], form: str
) -> None:
    a, b = managers("A"), managers("B", max_state_bytes=20)
    a.create_state({"t": 1}, id="s")
    a.sync(PeerTransport(b))
    a.update_state("s", {"t": "far more than twenty bytes of text"})
    report = a.sync(KeptVersionTransport(b, form))
    [refused] = report.pushed.rejections
    [rejection] = a.rejections()
    if form == "none":
        # the peer did not say what it keeps: reverting deletes here, and the deletion syncs
        assert refused.current is None and rejection.current is None and rejection.own
        reverted = a.revert_rejected("s")
        assert (reverted.deleted, reverted.data, reverted.clock) == (True, None, {"A": 3})
        assert a.sync(PeerTransport(b)).pushed.updated == 1
        assert b.get_state("s") is None
        assert [t for t in b.list_states(include_deleted=True) if t.id == "s"] == [reverted]
    else:
        assert refused.current == rejection.current == b.get_state("s")
        assert a.revert_rejected("s").data == {"t": 1}


def test_revert_rejected_needs_a_rejection_of_an_own_write(managers: Callable[..., statesync.SyncManager]) -> None:
    a, b = managers("A", max_state_bytes=10), managers("B")
    b.create_state({"text": "more than ten bytes"}, id="big")
    a.create_state(1, id="mine")
    report = a.sync(PeerTransport(b))
    assert (report.pulled.rejected, report.pushed.created) == (1, 1)
    [rejection] = a.rejections()
    assert (rejection.state_id, rejection.own, rejection.current) == ("big", False, None)
    before = (a.list_states(include_deleted=True), a.pending_operations(), a.rejections())
    for state_id in ("mine", "nothing"):
        with pytest.raises(statesync.NotFoundError) as info:
            a.revert_rejected(state_id)
        assert info.value.code == "NOT_FOUND"
    with pytest.raises(statesync.InvalidInputError) as refused:
        a.revert_rejected("big")
    assert refused.value.code == "INVALID_INPUT" and "peer" in refused.value.message
    assert (a.list_states(include_deleted=True), a.pending_operations(), a.rejections()) == before
    with pytest.raises(TypeError):
        a.revert_rejected(None)  # type: ignore[arg-type]
    a.close()
    with pytest.raises(statesync.ClosedError):
        a.revert_rejected("big")


def test_a_malformed_kept_version_fails_the_push(managers: Callable[..., statesync.SyncManager]) -> None:
    class Answering(PeerTransport):
        def push(self, changes: statesync.ChangeSet) -> Any:
            return {"rejections": [{"id": "s", "code": "FORBIDDEN", "current": {"id": "s", "data": 1}}]}

    a = managers("A")
    a.create_state(1, id="s")
    with pytest.raises(statesync.TransportError, match="push") as info:
        a.sync(Answering(managers("B")))
    assert isinstance(info.value.__cause__, statesync.InvalidStateError)
    assert a.rejections() == [] and len(a.pending_operations()) == 1  # nothing recorded, nothing dropped


def test_pushed_pages_are_cut_to_the_peers_max_body_bytes(managers: Callable[..., statesync.SyncManager]) -> None:
    class Small(PeerTransport):
        def capabilities(self) -> statesync.Capabilities:
            return statesync.Capabilities(node_id=self.other.node_id, scoped_sync=True, max_body_bytes=600)

    a, b, c = managers("A"), managers("B"), managers("C")
    for i in range(6):
        a.create_state({"text": "x" * 100}, id=f"s{i}")
    unlimited, small = PeerTransport(c), Small(b)
    assert a.sync(unlimited).pushed.created == 6
    assert [len(call[1]) for call in unlimited.calls if call[0] == "push"] == [6]
    assert a.sync(small).pushed.created == 6
    pushes = [call[1] for call in small.calls if call[0] == "push"]
    assert len(pushes) > 1 and sorted(sum(pushes, [])) == [f"s{i}" for i in range(6)]


def test_decode_page_leaves_invalid_states_to_be_refused_alone(managers: Callable[..., statesync.SyncManager]) -> None:
    a = managers("A")
    a.create_state({"v": 1}, id="ok")
    a.create_state({"v": 2}, id="tampered")
    message = json.loads(statesync.encode(a.changes_since(), "json"))
    for state in message["states"]:
        if state["id"] == "tampered":
            state["data"] = {"v": 3}  # the hash no longer matches
    text = json.dumps(message).encode()
    with pytest.raises(statesync.InvalidStateError):
        statesync.decode_change_set(text)
    page = statesync.decode_page(text)
    assert [s.id for s in page.states] == ["ok", "tampered"]
    b = managers("B")
    result = b.apply_changes("A", page)
    assert (result.created, result.rejected) == (1, 1)
    assert [(r.state_id, r.code) for r in b.rejections()] == [("tampered", "INVALID_STATE")]
    with pytest.raises(statesync.CorruptError):
        statesync.decode_page(b"{not json")
    binary = statesync.encode(a.changes_since(), "binary")
    assert statesync.decode_page(binary, "binary") == statesync.decode_change_set(binary, "binary")


# ---- HttpTransport's space and token, against a capturing server ---------------------------------------


class Capturing:
    """An HTTP server on 127.0.0.1 that records each request's method, path and headers and
    answers every one `401 UNAUTHORIZED` with the protocol's error body."""

    def __init__(self) -> None:
        import http.server

        self.requests: list[tuple[str, str, dict[str, str]]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                outer.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                body = json.dumps({"error": {"code": "UNAUTHORIZED", "message": "captured"}}).encode()
                self.send_response(401)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def capturing() -> Iterator[Capturing]:
    server = Capturing()
    try:
        yield server
    finally:
        server.close()


@pytest.mark.parametrize("space", ["", "a/b", "a b", "é", "a?b", "a%2F", "x" * 129])
def test_http_transport_refuses_an_invalid_space(space: str) -> None:
    with pytest.raises(statesync.InvalidInputError) as info:
        statesync.HttpTransport("http://127.0.0.1:1", space=space)
    assert info.value.code == "INVALID_INPUT" and "space" in info.value.message


def test_http_transport_space_and_token_name_the_route_and_the_bearer(
    capturing: Capturing, managers: Callable[..., statesync.SyncManager]
) -> None:
    longest = "x" * 128
    for space in ("user:42", "team.alpha_1@example-org", longest):
        assert statesync.HttpTransport(capturing.url, space=space).space == space
    plain = statesync.HttpTransport(capturing.url)
    assert plain.space is None and repr(plain) == f"HttpTransport('{capturing.url}')"
    spaced = statesync.HttpTransport(capturing.url, space="user:42", token="eyJ.tok.en")
    assert repr(spaced) == f"HttpTransport('{capturing.url}', space='user:42')"  # never the token
    a = managers("phone")
    a.create_state(1, id="s")
    with pytest.raises(statesync.UnauthorizedError):
        a.sync(spaced)
    with pytest.raises(statesync.UnauthorizedError):
        a.sync(plain)
    # the token wins over an Authorization header given beside it
    headers = {"Authorization": "Bearer t1", "X-App": "1"}
    overridden = statesync.HttpTransport(capturing.url, token="t2", headers=headers)
    with pytest.raises(statesync.UnauthorizedError):
        a.sync(overridden)
    [(m1, path1, h1), (m2, path2, h2), (m3, path3, h3)] = capturing.requests
    assert (m1, path1, h1["authorization"]) == ("GET", "/v1/spaces/user:42/capabilities", "Bearer eyJ.tok.en")
    assert (m2, path2, "authorization" in h2) == ("GET", "/v1/capabilities", False)
    assert (path3, h3["authorization"], h3["x-app"]) == ("/v1/capabilities", "Bearer t2", "1")
    assert len(a.pending_operations()) == 1


# ---- the built-in HTTP transport against the Rust hub ---------------------------------------------------


def _hub_binary(repo_root: Path, missing: Callable[[str], NoReturn]) -> Path:
    override = os.environ.get("STATESYNC_HUB_BIN")
    if override:
        if not os.path.isfile(override):
            missing(f"STATESYNC_HUB_BIN={override} is not a file")
        return Path(override)
    cargo = shutil.which("cargo")
    if cargo is None:
        missing("cargo is not installed: cannot build statesync-hub")
    try:
        build = subprocess.run(
            [cargo, "build", "-q", "-p", "statesync-hub"],
            cwd=str(repo_root),
            capture_output=True,
            text=True,
            timeout=1800,
        )
    except subprocess.TimeoutExpired:
        missing("building statesync-hub took too long")
    if build.returncode != 0:
        missing(f"statesync-hub does not build:\n{build.stderr[-2000:]}")
    target = Path(os.environ.get("CARGO_TARGET_DIR", str(repo_root / "target")))
    if not target.is_absolute():
        target = repo_root / target
    binary = target / "debug" / "statesync-hub"
    if not binary.exists():
        missing(f"statesync-hub was built but {binary} is missing")
    return binary


@pytest.fixture(scope="session")
def hub_binary(repo_root: Path, hang_guard: Any, prerequisite_missing: Callable[[str], NoReturn]) -> Path:
    with hang_guard.paused():  # a cold build takes minutes; it has its own timeout
        return _hub_binary(repo_root, prerequisite_missing)


class Hub:
    """A running statesync-hub on 127.0.0.1 with a fresh database."""

    def __init__(self, binary: Path, directory: Path, token: str | None = None, extra: Sequence[str] = ()) -> None:
        args = [str(binary), "--db", str(directory / "hub.db"), "--listen", "127.0.0.1:0", *extra]
        if token is not None:
            # Never on the command line (the hub refuses it there: `ps` would show it).
            token_file = directory / "token"
            token_file.write_text(token + "\n")
            token_file.chmod(0o600)
            args += ["--token-file", str(token_file)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("STATESYNC_HUB_")}
        self.log = open(directory / "hub.stderr", "wb")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, env=env)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._drain, daemon=True).start()
        self.url = self._await_listening(30.0)

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.put(raw.decode("utf-8", "replace"))
        self.lines.put(None)

    def _await_listening(self, timeout: float) -> str:
        try:
            while True:
                line = self.lines.get(timeout=timeout)
                if line is None:
                    raise RuntimeError(f"statesync-hub exited early with {self.proc.wait(10)}")
                match = re.search(r"listening on (http://\S+)", line)
                if match:
                    url = match.group(1)
                    assert url.startswith("http://127.0.0.1:"), url
                    return url
        except queue.Empty:
            self.stop()
            raise RuntimeError("statesync-hub did not print its listening line in time") from None
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


@pytest.fixture
def start_hub(hub_binary: Path, tmp_path: Path) -> Iterator[Callable[..., Hub]]:
    hubs: list[Hub] = []

    def start(token: str | None = None, extra: Sequence[str] = ()) -> Hub:
        directory = tmp_path / f"hub-{len(hubs)}"
        directory.mkdir()
        hub = Hub(hub_binary, directory, token, extra)
        hubs.append(hub)
        return hub

    try:
        yield start
    finally:
        for hub in hubs:
            hub.stop()


@pytest.mark.parametrize(
    "options",
    [{}, {"encoding": "json", "compress": False}, {"encoding": "binary", "compress": False}, {"encoding": "json"}],
    ids=["binary-zstd", "json", "binary", "json-zstd"],
)
def test_http_transport_two_managers_converge_through_the_hub(
    start_hub: Callable[..., Hub], managers: Callable[..., statesync.SyncManager], options: dict[str, Any]
) -> None:
    hub = start_hub()
    a, b = managers("phone"), managers("laptop")
    a.create_state({"theme": "dark"}, id="settings", collection="prefs")
    a.create_state({"body": "ü 👋 " * 1000}, id="doc")
    b.create_state([1, 2, 3], id="list")
    ta = statesync.HttpTransport(hub.url, timeout=10.0, **options)
    tb = statesync.HttpTransport(hub.url, timeout=10.0, **options)
    first = a.sync(ta)
    assert first.pushed.created == 2
    assert b.sync(tb).pulled.created == 2
    assert a.sync(ta).pulled.created == 1
    assert states_by_id(a) == states_by_id(b)
    assert a.pending_operations() == [] and b.pending_operations() == []
    # updates and deletes travel too
    b.update_state("settings", {"theme": "light"})
    a.delete_state("doc")
    b.sync(tb)
    a.sync(ta)
    b.sync(tb)
    assert states_by_id(a) == states_by_id(b)
    assert a.get_state("settings").data == {"theme": "light"} and b.get_state("doc") is None
    # scoped
    c = managers("tablet")
    report = c.sync(statesync.HttpTransport(hub.url, **options), collections=["prefs"])
    assert report.pulled.created == 1 and [s.id for s in c.list_states()] == ["settings"]


def test_http_transport_token(start_hub: Callable[..., Hub], managers: Callable[..., statesync.SyncManager]) -> None:
    hub = start_hub(token="s3cret")
    a = managers("phone")
    a.create_state(1, id="s")
    with pytest.raises(statesync.UnauthorizedError) as info:
        a.sync(statesync.HttpTransport(hub.url, timeout=10.0))
    assert info.value.code == "UNAUTHORIZED"
    with pytest.raises(statesync.UnauthorizedError):
        a.sync(statesync.HttpTransport(hub.url, headers={"Authorization": "Bearer wrong"}, timeout=10.0))
    report = a.sync(statesync.HttpTransport(hub.url, headers={"Authorization": "Bearer s3cret"}, timeout=10.0))
    assert report.pushed.created == 1
    assert a.status() is Status.IDLE


def test_http_transport_auto_sync(
    start_hub: Callable[..., Hub], managers: Callable[..., statesync.SyncManager], wait: Any
) -> None:
    hub = start_hub()
    a, b = managers("phone"), managers("laptop")
    a.start_auto_sync(0.05, statesync.HttpTransport(hub.url, timeout=10.0))
    b.start_auto_sync(0.05, statesync.HttpTransport(hub.url, timeout=10.0))
    a.create_state({"v": 1}, id="from-a")
    b.create_state({"v": 2}, id="from-b")
    assert wait(lambda: a.get_state("from-b") is not None and b.get_state("from-a") is not None, 10.0)
    assert a.stop_auto_sync() is True and b.stop_auto_sync() is True
    a.sync(statesync.HttpTransport(hub.url))
    b.sync(statesync.HttpTransport(hub.url))
    assert states_by_id(a) == states_by_id(b)


def test_http_transport_unreachable_hub_is_a_transport_error(
    managers: Callable[..., statesync.SyncManager], wait: Any
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # the port is free again: nothing listens there
    a = managers("phone")
    failed: list[str] = []
    a.subscribe(lambda e: failed.append(e.name) if e.name == "syncFailed" else None)
    with pytest.raises(statesync.TransportError):
        a.sync(statesync.HttpTransport(f"http://127.0.0.1:{port}", timeout=5.0))
    assert wait(lambda: failed == ["syncFailed"])
    assert a.status() is Status.ERROR


def test_http_transport_a_stopped_hub_fails_then_a_new_one_works(
    start_hub: Callable[..., Hub], managers: Callable[..., statesync.SyncManager]
) -> None:
    hub = start_hub()
    a = managers("phone")
    a.create_state(1, id="s")
    transport = statesync.HttpTransport(hub.url, timeout=5.0)
    a.sync(transport)
    hub.stop()
    a.update_state("s", 2)
    with pytest.raises(statesync.TransportError):
        a.sync(transport)
    assert [o.op_id for o in a.pending_operations()] == ["phone:2"]
    fresh = start_hub()
    a.sync(statesync.HttpTransport(fresh.url, timeout=5.0))
    assert a.pending_operations() == []


# ---- spaces and JWTs through the hub (design §10) -----------------------------------------------------


def _hs256_jwt(secret: bytes, claims: dict[str, Any]) -> str:
    """A JWT signed with HS256, made with the standard library (test code only)."""

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def test_http_transport_jwt_users_sync_their_own_space_through_the_hub(
    start_hub: Callable[..., Hub], managers: Callable[..., statesync.SyncManager], tmp_path: Path
) -> None:
    secret = b"a test secret of more than thirty-two bytes"
    secret_file = tmp_path / "jwt-secret"
    secret_file.write_bytes(secret)
    secret_file.chmod(0o600)
    # With an issuer and an audience: the hub binary of this commit requires both claims of every
    # token even when neither flag is given (it passes the empty lists to its verifier).
    issuer = ["--jwt-issuer", "https://auth.test", "--jwt-audience", "statesync-test"]
    hub = start_hub(extra=["--jwt-hs256-secret-file", str(secret_file), *issuer])
    expires = int(time.time()) + 600
    claims = {"exp": expires, "iss": "https://auth.test", "aud": "statesync-test"}
    alice, bob = (_hs256_jwt(secret, {"sub": sub, **claims}) for sub in ("alice", "bob"))

    def transport(space: str, token: str) -> statesync.HttpTransport:
        return statesync.HttpTransport(hub.url, space=space, token=token, timeout=10.0)

    alice_phone, alice_laptop, bob_phone = managers("alice-phone"), managers("alice-laptop"), managers("bob-phone")
    alice_phone.create_state({"theme": "dark"}, id="settings", collection="prefs")
    bob_phone.create_state({"theme": "light"}, id="settings", collection="prefs")
    bob_phone.create_state({"n": 1}, id="bob-only")
    assert alice_phone.sync(transport("user:alice", alice)).pushed.created == 1
    assert bob_phone.sync(transport("user:bob", bob)).pushed.created == 2
    # each user sees their own states only
    assert alice_laptop.sync(transport("user:alice", alice)).pulled.created == 1
    assert states_by_id(alice_laptop) == states_by_id(alice_phone)
    assert [s.id for s in alice_laptop.list_states()] == ["settings"]
    assert alice_laptop.get_state("settings").data == {"theme": "dark"}
    report = bob_phone.sync(transport("user:bob", bob))
    assert (report.pulled.created, report.pulled.updated) == (0, 0)
    assert bob_phone.get_state("settings").data == {"theme": "light"}
    # the other's space is 403 FORBIDDEN at the hub: the credentials are good, the space is not theirs
    with pytest.raises(statesync.ForbiddenError, match="403") as info:
        alice_phone.sync(transport("user:bob", alice))
    assert info.value.code == "FORBIDDEN"
    request = urllib.request.Request(
        f"{hub.url}/v1/spaces/user:bob/capabilities", headers={"Authorization": f"Bearer {alice}"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    assert json.loads(refused.value.read())["error"]["code"] == "FORBIDDEN"
    # no token, or one signed with another secret: 401
    with pytest.raises(statesync.UnauthorizedError, match="401"):
        bob_phone.sync(statesync.HttpTransport(hub.url, space="user:bob", timeout=10.0))
    with pytest.raises(statesync.UnauthorizedError, match="401"):
        bob_phone.sync(
            transport("user:bob", _hs256_jwt(b"another secret of thirty-two bytes!!", {"sub": "bob", **claims}))
        )
    assert [s.id for s in alice_phone.list_states()] == ["settings"]
