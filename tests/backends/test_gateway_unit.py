"""The gateway backend's retry and error paths, with httpx's MockTransport (the wire API itself is tested
against the real server in test_gateway_real.py)."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
import types
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from jupyter_mltf.backends.base import JobSpec
from jupyter_mltf.backends.gateway import GatewayBackend, map_status
from jupyter_mltf.errors import (
    AuthenticationError,
    BackendUnavailable,
    CapabilityMissing,
    InvalidRequest,
    TooLarge,
    http_status,
)
from jupyter_mltf.models import Job, JobState, Resources

from .conftest_gateway import run

T = TypeVar("T")
URL = "https://gw.example.org"


def jwt_like(exp: float, sub: str = "alice") -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part({'sub': sub, 'exp': int(exp)})}.c2ln"


TOKEN = jwt_like(time.time() + 3600)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLTF_GATEWAY_TOKEN", "MLTF_GATEWAY_URI", "MLTF_KEYRING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


def backend(
    handler: Callable[[httpx.Request], httpx.Response], tmp_path: Path, **traits: Any
) -> GatewayBackend:
    values: dict[str, Any] = {
        "url": URL,
        "token": TOKEN,
        "use_keyring": False,
        "token_file": str(tmp_path / "none.json"),
        "backoff": 0.0,
        "reconcile_wait": 0.0,
    }
    values.update(traits)
    b = GatewayBackend(**values)
    b.transport = httpx.MockTransport(handler)
    return b


def spec(tmp_path: Path, size: int = 1000, **overrides: Any) -> JobSpec:
    archive = tmp_path / "p.tar"
    archive.write_bytes(b"x" * size)
    values: dict[str, Any] = {
        "job_id": "j1",
        "name": "demo",
        "project_name": "demo",
        "project_dir": str(tmp_path),
        "archive_path": str(archive),
        "content_hash": "0" * 64,
        "entry_point": "main",
        "params": {},
        "command": "python train.py",
        "resources": Resources(),
        "job_dir": str(tmp_path / "job"),
        "run_id": "r" * 32,
        "experiment_id": "1",
        "tracking_uri": "https://mlflow.example.org",
        "python": "python3",
    }
    values.update(overrides)
    return JobSpec(**values)


def job(native_id: str = "g-1", state: JobState = JobState.RUNNING) -> Job:
    return Job(id="j1", backend="gateway", native_id=native_id, name="demo", project_dir="/p", state=state)


def never(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no request expected, got {request.method} {request.url}")


async def closing(b: GatewayBackend, coro: Coroutine[Any, Any, T]) -> T:
    try:
        return await coro
    finally:
        await b.close()


# --- retries of idempotent requests ----


def test_get_is_retried_on_503_then_succeeds(tmp_path: Path) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) < 3:
            return httpx.Response(503, text="busy")
        return httpx.Response(200, json={"status": "RUNNING", "name": "demo"})

    b = backend(handler, tmp_path, retries=3)
    infos = run(closing(b, b.statuses([job()])))
    assert infos["g-1"].state is JobState.RUNNING
    assert calls == ["GET", "GET", "GET"]


def test_get_gives_up_after_retries_and_says_unreachable(tmp_path: Path) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.ConnectError("refused", request=request)

    b = backend(handler, tmp_path, retries=2)
    with pytest.raises(BackendUnavailable) as info:
        run(closing(b, b.cancel(job())))
    assert len(calls) == 3
    assert URL in info.value.message and "MLTF_GATEWAY_URI" in info.value.message
    assert TOKEN not in info.value.message and TOKEN not in info.value.log_message
    assert http_status(info.value) == 503


def test_status_of_an_unreachable_gateway_is_unknown_not_failed(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    b = backend(handler, tmp_path, retries=1)
    infos = run(closing(b, b.statuses([job("a"), job("b")])))
    assert {i.state for i in infos.values()} == {JobState.UNKNOWN}


def test_status_requests_are_bounded(tmp_path: Path) -> None:
    active = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1
        return httpx.Response(200, json={"status": "SCHEDULED"})

    b = GatewayBackend(
        url=URL, token=TOKEN, use_keyring=False, token_file=str(tmp_path / "n"), max_concurrency=3
    )
    b.transport = httpx.MockTransport(handler)
    jobs = [job(f"g{i}") for i in range(20)]
    infos = run(closing(b, b.statuses(jobs)))
    assert len(infos) == 20 and all(i.state is JobState.PENDING for i in infos.values())
    assert 1 < peak <= 3


# --- submissions are never retried blindly ----


def test_submit_that_timed_out_is_found_by_listing(tmp_path: Path) -> None:
    seen: list[str] = []
    s = spec(tmp_path)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.method == "POST":
            raise httpx.ReadTimeout("no answer", request=request)
        return httpx.Response(
            200,
            json=[
                {"run_id": "other", "gateway_id": "g-0", "name": "x", "creation_time": 1},
                {"run_id": s.run_id, "gateway_id": "g-7", "name": "demo", "creation_time": 2},
            ],
        )

    b = backend(handler, tmp_path, retries=3)
    assert run(closing(b, b.submit(s))) == "g-7"
    assert seen.count("POST /api/job") == 1
    assert "GET /api/jobs" in seen


@pytest.mark.parametrize("failure", ["timeout", "502"])
def test_submit_not_found_after_failure_is_not_resubmitted(tmp_path: Path, failure: str) -> None:
    posts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal posts
        if request.method == "POST":
            posts += 1
            if failure == "timeout":
                raise httpx.WriteTimeout("stalled", request=request)
            return httpx.Response(502, text="bad gateway")
        return httpx.Response(200, json=[])

    b = backend(handler, tmp_path, retries=3)
    with pytest.raises(BackendUnavailable, match="did not confirm the submission"):
        run(closing(b, b.submit(spec(tmp_path))))
    assert posts == 1


def test_submit_retried_only_when_the_connection_never_opened(tmp_path: Path) -> None:
    posts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal posts
        posts += 1
        if posts == 1:
            raise httpx.ConnectError("refused", request=request)
        body = request.read()
        assert b'name="run_id"' in body and b'name="tarball"' in body and b"x" * 1000 in body
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        return httpx.Response(200, json={"gateway_id": "g-9"})

    b = backend(handler, tmp_path, retries=2)
    assert run(closing(b, b.submit(spec(tmp_path)))) == "g-9"
    assert posts == 2


def test_archive_is_streamed_in_chunks_with_a_length(tmp_path: Path) -> None:
    chunks: list[int] = []

    class Inspect(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            assert int(request.headers["Content-Length"]) > 200_000  # not chunked transfer: a known length
            async for chunk in request.stream:  # type: ignore[union-attr]
                chunks.append(len(chunk))
            return httpx.Response(200, json={"gateway_id": "g-1"})

    b = backend(never, tmp_path)
    b.transport = Inspect()
    assert run(closing(b, b.submit(spec(tmp_path, size=200_000)))) == "g-1"
    assert sum(chunks) > 200_000 and max(chunks) < 200_000  # read piece by piece, never whole


# --- errors that stop before the network ----


def test_too_large_is_refused_before_upload(tmp_path: Path) -> None:
    b = backend(never, tmp_path, max_archive_bytes=100)
    with pytest.raises(TooLarge) as info:
        run(closing(b, b.submit(spec(tmp_path, size=1000))))
    assert http_status(info.value) == 413


def test_expired_jwt_says_log_in_again_without_a_request(tmp_path: Path) -> None:
    old = jwt_like(time.time() - 60)
    b = backend(never, tmp_path, token=old)
    with pytest.raises(AuthenticationError) as info:
        run(closing(b, b.statuses([job()])))
    assert "log in again" in info.value.message and "jupyter mltf login" in info.value.message
    assert old not in info.value.message


def test_no_token_anywhere(tmp_path: Path) -> None:
    b = backend(never, tmp_path, token="")
    with pytest.raises(AuthenticationError, match="jupyter mltf login"):
        run(closing(b, b.submit(spec(tmp_path))))


def test_entry_point_and_file_tracking_refused(tmp_path: Path) -> None:
    b = backend(never, tmp_path)
    with pytest.raises(CapabilityMissing):
        run(closing(b, b.submit(spec(tmp_path, entry_point="train"))))
    with pytest.raises(InvalidRequest, match="MLFLOW_TRACKING_URI"):
        run(closing(b, b.submit(spec(tmp_path, tracking_uri="file:///tmp/mlruns"))))


def test_missing_url_says_what_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidRequest, match="set MLTF_GATEWAY_URI"):
        GatewayBackend(token=TOKEN)
    monkeypatch.setenv("MLTF_GATEWAY_URI", "https://from-env.example/")
    assert GatewayBackend(token=TOKEN).url == "https://from-env.example"
    with pytest.raises(InvalidRequest, match="not an http"):
        GatewayBackend(url="gw.example.org")


# --- error answers ----


@pytest.mark.parametrize("status", [401, 403])
def test_refused_token_says_log_in_again_and_hides_it(tmp_path: Path, status: int) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        # a server that echoes the token back must not get it into our message
        return httpx.Response(status, json={"error": f"401 Unauthorized: Invalid token {TOKEN}"})

    b = backend(handler, tmp_path)
    with pytest.raises(AuthenticationError) as info:
        run(closing(b, b.statuses([job()])))
    assert "log in again" in info.value.message
    assert TOKEN not in info.value.message and TOKEN not in info.value.log_message


def test_not_json_is_a_clear_error(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>login page</html>")

    b = backend(handler, tmp_path)
    with pytest.raises(BackendUnavailable, match="not JSON"):
        run(closing(b, b.submit(spec(tmp_path))))


def test_cancel_500_mentions_the_ownership_defect(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, text="<html>Internal Server Error</html>")

    b = backend(handler, tmp_path, retries=0)
    with pytest.raises(BackendUnavailable, match="another user"):
        run(closing(b, b.cancel(job())))


def test_log_timeout_gives_an_empty_chunk_and_500_falls_back_to_cache(tmp_path: Path) -> None:
    answers: list[Any] = ["timeout", {"status": "FINISHED", "logs": "héllo\nworld\n"}, 500]
    gets = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal gets
        gets += 1
        answer = answers.pop(0)
        if answer == "timeout":
            raise httpx.ReadTimeout("blocked until the job ends", request=request)
        if answer == 500:
            return httpx.Response(500, text="read of closed file")
        return httpx.Response(200, json=answer)

    b = backend(handler, tmp_path, retries=3)

    async def scenario() -> None:
        empty = await b.read_log(job(), 0)
        assert (empty.text, empty.next_offset, empty.complete) == ("", 0, False)
        first = await b.read_log(job(), 0, limit=2)  # "h" + the first byte of "é": cut before "é"
        assert first.text == "h" and first.next_offset == 1 and not first.complete
        rest = await b.read_log(job(), first.next_offset)  # the gateway now fails: served from cache
        assert rest.text == "éllo\nworld\n" and rest.complete

    run(closing(b, scenario()))
    assert gets == 3  # a log read that timed out is not retried (it is still running on the server)


# --- small pure pieces ----


def test_status_words() -> None:
    assert map_status("SCHEDULED") is JobState.PENDING
    assert map_status("RUNNING") is JobState.RUNNING
    assert map_status("FINISHED") is JobState.COMPLETED
    assert map_status("FAILED") is JobState.FAILED
    assert map_status("KILLED") is JobState.CANCELLED
    assert map_status("CANCELLED") is JobState.CANCELLED
    assert map_status("TIMEOUT") is JobState.TIMEOUT  # a server that passes Slurm's words through
    assert map_status("UNKNOWN") is JobState.UNKNOWN
    assert map_status(None) is JobState.UNKNOWN
    assert map_status("weird") is JobState.UNKNOWN


def test_backend_config_uses_the_gateway_spelling(tmp_path: Path) -> None:
    b = GatewayBackend(url=URL, token=TOKEN, use_keyring=False)
    s = spec(
        tmp_path,
        resources=Resources(gpus=2, gpu_type="a100", time="01:30:00", mem="16G", cpus=4, partition="gpu"),
        backend_config={
            "cpus-per-task": 1,
            "gres": "gpu:1",
            "debug": True,
            "auth_token": "secret",
            "url": "x",
        },
    )
    assert b.backend_config(s) == {
        "debug": True,
        "nodes": 1,
        "cpus-per-task": 4,
        "mem": "16G",
        "time": 90,
        "partition": "gpu",
        "gres": "gpu:a100:2",
    }
    assert "secret" not in b.job_script(s) and TOKEN not in b.job_script(s)


def test_keyring_token_is_used_and_its_failure_is_no_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = types.ModuleType("keyring")
    store = {("mltf_gateway", "access_token"): TOKEN}
    fake.get_keyring = lambda: object()  # type: ignore[attr-defined]
    fake.get_password = lambda service, key: store.get((service, key))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "keyring", fake)
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200, json={"status": "RUNNING"})

    b = backend(handler, tmp_path, token="", use_keyring=True)
    run(closing(b, b.statuses([job()])))
    assert seen == [f"Bearer {TOKEN}"]

    def broken(service: str, key: str) -> str:
        raise RuntimeError("locked")

    fake.get_password = broken  # type: ignore[attr-defined]
    b = backend(handler, tmp_path, token="", use_keyring=True)
    with pytest.raises(AuthenticationError, match="jupyter mltf login"):
        run(closing(b, b.statuses([job()])))


def test_env_token_wins_over_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_token = jwt_like(time.time() + 60, sub="env")
    monkeypatch.setenv("MLTF_GATEWAY_TOKEN", env_token)
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200, json={"status": "RUNNING"})

    b = backend(handler, tmp_path, token="")
    run(closing(b, b.statuses([job(str(uuid.uuid4()))])))
    assert seen == [f"Bearer {env_token}"]
