"""Shared fixtures of the statesync Python tests.

The tests exercise the installed `statesync` package (``pip install python/``); they read the
language-independent vectors from the repository's ``conformance/`` directory.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, NoReturn

import pytest

#: The repository root: this file is python/tests/conftest.py.
REPO_ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE_DIR = REPO_ROOT / "conformance"
WIRE_DIR = CONFORMANCE_DIR / "wire"

#: A test that hangs (a deadlock in the binding, say) dumps every thread's stack and ends the
#: run after this many seconds instead of blocking CI forever. 0 disables the guard.
HANG_GUARD_SECONDS = float(os.environ.get("STATESYNC_TEST_HANG_SECONDS", "300"))


#: Set by scripts/test-python.sh (the test command): there, a test whose prerequisite is missing
#: (the hub binary, the test build's panicking call) fails; a bare `pytest` run skips it instead.
STRICT = os.environ.get("STATESYNC_TESTS_STRICT") == "1"


def missing(reason: str) -> NoReturn:
    """Ends a test whose prerequisite is missing: a failure under the test command (nothing it
    needs may be missing there), a skip saying why in a bare `pytest` run."""
    if STRICT:
        pytest.fail(f"{reason} (STATESYNC_TESTS_STRICT=1: the test command provides this)", pytrace=False)
    pytest.skip(f"{reason} (scripts/test-python.sh provides it, and fails instead of skipping)")


@pytest.fixture(scope="session")
def prerequisite_missing() -> Callable[[str], NoReturn]:
    """`prerequisite_missing(reason)`: see `missing`."""
    return missing


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The root of the statesync repository."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    """`conformance/`: the JSON vectors every binding replays."""
    return CONFORMANCE_DIR


@pytest.fixture(scope="session")
def wire_dir() -> Path:
    """`conformance/wire/`: golden wire messages and invalid inputs."""
    return WIRE_DIR


@pytest.fixture
def tmp_dir() -> Iterator[Path]:
    """A fresh temporary directory, removed afterwards (SQLite files, hub databases)."""
    with tempfile.TemporaryDirectory(prefix="statesync-test-") as d:
        yield Path(d)


#: The real standard error, for the hang guard's stack dump: pytest captures fd 2 during tests,
#: and a dump written there would be lost with the process.
_REAL_STDERR: Any = None


def pytest_configure(config: pytest.Config) -> None:
    global _REAL_STDERR
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is None:
        return
    capman.suspend_global_capture(in_=False)
    try:
        _REAL_STDERR = os.fdopen(os.dup(2), "w")
    finally:
        capman.resume_global_capture()


class HangGuard:
    """Ends the run (after dumping every thread's stack) if a test hangs past its bound.

    faulthandler's watchdog is a C thread: it fires even when a deadlock holds the GIL."""

    def arm(self) -> None:
        if HANG_GUARD_SECONDS > 0:
            out = _REAL_STDERR if _REAL_STDERR is not None else sys.stderr
            faulthandler.dump_traceback_later(HANG_GUARD_SECONDS, exit=True, file=out)

    def cancel(self) -> None:
        if HANG_GUARD_SECONDS > 0:
            faulthandler.cancel_dump_traceback_later()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """For work with its own bound that may take longer (building the hub with cargo)."""
        self.cancel()
        try:
            yield
        finally:
            self.arm()


_GUARD = HangGuard()


@pytest.fixture(scope="session")
def hang_guard() -> HangGuard:
    return _GUARD


@pytest.fixture(autouse=True)
def _hang_guard() -> Iterator[None]:
    """Bounds every test: a hang prints all stacks and exits rather than blocking forever."""
    _GUARD.arm()
    try:
        yield
    finally:
        _GUARD.cancel()


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Polls `predicate` until it is true or `timeout` seconds have passed; returns its last value.

    A bounded wait, not a timing assertion: callers assert on the returned value.
    """
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return bool(predicate())
        time.sleep(interval)


@pytest.fixture(scope="session")
def wait() -> Callable[..., bool]:
    """`wait(predicate, timeout=10.0)`: a bounded poll, see `wait_until`."""
    return wait_until
