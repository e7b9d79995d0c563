"""REST latency under concurrent clients: ``GET /mltf/api/jobs`` vs the no-op ``GET /mltf/api/health``.

    python bench/bench_rest.py [--clients 50] [--requests 150] [--rounds 4] [--jobs 100] [--active 5] [--out r.md]

Starts a real ``jupyter server`` (this user, token auth, loopback, a free port, a private config dir) with
jupyter_mltf enabled and an isolated job store holding ``--jobs`` finished job rows plus ``--active`` real held
Slurm jobs (so the shared watcher really polls ``squeue`` while the load runs). Then alternates phases of
``--requests`` requests from ``--clients`` concurrent httpx clients: the jobs list, then the health endpoint
(same auth, same base handler, no work), ``--rounds`` times, and reports p50/p99 of each, their ratio, the
throughput, and the event loop's largest stall per phase (a timer extension loaded into the bench's server).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import time
from typing import Any

import _common as c
import httpx

from jupyter_mltf.models import Job, JobState, Resources
from jupyter_mltf.store import JobStore


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fill_store(path: str, work: str, finished: int, active_ids: list[str]) -> None:
    store = JobStore(path)
    now = time.time()
    rows = [(f"done{k:05d}", "", JobState.COMPLETED) for k in range(finished)]
    rows += [(f"held{k:05d}", native, JobState.PENDING) for k, native in enumerate(active_ids)]
    for k, (job_id, native, state) in enumerate(rows):
        store.add(
            Job(
                id=job_id,
                backend="slurm",
                native_id=native or str(900000 + k),
                name=f"train-{k % 7}",
                project_dir=os.path.join(work, "root", "proj"),
                entry_point="main",
                params={"lr": "0.01", "epochs": str(k % 10 + 1)},
                resources=Resources(gpus=1, gpu_type="fake_a100", partition="gpu", time="01:00:00", mem="4G"),
                state=state,
                exit_code=0 if state is JobState.COMPLETED else None,
                submitted_at=now - 60 * k,
                started_at=now - 60 * k + 5 if state is JobState.COMPLETED else None,
                ended_at=now - 60 * k + 50 if state is JobState.COMPLETED else None,
                job_dir=os.path.join(work, "jobs", job_id),
                log_path=os.path.join(work, "jobs", job_id, "job.log"),
                content_hash="0" * 64,
                user=os.environ.get("USER"),
            )
        )
    store.close()


class Server:
    def __init__(self, work: str, token: str, store_path: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = token
        cfg_dir = os.path.join(work, "config")
        os.makedirs(cfg_dir)
        root = os.path.join(work, "root")
        os.makedirs(os.path.join(root, "proj"), exist_ok=True)
        config = {
            "ServerApp": {
                "jpserver_extensions": {"tests.robustness.loopmon": True, "jupyter_mltf": True},
                "open_browser": False,
                "port_retries": 0,
            },
            "IdentityProvider": {"token": token},
            "MLTFManager": {
                "backend": "slurm",
                "store_path": store_path,
                "jobs_dir": os.path.join(work, "jobs"),
                "archives_dir": os.path.join(work, "archives"),
                "tracking_uri": c.TRACKING_URI,
            },
        }
        with open(os.path.join(cfg_dir, "jupyter_server_config.json"), "w", encoding="utf-8") as fh:
            json.dump(config, fh)
        env = dict(os.environ)
        env.update(
            JUPYTER_CONFIG_DIR=cfg_dir,
            JUPYTER_RUNTIME_DIR=os.path.join(work, "runtime"),
            JUPYTER_DATA_DIR=os.path.join(work, "data"),
            PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),  # tests.robustness.loopmon
        )
        self.log_path = os.path.join(work, "server.log")
        argv = [
            os.path.join(c.VENV_BIN, "jupyter"),
            "server",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            f"--ServerApp.root_dir={root}",
        ]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work)
        c.on_exit(self.stop)

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        headers = {"Authorization": f"token {self.token}"}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                r = httpx.get(f"{self.url}/mltf/api/health", headers=headers, timeout=5)
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise SystemExit(f"jupyter server did not come up; its log:\n{self.log_tail(80)}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as fh:
                kept = [ln for ln in fh if " 404 GET /mltf/api/health " not in ln]  # our own readiness probes
                return "".join(kept[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


async def phase(
    client: httpx.AsyncClient, url: str, total: int, clients: int, time_limit: float
) -> tuple[list[float], float, int]:
    """``total`` GETs of ``url`` from ``clients`` concurrent workers; returns (latencies, wall seconds, errors)."""
    latencies: list[float] = []
    errors = 0
    remaining = total
    deadline = time.monotonic() + time_limit

    async def worker() -> None:
        nonlocal remaining, errors
        while remaining > 0 and time.monotonic() < deadline:
            remaining -= 1
            t0 = time.perf_counter()
            try:
                r = await client.get(url)
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - t0)
            else:
                errors += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return latencies, time.perf_counter() - t0, errors


async def load(server: Server, args: Any, rep: c.Report) -> None:
    headers = {"Authorization": f"token {server.token}"}
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    endpoints = {"jobs": f"{server.url}/mltf/api/jobs", "health": f"{server.url}/mltf/api/health"}
    lat: dict[str, list[float]] = {k: [] for k in endpoints}
    wall: dict[str, float] = {k: 0.0 for k in endpoints}
    errs: dict[str, int] = {k: 0 for k in endpoints}
    stall: dict[str, list[float]] = {k: [] for k in endpoints}
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=60) as client:
        first = (await client.get(endpoints["jobs"])).json()
        print(f"server lists {len(first['jobs'])} jobs", flush=True)
        for k in endpoints:  # warm both paths and the connection pool
            await phase(client, endpoints[k], args.clients, args.clients, 30)
        for i in range(args.rounds):
            order = ["jobs", "health"] if i % 2 == 0 else ["health", "jobs"]
            for k in order:
                await client.get(f"{server.url}/mltf-test/loop", params={"reset": "1"})
                got, dt, bad = await phase(client, endpoints[k], args.requests, args.clients, args.time_limit)
                meter = (await client.get(f"{server.url}/mltf-test/loop")).json()
                lat[k] += got
                wall[k] += dt
                errs[k] += bad
                stall[k].append(meter["max_block_ms"])
                print(
                    f"  round {i + 1}/{args.rounds} {k}: {len(got)} ok in {dt:.1f} s, "
                    f"p50 {c.ms(c.percentile(got, 50)):.1f} ms, loop stall max {meter['max_block_ms']:.0f} ms",
                    flush=True,
                )
    rows = []
    for k in ("jobs", "health"):
        rows.append(
            [
                f"GET /mltf/api/{k}",
                len(lat[k]),
                c.ms(c.percentile(lat[k], 50)),
                c.ms(c.percentile(lat[k], 99)),
                c.ms(max(lat[k]) if lat[k] else float("nan")),
                len(lat[k]) / wall[k] if wall[k] else float("nan"),
                max(stall[k]) if stall[k] else float("nan"),
                errs[k],
            ]
        )
    rep.note(
        f"{args.clients} concurrent clients; {len(first['jobs'])} jobs in the list "
        f"({args.active} of them real held Slurm jobs, so the watcher runs squeue); loopback, token auth"
    )
    rep.table(["endpoint", "n", "p50 ms", "p99 ms", "max ms", "req/s", "max loop stall ms", "errors"], rows)
    n = min(len(lat["jobs"]), len(lat["health"]))
    rep.result(
        f"REST GET jobs p50, {args.clients} clients, vs no-op health",
        c.percentile(lat["jobs"], 50),
        c.percentile(lat["health"], 50),
        n,
    )
    rep.result(
        f"REST GET jobs p99, {args.clients} clients, vs no-op health",
        c.percentile(lat["jobs"], 99),
        c.percentile(lat["health"], 99),
        n,
    )


def main() -> None:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--requests", type=int, default=None, help="requests per phase (default 150; --full 500)")
    p.add_argument("--rounds", type=int, default=4, help="phases per endpoint, alternating endpoints")
    p.add_argument("--jobs", type=int, default=100, help="finished job rows in the store")
    p.add_argument("--active", type=int, default=5, help="real held Slurm jobs among them")
    p.add_argument("--time-limit", type=float, default=60.0, help="seconds a phase may take at most")
    p.add_argument("--partition", default="cpu")
    args = p.parse_args()
    args.requests = args.requests or (500 if args.full else 150)
    c.require_stack()
    rep = c.Report("rest", args)
    work = c.tempdir("rest-", shared=True)

    name = f"bench-rest-{os.getpid()}"
    active: list[str] = []
    c.on_exit(lambda: c.scancel_name(name))
    c.on_exit(lambda: c.scancel(active))
    for _ in range(args.active):
        out = c.run(
            ["sbatch", "--parsable", "--hold", "-p", args.partition, "-t", "00:05:00", "--mem", "10M", "-J", name]
            + ["-o", "/dev/null", "--wrap", "true"]
        ).stdout
        active.append(out.strip().split(";")[0])
    store_path = os.path.join(work, "jobs.sqlite")
    fill_store(store_path, work, args.jobs, active)

    token = secrets.token_hex(24)
    server = Server(work, token, store_path)
    t0 = time.perf_counter()
    server.wait_ready()
    print(f"jupyter server up on {server.url} in {time.perf_counter() - t0:.1f} s", flush=True)
    try:
        asyncio.run(load(server, args, rep))
    finally:
        server.stop()
    rep.finish()


if __name__ == "__main__":
    main()
