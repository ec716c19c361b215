"""A settings-sync client: your settings in a SQLite replica, edited offline, synced with a hub.

examples (values are JSON, like 14 or true, or else plain text):
  python settings_client.py --db laptop.db set theme dark
  python settings_client.py --db laptop.db show
  python settings_client.py --db laptop.db sync --hub http://127.0.0.1:7878
  python settings_client.py --db laptop.db sync --hub http://127.0.0.1:7878 --watch 2
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time

import statesync

COLLECTION = "settings"


def parse_value(text: str) -> statesync.JSON:
    """JSON if it parses (`42`, `true`, `{"a": 1}`), else the text itself."""
    try:
        value: statesync.JSON = json.loads(text)
    except ValueError:
        value = text
    return value


def set_setting(replica: statesync.SyncManager, key: str, value: statesync.JSON) -> None:
    current = replica.get_state(key)
    if current is None or current.deleted:
        replica.create_state({"value": value}, id=key, collection=COLLECTION)
    else:
        replica.update_state(key, {"value": value})
    print(f"{key} = {json.dumps(value)} (offline until the next sync)")


def value_of(state: statesync.SyncState) -> statesync.JSON:
    return state.data.get("value") if isinstance(state.data, dict) else state.data


def show(replica: statesync.SyncManager) -> None:
    for state in sorted(replica.list_states(COLLECTION), key=lambda s: s.id):
        print(f"{state.id} = {json.dumps(value_of(state))}")
    pending = len(replica.pending_operations())
    print(f"({pending} change{'s' * (pending != 1)} not synced yet, node {replica.node_id})")


def counts(result: statesync.ReconciliationResult) -> str:
    return ", ".join(f"{n} {name}" for name, n in result.to_dict().items() if n) or "nothing"


def sync(replica: statesync.SyncManager, hub: statesync.HttpTransport, watch: float | None) -> None:
    report = replica.sync(hub, [COLLECTION])
    print(f"synced: pulled {counts(report.pulled)}; pushed {counts(report.pushed)}")
    if watch is None:
        return

    def on_event(event: statesync.SyncEvent) -> None:  # called on the auto-sync thread
        state = event.state
        if state is not None and state.modified_by != replica.node_id:
            change = "deleted" if state.deleted else f"= {json.dumps(value_of(state))}"
            print(f"{state.id} {change} (from {state.modified_by})", flush=True)
        elif event.name == "syncFailed":
            print(f"sync failed, retrying: {event.message}", flush=True)

    # ctrl-c and SIGTERM stop watching, even when the shell that started us ignores SIGINT
    # (as it does for background jobs): Python then never installs its own ctrl-c handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with replica.subscribe(on_event):
        replica.start_auto_sync(watch, hub, [COLLECTION])
        print(f"watching every {watch:g} s (ctrl-c to stop)", flush=True)
        try:
            # Short waits, not one endless one: Python runs its ctrl-c handler on the main thread,
            # so if the kernel hands the signal to another thread, it waits for a wake-up.
            while True:
                time.sleep(0.2)
        except KeyboardInterrupt:
            replica.stop_auto_sync()
            print("stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="settings.db", help="the replica's SQLite file (default: %(default)s)")
    commands = parser.add_subparsers(dest="command", required=True)
    set_cmd = commands.add_parser("set", help="set a setting (offline)")
    set_cmd.add_argument("key")
    set_cmd.add_argument("value", help="JSON, or plain text")
    commands.add_parser("unset", help="delete a setting (offline)").add_argument("key")
    commands.add_parser("show", help="print the settings")
    sync_cmd = commands.add_parser("sync", help="sync with a hub")
    sync_cmd.add_argument("--hub", required=True, help="the hub's base URL")
    sync_cmd.add_argument("--token", help="bearer token for the hub")
    sync_cmd.add_argument("--watch", type=float, metavar="SECONDS", help="then keep syncing at this interval")
    args = parser.parse_args(argv)

    try:
        with statesync.SyncManager(path=args.db) as replica:
            if args.command == "set":
                set_setting(replica, args.key, parse_value(args.value))
            elif args.command == "unset":
                replica.delete_state(args.key)
                print(f"{args.key} deleted (offline until the next sync)")
            elif args.command == "show":
                show(replica)
            else:
                headers = {"Authorization": f"Bearer {args.token}"} if args.token else None
                sync(replica, statesync.HttpTransport(args.hub, headers=headers), args.watch)
    except statesync.SyncError as e:
        print(f"error: {e.code}: {e.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
