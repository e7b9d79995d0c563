"""A test-only jupyter-server extension: how long the server's event loop was ever blocked.

Three measures: a ticker coroutine that sleeps TICK_MS and records how late it wakes (wall-clock lag: anything
that holds the loop, a blocking syscall or ``time.sleep`` included, and also the OS not scheduling the process on
a busy machine), and every loop callback's CPU time on the loop thread (``time.thread_time``: the blocking our
code does in Python, without the machine's scheduling or GIL waits, but blind to a blocking syscall) and wall
time (which sees a blocking syscall, and unlike the ticker does not add up the queue of other callbacks).
``GET /mltf-test/loop[?reset=1]`` (token auth) answers the largest of each since the last reset in ms, and what
the slowest callback was. :func:`check_wall_lag` is the load test's bound on one callback's wall time.
Enabled only by the robustness tests' own server config
(``ServerApp.jpserver_extensions: {"tests.robustness.loopmon": true}``).
"""

from __future__ import annotations

import asyncio
import asyncio.events
import json
import threading
import time
from typing import Any

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.ioloop import IOLoop

TICK_MS = 5


#: the wall-clock lag bound of the load test: far above what a loaded 2-core box adds (scheduling, GC: tens to a
#: few hundred ms), below what one blocking call of a second adds (tests/robustness/test_harness.py proves it)
WALL_LAG_BOUND_MS = 700.0


class Meter:
    def __init__(self) -> None:
        self.max_late = 0.0
        self.ticks = 0
        self.late_over_50 = 0
        self.max_cpu = 0.0
        self.max_cpu_what = ""
        self.cpu_over_50 = 0
        self.max_wall = 0.0
        self.max_wall_what = ""

    def callback(self, cpu: float, what: Any, wall: float = 0.0) -> None:
        if cpu > 0.05:
            self.cpu_over_50 += 1
        if cpu > self.max_cpu:
            self.max_cpu = cpu
            self.max_cpu_what = describe(what)
        if wall > self.max_wall:
            self.max_wall = wall
            self.max_wall_what = describe(what)

    def woke_late(self, late: float) -> None:
        if late > 0.05:
            self.late_over_50 += 1
        self.max_late = max(self.max_late, late)
        self.ticks += 1

    def read(self, reset: bool) -> dict[str, Any]:
        data = {"max_block_ms": round(self.max_late * 1000, 2), "ticks": self.ticks, "over_50ms": self.late_over_50,
                "max_callback_cpu_ms": round(self.max_cpu * 1000, 2), "callbacks_over_50ms_cpu": self.cpu_over_50,
                "slowest_callback": self.max_cpu_what, "max_callback_wall_ms": round(self.max_wall * 1000, 2),
                "longest_callback": self.max_wall_what}
        if reset:
            self.max_late, self.ticks, self.late_over_50 = 0.0, 0, 0
            self.max_cpu, self.max_cpu_what, self.cpu_over_50 = 0.0, "", 0
            self.max_wall, self.max_wall_what = 0.0, ""
        return data


async def ticker(meter: Meter, interval: float = TICK_MS / 1000) -> None:
    """Sleep ``interval`` again and again and record how late each wake-up comes (wall clock)."""
    while True:
        start = time.monotonic()
        await asyncio.sleep(interval)
        meter.woke_late(time.monotonic() - start - interval)


def check_wall_lag(data: dict[str, Any], bound_ms: float = WALL_LAG_BOUND_MS) -> None:
    """AssertionError when one loop callback held the loop more than ``bound_ms`` (wall clock) since the last
    reset.

    The bound is on ONE callback's wall time, not on the ticker's lateness: under 50 pollers on a 2-core box the
    ticker also waits behind a whole queue of short, well-behaved callbacks (each a few ms, hundreds of them per
    loop iteration), which adds up past any fixed bound without any code blocking. A blocking syscall or
    ``time.sleep`` is always inside one callback, so this still catches it, and the CPU measure's blindness to
    it does not matter here. The ticker's lateness stays in the report (``max_block_ms``) for diagnosis."""
    assert data["ticks"] > 0, f"the loop-lag ticker never ran: {data}"
    assert data["max_callback_wall_ms"] < bound_ms, (
        f"one event-loop callback held the loop {data['max_callback_wall_ms']} ms (wall clock; bound {bound_ms} "
        f"ms): a blocking call on the loop? {data['longest_callback']}; ticker lateness {data['max_block_ms']} ms, "
        f"longest callback {data['max_callback_cpu_ms']} ms CPU: {data['slowest_callback']}"
    )


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


#: the thread whose loop is measured (the server's); callbacks of loops in other threads are not counted
LOOP_THREAD: int | None = None


def _timed_run(self: asyncio.events.Handle) -> None:
    if LOOP_THREAD is not None and threading.get_ident() != LOOP_THREAD:
        _original_run(self)
        return
    start = time.thread_time()
    wall = time.monotonic()
    try:
        _original_run(self)
    finally:
        METER.callback(time.thread_time() - start, self, time.monotonic() - wall)


_TASKS: set[asyncio.Task[None]] = set()  # a strong reference: the loop only keeps weak ones


def _start_ticker() -> None:
    _TASKS.add(asyncio.ensure_future(ticker(METER)))


def _load_jupyter_server_extension(serverapp: Any) -> None:
    global LOOP_THREAD
    LOOP_THREAD = threading.get_ident()  # the extension is loaded on the server's loop thread
    asyncio.events.Handle._run = _timed_run  # type: ignore[method-assign]
    IOLoop.current().add_callback(_start_ticker)
    route = url_path_join(serverapp.base_url, "mltf-test", "loop")
    serverapp.web_app.add_handlers(".*$", [(route, LoopHandler)])
