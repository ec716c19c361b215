"""A tour of the statesync Python API with full annotations: `mypy --strict` checks it against the
stubs, and running it (`python typed_usage.py`) checks that it does what it says."""

from __future__ import annotations

from collections.abc import Mapping

import statesync
from statesync import (
    ChangeSet,
    ConflictStrategy,
    JSONInput,
    ReconciliationResult,
    Resolution,
    SyncEvent,
    SyncManager,
    SyncState,
)


class ManagerTransport:
    """A `statesync.Transport` in Python: another in-process replica, as a hub would serve it."""

    def __init__(self, peer: SyncManager) -> None:
        self.peer = peer

    def capabilities(self) -> statesync.Capabilities:
        return statesync.Capabilities(self.peer.node_id, scoped_sync=True, binary=True, max_batch=100)

    def pull(self, cursor: str | None, collections: list[str], limit: int | None) -> ChangeSet:
        page = self.peer.changes_since(cursor, collections, limit)
        # Through the wire format and back, as over HTTP: decode_page leaves a state this replica
        # must refuse to be refused alone when the page is applied.
        return statesync.decode_page(statesync.encode(page, "binary"), "binary")

    def push(self, changes: ChangeSet) -> ReconciliationResult | Mapping[str, int]:
        return self.peer.reconcile(changes.states).to_dict()


def merge_tags(local: SyncState, remote: SyncState) -> JSONInput | statesync.Deleted:
    """A custom resolver: the union of both sides' tags."""
    if not isinstance(local.data, dict) or not isinstance(remote.data, dict):
        return statesync.DELETED
    tags: set[str] = set()
    for data in (local.data, remote.data):
        listed = data.get("tags")
        if isinstance(listed, list):
            tags.update(t for t in listed if isinstance(t, str))
    return {"tags": sorted(tags)}


def main() -> None:
    events: list[SyncEvent] = []
    clock = statesync.ManualClock(1_700_000_000_000)
    phone = SyncManager("phone", clock=clock, collection_strategies={"notes": merge_tags})
    # One clock for both: a replica refuses states stamped more than max_clock_skew ahead of its own.
    laptop = SyncManager(
        "laptop", strategy=ConflictStrategy.MANUAL, clock=clock, max_clock_skew=600.0, max_state_bytes=1 << 16
    )

    with phone.subscribe(events.append):
        theme: SyncState = phone.create_state({"theme": "dark", "size": 12}, id="settings", collection="prefs")
        note = phone.create_state({"tags": ["a"]}, collection="notes")
        clock.set(1_700_000_000_100)
        phone.update_state("settings", {"theme": "light", "size": 12})
    assert theme.version == 1 and theme.collection == "prefs" and theme.timestamp.node == "phone"
    assert [e.name for e in events] == ["stateCreated", "stateCreated", "stateUpdated"]
    assert len(phone.pending_operations()) == 3
    assert phone.pending_operations()[0].kind is statesync.OperationKind.CREATE

    # A round through a Python transport, then a direct one between replicas.
    report = laptop.sync(ManagerTransport(phone))
    assert report.pulled.created == 2 and report.pushed.created == 0
    assert laptop.get_state("settings") == phone.get_state("settings")

    # Concurrent edits: the laptop's MANUAL strategy keeps the conflict for the application.
    phone.update_state("settings", {"theme": "solarized", "size": 12})
    laptop.update_state("settings", {"theme": "dark", "size": 14})
    laptop.sync_with(phone, collections=["prefs"])
    conflicts = laptop.conflicts()
    assert len(conflicts) == 1 and laptop.status() is statesync.Status.CONFLICT
    merged = laptop.resolve_conflict(conflicts[0].conflict_id, Resolution.custom({"theme": "solarized", "size": 14}))
    assert merged.data == {"theme": "solarized", "size": 14} and laptop.conflicts() == []

    # The phone's notes merge with the custom resolver.
    phone.update_state(note.id, {"tags": ["a", "b"]})
    laptop.update_state(note.id, {"tags": ["a", "c"]})
    phone.sync_with(laptop)
    phone_note, laptop_note = phone.get_state(note.id), laptop.get_state(note.id)
    assert phone_note is not None and phone_note == laptop_note and phone_note.data == {"tags": ["a", "b", "c"]}
    refused: list[statesync.Rejection] = phone.rejections() + laptop.rejections()
    assert refused == []  # no state was refused by either side

    # Larger data than max_state_bytes is refused (a peer would refuse it too).
    try:
        laptop.create_state({"blob": "x" * (1 << 16)})
    except statesync.InvalidInputError as e:
        assert e.code == "INVALID_INPUT"
    else:
        raise AssertionError("data larger than max_state_bytes was written")

    # Vector clocks.
    assert statesync.compare_clocks({"a": 1}, {"b": 1}) == "concurrent"
    assert statesync.merge_clocks({"a": 1}, {"a": 2, "b": 1}) == {"a": 2, "b": 1}
    assert statesync.dominates({"a": 2}, {"a": 1})

    # Wire formats, snapshots and JSON forms.
    state = SyncState.from_json(merged.to_json())
    assert state == merged and SyncState.from_dict(merged.to_dict()) == merged
    assert statesync.decode_state(statesync.encode(state, "binary"), "binary") == state
    assert statesync.decompress(statesync.compress(b"x" * 4096)) == b"x" * 4096
    snapshot: statesync.Snapshot = laptop.export_state()
    with SyncManager("tablet") as tablet:
        imported: ReconciliationResult = tablet.import_state(snapshot.to_json())
        assert imported.created == len(snapshot.states)
        counts: dict[str, int] = imported.to_dict()
        assert sum(counts.values()) == len(snapshot.states)

    # Errors are typed and carry their code.
    try:
        phone.update_state("no-such-id", {})
    except statesync.NotFoundError as e:
        assert e.code == "NOT_FOUND"
    else:
        raise AssertionError("update_state of an unknown id succeeded")

    deleted = phone.delete_state("settings")
    assert deleted.deleted and deleted.version > theme.version
    assert phone.list_states("prefs") == [] and len(phone.list_states("prefs", include_deleted=True)) == 1
    phone.close()
    laptop.close()
    print("typed usage: ok")


if __name__ == "__main__":
    main()
