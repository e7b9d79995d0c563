"""A tiny jupyter-server extension that bench_rest.py loads into its own server: event-loop stall meter.

A periodic callback every TICK_MS records how late it runs; ``GET /mltf-bench/loop[?reset=1]`` (token auth)
answers the largest lateness since the last reset, i.e. the longest time the loop could not run a timer.
Loaded only by the bench (``ServerApp.jpserver_extensions`` in the bench's private config dir).
"""

from __future__ import annotations

import json
import time
from typing import Any

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.ioloop import PeriodicCallback

TICK_MS = 5


class _Meter:
    def __init__(self) -> None:
        self.last = time.monotonic()
        self.max_late = 0.0
        self.ticks = 0

    def tick(self) -> None:
        now = time.monotonic()
        self.max_late = max(self.max_late, now - self.last - TICK_MS / 1000)
        self.last = now
        self.ticks += 1

    def read(self, reset: bool) -> dict[str, Any]:
        data = {"max_block_ms": round(self.max_late * 1000, 2), "ticks": self.ticks}
        if reset:
            self.max_late, self.ticks = 0.0, 0
        return data


METER = _Meter()


class LoopHandler(APIHandler):
    @web.authenticated
    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(METER.read(self.get_argument("reset", "0") == "1")))


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "_mltf_bench_loopmon"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    PeriodicCallback(METER.tick, TICK_MS).start()
    route = url_path_join(serverapp.base_url, "mltf-bench", "loop")
    serverapp.web_app.add_handlers(".*$", [(route, LoopHandler)])
