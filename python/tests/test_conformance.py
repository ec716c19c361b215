"""Replays the cross-language conformance suite (`conformance/*.json`) through the Python API.

The format is specified in `conformance/README.md`; this is a port of the Rust replayer
(`core/tests/support/conformance_replay.rs`), rule for rule, through the public Python API as an
application uses it: the clock helpers, `subscribe`, a `Transport` written here for `sync_via`,
`start_auto_sync`. Every case runs twice: on in-memory replicas, and on replicas stored in SQLite
files in a temporary directory, which are then closed, reopened and checked again (the
durability run). One test id per case and mode; `manifest.json` pins the files and their counts.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import re
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

import pytest

import statesync

CONFORMANCE_DIR = Path(__file__).resolve().parents[2] / "conformance"

#: Lists every case file and its number of cases; not a case file itself.
MANIFEST = "manifest.json"

#: The Rust replayer fails below this many cases; so do we (besides the manifest's counts).
MIN_CASES = 250

#: How long an `auto_sync` step may wait for its rounds (README: at most 10 s).
AUTO_SYNC_TIMEOUT = 10.0

MODES = ("memory", "sqlite")

# ---- failures ---------------------------------------------------------------------------------


class CaseFailure(AssertionError):
    """The binding did not do what the case expects, or the case itself is malformed."""


def fail(message: str) -> NoReturn:
    raise CaseFailure(message)


def short(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 300 else text[:300] + "..."


# ---- the content hash (README "Hash"), used to check the suite's own expected hashes -------------


def _es_number(x: Any) -> str:
    """A JSON number as ECMAScript's Number.prototype.toString prints it (RFC 8785)."""
    if isinstance(x, int) and abs(x) <= 1 << 53:
        return str(x)
    f = float(x)
    if not math.isfinite(f):
        raise ValueError(f"not a JSON number: {x!r}")
    if f == 0:
        return "0"
    sign = "-" if f < 0 else ""
    t = Decimal(repr(abs(f))).normalize().as_tuple()
    digits = "".join(str(d) for d in t.digits)
    k = len(digits)
    n = t.exponent + k  # value = 0.digits * 10^n
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        exp = "e" + ("+" if e >= 0 else "-") + str(abs(e))
        body = digits + exp if k == 1 else digits[0] + "." + digits[1:] + exp
    return sign + body


_SHORT_ESCAPES = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"}


def _jcs_string(s: str) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif o < 0x20:
            out.append(_SHORT_ESCAPES.get(o, f"\\u{o:04x}"))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def canonical_json(value: Any) -> str:
    """RFC 8785 (JSON Canonicalization Scheme) text of a JSON value."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return _es_number(value)
    if isinstance(value, str):
        return _jcs_string(value)
    if isinstance(value, list):
        return "[" + ",".join(canonical_json(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be", "surrogatepass"))
        return "{" + ",".join(_jcs_string(k) + ":" + canonical_json(value[k]) for k in keys) + "}"
    raise TypeError(f"not JSON: {value!r}")


def state_hash(data: Any, deleted: bool) -> str:
    text = canonical_json({"data": data, "deleted": deleted})
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


# ---- JSON helpers ------------------------------------------------------------------------------


def json_eq(a: Any, b: Any) -> bool:
    """JSON equality, numbers compared by value; a boolean is never a number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(json_eq(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return len(a) == len(b) and all(k in b and json_eq(v, b[k]) for k, v in a.items())
    return False


def obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        fail(f"{what} must be a JSON object, got {short(value)}")
    return value


def string(m: dict[str, Any], key: str, what: str) -> str:
    v = m.get(key)
    if not isinstance(v, str):
        fail(f"{what}: missing or non-string {key!r}")
    return v


def allow(m: dict[str, Any], allowed: tuple[str, ...], what: str) -> None:
    for k in m:
        if k not in allowed:
            fail(f"{what}: unknown key {k!r} (allowed: {list(allowed)})")


def enum_name(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


# ---- matchers ------------------------------------------------------------------------------------

STATE_KEYS = ("id", "collection", "data", "clock", "timestamp", "modified_by", "deleted", "version", "hash", "fields")
OP_KEYS = ("op_id", "kind", "state_id", "collection", "data", "clock", "timestamp", "node_id")
COUNT_KEYS = ("created", "updated", "unchanged", "ignored", "conflicts", "resolved", "rejected")


def match_fields(expected: Any, actual: dict[str, Any], allowed: tuple[str, ...], what: str) -> None:
    expected = obj(expected, what)
    allow(expected, allowed, what)
    for key, want in expected.items():
        got = actual.get(key, None)
        if not json_eq(want, got):
            fail(f"{what}: {key} is {short(got)}, expected {short(want)}")


def state_dict(state: Any, what: str) -> dict[str, Any]:
    if not isinstance(state, statesync.SyncState):
        fail(f"{what}: expected a SyncState, got {state!r}")
    d = state.to_dict()
    if not isinstance(d, dict):
        fail(f"{what}: SyncState.to_dict() returned {type(d).__name__}")
    return d


_UUID_V4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def check_form(form: Any, value: str, what: str) -> None:
    """An `id_form` / `node_id_form` expectation: `"uuid"` (a generated UUID v4), or none."""
    if form is None:
        return
    if form != "uuid":
        fail(f"{what}: unknown form {short(form)}")
    if _UUID_V4.fullmatch(value) is None:
        fail(f"{what} {value!r} is not a generated UUID v4")


def match_state(expected: Any, actual: Any, what: str) -> None:
    m = dict(obj(expected, what))
    state = state_dict(actual, what)
    check_form(m.pop("id_form", None), str(state.get("id")), f"{what}: id")
    if "data" in m and "hash" in m:
        deleted = m.get("deleted", False)
        computed = state_hash(m["data"], bool(deleted))
        if m["hash"] != computed:
            fail(f"{what}: the case expects hash {m['hash']} but state_hash(data, deleted={deleted}) is {computed}")
    match_fields(m, state, STATE_KEYS, what)


def match_list(expected: Any, actual: list[dict[str, Any]], allowed: tuple[str, ...], what: str) -> None:
    """Matches an expected array element by element (exactly as long) against dicts, comparing
    the keys each expected element gives (of `allowed`)."""
    if not isinstance(expected, list):
        fail(f"{what} must be an array")
    if len(expected) != len(actual):
        fail(f"{what}: {len(actual)} items {short(actual)}, expected {len(expected)}")
    for i, (want, got) in enumerate(zip(expected, actual)):
        match_fields(want, got, allowed, f"{what}[{i}]")


def match_counts(expected: Any, actual: dict[str, Any], what: str) -> None:
    counts = dict(obj(expected, what))
    if "rejections" in counts:
        match_list(counts.pop("rejections"), actual.get("rejections", []), ("id", "code"), f"{what}.rejections")
    match_fields(counts, actual, COUNT_KEYS, what)


def counts_of(result: Any, what: str) -> dict[str, Any]:
    """The counts of a result and, as `rejections`, its refused states as dicts."""
    if not isinstance(result, statesync.ReconciliationResult):
        fail(f"{what}: expected a ReconciliationResult, got {result!r}")
    counts: dict[str, Any] = dict(result.to_dict())
    counts["rejections"] = [{"id": r.id, "code": r.code, "message": r.message} for r in result.rejections]
    return counts


def rejection_dict(r: Any) -> dict[str, Any]:
    return {"state_id": r.state_id, "code": r.code, "message": r.message, "rejected_at": r.rejected_at}


def op_dict(op: Any) -> dict[str, Any]:
    d = dict(op.to_dict())
    d["kind"] = enum_name(d.get("kind"))
    return d


def match_conflict(expected: Any, actual: Any, what: str) -> None:
    m = obj(expected, what)
    allow(m, ("state_id", "local", "remote", "detected_at"), what)
    if "state_id" in m and not json_eq(m["state_id"], actual.state_id):
        fail(f"{what}: state_id is {actual.state_id!r}, expected {short(m['state_id'])}")
    if "detected_at" in m and not json_eq(m["detected_at"], actual.detected_at):
        fail(f"{what}: detected_at is {actual.detected_at!r}, expected {short(m['detected_at'])}")
    if "local" in m:
        match_state(m["local"], actual.local, f"{what}.local")
    if "remote" in m:
        match_state(m["remote"], actual.remote, f"{what}.remote")


# ---- the named custom resolvers (README "Custom resolvers") ---------------------------------------


def _n_of(state: Any) -> Any:
    if state.deleted or not isinstance(state.data, dict):
        return None
    n = state.data.get("n")
    if isinstance(n, (int, float)) and not isinstance(n, bool):
        return n
    return None


def _strings_of(state: Any) -> list[str]:
    if state.deleted or not isinstance(state.data, list):
        return []
    return [item for item in state.data if isinstance(item, str)]


def resolver_max_n(local: Any, remote: Any) -> Any:
    a, b = _n_of(local), _n_of(remote)
    if a is None and b is None:
        return statesync.DELETED
    if a is None:
        best = b
    elif b is None:
        best = a
    else:
        best = b if float(b) > float(a) else a
    return {"n": best}


def resolver_union(local: Any, remote: Any) -> Any:
    return sorted(set(_strings_of(local)) | set(_strings_of(remote)))


def resolver_non_commutative(local: Any, remote: Any) -> Any:
    return local.data


def resolver_failing(local: Any, remote: Any) -> Any:
    raise RuntimeError('the conformance resolver "failing" always fails')


RESOLVERS = {
    "max_n": resolver_max_n,
    "union": resolver_union,
    "non_commutative": resolver_non_commutative,
    "failing": resolver_failing,
}


def parse_strategy(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return statesync.ConflictStrategy(value)
        except ValueError:
            fail(f"unknown strategy {value!r}")
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("custom"), str):
        name = value["custom"]
        if name not in RESOLVERS:
            fail(f"unknown custom resolver {name!r}")
        return RESOLVERS[name]
    fail(f"bad strategy {short(value)}")


# ---- events (README: EVENT_MATCHER) -------------------------------------------------------------

EVENT_KEYS = ("name", "id", "data", "state_id", "code", "peer", "previous", "current")


class EventLog:
    """The listener of a `subscribe` step: keeps the replica's events in delivery order. It only
    records (a listener's exception would be swallowed): `events` steps convert and compare."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[statesync.SyncEvent] = []

    def __call__(self, event: statesync.SyncEvent) -> None:
        with self.lock:
            self.events.append(event)

    def take(self) -> list[statesync.SyncEvent]:
        with self.lock:
            taken, self.events = self.events, []
        return taken


def event_dict(event: statesync.SyncEvent) -> dict[str, Any]:
    """An event as the suite matches it."""
    name = event.name
    if name in ("stateCreated", "stateUpdated", "stateDeleted"):
        if event.state is None:
            fail(f"a {name} event without its state")
        return {"name": name, "id": event.state.id, "data": event.state.data}
    if name == "conflictDetected":
        if event.conflict is None:
            fail("a conflictDetected event without its conflict")
        return {"name": name, "state_id": event.conflict.state_id}
    if name == "conflictResolved":
        return {"name": name, "state_id": event.state_id}
    if name == "stateRejected":
        return {"name": name, "state_id": event.state_id, "code": event.code}
    if name in ("syncStarted", "syncCompleted", "syncFailed"):
        return {"name": name, "peer": event.peer}
    if name == "statusChanged":
        return {"name": name, "previous": enum_name(event.previous), "current": enum_name(event.current)}
    fail(f"an event the suite does not know: {name!r}")


# ---- the vector clock helpers (README: "clock") -------------------------------------------------------


def clock_call(step: dict[str, Any]) -> Any:
    """The step's clock helper on its clocks, given to the binding as the suite spells them: the
    binding refuses a bad clock (a negative or fractional entry) with InvalidInputError."""
    fn = string(step, "fn", "clock")
    a: Any = step.get("a")
    if fn == "increment":
        if "b" in step:
            fail("clock increment takes no b")
        clock, value = statesync.increment_clock(a, string(step, "node", "clock increment"))
        return {"clock": clock, "value": value}
    if "node" in step:
        fail(f"clock {fn} takes no node")
    b: Any = step.get("b")
    if fn == "compare":
        return statesync.compare_clocks(a, b)
    if fn == "merge":
        return statesync.merge_clocks(a, b)
    if fn == "dominates":
        return statesync.dominates(a, b)
    fail(f"unknown clock fn {fn!r}")


# ---- the transport of `sync_via` and `auto_sync` (README: "sync_via") ----------------------------------

CAPABILITY_KEYS = ("scoped_sync", "max_batch", "max_body_bytes", "protocol", "node_id")


class ReplayTransport:
    """A peer replica reached through a transport written here, as an application writes one
    (the `statesync.Transport` protocol): its capabilities as the step overrides them, and a
    failure on one call when the step asks for it. The step is checked here, before the round:
    a mistake in the suite raised from inside the round would become the round's TRANSPORT."""

    def __init__(self, peer: statesync.SyncManager, step: dict[str, Any]) -> None:
        self.peer = peer
        overrides = obj(step.get("capabilities", {}), "capabilities")
        allow(overrides, CAPABILITY_KEYS, "capabilities")
        for key in ("scoped_sync",):
            if key in overrides and not isinstance(overrides[key], bool):
                fail(f"capabilities.{key} must be a boolean")
        for key in ("max_batch", "max_body_bytes", "protocol"):
            v = overrides.get(key)
            if key in overrides and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                fail(f"capabilities.{key} must be a non-negative integer")
        if "node_id" in overrides and not isinstance(overrides["node_id"], str):
            fail("capabilities.node_id must be a string")
        self.overrides = overrides
        self.fail_on: tuple[str, type[statesync.SyncError]] | None = None
        if "fail" in step:
            spec = obj(step["fail"], "fail")
            allow(spec, ("on", "code"), "fail")
            on, code = string(spec, "on", "fail"), string(spec, "code", "fail")
            if on not in ("capabilities", "pull", "push"):
                fail(f"fail.on {on!r} is not capabilities, pull or push")
            if code not in ERROR_CLASSES:
                fail(f"fail.code {code!r} is not an error code")
            self.fail_on = (on, ERROR_CLASSES[code])

    def _failing(self, call: str) -> None:
        if self.fail_on is not None and self.fail_on[0] == call:
            raise self.fail_on[1](f"the conformance transport fails on {call}")

    def capabilities(self) -> statesync.Capabilities:
        self._failing("capabilities")
        o = self.overrides
        return statesync.Capabilities(
            o["node_id"] if "node_id" in o else self.peer.node_id,
            protocol=o.get("protocol", statesync.PROTOCOL_VERSION),
            scoped_sync=o.get("scoped_sync", True),
            binary=False,
            zstd=False,
            max_batch=o.get("max_batch"),
            max_body_bytes=o.get("max_body_bytes"),
        )

    def pull(self, cursor: str | None, collections: list[str], limit: int | None) -> statesync.ChangeSet:
        self._failing("pull")
        return self.peer.changes_since(cursor, collections, limit)

    def push(self, changes: statesync.ChangeSet) -> statesync.ReconciliationResult:
        self._failing("push")
        return self.peer.reconcile(changes.states)


def auto_sync(m: statesync.SyncManager, transport: ReplayTransport, rounds: int) -> None:
    """Runs the binding's auto-sync (every 10 ms) until `rounds` rounds completed, at most
    AUTO_SYNC_TIMEOUT seconds; a failed round fails the step. Stops it in every case."""
    done = threading.Condition()
    seen: dict[str, Any] = {"completed": 0, "failed": None}

    def listen(event: statesync.SyncEvent) -> None:
        with done:
            if event.name == "syncCompleted":
                seen["completed"] += 1
            elif event.name == "syncFailed" and seen["failed"] is None:
                seen["failed"] = event.message
            done.notify_all()

    with m.subscribe(listen):
        m.start_auto_sync(0.01, transport)
        try:
            deadline = time.monotonic() + AUTO_SYNC_TIMEOUT
            with done:
                while seen["failed"] is None and seen["completed"] < rounds:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    done.wait(remaining)
                completed, failed = seen["completed"], seen["failed"]
        finally:
            m.stop_auto_sync()
    if failed is not None:
        fail(f"an auto-sync round failed: {failed}")
    if completed < rounds:
        fail(f"auto-sync completed {completed} of {rounds} rounds in {AUTO_SYNC_TIMEOUT:g} s")


# ---- replicas --------------------------------------------------------------------------------------

REPLICA_KEYS = (
    "node_id",
    "strategy",
    "collection_strategies",
    "clock",
    "check_resolver",
    "max_state_bytes",
    "max_clock_skew_ms",
)


def manager_options(spec: dict[str, Any], clock: Any) -> dict[str, Any]:
    """The SyncManager keyword arguments of a replica's spec."""
    kwargs: dict[str, Any] = {"clock": clock}
    if "strategy" in spec:
        kwargs["strategy"] = parse_strategy(spec["strategy"])
    if "collection_strategies" in spec:
        per = obj(spec["collection_strategies"], "collection_strategies")
        kwargs["collection_strategies"] = {c: parse_strategy(s) for c, s in per.items()}
    check = spec.get("check_resolver", True)
    if not isinstance(check, bool):
        fail("check_resolver must be a boolean")
    kwargs["check_resolver"] = check
    if "max_state_bytes" in spec:
        size = spec["max_state_bytes"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            fail("max_state_bytes must be a positive integer")
        kwargs["max_state_bytes"] = size
    if "max_clock_skew_ms" in spec:
        skew = spec["max_clock_skew_ms"]
        if not isinstance(skew, int) or isinstance(skew, bool) or skew < 0:
            fail("max_clock_skew_ms must be a non-negative integer")
        kwargs["max_clock_skew"] = skew / 1000  # the binding takes seconds
    return kwargs


def open_manager(spec: dict[str, Any], node_id: str | None, path: str | None, clock: Any) -> Any:
    """Opens a replica as its spec says; `node_id` None: generated (or, reopened, the stored one)."""
    kwargs = manager_options(spec, clock)
    try:
        return statesync.SyncManager(node_id, path=path, **kwargs)
    except statesync.SyncError as e:
        fail(f"opening replica {node_id!r}: {e.code} {e}")


@dataclass
class View:
    node_id: str
    states: list[Any]
    pending: list[Any]
    conflicts: list[Any]
    rejections: list[Any]
    status: str


@dataclass
class Replica:
    spec: dict[str, Any]
    #: The case's node id; None: generated by the replica (and kept by its store).
    node_id: str | None
    clock: Any
    path: str | None
    manager: Any
    #: The export taken right before a `close` step.
    closed: Any = None
    #: The rejections held right before a `close` step.
    closed_rejections: Any = None
    #: The events recorded since a `subscribe` step, and that step's subscription.
    events: EventLog | None = None
    subscription: Any = None

    def view(self) -> View:
        status = enum_name(self.manager.status())
        if self.closed is not None:
            s = self.closed
            rejections = list(self.closed_rejections or [])
            return View(s.node_id, list(s.states), list(s.pending), list(s.conflicts), rejections, status)
        m = self.manager
        try:
            view = View(
                m.node_id,
                list(m.list_states(None, include_deleted=True)),
                list(m.pending_operations()),
                list(m.conflicts()),
                list(m.rejections()),
                status,
            )
            export = m.export_state()
        except statesync.SyncError as e:
            fail(f"reading the replica: {e.code} {e}")
        # The export must tell the same story as the listing calls (list order is not part of
        # the contract; the export's is by id).
        by_id = lambda s: s.id  # noqa: E731
        if (
            sorted(export.states, key=by_id) != sorted(view.states, key=by_id)
            or list(export.pending) != view.pending
            or list(export.conflicts) != view.conflicts
        ):
            fail("export_state() disagrees with list_states/pending_operations/conflicts")
        return view

    def content(self) -> tuple[str, Any]:
        """The replica's full content for the "a failing step changes nothing" check."""
        try:
            return ("ok", self.manager.export_state())
        except statesync.SyncError as e:
            return ("error", e.code)


def check_replica(view: View, expected: Any, require_all: bool, skip_status: bool, what: str) -> None:
    expected = obj(expected, what)
    allow(expected, ("states", "pending", "conflicts", "rejections", "status", "node_id_form"), what)
    check_form(expected.get("node_id_form"), view.node_id, f"{what}: node id")
    if require_all:
        for key in ("states", "pending", "conflicts"):
            if key not in expected:
                fail(f"{what}: the final expectation must give {key!r}")
    if "states" in expected:
        states = obj(expected["states"], f"{what}.states")
        want = set(states)
        got = [s.id for s in view.states]
        if want != set(got) or len(got) != len(set(got)):
            fail(f"{what}: stored state ids are {sorted(got)}, expected {sorted(want)}")
        for state in view.states:
            match_state(states[state.id], state, f"{what}.states[{state.id!r}]")
    if "pending" in expected:
        pending = expected["pending"]
        if not isinstance(pending, list):
            fail(f"{what}.pending must be an array")
        if len(pending) != len(view.pending):
            ids = [o.op_id for o in view.pending]
            fail(f"{what}: {len(ids)} pending operations {ids}, expected {len(pending)}")
        for i, (want_op, op) in enumerate(zip(pending, view.pending)):
            match_fields(want_op, op_dict(op), OP_KEYS, f"{what}.pending[{i}]")
    if "conflicts" in expected:
        conflicts = expected["conflicts"]
        if not isinstance(conflicts, list):
            fail(f"{what}.conflicts must be an array")
        if len(conflicts) != len(view.conflicts):
            ids = [c.state_id for c in view.conflicts]
            fail(f"{what}: conflicts on {ids}, expected {len(conflicts)} conflicts")
        for i, (want_c, c) in enumerate(zip(conflicts, view.conflicts)):
            match_conflict(want_c, c, f"{what}.conflicts[{i}]")
    if "rejections" in expected:
        actual = [rejection_dict(r) for r in view.rejections]
        match_list(expected["rejections"], actual, ("state_id", "code"), f"{what}.rejections")
    if "status" in expected:
        status = expected["status"]
        # Neither is stored: a reopened replica is idle (or in conflict).
        skip = skip_status and status in ("closed", "error")
        if not skip and status != view.status:
            fail(f"{what}: status is {view.status!r}, expected {status!r}")


# ---- one run of one case ----------------------------------------------------------------------------

COMMON_KEYS = ("replica", "op", "expect", "expect_error", "comment")
STEP_KEYS = {
    "create": ("id", "collection", "data", "as"),
    "update": ("id", "data"),
    "delete": ("id",),
    "get": ("id",),
    "list": ("collection", "include_deleted"),
    "set_clock": ("millis",),
    "capture": ("id", "as"),
    "capture_conflict": ("state_id", "as"),
    "apply": ("ref", "state", "json"),
    "reconcile": ("items",),
    "resolve_conflict": ("state_id", "conflict_ref", "conflict_id", "resolution"),
    "revert_rejected": ("id",),
    "acknowledge": ("op_ids",),
    "export": ("as",),
    "import": ("ref", "json", "snapshot", "replace"),
    "close": (),
    "check": (),
    "changes_since": ("cursor", "cursor_ref", "collections", "limit", "as"),
    "pull": ("from", "collections", "limit"),
    "sync": ("with", "collections", "limit"),
    "clock": ("fn", "a", "b", "node"),
    "subscribe": (),
    "events": (),
    "set_peer_cursor": ("peer", "collections", "cursor", "cursor_ref"),
    "peer_cursor": ("peer", "collections"),
    "sync_via": ("with", "collections", "limit", "capabilities", "fail"),
    "auto_sync": ("with", "rounds"),
    "open_again": (),
}

#: Steps that are not core calls: never `expect_error`, never on a closed replica.
NOT_CALLS = ("set_clock", "check", "capture", "capture_conflict", "subscribe", "events")
#: Steps without a result to check.
NO_EXPECT = (
    "set_clock",
    "capture",
    "capture_conflict",
    "close",
    "subscribe",
    "set_peer_cursor",
    "auto_sync",
    "open_again",
)

#: The SyncError subclass of each code (README "Error steps").
ERROR_CLASSES = {
    "NOT_FOUND": statesync.NotFoundError,
    "ALREADY_EXISTS": statesync.AlreadyExistsError,
    "INVALID_STATE": statesync.InvalidStateError,
    "INVALID_INPUT": statesync.InvalidInputError,
    "CONFLICT": statesync.ConflictError,
    "RESOLVER": statesync.ResolverError,
    "STORAGE": statesync.StorageError,
    "CORRUPT": statesync.CorruptError,
    "UNSUPPORTED_FORMAT": statesync.UnsupportedFormatError,
    "TRANSPORT": statesync.TransportError,
    "UNAUTHORIZED": statesync.UnauthorizedError,
    "CRYPTO": statesync.CryptoError,
    "CLOSED": statesync.ClosedError,
    "INTERNAL": statesync.InternalError,
}


def describe(e: BaseException) -> str:
    return f"{getattr(e, 'code', '?')} ({type(e).__name__}: {e})"


def collections_of(step: dict[str, Any]) -> list[str] | None:
    if "collections" not in step:
        return None
    cols = step["collections"]
    if not isinstance(cols, list) or not all(isinstance(c, str) for c in cols):
        fail("collections must be an array of strings")
    return list(cols)


def limit_of(step: dict[str, Any]) -> int | None:
    if "limit" not in step:
        return None
    limit = step["limit"]
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        fail("limit must be a non-negative integer")
    return limit


@dataclass
class Ok:
    value: Any


@dataclass
class Err:
    error: Any  # a statesync.SyncError


class Run:
    def __init__(self, case: dict[str, Any], mode: str, tmp_dir: Path | None) -> None:
        self.mode = mode
        self.replicas: dict[str, Replica] = {}
        self.names: dict[str, tuple[str, Any]] = {}
        replicas = obj(case.get("replicas"), "replicas")
        if not replicas:
            fail("a case needs at least one replica")
        for i, (key, spec) in enumerate(replicas.items()):
            spec = obj(spec, f"replica {key!r}")
            allow(spec, REPLICA_KEYS, key)
            node_id = string(spec, "node_id", key) if "node_id" in spec else None
            millis = spec.get("clock", 1000)
            if not isinstance(millis, int) or isinstance(millis, bool) or millis < 0:
                fail(f"replica {key!r}: clock must be a non-negative integer")
            clock = statesync.ManualClock(millis)
            path = str(tmp_dir / f"replica-{i}.db") if tmp_dir is not None else None
            manager = open_manager(spec, node_id, path, clock)
            self.replicas[key] = Replica(spec, node_id, clock, path, manager)

    def close_all(self) -> None:
        for replica in self.replicas.values():
            try:
                replica.manager.close()
            except Exception:  # noqa: BLE001 - cleanup only
                pass

    def replica(self, key: str) -> Replica:
        if key not in self.replicas:
            fail(f"unknown replica {key!r}")
        return self.replicas[key]

    def named(self, name: Any, kind: str, what: str) -> Any:
        entry = self.names.get(name) if isinstance(name, str) else None
        if entry is None or entry[0] != kind:
            fail(f"{what}: {name!r} names no remembered {kind}")
        return entry[1]

    def id(self, raw: str) -> str:
        """`raw`, or for `"$name"` the id of the state created or captured as `name`."""
        if raw.startswith("$"):
            state: statesync.SyncState = self.named(raw[1:], "state", f"the id {raw!r}")
            return state.id
        return raw

    def resolve(self, expected: Any) -> Any:
        """`expected` with every string (object keys included) of the form `"$name"` that names a
        created or captured state replaced by that state's id."""

        def name(text: str) -> str:
            entry = self.names.get(text[1:]) if text.startswith("$") else None
            return entry[1].id if entry is not None and entry[0] == "state" else text

        if isinstance(expected, str):
            return name(expected)
        if isinstance(expected, list):
            return [self.resolve(v) for v in expected]
        if isinstance(expected, dict):
            return {name(k): self.resolve(v) for k, v in expected.items()}
        return expected

    def source(self, src: dict[str, Any], what: str) -> Any:
        """A remote state given by `ref`, `state` or `json`: Ok(state) or Err(parse error)."""
        given = [k for k in ("ref", "state", "json") if k in src]
        if len(given) != 1:
            fail(f"{what}: give exactly one of ref, state, json")
        kind = given[0]
        if kind == "ref":
            return Ok(self.named(src["ref"], "state", what))
        try:
            if kind == "state":
                return Ok(statesync.SyncState.from_dict(src["state"]))
            return Ok(statesync.SyncState.from_json(string(src, "json", what)))
        except statesync.SyncError as e:
            return Err(e)

    def conflict_of(self, key: str, state_id: str) -> str:
        try:
            conflicts = self.replica(key).manager.conflicts()
        except statesync.SyncError as e:
            fail(f"listing conflicts: {describe(e)}")
        ids = [c.conflict_id for c in conflicts if c.state_id == state_id]
        if len(ids) != 1:
            fail(f"{len(ids)} conflicts on state {state_id!r}, the step needs exactly one")
        return ids[0]

    def run_step(self, step: Any) -> None:
        step = obj(step, "step")
        op = string(step, "op", "step")
        key = string(step, "replica", "step")
        if op not in STEP_KEYS:
            fail(f"unknown op {op!r}")
        allow(step, COMMON_KEYS + STEP_KEYS[op], op)
        if "expect" in step and "expect_error" in step:
            fail("a step has expect or expect_error, not both")
        if op in NOT_CALLS and "expect_error" in step:
            fail(f"{op} is not a core call and takes no expect_error")
        if op in NO_EXPECT and "expect" in step:
            fail(f"{op} takes no expect")
        if op == "open_again":
            if step.get("expect_error") != "STORAGE":
                fail("open_again always expects STORAGE")
            if self.mode != "sqlite":
                self.replica(key)
                return  # in memory there is nothing to open twice
        replica = self.replica(key)
        if op == "set_clock":
            millis = step.get("millis")
            if not isinstance(millis, int) or isinstance(millis, bool) or millis < 0:
                fail("set_clock needs millis")
            replica.clock.set(millis)
            return
        if op == "check":
            if "expect" not in step:
                fail("check needs expect")
            check_replica(replica.view(), self.resolve(step["expect"]), False, False, f"check of {key!r}")
            return
        if op == "subscribe":
            if replica.subscription is not None:
                replica.subscription.unsubscribe()
            log = EventLog()
            try:
                replica.subscription = replica.manager.subscribe(log)
            except statesync.SyncError as e:
                fail(f"subscribe: {describe(e)}")
            replica.events = log
            return
        if op == "events":
            if "expect" not in step:
                fail("events needs expect")
            if replica.events is None:
                fail("events before subscribe")
            got = [event_dict(e) for e in replica.events.take()]
            match_list(self.resolve(step["expect"]), got, EVENT_KEYS, f"events of {key!r}")
            return
        if op == "capture":
            sid = self.id(string(step, "id", op))
            try:
                states = replica.manager.list_states(None, include_deleted=True)
            except statesync.SyncError as e:
                fail(f"capture: {describe(e)}")
            found = [s for s in states if s.id == sid]
            if not found:
                fail(f"capture: no state {sid!r}")
            self.names[string(step, "as", op)] = ("state", found[0])
            return
        if op == "capture_conflict":
            cid = self.conflict_of(key, string(step, "state_id", op))
            self.names[string(step, "as", op)] = ("conflict", cid)
            return

        expect_error = step.get("expect_error")
        if expect_error is not None and not isinstance(expect_error, str):
            fail("expect_error must be a string")
        before = replica.content() if expect_error is not None else None
        result = self.call(key, op, step)
        if expect_error is not None:
            if isinstance(result, Ok):
                fail(f"expected error {expect_error}, but the call succeeded with {short(result.value)}")
            e = result.error
            if e.code != expect_error:
                fail(f"expected error {expect_error}, got {describe(e)}")
            cls = ERROR_CLASSES.get(expect_error)
            if cls is not None and not isinstance(e, cls):
                fail(f"error code {expect_error} was raised as {type(e).__name__}, not {cls.__name__}")
            # A failed round keeps what it finished before failing (README: "Error steps").
            if op != "sync_via" and self.replica(key).content() != before:
                fail(f"the failing step ({expect_error}) changed the replica")
            return
        if isinstance(result, Err):
            fail(f"unexpected error {describe(result.error)}")
        if "expect" in step:
            self.check_result(op, self.resolve(step["expect"]), result.value)

    def call(self, key: str, op: str, step: dict[str, Any]) -> Any:
        """Performs one core call: Ok(result) or Err(SyncError). Suite errors raise."""
        replica = self.replica(key)
        m = replica.manager

        def data() -> Any:
            if "data" not in step:
                fail(f"{op} needs data")
            return step["data"]

        def opt_str(k: str) -> str | None:
            v = step.get(k)
            if v is not None and not isinstance(v, str):
                fail(f"{k} must be a string")
            return v

        try:
            if op == "create":
                sid = opt_str("id")
                created = m.create_state(
                    data(), id=None if sid is None else self.id(sid), collection=opt_str("collection")
                )
                if "as" in step:
                    self.names[string(step, "as", op)] = ("state", created)
                return Ok(created)
            if op == "update":
                return Ok(m.update_state(self.id(string(step, "id", op)), data()))
            if op == "delete":
                return Ok(m.delete_state(self.id(string(step, "id", op))))
            if op == "get":
                return Ok(m.get_state(self.id(string(step, "id", op))))
            if op == "list":
                collection = opt_str("collection")
                deleted = step.get("include_deleted", False)
                if not isinstance(deleted, bool):
                    fail("include_deleted must be a boolean")
                states = m.list_states(collection, include_deleted=deleted)
                return Ok({"ids": [s.id for s in states]})
            if op == "apply":
                source = self.source(step, op)
                if isinstance(source, Err):
                    return source
                return Ok(m.apply_remote_state(source.value))
            if op == "reconcile":
                items = step.get("items")
                if not isinstance(items, list):
                    fail("reconcile needs items")
                states, parse_error = [], None
                for i, item in enumerate(items):
                    source = self.source(obj(item, "reconcile item"), f"reconcile item {i}")
                    if isinstance(source, Err):
                        parse_error = parse_error or source
                    else:
                        states.append(source.value)
                if parse_error is not None:
                    return parse_error
                return Ok(counts_of(m.reconcile(states), "reconcile"))
            if op == "resolve_conflict":
                selectors = [k for k in ("state_id", "conflict_ref", "conflict_id") if k in step]
                if selectors == ["state_id"]:
                    conflict_id = self.conflict_of(key, string(step, "state_id", op))
                elif selectors == ["conflict_ref"]:
                    conflict_id = self.named(step["conflict_ref"], "conflict", "conflict_ref")
                elif selectors == ["conflict_id"]:
                    conflict_id = string(step, "conflict_id", op)
                else:
                    fail("resolve_conflict needs exactly one of state_id, conflict_ref, conflict_id")
                res = step.get("resolution")
                if res == "local":
                    resolution = statesync.Resolution.LOCAL
                elif res == "remote":
                    resolution = statesync.Resolution.REMOTE
                elif isinstance(res, dict) and list(res) == ["data"]:
                    resolution = statesync.Resolution.custom(res["data"])
                else:
                    fail(f"bad resolution {short(res)}")
                return Ok(m.resolve_conflict(conflict_id, resolution))
            if op == "revert_rejected":
                return Ok(m.revert_rejected(self.id(string(step, "id", op))))
            if op == "acknowledge":
                ids = step.get("op_ids")
                if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                    fail("acknowledge needs op_ids, an array of strings")
                return Ok({"dropped": m.acknowledge(ids)})
            if op == "export":
                snapshot = m.export_state()
                counts = {
                    "states": len(snapshot.states),
                    "pending": len(snapshot.pending),
                    "conflicts": len(snapshot.conflicts),
                }
                if "as" in step:
                    self.names[string(step, "as", op)] = ("snapshot", snapshot)
                return Ok(counts)
            if op == "import":
                replace = step.get("replace", False)
                if not isinstance(replace, bool):
                    fail("replace must be a boolean")
                given = [k for k in ("ref", "json", "snapshot") if k in step]
                if given == ["ref"]:
                    snapshot = self.named(step["ref"], "snapshot", "import ref")
                    return Ok(counts_of(m.import_state(snapshot, replace=replace), "import"))
                if given == ["json"]:
                    text = string(step, "json", op)
                    return Ok(counts_of(m.import_state(text, replace=replace), "import"))
                if given == ["snapshot"]:
                    text = json.dumps(step["snapshot"])
                    return Ok(counts_of(m.import_state(text, replace=replace), "import"))
                fail("import needs exactly one of ref, json, snapshot")
            if op == "changes_since":
                has_cursor, has_ref = step.get("cursor") is not None, "cursor_ref" in step
                if has_cursor and has_ref:
                    fail("changes_since takes a string cursor or a cursor_ref, not both")
                if has_ref:
                    cursor = self.named(step["cursor_ref"], "cursor", "cursor_ref")
                else:
                    cursor = opt_str("cursor")
                page = m.changes_since(cursor, collections_of(step), limit_of(step))
                if "as" in step:
                    self.names[string(step, "as", op)] = ("cursor", page.cursor)
                return Ok({"ids": [s.id for s in page.states], "has_more": page.has_more})
            if op == "pull":
                source = self.replica(string(step, "from", op)).manager
                collections, limit = collections_of(step), limit_of(step)
                peer = source.node_id
                cursor = m.peer_cursor(peer, collections)
                page = source.changes_since(cursor, collections, limit)
                counts = m.apply_changes(peer, page, collections)
                return Ok(
                    {
                        "ids": [s.id for s in page.states],
                        "has_more": page.has_more,
                        "counts": counts_of(counts, "pull"),
                    }
                )
            if op == "sync":
                other = self.replica(string(step, "with", op)).manager
                report = m.sync_with(other, collections_of(step), limit_of(step))
                return Ok(
                    {
                        "pulled": counts_of(report.pulled, "sync pulled"),
                        "pushed": counts_of(report.pushed, "sync pushed"),
                    }
                )
            if op == "sync_via":
                transport = ReplayTransport(self.replica(string(step, "with", op)).manager, step)
                report = m.sync(transport, collections_of(step), limit_of(step))
                return Ok(
                    {
                        "pulled": counts_of(report.pulled, "sync_via pulled"),
                        "pushed": counts_of(report.pushed, "sync_via pushed"),
                    }
                )
            if op == "auto_sync":
                rounds = step.get("rounds")
                if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 1:
                    fail("auto_sync needs rounds, a whole number >= 1")
                auto_sync(m, ReplayTransport(self.replica(string(step, "with", op)).manager, {}), rounds)
                return Ok(None)
            if op == "clock":
                return Ok(clock_call(step))
            if op == "set_peer_cursor":
                peer = string(step, "peer", op)
                if ("cursor" in step) == ("cursor_ref" in step):
                    fail("set_peer_cursor takes a cursor (string or null) or a cursor_ref")
                if "cursor_ref" in step:
                    cursor = self.named(step["cursor_ref"], "cursor", "cursor_ref")
                else:
                    cursor = opt_str("cursor")
                m.set_peer_cursor(peer, cursor, collections_of(step))
                return Ok(None)
            if op == "peer_cursor":
                return Ok({"cursor": m.peer_cursor(string(step, "peer", op), collections_of(step))})
            if op == "open_again":
                # A second replica on the same file while the first is open: the store refuses.
                clock = statesync.ManualClock(replica.clock.now())
                second = statesync.SyncManager(
                    replica.node_id, path=replica.path, **manager_options(replica.spec, clock)
                )
                second.close()
                return Ok(None)
            if op == "close":
                last = replica.content()
                try:
                    rejections = m.rejections()
                except statesync.SyncError:
                    rejections = []
                m.close()
                if replica.closed is None:
                    replica.closed = last[1] if last[0] == "ok" else None
                    replica.closed_rejections = rejections
                return Ok(None)
        except statesync.SyncError as e:
            return Err(e)
        fail(f"op {op!r} is not a core call")

    def check_result(self, op: str, expected: Any, actual: Any) -> None:
        if op in ("create", "update", "delete", "resolve_conflict", "revert_rejected"):
            match_state(expected, actual, f"{op} result")
        elif op == "get":
            if expected is None and actual is None:
                return
            if expected is None:
                fail(f"get: expected no state, got {actual!r}")
            if actual is None:
                fail("get: expected a state, got none")
            match_state(expected, actual, "get result")
        elif op == "list":
            want = obj(expected, "list expect")
            allow(want, ("ids",), "list expect")
            if not isinstance(want.get("ids"), list):
                fail("list expect: ids must be an array")
            if set(want["ids"]) != set(actual["ids"]):
                fail(f"list: ids are {sorted(actual['ids'])}, expected {sorted(want['ids'])}")
        elif op == "apply":
            want = obj(expected, "apply expect")
            allow(want, ("outcome", "resolved", "state"), "apply expect")
            if not isinstance(actual, statesync.ApplyResult):
                fail(f"apply: expected an ApplyResult, got {actual!r}")
            if "outcome" in want and actual.outcome != want["outcome"]:
                fail(f"apply: outcome is {actual.outcome!r}, expected {want['outcome']!r}")
            if "resolved" in want and not json_eq(want["resolved"], actual.resolved):
                fail(f"apply: resolved is {actual.resolved!r}, expected {want['resolved']!r}")
            if "state" in want:
                match_state(want["state"], actual.state, "apply result state")
        elif op in ("reconcile", "import"):
            match_counts(expected, actual, f"{op} result")
        elif op == "acknowledge":
            match_fields(expected, actual, ("dropped",), "acknowledge result")
        elif op == "export":
            match_fields(expected, actual, ("states", "pending", "conflicts"), "export result")
        elif op in ("changes_since", "pull"):
            want = obj(expected, "page expect")
            allow(want, ("ids", "has_more", "counts"), "page expect")
            if "ids" in want and want["ids"] != actual["ids"]:
                fail(f"{op}: ids are {actual['ids']}, expected {want['ids']}")
            if "has_more" in want and not json_eq(want["has_more"], actual["has_more"]):
                fail(f"{op}: has_more is {actual['has_more']!r}, expected {want['has_more']!r}")
            if "counts" in want:
                if op != "pull":
                    fail("changes_since has no counts")
                match_counts(want["counts"], actual["counts"], "pull counts")
        elif op == "clock":
            if not json_eq(expected, actual):
                fail(f"clock: got {short(actual)}, expected {short(expected)}")
        elif op == "peer_cursor":
            want = obj(expected, "peer_cursor expect")
            allow(want, ("cursor", "cursor_ref"), "peer_cursor expect")
            if list(want) == ["cursor"] and want["cursor"] is None:
                expected_cursor = None
            elif list(want) == ["cursor_ref"]:
                expected_cursor = self.named(want["cursor_ref"], "cursor", "peer_cursor cursor_ref")
            else:
                fail("peer_cursor expects {cursor: null} or {cursor_ref: name}")
            if actual["cursor"] != expected_cursor:
                fail(f"peer_cursor is {actual['cursor']!r}, expected {expected_cursor!r}")
        elif op in ("sync", "sync_via"):
            want = obj(expected, "sync expect")
            allow(want, ("pulled", "pushed"), "sync expect")
            for k in ("pulled", "pushed"):
                if k in want:
                    match_counts(want[k], actual[k], f"sync {k}")
        else:
            fail(f"op {op!r} takes no expect")

    def check_final(self, expected: dict[str, Any], reopened: bool) -> None:
        if set(expected) != set(self.replicas):
            fail(f"the final expect must list every replica: {sorted(self.replicas)}, got {sorted(expected)}")
        for key, replica in self.replicas.items():
            what = f"reopened {key!r}" if reopened else f"final {key!r}"
            check_replica(replica.view(), self.resolve(expected[key]), True, reopened, what)

    def reopen_all(self) -> None:
        """SQLite only: closes every replica, reopens it from its file and compares the exports."""
        for key, replica in self.replicas.items():
            if replica.closed is not None:
                before, replica.closed = replica.closed, None
                rejections_before, replica.closed_rejections = replica.closed_rejections or [], None
            else:
                try:
                    before = replica.manager.export_state()
                    rejections_before = replica.manager.rejections()
                    replica.manager.close()
                except statesync.SyncError as e:
                    fail(f"closing {key!r}: {describe(e)}")
            clock = statesync.ManualClock(replica.clock.now())
            manager = open_manager(replica.spec, replica.node_id, replica.path, clock)
            replica.manager, replica.clock = manager, clock
            replica.events = replica.subscription = None  # they went with the closed manager
            try:
                after = manager.export_state()
            except statesync.SyncError as e:
                fail(f"exporting reopened {key!r}: {describe(e)}")
            if after != before:
                fail(f"replica {key!r} reopened from its SQLite file differs from what it held")
            try:
                rejections_after = manager.rejections()
            except statesync.SyncError as e:
                fail(f"listing the rejections of reopened {key!r}: {describe(e)}")
            if rejections_after != rejections_before:
                fail(f"replica {key!r} reopened from its SQLite file lost or changed its rejections")


CASE_KEYS = ("name", "description", "replicas", "steps", "expect")


def run_case(case: dict[str, Any], mode: str, tmp_dir: Path | None) -> None:
    allow(case, CASE_KEYS, str(case.get("name")))
    run = Run(case, mode, tmp_dir if mode == "sqlite" else None)
    try:
        steps = case.get("steps")
        if not isinstance(steps, list):
            fail("a case needs steps")
        for i, step in enumerate(steps):
            try:
                run.run_step(step)
            except CaseFailure as e:
                op = step.get("op") if isinstance(step, dict) else None
                raise CaseFailure(f"step {i} ({op}): {e}") from None
        expected = obj(case.get("expect"), "expect")
        run.check_final(expected, False)
        if mode == "sqlite":
            run.reopen_all()
            run.check_final(expected, True)
    finally:
        run.close_all()


# ---- collection ----------------------------------------------------------------------------------


def _load_suite() -> tuple[list[Any], list[tuple[str, Any]]]:
    """(case params, [(file name, parsed file or the exception reading it)])."""
    params: list[Any] = []
    files: list[tuple[str, Any]] = []
    for path in sorted(CONFORMANCE_DIR.glob("*.json")):
        if path.name == MANIFEST:
            continue
        try:
            suite = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            files.append((path.name, e))
            params.append(pytest.param(path.name, None, id=f"{path.name}-unreadable"))
            continue
        files.append((path.name, suite))
        cases = suite.get("cases") if isinstance(suite, dict) else None
        if not isinstance(cases, list):
            params.append(pytest.param(path.name, None, id=f"{path.name}-no-cases"))
            continue
        for i, case in enumerate(cases):
            name = case.get("name") if isinstance(case, dict) else None
            case_id = name if isinstance(name, str) and name else f"{path.stem}-case-{i}"
            params.append(pytest.param(path.name, case, id=case_id))
    return params, files


CASE_PARAMS, SUITE_FILES = _load_suite()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("file_name,case", CASE_PARAMS)
def test_conformance_case(file_name: str, case: Any, mode: str, tmp_path: Path) -> None:
    if case is None:
        pytest.fail(f"{file_name} cannot be read or has no cases array")
    if not isinstance(case, dict):
        pytest.fail(f"{file_name}: a case must be a JSON object")
    try:
        run_case(case, mode, tmp_path)
    except CaseFailure as e:
        pytest.fail(f"{file_name} / {case.get('name')} [{mode}]: {e}", pytrace=False)


def _manifest() -> Any:
    try:
        return json.loads((CONFORMANCE_DIR / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        pytest.fail(f"{MANIFEST} cannot be read: {e}")


def test_suite_shape() -> None:
    """Every file reads and knows only the documented keys, case names are unique, the files
    and their case counts are exactly those `manifest.json` lists (a file or case this replayer
    skipped would fail here), and the suite has not shrunk."""
    assert SUITE_FILES, f"no conformance files in {CONFORMANCE_DIR}"
    problems: list[str] = []
    names: dict[str, str] = {}
    total = 0
    counts: dict[str, int] = {}
    for file_name, suite in SUITE_FILES:
        if isinstance(suite, Exception):
            problems.append(f"{file_name} is not valid JSON: {suite}")
            continue
        if not isinstance(suite, dict):
            problems.append(f"{file_name} must hold a JSON object")
            continue
        unknown = set(suite) - {"description", "cases"}
        if unknown:
            problems.append(f"{file_name}: unknown keys {sorted(unknown)}")
        cases = suite.get("cases")
        if not isinstance(cases, list) or not cases:
            problems.append(f"{file_name} has no cases")
            continue
        counts[file_name] = len(cases)
        for case in cases:
            total += 1
            if not isinstance(case, dict):
                problems.append(f"{file_name}: a case is not an object")
                continue
            name = case.get("name")
            if not isinstance(name, str) or not name:
                problems.append(f"{file_name}: a case has no name")
                continue
            if name in names:
                problems.append(f"{file_name} / {name}: duplicate case name (also in {names[name]})")
            names[name] = file_name
            unknown = set(case) - set(CASE_KEYS)
            if unknown:
                problems.append(f"{file_name} / {name}: unknown keys {sorted(unknown)}")
    manifest = _manifest()
    if not isinstance(manifest, dict) or set(manifest) - {"description", "files"}:
        problems.append(f"{MANIFEST} must be an object with description and files")
    listed = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(listed, dict):
        problems.append(f"{MANIFEST} lists no files")
        listed = {}
    present = {file_name for file_name, _ in SUITE_FILES}
    if present != set(listed):
        problems.append(
            f"the case files and {MANIFEST} disagree: only in the directory {sorted(present - set(listed))}, "
            f"only in {MANIFEST} {sorted(set(listed) - present)}"
        )
    for file_name, pinned in listed.items():
        if file_name in counts and counts[file_name] != pinned:
            problems.append(f"{file_name}: {counts[file_name]} cases, {MANIFEST} pins {pinned}")
    replayed = {p.values[0] for p in CASE_PARAMS if p.values[1] is not None}
    if replayed != present:
        problems.append(f"files without replayed cases: {sorted(present - replayed)}")
    replayed_cases = sum(1 for p in CASE_PARAMS if p.values[1] is not None)
    if replayed_cases != total:
        problems.append(f"{replayed_cases} cases are replayed of the {total} the files hold")
    if total < MIN_CASES:
        problems.append(f"only {total} conformance cases, expected at least {MIN_CASES}")
    assert not problems, "\n".join(problems)


def test_replayer_hash_matches_the_readme_examples() -> None:
    """The replayer's own RFC 8785 hash (used to check the suite's expected hashes)."""
    assert state_hash({"theme": "dark"}, False) == "730dbbcf9f17f860"
    assert state_hash(None, True) == "a2fd5e02fc0d43cd"
    assert _es_number(1e21) == "1e+21"
    assert _es_number(1e-7) == "1e-7"
    assert _es_number(0.1) == "0.1"
    assert _es_number(-0.0) == "0"
    assert _es_number(123456789012345680000.0) == "123456789012345680000"
    assert _es_number(1.5e-6) == "0.0000015"
    assert _es_number(2**64 - 1) == "18446744073709552000"
    assert canonical_json({"b": [1, "\u0007\n"], "a": None, "\ue000": 1, "\U0001f600": 2}) == (
        '{"a":null,"b":[1,"\\u0007\\n"],"\U0001f600":2,"\ue000":1}'
    )
