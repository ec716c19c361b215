"""Replays the wire-format golden files (`conformance/wire/manifest.json`, specified in
`conformance/wire/README.md`) through `statesync.encode` / `statesync.decode_*`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

import pytest

import statesync

WIRE_DIR = Path(__file__).resolve().parents[2] / "conformance" / "wire"
MANIFEST = json.loads((WIRE_DIR / "manifest.json").read_text(encoding="utf-8"))

#: The golden cases the manifest held when these tests were written; it may only grow.
EXPECTED_CASES = {
    "state_plain",
    "state_tombstone",
    "state_unicode",
    "state_merge_fields",
    "changeset_more",
    "changeset_empty",
    "snapshot_small",
    "pending_ops",
}
MIN_INVALID = 35

DECODERS: dict[str, Callable[..., Any]] = {
    "state": statesync.decode_state,
    "changeset": statesync.decode_change_set,
    "snapshot": statesync.decode_snapshot,
    "pending": statesync.decode_operations,
}

ERROR_CLASSES = {
    "CORRUPT": statesync.CorruptError,
    "UNSUPPORTED_FORMAT": statesync.UnsupportedFormatError,
    "INVALID_STATE": statesync.InvalidStateError,
}

CASES = MANIFEST["cases"]
INVALID = MANIFEST["invalid"]


def read(name: str) -> bytes:
    return (WIRE_DIR / name).read_bytes()


def strict_eq(a: Any, b: Any) -> bool:
    """JSON equality that also keeps int vs float, bool vs int and the sign of -0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (a == b and math.copysign(1.0, a) == math.copysign(1.0, b)) or (a != a and b != b)
    if isinstance(a, list):
        return len(a) == len(b) and all(strict_eq(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(strict_eq(a[k], b[k]) for k in a)
    return a == b


def states_of(kind: str, value: Any) -> list[Any]:
    if kind == "state":
        return [value]
    if kind in ("changeset", "snapshot"):
        return list(value.states)
    return []


# ---- the manifest ---------------------------------------------------------------------------------


def test_manifest_shape() -> None:
    assert MANIFEST["wire_format"] == statesync.WIRE_FORMAT == 1
    assert set(MANIFEST) == {"description", "wire_format", "cases", "invalid"}
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names))
    assert EXPECTED_CASES <= set(names)
    assert len(INVALID) >= MIN_INVALID
    for case in CASES:
        assert set(case) == {"name", "kind", "description", "json", "binary"}, case
        assert case["kind"] in DECODERS
    for case in INVALID:
        assert set(case) == {"name", "kind", "description", "encoding", "file", "error"}, case
        assert case["kind"] in DECODERS and case["encoding"] in ("json", "binary")
        assert case["error"] in ERROR_CLASSES


# ---- golden cases -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_decodes_alike_in_both_forms(case: dict[str, Any]) -> None:
    decode = DECODERS[case["kind"]]
    from_json = decode(read(case["json"]), "json")
    from_binary = decode(read(case["binary"]), "binary")
    assert from_json == from_binary
    assert statesync.encode(from_json, "json") == statesync.encode(from_binary, "json")


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
@pytest.mark.parametrize("source", ["json", "binary"])
@pytest.mark.parametrize("target", ["json", "binary"])
def test_golden_reencodes_byte_identically(case: dict[str, Any], source: str, target: str) -> None:
    value = DECODERS[case["kind"]](read(case[source]), source)
    encoded = statesync.encode(value, target)
    assert isinstance(encoded, bytes)
    assert encoded == read(case[target])


def test_decode_accepts_the_default_encoding_and_bytes_like_input() -> None:
    text = read("state_plain.json")
    assert statesync.decode_state(text) == statesync.decode_state(text, "json")
    assert statesync.encode(statesync.decode_state(text)) == text
    assert statesync.decode_state(bytearray(read("state_plain.bin")), "binary") == statesync.decode_state(text)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_values_match_the_reference_json(case: dict[str, Any]) -> None:
    """The JSON file is the binding-neutral reference value: the decoded Python objects must
    carry exactly its content, with native Python types (int stays int, 3.0 stays a float)."""
    reference = json.loads(read(case["json"]))
    value = DECODERS[case["kind"]](read(case["binary"]), "binary")
    kind = case["kind"]
    if kind == "state":
        ref_states = [reference["state"]]
    elif kind == "changeset":
        ref_states = reference["states"]
        assert value.cursor == reference["cursor"]
        assert value.has_more is reference["has_more"]
    elif kind == "snapshot":
        ref_states = reference["states"]
        assert value.format == reference["format"]
        assert value.node_id == reference["node_id"]
        assert len(value.pending) == len(reference["pending"])
        assert len(value.conflicts) == len(reference["conflicts"])
        for conflict, ref in zip(value.conflicts, reference["conflicts"]):
            assert conflict.conflict_id == ref["conflict_id"]
            assert conflict.state_id == ref["state_id"]
            assert conflict.detected_at == ref["detected_at"]
            assert conflict.local == statesync.SyncState.from_dict(ref["local"])
            assert conflict.remote == statesync.SyncState.from_dict(ref["remote"])
        for op, ref in zip(value.pending, reference["pending"]):
            check_operation(op, ref)
    else:
        ref_states = []
        assert isinstance(value, list)
        assert len(value) == len(reference["operations"])
        for op, ref in zip(value, reference["operations"]):
            check_operation(op, ref)
    states = states_of(kind, value)
    assert len(states) == len(ref_states)
    for state, ref in zip(states, ref_states):
        check_state(state, ref)


def check_state(state: Any, ref: dict[str, Any]) -> None:
    assert isinstance(state, statesync.SyncState)
    assert state.id == ref["id"]
    assert state.collection == ref.get("collection", "default")
    assert strict_eq(state.data, ref["data"]), (state.data, ref["data"])
    assert state.clock == ref["clock"]
    assert state.timestamp == statesync.Timestamp(
        ref["timestamp"]["millis"], ref["timestamp"]["counter"], ref["timestamp"]["node"]
    )
    assert state.modified_by == ref.get("modified_by", ref["timestamp"]["node"])
    assert state.deleted is ref.get("deleted", False)
    assert state.version == ref["version"]
    assert state.hash == ref["hash"]
    # the parsers of a lone state agree with the wire decoder
    assert statesync.SyncState.from_dict(ref) == state
    assert statesync.SyncState.from_json(json.dumps(ref)) == state
    assert statesync.SyncState.from_json(json.dumps(ref).encode()) == state
    # to_json is the compact wire JSON of the state, to_dict the complete form
    assert strict_eq(json.loads(state.to_json()), ref)
    complete = state.to_dict()
    for key in ("id", "collection", "clock", "modified_by", "deleted", "version", "hash"):
        assert complete[key] == getattr(state, key), key
    assert strict_eq(complete["data"], ref["data"])
    assert complete["timestamp"] == ref["timestamp"]


def check_operation(op: Any, ref: dict[str, Any]) -> None:
    assert isinstance(op, statesync.SyncOperation)
    assert op.op_id == ref["op_id"]
    assert op.kind == statesync.OperationKind(ref["kind"])
    assert op.state_id == ref["state_id"]
    assert op.collection == ref["collection"]
    assert strict_eq(op.data, ref["data"])
    assert op.clock == ref["clock"]
    ts = ref["timestamp"]
    assert op.timestamp == statesync.Timestamp(ts["millis"], ts["counter"], ts["node"])
    assert op.node_id == ref["node_id"]


def test_unicode_state_keeps_extreme_numbers() -> None:
    """±(2^53 - 1) (the largest integers data may hold), -0.0, 3.0 and the largest double survive
    decoding into Python."""
    state = statesync.decode_state(read("state_unicode.bin"), "binary")
    data = state.data
    assert data["max_safe"] == 2**53 - 1 and type(data["max_safe"]) is int
    assert data["min_safe"] == -(2**53 - 1) and type(data["min_safe"]) is int
    assert data["negative"] == -42 and type(data["negative"]) is int
    floats = data["floats"]
    assert all(type(f) is float for f in floats)
    assert floats[0] == 0.1 and floats[1] == -2.5e-300 and floats[2] == 1.7976931348623157e308
    assert floats[3] == 3.0
    assert floats[4] == 0.0 and math.copysign(1.0, floats[4]) == -1.0
    assert data["pinned"] is True
    assert data["empty"] == {}


def test_snapshot_json_form_is_the_export_json() -> None:
    """The snapshot's JSON wire form is Snapshot.to_json (README: the same text)."""
    text = read("snapshot_small.json")
    snapshot = statesync.Snapshot.from_json(text)
    assert snapshot == statesync.decode_snapshot(text, "json")
    assert snapshot.to_json().encode("utf-8") == text
    assert statesync.Snapshot.from_json(text.decode("utf-8")) == snapshot


def test_changeset_constructor_encodes_like_a_decoded_one() -> None:
    decoded = statesync.decode_change_set(read("changeset_more.bin"), "binary")
    built = statesync.ChangeSet(list(decoded.states), decoded.cursor, decoded.has_more)
    assert built == decoded
    assert statesync.encode(built, "binary") == read("changeset_more.bin")
    assert statesync.encode(built, "json") == read("changeset_more.json")


# ---- invalid inputs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", INVALID, ids=[c["name"] for c in INVALID])
def test_invalid_input_raises_its_error(case: dict[str, Any]) -> None:
    decode = DECODERS[case["kind"]]
    cls = ERROR_CLASSES[case["error"]]
    with pytest.raises(statesync.SyncError) as info:
        decode(read(case["file"]), case["encoding"])
    assert info.value.code == case["error"], f"{case['name']}: {type(info.value).__name__}: {info.value}"
    assert isinstance(info.value, cls)


def test_unknown_encoding_name_is_refused() -> None:
    with pytest.raises((ValueError, statesync.InvalidInputError)):
        statesync.decode_state(read("state_plain.json"), "yaml")  # type: ignore[arg-type]
    state = statesync.decode_state(read("state_plain.json"), "json")
    with pytest.raises((ValueError, statesync.InvalidInputError)):
        statesync.encode(state, "xml")  # type: ignore[arg-type]


# ---- compression -------------------------------------------------------------------------------------

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
@pytest.mark.parametrize("form", ["json", "binary"])
def test_compress_round_trip(case: dict[str, Any], form: str) -> None:
    raw = read(case[form])
    packed = statesync.compress(raw)
    assert isinstance(packed, bytes)
    assert packed.startswith(ZSTD_MAGIC)
    assert statesync.decompress(packed) == raw
    decode = DECODERS[case["kind"]]
    assert decode(statesync.decompress(packed), form) == decode(raw, form)


def test_compress_large_and_empty() -> None:
    raw = b"statesync " * 200_000
    packed = statesync.compress(raw)
    assert len(packed) < len(raw) // 10
    assert statesync.decompress(packed) == raw
    assert statesync.decompress(statesync.compress(b"")) == b""


@pytest.mark.parametrize(
    "garbage",
    [b"", b"not zstd at all", ZSTD_MAGIC, ZSTD_MAGIC + b"\x00\x01\x02"],
    ids=["empty", "text", "magic-only", "truncated-frame"],
)
def test_decompress_garbage_is_corrupt(garbage: bytes) -> None:
    with pytest.raises(statesync.CorruptError) as info:
        statesync.decompress(garbage)
    assert info.value.code == "CORRUPT"


def test_decompress_truncated_frame_is_corrupt() -> None:
    packed = statesync.compress(read("snapshot_small.bin"))
    with pytest.raises(statesync.CorruptError):
        statesync.decompress(packed[: len(packed) // 2])
