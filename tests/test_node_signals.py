"""Signal handling on the node, written once (jupyter_mltf/node/signals.py) for the runner and the sweep task."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from jupyter_mltf.node.signals import STOP_SIGNALS, StopOnSignal


@pytest.fixture
def restore_handlers() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)


@pytest.mark.parametrize("signum", STOP_SIGNALS)
def test_a_stop_signal_terminates_the_watched_child(restore_handlers: None, signum: int) -> None:
    stop = StopOnSignal(grace=30).install()
    proc = _sleeper()
    try:
        stop.watch(proc)
        os.kill(os.getpid(), signum)
        rc = stop.wait_child(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert stop.stopped and stop.signum == signum and rc == -signal.SIGTERM


def test_a_signal_before_the_child_stops_it_when_watched(restore_handlers: None) -> None:
    stop = StopOnSignal(grace=30).install()
    os.kill(os.getpid(), signal.SIGTERM)
    proc = _sleeper()
    started = time.monotonic()
    stop.watch(proc)
    assert stop.wait_child(proc) == -signal.SIGTERM and time.monotonic() - started < 20


def test_poll_child_returns_none_while_it_runs() -> None:
    stop = StopOnSignal()
    proc = _sleeper()
    try:
        assert stop.poll_child(proc, 0.1) is None and not stop.stopped
    finally:
        proc.kill()
        proc.wait()
