"""A test-only jupyter-server extension: how long the server's event loop was ever blocked.

Two measures: a timer every TICK_MS records how late it fires (wall time: includes the OS not scheduling the
process on a busy machine), and every loop callback's CPU time on the loop thread (``time.thread_time``:
the blocking our code does, without the machine's scheduling or GIL waits). ``GET /mltf-test/loop[?reset=1]``
(token auth) answers the largest of each since the last reset in ms, and what the slowest callback was.
Enabled only by the robustness tests' own server config
(``ServerApp.jpserver_extensions: {"tests.robustness.loopmon": true}``).
"""

from __future__ import annotations

import asyncio.events
import json
import time
from typing import Any

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.ioloop import PeriodicCallback

TICK_MS = 5


class Meter:
    def __init__(self) -> None:
        self.last = time.monotonic()
        self.max_late = 0.0
        self.ticks = 0
        self.late_over_50 = 0
        self.max_cpu = 0.0
        self.max_cpu_what = ""
        self.cpu_over_50 = 0

    def callback(self, cpu: float, what: Any) -> None:
        if cpu > 0.05:
            self.cpu_over_50 += 1
        if cpu > self.max_cpu:
            self.max_cpu = cpu
            self.max_cpu_what = describe(what)

    def tick(self) -> None:
        now = time.monotonic()
        late = now - self.last - TICK_MS / 1000
        if late > 0.05:
            self.late_over_50 += 1
        self.max_late = max(self.max_late, late)
        self.last = now
        self.ticks += 1

    def read(self, reset: bool) -> dict[str, Any]:
        data = {"max_block_ms": round(self.max_late * 1000, 2), "ticks": self.ticks, "over_50ms": self.late_over_50,
                "max_callback_cpu_ms": round(self.max_cpu * 1000, 2), "callbacks_over_50ms_cpu": self.cpu_over_50,
                "slowest_callback": self.max_cpu_what}
        if reset:
            self.max_late, self.ticks, self.late_over_50 = 0.0, 0, 0
            self.max_cpu, self.max_cpu_what, self.cpu_over_50 = 0.0, "", 0
            self.last = time.monotonic()
        return data


METER = Meter()


def describe(handle: Any) -> str:
    """The callback, and for a task step the coroutine and the line it stopped at next (what ran before it)."""
    task = getattr(getattr(handle, "_callback", None), "__self__", None)
    if isinstance(task, asyncio.Task):
        frames = task.get_stack()
        where = ", ".join(f"{f.f_code.co_qualname}:{f.f_lineno}" for f in frames[-3:]) or "done"
        return f"task {task.get_coro()!r} now at {where}"[:300]
    return repr(handle)[:300]


class LoopHandler(APIHandler):
    @web.authenticated
    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(METER.read(self.get_argument("reset", "0") == "1")))


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "tests.robustness.loopmon"}]


_original_run = asyncio.events.Handle._run


def _timed_run(self: asyncio.events.Handle) -> None:
    start = time.thread_time()
    try:
        _original_run(self)
    finally:
        METER.callback(time.thread_time() - start, self)


def _load_jupyter_server_extension(serverapp: Any) -> None:
    asyncio.events.Handle._run = _timed_run  # type: ignore[method-assign]
    PeriodicCallback(METER.tick, TICK_MS).start()
    route = url_path_join(serverapp.base_url, "mltf-test", "loop")
    serverapp.web_app.add_handlers(".*$", [(route, LoopHandler)])
