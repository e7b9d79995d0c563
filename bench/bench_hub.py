"""Hub spawn-to-ready vs sbatch-to-RUNNING: what the hub adds on top of Slurm starting the session's job.

    python bench/bench_hub.py [--user bob] [--preset cpu] [-n 2 | --full (n=5)] [--out results.md]

Needs the JupyterHub of scripts/hub/up.sh on http://127.0.0.1:8000 and a token for the user's own server from
scripts/hub/grant.sh (its sudo rule); otherwise it prints "skipped: hub not up" and exits 0.
Ours: ``POST /hub/api/users/<user>/server`` with the preset (a Slurm job through MLTFSlurmSpawner) until the hub
says the server is ready; the session job's RUNNING moment is noted on the way (squeue). Raw: ``sbatch`` of a
job with the preset's resources until squeue says RUNNING. Interleaved; every session is stopped and every raw
job cancelled. A user who already has a session is left alone (skipped): run it while no test uses the hub.
"""

from __future__ import annotations

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import _common as c
import httpx

HUB = os.environ.get("MLTF_HUB_URL", "http://127.0.0.1:" + os.environ.get("MLTF_HUB_PORT", "8000"))
SESSION_JOB = "jupyterhub-session"  # MLTFSlurmSpawner.req_job_name
GRANT = os.path.join(os.environ.get("MLTF_HOME", "/opt/mltf"), "src", "scripts", "hub", "grant.sh")
# the hub config's presets (hub_config/jupyterhub_config.py): the same resources for the raw job
PRESETS = {
    "cpu": ["-p", "cpu", "-c", "2", "--mem", "4G"],
    "gpu1": ["-p", "gpu", "-c", "2", "--mem", "8G", "--gres=gpu:1"],
}


def granted_token(user: str) -> str:
    """A short-lived token that can start, stop and read ``user``'s own server (never the admin token)."""
    try:
        done = subprocess.run(["sudo", "-n", GRANT, "token", user], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def skip(rep: c.Report, why: str) -> None:
    rep.note(f"skipped: {why}")
    rep.finish()
    raise SystemExit(0)


def squeue_state(native: str) -> str:
    return c.run(["squeue", "-h", "-t", "all", "-j", native, "-o", "%T"], check=False).stdout.strip()


def session_states(user: str) -> list[str]:
    argv = ["squeue", "-h", "-t", "all", "-u", user, "-n", SESSION_JOB, "-o", "%T"]
    return [s for s in c.run(argv, check=False).stdout.split() if s not in ("CANCELLED", "COMPLETED", "FAILED")]


def main() -> None:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--user", default="bob", help="hub user whose session is spawned (not one a test is using)")
    p.add_argument("--preset", default="cpu", choices=sorted(PRESETS))
    p.add_argument("--timeout", type=float, default=240.0, help="seconds a spawn may take")
    args = p.parse_args()
    n = args.repeat or (5 if args.full else 2)
    rep = c.Report("hub", args)

    try:
        up = httpx.get(f"{HUB}/hub/api/", timeout=5).status_code == 200
    except httpx.HTTPError:
        up = False
    token = granted_token(args.user) if up else ""
    if not up or not token:
        skip(rep, f"hub not up (no answer from {HUB}/hub/api, or no token from `sudo -n {GRANT} token`)")
    if c.controller_down():
        skip(rep, "Slurm's controller does not answer (scripts/stack/up.sh)")
    api = httpx.Client(base_url=f"{HUB}/hub/api", headers={"Authorization": f"token {token}"}, timeout=60)
    user = args.user

    def model() -> dict[str, Any] | None:
        r = api.get(f"/users/{user}")
        r.raise_for_status()
        servers: dict[str, Any] = r.json().get("servers") or {}
        return servers.get("")

    def stop_session() -> None:
        if model() is None:
            return
        api.delete(f"/users/{user}/server")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and model() is not None:
            time.sleep(0.5)

    if model() is not None:
        skip(rep, f"{user} already has a session (a test may be using it); stop it or pick --user")
    c.on_exit(stop_session)

    pool = ThreadPoolExecutor(max_workers=1)

    def ours(_i: int) -> dict[str, float]:
        t0 = time.monotonic()
        # the hub holds the POST open up to its slow_spawn_timeout (10 s): watch Slurm meanwhile
        post = pool.submit(api.post, f"/users/{user}/server", json={"user_options": {"preset": args.preset}})
        queued = running = None
        deadline = t0 + args.timeout
        while time.monotonic() < deadline:
            if running is None:  # the session job, seen from Slurm (the hub learns its id later)
                states = session_states(user)
                if states and queued is None:
                    queued = time.monotonic()
                if "RUNNING" in states:
                    running = time.monotonic()
            if post.done():
                r = post.result()
                if r.status_code not in (201, 202):
                    raise SystemExit(f"spawn refused: {r.status_code} {r.text[:300]}")
            m = model() if post.done() else None
            if m is not None and m.get("ready"):
                ready = time.monotonic()
                break
            time.sleep(0.1)
        else:
            stop_session()
            raise SystemExit(f"{user}'s session was not ready after {args.timeout:.0f} s (see the hub log)")
        stop_session()
        nan = float("nan")
        return {
            "ready": ready - t0,
            "queued": (queued - t0) if queued else nan,
            "queued_to_running": (running - queued) if running and queued else nan,
            "running": (running - t0) if running else nan,
            "after_running": (ready - running) if running else nan,
        }

    raw_name = f"bench-hub-raw-{os.getpid()}"
    raw_ids: list[str] = []
    c.on_exit(lambda: c.scancel(raw_ids))

    def raw(_i: int) -> dict[str, float]:
        argv = ["sbatch", "--parsable", *PRESETS[args.preset], "-t", "00:05:00", "-J", raw_name, "-o", "/dev/null"]
        t0 = time.monotonic()
        native = c.run([*argv, "--wrap", "sleep 300"]).stdout.strip().split(";")[0]
        raw_ids.append(native)
        deadline = t0 + args.timeout
        while time.monotonic() < deadline:
            if squeue_state(native) == "RUNNING":
                t1 = time.monotonic()
                break
            time.sleep(0.05)
        else:
            raise SystemExit(f"raw job {native} did not start within {args.timeout:.0f} s")
        c.scancel([native])
        end = time.monotonic() + 30
        while time.monotonic() < end and squeue_state(native) not in ("", "CANCELLED", "COMPLETED"):
            time.sleep(0.2)
        return {"running": t1 - t0}

    got_ours: list[dict[str, float]] = []
    got_raw: list[dict[str, float]] = []
    for i in range(n):
        steps = [(ours, got_ours), (raw, got_raw)]
        for fn, into in steps if i % 2 == 0 else steps[::-1]:
            into.append(fn(i))
        print(
            f"  round {i + 1}/{n}: spawn -> ready {got_ours[-1]['ready']:.1f} s "
            f"(job RUNNING at {got_ours[-1]['running']:.1f} s); sbatch -> RUNNING {got_raw[-1]['running']:.2f} s",
            flush=True,
        )

    def med(rows: list[dict[str, float]], key: str) -> float:
        vals = [r[key] for r in rows if r[key] == r[key]]
        return c.median(vals)

    rep.note(f"user {user}, preset {args.preset}; ready = the hub's server model says ready")
    rep.table(
        ["measure", "median ms", "n"],
        [
            ["hub: spawn request -> ready", c.ms(med(got_ours, "ready")), n],
            ["hub: spawn request -> session job in squeue", c.ms(med(got_ours, "queued")), n],
            ["hub: session job in squeue -> RUNNING", c.ms(med(got_ours, "queued_to_running")), n],
            ["hub: spawn request -> session job RUNNING", c.ms(med(got_ours, "running")), n],
            ["hub: session job RUNNING -> ready", c.ms(med(got_ours, "after_running")), n],
            ["raw: sbatch -> RUNNING", c.ms(med(got_raw, "running")), n],
        ],
    )
    rep.result("hub spawn-to-ready vs sbatch-to-RUNNING", med(got_ours, "ready"), med(got_raw, "running"), n)
    rep.finish()


if __name__ == "__main__":
    main()
