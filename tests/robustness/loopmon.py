"""A test-only jupyter-server extension: how long the server's event loop was ever blocked.

A timer every TICK_MS records how late it fires; ``GET /mltf-test/loop[?reset=1]`` (token auth) answers the
largest lateness since the last reset in ms. Enabled only by the robustness tests' own server config
(``ServerApp.jpserver_extensions: {"tests.robustness.loopmon": true}``).
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


class Meter:
    def __init__(self) -> None:
        self.last = time.monotonic()
        self.max_late = 0.0
        self.ticks = 0
        self.late_over_50 = 0

    def tick(self) -> None:
        now = time.monotonic()
        late = now - self.last - TICK_MS / 1000
        if late > 0.05:
            self.late_over_50 += 1
        self.max_late = max(self.max_late, late)
        self.last = now
        self.ticks += 1

    def read(self, reset: bool) -> dict[str, Any]:
        data = {"max_block_ms": round(self.max_late * 1000, 2), "ticks": self.ticks, "over_50ms": self.late_over_50}
        if reset:
            self.max_late, self.ticks, self.late_over_50 = 0.0, 0, 0
            self.last = time.monotonic()
        return data


METER = Meter()


class LoopHandler(APIHandler):
    @web.authenticated
    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(METER.read(self.get_argument("reset", "0") == "1")))


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "tests.robustness.loopmon"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    PeriodicCallback(METER.tick, TICK_MS).start()
    route = url_path_join(serverapp.base_url, "mltf-test", "loop")
    serverapp.web_app.add_handlers(".*$", [(route, LoopHandler)])
