"""Object storage through the Python API (docs/backups.md, docs/encryption.md): backups to and
restores from a local folder (`file://`) and a `memory://` store, encryption and its golden
vectors (conformance/crypto/vectors.json, also proven with independent implementations of
XChaCha20-Poly1305 and Argon2id), and replicas syncing through a bucket with no server.

Everything runs on real storage: a temporary directory, or the process's `memory://` stores.
"""

from __future__ import annotations

import json
import os
import pickle
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, NoReturn

import pytest

import statesync
from statesync import BackupInfo, CryptoError, EncryptionKey, ObjectStoreTransport

CRYPTO_VECTORS = Path(__file__).resolve().parents[2] / "conformance" / "crypto" / "vectors.json"

#: The associated data's prefix of a sealed object (docs/encryption.md).
AD_PREFIX = b"statesync/sealed\0"

#: Bounded waits for background threads (auto-backup, auto-sync).
WAIT_SECONDS = 10.0


# ---- helpers -------------------------------------------------------------------------------------


@pytest.fixture
def managers() -> Iterator[Callable[..., statesync.SyncManager]]:
    """A factory of in-memory SyncManagers, all closed after the test."""
    opened: list[statesync.SyncManager] = []

    def make(node_id: str) -> statesync.SyncManager:
        m = statesync.SyncManager(node_id)
        opened.append(m)
        return m

    yield make
    for m in opened:
        m.close()


@pytest.fixture(params=["file", "memory"])
def storage_url(request: pytest.FixtureRequest, tmp_dir: Path) -> str:
    """A fresh, empty storage URL: a folder (not yet made) in a temporary directory, or a
    `memory://` store of its own."""
    if request.param == "file":
        return (tmp_dir / "bucket").as_uri()
    return f"memory://{uuid.uuid4().hex}/prefix"


def fill(m: statesync.SyncManager, n: int = 6) -> None:
    """`n` states in two collections: even ones in "prefs", odd ones in "drafts"."""
    for i in range(n):
        m.create_state({"i": i, "text": f"state {i}"}, id=f"s{i}", collection="prefs" if i % 2 == 0 else "drafts")


def states_of(m: statesync.SyncManager) -> dict[str, tuple[str, Any, bool]]:
    """Every stored version (tombstones included) by id: collection, data, deleted."""
    return {s.id: (s.collection, s.data, s.deleted) for s in m.list_states(include_deleted=True)}


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {WAIT_SECONDS} s")
        time.sleep(0.05)


def raw_key() -> EncryptionKey:
    return EncryptionKey.from_bytes(os.urandom(32))


# ---- backups -------------------------------------------------------------------------------------


def test_backup_list_verify_and_restore(storage_url: str, managers: Callable[..., statesync.SyncManager]) -> None:
    source = managers("source")
    fill(source)
    source.delete_state("s5")
    info = source.backup(storage_url, label="nightly")
    assert isinstance(info, BackupInfo)
    assert info.id.startswith("backup-") and len(info.id) == len("backup-20261207T120000Z-0a1b2c3d")
    assert (info.states, info.parts, info.encrypted, info.label) == (6, 1, False, "nightly")
    assert info.bytes > 0 and len(info.sha256) == 64
    assert abs(info.created_at - time.time() * 1000) < 60_000
    assert statesync.list_backups(storage_url) == [info]
    assert statesync.verify_backup(storage_url, info.id) == info
    assert pickle.loads(pickle.dumps(info)) == info and hash(pickle.loads(pickle.dumps(info))) == hash(info)
    assert repr(info).startswith(f"BackupInfo(id='{info.id}'")

    # merge into an empty replica: everything comes back, the tombstone too
    target = managers("target")
    result = target.restore_backup(storage_url, info.id)
    assert result.created == 6
    assert states_of(target) == states_of(source)

    # merge never overwrites newer local data; replace puts the backup in place
    target.update_state("s0", {"local": True})
    target.create_state({"extra": 1}, id="extra", collection="prefs")
    target.restore_backup(storage_url, info.id)
    assert target.get_state("s0").data == {"local": True}  # type: ignore[union-attr]
    assert target.get_state("extra") is not None
    target.restore_backup(storage_url, info.id, replace=True)
    assert states_of(target) == states_of(source)

    # only some collections
    partial = managers("partial")
    result = partial.restore_backup(storage_url, info.id, collections=["prefs"])
    assert result.created == 3
    assert {s.collection for s in partial.list_states(include_deleted=True)} == {"prefs"}
    assert states_of(partial) == {k: v for k, v in states_of(source).items() if v[0] == "prefs"}

    # a second backup is listed first (newest first)
    time.sleep(0.01)
    second = source.backup(storage_url)
    assert second.label is None
    assert [b.id for b in statesync.list_backups(storage_url)] == [second.id, info.id]


def test_an_unknown_backup_is_not_found(storage_url: str, managers: Callable[..., statesync.SyncManager]) -> None:
    managers("source").backup(storage_url)
    missing = "backup-20000101T000000Z-00000000"
    with pytest.raises(statesync.NotFoundError):
        statesync.verify_backup(storage_url, missing)
    with pytest.raises(statesync.NotFoundError):
        managers("target").restore_backup(storage_url, missing)


def test_an_encrypted_backup_needs_its_key(storage_url: str, managers: Callable[..., statesync.SyncManager]) -> None:
    source = managers("source")
    fill(source)
    key = EncryptionKey.from_passphrase("correct horse battery staple", b"app-salt-1")
    info = source.backup(storage_url, key=key)
    assert info.encrypted
    assert statesync.verify_backup(storage_url, info.id, key=key) == info
    # the same passphrase and salt make the same key
    again = EncryptionKey.from_passphrase("correct horse battery staple", "app-salt-1")
    assert statesync.verify_backup(storage_url, info.id, key=again) == info

    target = managers("target")
    target.create_state({"mine": True}, id="mine")
    before = states_of(target)
    wrong = [None, raw_key(), EncryptionKey.from_passphrase("wrong horse", b"app-salt-1")]
    for k in wrong:
        with pytest.raises(CryptoError) as info_error:
            statesync.verify_backup(storage_url, info.id, key=k)
        assert info_error.value.code == "CRYPTO"
        with pytest.raises(CryptoError):
            target.restore_backup(storage_url, info.id, key=k, replace=True)
        assert states_of(target) == before, "a failed restore changes nothing"
    result = target.restore_backup(storage_url, info.id, key=key)
    assert result.created == 6
    assert len(states_of(target)) == 7


def test_a_tampered_part_is_corrupt_naming_the_part(
    tmp_dir: Path, managers: Callable[..., statesync.SyncManager]
) -> None:
    bucket = tmp_dir / "bucket"
    source = managers("source")
    fill(source)
    info = source.backup(bucket.as_uri())
    part = bucket / "backups" / info.id / "part-00000"
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0x01
    part.write_bytes(bytes(data))

    with pytest.raises(statesync.CorruptError, match="part-00000") as error:
        statesync.verify_backup(bucket.as_uri(), info.id)
    assert error.value.code == "CORRUPT"
    target = managers("target")
    target.create_state({"mine": True}, id="mine")
    before = states_of(target)
    for replace in (False, True):
        with pytest.raises(statesync.CorruptError, match="part-00000"):
            target.restore_backup(bucket.as_uri(), info.id, replace=replace)
        assert states_of(target) == before, "a failed restore changes nothing"


def test_prune_keeps_the_newest(storage_url: str, managers: Callable[..., statesync.SyncManager]) -> None:
    m = managers("source")
    fill(m, 2)
    ids = []
    for _ in range(3):
        ids.append(m.backup(storage_url).id)
        time.sleep(0.01)  # distinct created_at, for "newest first"
    assert statesync.prune_backups(storage_url, keep_within=3600) == []
    assert statesync.prune_backups(storage_url, keep_last=1) == [ids[1], ids[0]]
    assert [b.id for b in statesync.list_backups(storage_url)] == [ids[2]]
    assert statesync.prune_backups(storage_url, keep_last=1, keep_within=0) == []
    with pytest.raises(statesync.InvalidInputError):
        statesync.prune_backups(storage_url)
    with pytest.raises(statesync.InvalidInputError):
        statesync.prune_backups(storage_url, keep_within=-1.0)


def test_auto_backup_writes_a_backup_then_stops(
    storage_url: str, managers: Callable[..., statesync.SyncManager]
) -> None:
    m = managers("source")
    fill(m, 3)
    key = raw_key()
    with m.start_auto_backup(storage_url, 1.0, keep_last=2, key=key) as auto:
        wait_for(lambda: auto.last_backup is not None, "the first auto-backup")
        assert auto.runs >= 1
        assert auto.last_error is None
        assert repr(auto).startswith("AutoBackup(runs=")
    last = auto.last_backup
    assert last is not None and last.encrypted and last.label == "auto" and last.states == 3
    runs = auto.runs
    listed = statesync.list_backups(storage_url)
    assert last in listed and len(listed) <= 2
    assert statesync.verify_backup(storage_url, last.id, key=key) == last
    auto.stop()  # idempotent
    time.sleep(1.2)
    assert auto.runs == runs, "no run after stop"


def test_auto_backup_checks_its_arguments(managers: Callable[..., statesync.SyncManager]) -> None:
    m = managers("source")
    with pytest.raises(statesync.InvalidInputError):
        m.start_auto_backup("memory://auto/prefix", 0.5)
    with pytest.raises(statesync.InvalidInputError):
        m.start_auto_backup("memory://auto/prefix", float("nan"))
    with pytest.raises(statesync.InvalidInputError):
        m.start_auto_backup("ftp://host/dir", 1.0)


def test_unknown_url_schemes_are_invalid_input(managers: Callable[..., statesync.SyncManager]) -> None:
    m = managers("source")
    for url in ("ftp://host/dir", "nope:relative", "backups"):
        with pytest.raises(statesync.InvalidInputError) as error:
            statesync.list_backups(url)
        assert error.value.code == "INVALID_INPUT"
        with pytest.raises(statesync.InvalidInputError):
            m.backup(url)
        with pytest.raises(statesync.InvalidInputError):
            ObjectStoreTransport(url)


# ---- sync through a bucket -----------------------------------------------------------------------


def test_replicas_converge_through_a_bucket(tmp_dir: Path, managers: Callable[..., statesync.SyncManager]) -> None:
    url = (tmp_dir / "bucket").as_uri()
    key = raw_key()
    phone, laptop = managers("phone"), managers("laptop")
    fill(phone, 4)
    laptop.create_state({"theme": "dark"}, id="settings", collection="prefs")
    to_phone, to_laptop = ObjectStoreTransport(url, key), ObjectStoreTransport(url, key=key)
    assert repr(to_phone).startswith("ObjectStoreTransport(")
    # one round each, then again: each sees the other's writes
    phone.sync(to_phone)
    laptop.sync(to_laptop)
    phone.sync(to_phone)
    assert states_of(phone) == states_of(laptop)
    assert len(states_of(phone)) == 5
    # concurrent changes on both sides converge too
    phone.update_state("settings", {"theme": "light"})
    laptop.delete_state("s1")
    phone.sync(to_phone)
    laptop.sync(to_laptop)
    phone.sync(to_phone)
    assert states_of(phone) == states_of(laptop)
    assert states_of(laptop)["s1"][2] is True
    assert laptop.get_state("settings").data == {"theme": "light"}  # type: ignore[union-attr]
    # compaction keeps what a newcomer needs
    assert isinstance(to_phone.compact(), bool)
    tablet = managers("tablet")
    tablet.sync(ObjectStoreTransport(url, key))
    assert states_of(tablet) == states_of(phone)
    # the bucket's objects are sealed: a wrong key, or none, is CRYPTO
    for wrong in (raw_key(), None):
        stranger = managers(f"stranger-{uuid.uuid4().hex[:8]}")
        with pytest.raises(CryptoError) as error:
            stranger.sync(ObjectStoreTransport(url, wrong))
        assert error.value.code == "CRYPTO"
        assert states_of(stranger) == {}


def test_auto_sync_through_a_bucket(storage_url: str, managers: Callable[..., statesync.SyncManager]) -> None:
    phone, laptop = managers("phone"), managers("laptop")
    laptop.create_state({"theme": "dark"}, id="settings")
    laptop.sync(ObjectStoreTransport(storage_url))
    phone.start_auto_sync(0.1, ObjectStoreTransport(storage_url))
    try:
        wait_for(lambda: phone.get_state("settings") is not None, "auto-sync through the bucket")
    finally:
        phone.stop_auto_sync()
    assert phone.get_state("settings").data == {"theme": "dark"}  # type: ignore[union-attr]


def test_bucket_calls_release_the_gil(tmp_dir: Path, managers: Callable[..., statesync.SyncManager]) -> None:
    """An application thread runs while a backup, a restore, a round through a bucket or a key
    derivation runs in another: none of them holds the GIL while it works.

    The application thread notes the time about every millisecond. A call that held the GIL
    would leave one gap as long as the call itself; a call that releases it leaves only short
    gaps. A machine too busy to schedule the thread gets two more tries; a call holding the GIL
    fails every try."""
    url = (tmp_dir / "bucket").as_uri()
    m = managers("source")
    for i in range(3000):
        m.create_state({"i": i, "pad": f"{i:x}" * 100}, id=f"s{i}")
    calls: list[tuple[str, Callable[[], object]]] = [
        ("backup", lambda: m.backup(url)),
        ("restore", lambda: m.restore_backup(url, statesync.list_backups(url)[0].id, replace=True)),
        ("sync", lambda: m.sync(ObjectStoreTransport(url))),
        ("from_passphrase", lambda: EncryptionKey.from_passphrase("passphrase", b"saltsalt")),
    ]

    def longest_gap(call: Callable[[], object]) -> tuple[float, float]:
        """(longest gap between the application thread's ticks during the call, the call's length)."""
        ticks: list[float] = []
        window: list[float] = []
        done = threading.Event()

        def tick() -> None:
            while not done.is_set():
                ticks.append(time.monotonic())
                time.sleep(0.001)

        def run() -> None:
            window.append(time.monotonic())
            call()
            window.append(time.monotonic())

        ticker = threading.Thread(target=tick)
        ticker.start()
        time.sleep(0.01)
        worker = threading.Thread(target=run)
        worker.start()
        worker.join(WAIT_SECONDS)
        done.set()
        ticker.join()
        assert not worker.is_alive() and len(window) == 2
        start, end = window
        inside = [start] + [t for t in ticks if start < t < end] + [end]
        return max(b - a for a, b in zip(inside, inside[1:])), end - start

    for name, call in calls:
        for _ in range(3):
            gap, length = longest_gap(call)
            if gap < length / 2:
                break
        assert gap < length / 2, f"{name}: the application's thread waited {gap:.3f} s of the call's {length:.3f} s"


# ---- encryption ----------------------------------------------------------------------------------


def test_encryption_keys(managers: Callable[..., statesync.SyncManager]) -> None:
    key = raw_key()
    sealed = key.encrypt("a/b", b"hello")
    assert isinstance(sealed, bytes) and sealed.startswith(b"SSX1")
    assert key.encrypt("a/b", b"hello") != sealed, "a fresh nonce each time"
    assert key.decrypt("a/b", sealed) == b"hello"
    assert key.decrypt("a/b", key.encrypt("a/b", bytearray(b"buffer"))) == b"buffer"
    with pytest.raises(CryptoError):
        key.decrypt("a/c", sealed)  # another object name
    with pytest.raises(CryptoError):
        raw_key().decrypt("a/b", sealed)
    with pytest.raises(CryptoError):
        key.decrypt("a/b", sealed[:-1])
    # keys are opaque: no bytes shown, none pickled
    secret = bytes(range(32))
    shown = repr(EncryptionKey.from_bytes(secret))
    assert shown == "EncryptionKey(raw)" and secret.hex() not in shown
    assert "argon2id" in repr(EncryptionKey.from_passphrase("p", b"saltsalt"))
    with pytest.raises(TypeError):
        pickle.dumps(key)
    # bad keys and arguments are InvalidInputError
    for bad in (lambda: EncryptionKey.from_bytes(bytes(31)), lambda: EncryptionKey.from_bytes("x" * 32)):
        with pytest.raises(statesync.InvalidInputError):
            bad()
    for passphrase, salt in (("", b"saltsalt"), ("p", b"short"), ("p", bytes(65))):
        with pytest.raises(statesync.InvalidInputError):
            EncryptionKey.from_passphrase(passphrase, salt)
    with pytest.raises(statesync.InvalidInputError):
        key.encrypt("a/b", "text")  # type: ignore[arg-type]


def crypto_vectors() -> dict[str, Any]:
    vectors: dict[str, Any] = json.loads(CRYPTO_VECTORS.read_text(encoding="utf-8"))
    return vectors


def key_of(spec: dict[str, str]) -> EncryptionKey:
    if "bytes" in spec:
        return EncryptionKey.from_bytes(bytes.fromhex(spec["bytes"]))
    return EncryptionKey.from_passphrase(spec["passphrase"], spec["salt"].encode())


def test_crypto_golden_vectors() -> None:
    vectors = crypto_vectors()
    assert len(vectors["cases"]) >= 3 and len(vectors["failures"]) >= 9
    for case in vectors["cases"]:
        key = key_of(case["key"])
        sealed, plaintext = bytes.fromhex(case["sealed"]), bytes.fromhex(case["plaintext"])
        assert key.decrypt(case["object"], sealed) == plaintext, case["name"]
        ours = key.encrypt(case["object"], plaintext)
        assert key.decrypt(case["object"], ours) == plaintext, case["name"]
        # the same envelope: header, then a 24-byte nonce, then ciphertext and tag
        assert len(ours) == len(sealed), case["name"]
        header = len(sealed) - 24 - len(plaintext) - 16
        assert ours[:header] == sealed[:header], case["name"]
    for failure in vectors["failures"]:
        with pytest.raises(CryptoError):
            key_of(failure["key"]).decrypt(failure["object"], bytes.fromhex(failure["sealed"]))


def test_crypto_golden_vectors_with_independent_implementations(
    prerequisite_missing: Callable[[str], NoReturn],
) -> None:
    """The golden vectors sealed again by libsodium (PyNaCl) and the reference Argon2 (argon2-cffi):
    the envelope is what docs/encryption.md says, not only what the core happens to do."""
    try:
        from argon2.low_level import Type, hash_secret_raw
        from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_encrypt
    except ImportError as e:
        prerequisite_missing(f"PyNaCl and argon2-cffi are needed ({e})")
    for case in crypto_vectors()["cases"]:
        spec = case["key"]
        sealed, plaintext = bytes.fromhex(case["sealed"]), bytes.fromhex(case["plaintext"])
        nonce = bytes.fromhex(case["nonce"])
        header = sealed[: len(sealed) - 24 - len(plaintext) - 16]
        assert header[:5] == b"SSX1\x01", case["name"]
        if "bytes" in spec:
            assert header[5:] == b"\x00", case["name"]
            key = bytes.fromhex(spec["bytes"])
        else:
            salt = spec["salt"].encode()
            # kind 1, then memory KiB, iterations, lanes (u32 little-endian), the salt's length and the salt
            params = (19456).to_bytes(4, "little") + (2).to_bytes(4, "little") + (1).to_bytes(4, "little")
            assert header[5:] == b"\x01" + params + bytes([len(salt)]) + salt, case["name"]
            key = hash_secret_raw(
                secret=spec["passphrase"].encode(),
                salt=salt,
                time_cost=2,
                memory_cost=19456,
                parallelism=1,
                hash_len=32,
                type=Type.ID,
            )
        ad = AD_PREFIX + case["object"].encode() + b"\0" + header
        ciphertext = crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, nonce, key)
        assert header + nonce + ciphertext == sealed, case["name"]
