"""The widgets' background threads: a poller that ticks until stopped, and one-off work off the kernel thread."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Poller:
    """A daemon thread calling ``tick()`` every ``interval()`` seconds until stopped; ``wake()`` polls now."""

    def __init__(self, name: str, tick: Callable[[], None], interval: Callable[[], float]) -> None:
        self._tick = tick
        self._interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.ticks = 0
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._tick()
            self.ticks += 1
            self._wake.wait(self._interval())
            self._wake.clear()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    @property
    def running(self) -> bool:
        return self.thread.is_alive() and not self._stop.is_set()


def in_background(fn: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=fn, name=name, daemon=True)
    thread.start()
    return thread
