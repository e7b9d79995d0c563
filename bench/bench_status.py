"""Status of many tracked jobs: one shared-watcher poll vs one raw ``squeue``, and Slurm calls per poll.

    python bench/bench_status.py [--jobs 200 | --full (1,000 jobs)] [-n 10] [--ended 10] [--out results.md]

Submits real held jobs (``sbatch --hold -p cpu --wrap true``, one per job, so each is a job of its own),
records them as ``Job`` rows in an isolated ``JobStore``, then times ``watcher.refresh(force=True)`` (store read,
one ``squeue`` for all jobs, state mapping, saves of changed rows) against one raw
``squeue -h -t all -j <ids>``, interleaved. ``procs.STATS`` gives the Slurm calls of each poll. Finally a few
jobs are cancelled to show the ``sacct`` follow-up that ended jobs need (and only they). Every job is cancelled
at the end (by id, then by its unique name).
"""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor

import _common as c

from jupyter_mltf import procs
from jupyter_mltf.core import MLTFManager
from jupyter_mltf.models import Job, JobState, Resources


def submit_held(count: int, name: str, partition: str, workers: int = 4) -> list[str]:
    argv = ["sbatch", "--parsable", "--hold", "-p", partition, "-t", "00:01:00", "--mem", "10M", "-J", name]
    argv += ["-o", "/dev/null", "--wrap", "true"]

    def one(_k: int) -> str:
        out = c.run(argv, timeout=60).stdout.strip().split(";")[0]
        if not out.isdigit():
            raise RuntimeError(f"sbatch printed {out!r}")
        return out

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, range(count)))


def slurm_calls(before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in procs.STATS.calls.items() if v != before.get(k, 0)}


async def bench(ids: list[str], work: str, rep: c.Report, n: int, ended: int) -> None:
    mgr = MLTFManager(
        backend="slurm",
        store_path=os.path.join(work, "jobs.sqlite"),
        jobs_dir=os.path.join(work, "jobs"),
        archives_dir=os.path.join(work, "archives"),
        tracking_uri=c.TRACKING_URI,
    )
    now = time.time()
    t0 = time.perf_counter()
    for k, native in enumerate(ids):
        mgr.store.add(
            Job(
                id=f"bench{k:05d}",
                backend="slurm",
                native_id=native,
                name="bench-status",
                project_dir=work,
                resources=Resources(partition="cpu", time="00:01:00"),
                state=JobState.PENDING,
                submitted_at=now - k,
                job_dir=os.path.join(work, "jobs", f"bench{k:05d}"),
                log_path=os.path.join(work, "jobs", f"bench{k:05d}", "job.log"),
            )
        )
    print(f"stored {len(ids)} job rows in {time.perf_counter() - t0:.1f} s", flush=True)

    # warm poll: the first one records every job's pending reason (one save per job), untimed
    before = dict(procs.STATS.calls)
    t0 = time.perf_counter()
    changed = await mgr.watcher.refresh(force=True)
    warm = time.perf_counter() - t0
    warm_calls = slurm_calls(before)
    held = [j for j in mgr.store.all() if j.state is JobState.PENDING]
    if len(held) != len(ids):
        raise SystemExit(f"the watcher sees {len(held)} pending jobs of {len(ids)}")
    print(f"first poll: {len(changed)} rows changed in {warm * 1000:.0f} ms, calls {warm_calls}", flush=True)

    raw_argv = ["squeue", "-h", "-t", "all", "-j", ",".join(ids)]
    per_poll: list[dict[str, int]] = []

    # interleaved by hand (the poll is a coroutine), alternating who goes first
    ours_t: list[float] = []
    raw_t: list[float] = []
    for i in range(n):
        order = ("ours", "raw") if i % 2 == 0 else ("raw", "ours")
        for who in order:
            if who == "ours":
                before = dict(procs.STATS.calls)
                t0 = time.perf_counter()
                await mgr.watcher.refresh(force=True)
                ours_t.append(time.perf_counter() - t0)
                per_poll.append(slurm_calls(before))
            else:
                try:
                    dt, out = c.timed(raw_argv)
                except RuntimeError as exc:
                    why = "slurmctld stopped answering (a test may stop it on purpose)" if c.controller_down() else exc
                    raise SystemExit(f"raw squeue failed during the bench: {why}; no figures, run it again") from None
                raw_t.append(dt)
                if len(out.splitlines()) != len(ids):
                    raise SystemExit(f"raw squeue listed {len(out.splitlines())} jobs of {len(ids)}")

    squeue_calls = sorted({p.get("squeue", 0) for p in per_poll})
    sacct_calls = sorted({p.get("sacct", 0) for p in per_poll})
    rows = [
        [
            f"steady poll, {len(ids)} pending jobs",
            c.ms(c.median(ours_t)),
            c.ms(c.median(raw_t)),
            c.ratio(c.median(ours_t), c.median(raw_t)),
            "/".join(map(str, squeue_calls)),
            "/".join(map(str, sacct_calls)),
            n,
        ],
        [
            "first poll (records every pending reason)",
            c.ms(warm),
            "",
            "",
            warm_calls.get("squeue", 0),
            warm_calls.get("sacct", 0),
            1,
        ],
    ]

    if ended:
        victims = ids[:ended]
        c.scancel(victims)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            states = c.run(["squeue", "-h", "-t", "all", "-o", "%T", "-j", ",".join(victims)], check=False).stdout
            if states.split() and all(s == "CANCELLED" for s in states.split()):
                break
            await asyncio.sleep(0.2)
        labels = (f"poll after {ended} jobs ended (exit codes from sacct)", "next poll (ended jobs no longer asked)")
        for label in labels:
            before = dict(procs.STATS.calls)
            t0 = time.perf_counter()
            await mgr.watcher.refresh(force=True)
            dt = time.perf_counter() - t0
            calls = slurm_calls(before)
            rows.append([label, c.ms(dt), "", "", calls.get("squeue", 0), calls.get("sacct", 0), 1])
        done = [j for j in mgr.store.all() if j.state is JobState.CANCELLED]
        if len(done) != ended:
            rep.note(f"warning: {len(done)} jobs CANCELLED in the store, expected {ended}")

    rep.table(["poll", "ours ms", "raw squeue ms", "ratio", "squeue calls", "sacct calls", "n"], rows)
    rep.result(f"status of {len(ids)} jobs (one poll) vs one squeue", c.median(ours_t), c.median(raw_t), n)
    await mgr.close()


def main() -> None:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=None, help="held jobs to track (default 200; --full: 1000)")
    p.add_argument("--ended", type=int, default=10, help="jobs cancelled before the sacct follow-up poll")
    p.add_argument("--partition", default="cpu")
    args = p.parse_args()
    count = args.jobs or (1000 if args.full else 200)
    n = args.repeat or 10
    c.require_stack()
    rep = c.Report("status", args)
    work = c.tempdir("status-", shared=True)
    name = f"bench-status-{os.getpid()}"
    ids: list[str] = []
    # by name last (catches a job whose sbatch answer was lost), by id first
    c.on_exit(lambda: c.scancel_name(name))
    c.on_exit(lambda: c.scancel(ids))
    t0 = time.perf_counter()
    try:
        ids.extend(submit_held(count, name, args.partition))
    except Exception as exc:
        raise SystemExit(f"could not submit {count} held jobs: {exc}") from None
    print(f"submitted {len(ids)} held jobs in {time.perf_counter() - t0:.1f} s", flush=True)
    asyncio.run(bench(ids, work, rep, n, min(args.ended, count)))
    rep.finish()


if __name__ == "__main__":
    main()
