"""The activity keepalive: reports to the hub only while MLTF jobs are queued or running."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
from tornado import httpserver, web

from jupyter_mltf.errors import CommandError
from jupyter_mltf.hub import keepalive


class Activity(web.RequestHandler):
    def initialize(self, posts: list[dict[str, Any]]) -> None:
        self.posts = posts

    def post(self) -> None:
        self.posts.append({"auth": self.request.headers.get("Authorization"), "body": json.loads(self.request.body)})
        self.set_status(204)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_reports_activity_only_while_jobs_are_active() -> None:
    counts = [2, 0, None, 1]

    async def counter() -> int | None:
        return counts.pop(0)

    async def scenario() -> tuple[list[bool], list[dict[str, Any]]]:
        posts: list[dict[str, Any]] = []
        port = free_port()
        server = httpserver.HTTPServer(web.Application([(r"/activity", Activity, {"posts": posts})]))
        server.listen(port, "127.0.0.1")
        try:
            ka = keepalive.Keepalive(f"http://127.0.0.1:{port}/activity", "tok", "", 1, counter)
            results = [await ka.tick() for _ in range(4)]
        finally:
            server.stop()
        return results, posts

    results, posts = asyncio.run(scenario())
    assert results == [True, False, False, True]
    assert len(posts) == 2
    assert posts[0]["auth"] == "token tok"
    stamp = posts[0]["body"]["servers"][""]["last_activity"]
    assert stamp.endswith("Z") and posts[0]["body"]["last_activity"] == stamp


def test_a_hub_that_does_not_answer_is_not_fatal() -> None:
    async def counter() -> int:
        return 1

    ka = keepalive.Keepalive(f"http://127.0.0.1:{free_port()}/activity", "tok", "", 1, counter)
    assert asyncio.run(ka.tick()) is False
    assert ka.reports == 0 and ka.last_count == 1


def test_counts_mltf_jobs_from_squeue(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    async def fake(argv: list[str], **kw: Any) -> tuple[int, str, str]:
        calls.append(argv)
        return 0, "mltf-train-ab12|RUNNING\nmltf-x|PENDING\njupyterhub-session|RUNNING\nother|RUNNING\n", ""

    monkeypatch.setattr(keepalive, "run_cmd", fake)
    assert asyncio.run(keepalive.count_active_jobs()) == 2
    assert calls == [["squeue", "--me", "-h", "-o", "%j|%T"]]

    async def broken(argv: list[str], **kw: Any) -> tuple[int, str, str]:
        raise CommandError(argv, 1, "", "slurm_load_jobs error: Unable to contact slurm controller")

    monkeypatch.setattr(keepalive, "run_cmd", broken)
    assert asyncio.run(keepalive.count_active_jobs()) is None


def test_configured_from_jupyterhub_environment() -> None:
    assert keepalive.from_environ({}) is None
    env = {
        "JUPYTERHUB_ACTIVITY_URL": "http://hub/act",
        "JUPYTERHUB_API_TOKEN": "t",
        "MLTF_KEEPALIVE_INTERVAL": "15",
    }
    ka = keepalive.from_environ(env)
    assert ka is not None and ka.interval == 15 and ka.server_name == ""
    assert keepalive.from_environ({**env, "MLTF_KEEPALIVE_INTERVAL": "0"}) is None  # disabled
    ka = keepalive.from_environ({**env, "MLTF_KEEPALIVE_INTERVAL": "soon"})
    assert ka is not None and ka.interval == keepalive.DEFAULT_INTERVAL
    assert keepalive._jupyter_server_extension_points() == [{"module": "jupyter_mltf.hub.keepalive"}]
