"""Stopping a job, written once for the runner and the sweep task.

scancel and the time limit send SIGTERM (SIGUSR1 with ``--signal``, SIGHUP when a session ends, SIGINT by
hand). The child's process group gets SIGTERM at once and ``grace`` seconds to end, then SIGKILL: the
runner must still have time to upload the log and remove its scratch before Slurm's own SIGKILL (KillWait).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from types import FrameType

from .joblog import say

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGHUP)
#: without a KillWait from the cluster (the local backend: nothing SIGKILLs the runner)
GRACE_SECONDS = 20.0
#: the exit code of a job stopped by a signal whose child still exited 0
STOPPED_EXIT_CODE = 143


def signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    """Signal the child's whole process group (it runs in a session of its own); gone already is fine."""
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass


class StopOnSignal:
    """Remembers the first stop signal (and when it came) and passes SIGTERM on to the watched child."""

    def __init__(self, grace: float = GRACE_SECONDS) -> None:
        self.grace = grace
        self.signum = 0
        self.at = 0.0
        self.child: subprocess.Popen[bytes] | None = None

    def install(self) -> StopOnSignal:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)
        return self

    @property
    def stopped(self) -> bool:
        return self.signum != 0

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if not self.signum:
            self.at = time.monotonic()
        self.signum = signum
        self.terminate_child()

    def watch(self, proc: subprocess.Popen[bytes] | None) -> None:
        """The child a signal stops from now on (None: no child); a signal that came before it stops it now."""
        self.child = proc
        if self.stopped:
            self.terminate_child()

    def terminate_child(self) -> None:
        if self.child is not None and self.child.poll() is None:
            signal_group(self.child, signal.SIGTERM)

    def poll_child(self, proc: subprocess.Popen[bytes], timeout: float) -> int | None:
        """The child's exit code if it ends within ``timeout`` s, else None; killed once a stop's grace is over."""
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        if self.stopped and time.monotonic() >= self.at + self.grace:
            say(f"the entry point did not stop within {self.grace:g} s of the signal: killing it")
            signal_group(proc, signal.SIGKILL)
            return proc.wait()
        return None

    def wait_child(self, proc: subprocess.Popen[bytes], poll: float = 0.2) -> int:
        """The child's exit code, however long it runs (a stop bounds it by the grace)."""
        while True:
            rc = self.poll_child(proc, poll)
            if rc is not None:
                return rc
