"""Load: many concurrent submits through the REST API of a real ``jupyter server`` subprocess, then 50 clients
polling the job list while those jobs change state, with the server's event-loop lag measured inside it
(tests/robustness/loopmon.py). 20 submits in CI, the issue's 100 with MLTF_FULL=1 (or MLTF_LOAD_SUBMITS=N).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from typing import Any

import httpx
import pytest

from .helpers import mlflow_runs_under, scancel, slurm_jobs_under, write_tiny
from .loopmon import check_wall_lag

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

SUBMITS = int(os.environ.get("MLTF_LOAD_SUBMITS") or (100 if os.environ.get("MLTF_FULL") else 20))
POLLERS = 50
POLL_SECONDS = float(os.environ.get("MLTF_LOAD_POLL_SECONDS", "20"))
MAX_LAG_MS = 50.0
IDLE_SECONDS = 8.0


async def _submit_all(server: Any, keys: list[str]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(keys), max_keepalive_connections=len(keys))
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers, timeout=600, limits=limits) as http:
        bodies = [
            {"path": "proj", "params": {"word": f"load-{i}"}, "idempotency_key": key, "name": f"load-{i}",
             "resources": {"partition": "cpu", "time": "00:05:00", "cpus": 1, "mem": "100M"}}
            for i, key in enumerate(keys)
        ]  # fmt: skip
        return list(await asyncio.gather(*(http.post("/mltf/api/jobs", json=b) for b in bodies)))


async def _poll(server: Any, seconds: float) -> tuple[int, list[str], list[float]]:
    errors: list[str] = []
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=POLLERS, max_keepalive_connections=POLLERS)
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers, timeout=120, limits=limits) as http:

        async def one() -> int:
            count = 0
            while time.monotonic() < deadline:
                t0 = time.monotonic()
                try:
                    reply = await http.get("/mltf/api/jobs")
                except httpx.HTTPError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                latencies.append(time.monotonic() - t0)
                if reply.status_code != 200:
                    errors.append(f"{reply.status_code}: {reply.text[:200]}")
                elif len(reply.json()["jobs"]) < SUBMITS:
                    errors.append(f"only {len(reply.json()['jobs'])} jobs listed")
                count += 1
            return count

        counts = await asyncio.gather(*(one() for _ in range(POLLERS)))
    return sum(counts), errors, latencies


def test_concurrent_submits_then_pollers(server_factory: Any) -> None:
    server = server_factory()
    write_tiny(server.root / "proj")
    keys = [f"load-{uuid.uuid4().hex}" for _ in range(SUBMITS)]
    try:
        server.loop_lag(reset=True)
        t0 = time.monotonic()
        replies = asyncio.run(_submit_all(server, keys))
        submit_s = time.monotonic() - t0
        submit_lag = server.loop_lag(reset=True)
        bad = [f"{r.status_code}: {r.text[:300]}" for r in replies if r.status_code != 201]
        assert not bad, f"{len(bad)} of {SUBMITS} submits failed: {bad[:5]}\n{server.tail(40)}"
        # no submit may hold the loop (a blocking tar, file or subprocess call in a handler): wall clock
        check_wall_lag(submit_lag)
        jobs = [r.json() for r in replies]
        ids = {j["id"] for j in jobs}
        natives = {j["native_id"] for j in jobs}
        runs = {j["run_id"] for j in jobs}
        assert len(ids) == len(natives) == len(runs) == SUBMITS, "a job was duplicated"
        assert {j["idempotency_key"] for j in jobs} == set(keys)
        # none lost or duplicated on the cluster or in MLflow
        assert slurm_jobs_under(str(server.state)) == natives
        assert mlflow_runs_under(str(server.root)) == runs
        # the same keys again, concurrently: all refused, nothing new
        again = asyncio.run(_submit_all(server, keys))
        assert sorted(r.status_code for r in again) == [409] * SUBMITS, [r.text[:200] for r in again[:3]]
        assert {r.json()["job_id"] for r in again} == ids
        assert slurm_jobs_under(str(server.state)) == natives
        assert mlflow_runs_under(str(server.root)) == runs

        # the machine's own noise: the same server's loop, idle, for a few seconds (a shared 2-core box)
        server.loop_lag(reset=True)
        time.sleep(IDLE_SECONDS)
        idle = server.loop_lag(reset=True)
        # 50 clients poll the list while the jobs go PENDING -> RUNNING -> COMPLETED
        requests_done, errors, latencies = asyncio.run(_poll(server, POLL_SECONDS))
        lag = server.loop_lag(reset=True)
        latencies.sort()
        p50 = latencies[len(latencies) // 2] * 1000
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
        print(
            f"\nLOAD: {SUBMITS} concurrent submits in {submit_s:.1f} s, loop max block {submit_lag['max_block_ms']} ms "
            f"(longest callback {submit_lag['max_callback_cpu_ms']} ms CPU: {submit_lag['slowest_callback'][:100]}) "
            f"during submits; {POLLERS} pollers x {POLL_SECONDS:.0f} s: {requests_done} GET /jobs, p50 {p50:.0f} ms, "
            f"p99 {p99:.0f} ms, {len(errors)} errors, loop max block {lag['max_block_ms']} ms "
            f"({lag['over_50ms']} ticks over 50 ms of {lag['ticks']}); "
            f"longest callback {lag['max_callback_cpu_ms']} ms "
            f"of loop-thread CPU ({lag['slowest_callback'][:120]}), {lag['max_callback_wall_ms']} ms wall "
            f"({lag['longest_callback'][:120]}); idle baseline {idle['max_block_ms']} ms, "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        assert not errors, errors[:5]
        assert requests_done > POLLERS
        states = {j["state"] for j in httpx.get(f"{server.url}/mltf/api/jobs", headers=server.headers,
                                                  timeout=120).json()["jobs"] if j["id"] in ids}
        print(f"LOAD: states of the submitted jobs at the end: {sorted(states)}")
        # 50 pollers while jobs change state: the server's own blocking must stay under 50 ms, measured as the
        # loop thread's CPU time in any one callback. The timer's wall-clock lateness (printed above) also
        # counts the OS not running the process at all on a saturated 2-core machine, which no server code can
        # prevent. (During the submit burst the longest callback is tornado accepting all the new connections
        # at once, printed above too.)
        assert lag["max_callback_cpu_ms"] < MAX_LAG_MS, lag
        # ...and one callback's wall time, which the CPU measure cannot see when the loop waits in a blocking
        # syscall (a sync file or subprocess call, a lock): bounded far above a busy machine's noise, below 1 s.
        # (Not the ticker's lateness: behind 50 pollers' queued callbacks it grows with no code blocking.)
        check_wall_lag(lag)
    finally:
        scancel(slurm_jobs_under(str(server.state)))
