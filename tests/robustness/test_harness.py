"""The robustness suite's own instruments must fail when they should (no stack needed):

* the loop-lag meter's wall-clock check (``loopmon.check_wall_lag``, one callback's wall time) fails when a
  request handler blocks the event loop with ``time.sleep(1.5)``, which the per-callback CPU measure cannot
  see, and passes when the same handler waits without blocking;
* ``slurm_jobs_under`` raises when ``squeue`` or ``sacct`` fails, so "no job was created" never passes on a
  query that gave no answer.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from tornado import web
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from . import loopmon
from .helpers import SlurmQueryError, slurm_jobs_under


class BlockingHandler(web.RequestHandler):
    def get(self) -> None:
        time.sleep(1.5)  # the bug the check must catch: a blocking call on the loop
        self.finish("done")


class WaitingHandler(web.RequestHandler):
    async def get(self) -> None:
        await asyncio.sleep(1.5)
        self.finish("done")


def _serve_and_measure(handler: type[web.RequestHandler], monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Serve ``handler`` on a loop instrumented as the server extension does it, and measure one request."""
    meter = loopmon.Meter()
    monkeypatch.setattr(loopmon, "METER", meter)
    monkeypatch.setattr(loopmon, "LOOP_THREAD", None)
    monkeypatch.setattr(asyncio.events.Handle, "_run", loopmon._timed_run)
    return asyncio.run(_measure(handler, meter))


async def _measure(handler: type[web.RequestHandler], meter: loopmon.Meter) -> dict[str, object]:
    ticker = asyncio.ensure_future(loopmon.ticker(meter))
    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(web.Application([(r"/", handler)]))
    server.add_sockets(sockets)
    try:
        await asyncio.sleep(0.2)
        meter.read(reset=True)
        port = sockets[0].getsockname()[1]
        reply = await AsyncHTTPClient().fetch(f"http://127.0.0.1:{port}/", request_timeout=30)
        assert reply.body == b"done"
        await asyncio.sleep(0.1)
        return meter.read(reset=True)
    finally:
        server.stop()
        ticker.cancel()


def test_wall_lag_check_fails_on_a_handler_that_blocks_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _serve_and_measure(BlockingHandler, monkeypatch)
    assert float(str(data["max_block_ms"])) >= 1400, data
    assert float(str(data["max_callback_wall_ms"])) >= 1400, data
    assert float(str(data["max_callback_cpu_ms"])) < 1000, data  # what the CPU measure alone would miss
    with pytest.raises(AssertionError, match="held the loop"):
        loopmon.check_wall_lag(data)


def test_wall_lag_check_passes_on_a_handler_that_waits_without_blocking(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _serve_and_measure(WaitingHandler, monkeypatch)
    assert int(str(data["ticks"])) > 50, data
    loopmon.check_wall_lag(data)


def test_the_bound_catches_one_second(tmp_path: Path) -> None:
    assert loopmon.WALL_LAG_BOUND_MS < 1000
    base = {"max_block_ms": 0.0, "max_callback_cpu_ms": 0.1, "slowest_callback": "", "longest_callback": ""}
    with pytest.raises(AssertionError, match="held the loop"):
        loopmon.check_wall_lag({**base, "ticks": 10, "max_callback_wall_ms": 1000.0})
    # the ticker waiting behind a long queue of short callbacks (many pollers) is not a blocking call
    loopmon.check_wall_lag({**base, "ticks": 10, "max_block_ms": 2000.0, "max_callback_wall_ms": 40.0})
    with pytest.raises(AssertionError, match="never ran"):
        loopmon.check_wall_lag({**base, "ticks": 0, "max_callback_wall_ms": 0.0})


# ------------------------------------------------------------------------------------------ slurm_jobs_under
def _fake_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, squeue_rc: int, sacct_rc: int) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    outputs = {"squeue": (squeue_rc, "11|/data/x/jobs/a\n12|/elsewhere\n"), "sacct": (sacct_rc, "13|/data/x/b\n")}
    for tool, (rc, out) in outputs.items():
        script = bin_dir / tool
        script.write_text(f"#!/bin/sh\nprintf '{out}'\necho '{tool}: error: Unable to contact slurm controller' >&2\n"
                          f"exit {rc}\n")
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")


@pytest.mark.parametrize("squeue_rc,sacct_rc,failing", [(1, 0, "squeue"), (0, 1, "sacct"), (0, 127, "sacct")])
def test_slurm_jobs_under_raises_when_slurm_does_not_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, squeue_rc: int, sacct_rc: int, failing: str
) -> None:
    _fake_tools(tmp_path, monkeypatch, squeue_rc, sacct_rc)
    with pytest.raises(SlurmQueryError, match=f"{failing} .*exited {squeue_rc or sacct_rc}.*Unable to contact"):
        slurm_jobs_under("/data/x")


def test_slurm_jobs_under_reads_both_when_they_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tools(tmp_path, monkeypatch, 0, 0)
    assert slurm_jobs_under("/data/x") == {"11", "13"}


def test_slurm_jobs_under_raises_when_the_tool_is_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SlurmQueryError, match="could not be asked"):
        slurm_jobs_under("/data/x")
