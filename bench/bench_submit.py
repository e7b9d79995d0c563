"""Submit of a 200-file / 20 MB project through the core vs ``tar`` + raw ``sbatch`` of the same files.

    python bench/bench_submit.py [--files 200] [--mb 20] [-n 5] [--partition cpu] [--out results.md]

Ours: ``Client(backend="slurm").submit(...)`` until it returns with the Slurm job id (select files, build the
content-addressed archive, create the MLflow run, write spec + script, ``sbatch``, tag the run). Raw: ``tar -cf``
of the project + ``sbatch --hold`` of a tiny wrapper that would unpack and run it. Both for a first submit (new
content) and an identical resubmission (our archive is reused by content hash). Every job is submitted held
(``#SBATCH --hold`` through ``SlurmBackend.extra_directives`` for ours) and cancelled at once, so nothing runs;
the MLflow runs are closed (KILLED by the cancel) and then deleted. Needs the stack (Slurm + MLflow).
"""

from __future__ import annotations

import functools
import os
import random
import time
from collections.abc import Callable
from typing import Any

import _common as c
from traitlets.config import Config

from jupyter_mltf import packaging, procs, tracking
from jupyter_mltf.api import Client

RAW_WRAPPER = """#!/bin/bash
# unpack the project archive given as $1 in a scratch dir and run its entry point
set -eu
d=$(mktemp -d)
tar -xf "$1" -C "$d"
cd "$d"
exec python train.py
"""
MLPROJECT = """name: benchproj
entry_points:
  main:
    command: "python train.py"
"""


def make_project(root: str, files: int, total_bytes: int) -> None:
    rng = random.Random(7)
    os.makedirs(os.path.join(root, "data"))
    with open(os.path.join(root, "MLproject"), "w", encoding="utf-8") as fh:
        fh.write(MLPROJECT)
    with open(os.path.join(root, "train.py"), "w", encoding="utf-8") as fh:
        fh.write("print('hello from the bench project')\n")
    shards = files - 3  # MLproject, train.py, nonce.txt
    size = total_bytes // shards
    for i in range(shards):
        with open(os.path.join(root, "data", f"shard-{i:04d}.bin"), "wb") as fh:
            fh.write(rng.randbytes(size))
    bump(root)


def bump(root: str) -> None:
    """New content: the next submit is a first submit (new content hash, new archive)."""
    with open(os.path.join(root, "nonce.txt"), "w", encoding="utf-8") as fh:
        fh.write(f"{time.time_ns()} {random.random()}\n")


class Phases:
    """Wraps a few core steps to show where a submit's time goes (negligible overhead)."""

    def __init__(self) -> None:
        self.current: dict[str, float] = {}
        self.all: list[dict[str, float]] = []

    def wrap_sync(self, module: Any, name: str, label: str) -> None:
        fn = getattr(module, name)

        @functools.wraps(fn)
        def wrapper(*a: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.current[label] = self.current.get(label, 0.0) + time.perf_counter() - t0

        setattr(module, name, wrapper)

    def wrap_async(self, obj: Any, name: str, label: str) -> None:
        fn = getattr(obj, name)

        async def wrapper(*a: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return await fn(*a, **kw)
            finally:
                self.current[label] = self.current.get(label, 0.0) + time.perf_counter() - t0

        setattr(obj, name, wrapper)

    def take(self) -> dict[str, float]:
        got, self.current = self.current, {}
        return got


def main() -> None:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=200)
    p.add_argument("--mb", type=float, default=20.0, help="project size in MB (10^6 bytes)")
    p.add_argument("--partition", default="cpu")
    args = p.parse_args()
    n = args.repeat or (10 if args.full else 5)
    c.require_stack()
    rep = c.Report("submit", args)

    work = c.tempdir("submit-", shared=True)
    project = os.path.join(work, "project")
    os.makedirs(project)
    make_project(project, args.files, int(args.mb * 1e6))
    wrapper = os.path.join(work, "raw_job.sh")
    with open(wrapper, "w", encoding="utf-8") as fh:
        fh.write(RAW_WRAPPER)
    os.chmod(wrapper, 0o755)
    raw_name = f"bench-submit-raw-{os.getpid()}"
    c.on_exit(lambda: c.scancel_name(raw_name))

    cfg = Config()
    cfg.SlurmBackend.extra_directives = ["--hold"]  # nothing we submit may run
    client = Client(
        config=cfg,
        backend="slurm",
        store_path=os.path.join(work, "jobs.sqlite"),
        jobs_dir=os.path.join(work, "jobs"),
        archives_dir=os.path.join(work, "archives"),
        tracking_uri=c.TRACKING_URI,
        experiment_name="mltf-bench",
        write_generated_mlproject=False,
    )
    run_ids: list[str] = []
    c.on_exit(lambda: c.delete_runs(run_ids))
    resources = {"partition": args.partition, "time": "00:05:00", "mem": "200M"}

    phases = Phases()
    phases.wrap_sync(packaging, "select_files", "select")
    phases.wrap_sync(packaging, "build_archive", "archive")
    phases.wrap_sync(tracking, "create_run", "mlflow create")
    phases.wrap_sync(tracking, "set_tags", "mlflow tag")
    phases.wrap_async(client.manager.active_backend, "submit", "sbatch")

    calls: list[dict[str, int]] = []

    def ours(_i: int) -> float:
        before = dict(procs.STATS.calls)
        t0 = time.perf_counter()
        handle = client.submit(project, resources=resources)
        dt = time.perf_counter() - t0
        calls.append({k: v - before.get(k, 0) for k, v in procs.STATS.calls.items() if v != before.get(k, 0)})
        job = handle.job  # type: ignore[union-attr]
        if not job.native_id.isdigit():
            raise SystemExit(f"submit returned no Slurm job id: {job}")
        if job.run_id:
            run_ids.append(job.run_id)
        client.cancel(job.id)  # untimed: scancel + the watcher closes the MLflow run as KILLED
        phases.all.append(phases.take())
        return dt

    raw_ids: list[str] = []
    c.on_exit(lambda: c.scancel(raw_ids))

    def raw(i: int) -> float:
        archive = os.path.join(work, f"raw-{i}.tar")
        t0 = time.perf_counter()
        c.run(["tar", "-cf", archive, "-C", project, "."])
        out = c.run(
            [
                "sbatch",
                "--parsable",
                "--hold",
                "-p",
                args.partition,
                "-t",
                "00:05:00",
                "--mem",
                "200M",
                "-J",
                raw_name,
                "-o",
                "/dev/null",
                wrapper,
                archive,
            ]
        ).stdout
        dt = time.perf_counter() - t0
        native = out.strip().split(";")[0]
        if not native.isdigit():
            raise SystemExit(f"raw sbatch printed no job id: {out!r}")
        raw_ids.append(native)
        c.scancel([native])
        os.unlink(archive)
        return dt

    # cold: the first submit of this process (imports mlflow, the template, asks sinfo for partitions)
    cold = ours(-1)
    raw(-1)
    phases.all.clear()
    calls.clear()

    first_ours: list[float] = []
    first_raw: list[float] = []
    again_ours: list[float] = []
    again_raw: list[float] = []
    kinds: list[str] = []
    for i in range(n):
        bump(project)
        steps: list[tuple[str, Callable[[int], float], list[float]]] = [
            ("ours-first", ours, first_ours),
            ("raw-first", raw, first_raw),
            ("ours-again", ours, again_ours),
            ("raw-again", raw, again_raw),
        ]
        if i % 2:  # alternate who goes first
            steps = [steps[1], steps[0], steps[3], steps[2]]
        for label, step, into in steps:
            into.append(step(i))
            if label.startswith("ours"):
                kinds.append(label)
        print(
            f"  round {i + 1}/{n}: first ours {c.ms(first_ours[-1]):.0f} ms raw {c.ms(first_raw[-1]):.0f} ms; "
            f"again ours {c.ms(again_ours[-1]):.0f} ms raw {c.ms(again_raw[-1]):.0f} ms",
            flush=True,
        )

    def phase_median(kind: str, label: str) -> float:
        values = [ph.get(label, 0.0) for ph, k in zip(phases.all, kinds, strict=True) if k == kind]
        return c.ms(c.median(values))

    size_mb = sum(e.stat().st_size for e in os.scandir(os.path.join(project, "data"))) / 1e6
    rep.note(f"project: {args.files} files, {size_mb:.1f} MB; partition {args.partition}; jobs held then cancelled")
    rows: list[list[Any]] = []
    for label, o, r in (("first submit", first_ours, first_raw), ("identical resubmission", again_ours, again_raw)):
        rows.append([label, c.ms(c.median(o)), c.ms(c.median(r)), c.ratio(c.median(o), c.median(r)), n])
    rep.table(["submit (until the Slurm job id is known)", "ours median ms", "raw median ms", "ratio", "n"], rows)
    labels = ["select", "archive", "mlflow create", "sbatch", "mlflow tag"]
    rep.table(
        ["ours, where the time goes (median ms)", *labels],
        [
            ["first submit", *[phase_median("ours-first", lb) for lb in labels]],
            ["identical resubmission", *[phase_median("ours-again", lb) for lb in labels]],
        ],
    )
    per_submit: dict[str, int] = {}
    for entry in calls:
        for tool, count in entry.items():
            per_submit[tool] = max(per_submit.get(tool, 0), count)
    rep.note(
        f"cluster calls per submit (max over {len(calls)}): "
        + ", ".join(f"{k} {v}" for k, v in sorted(per_submit.items()))
        + f"; cold first submit in a fresh process: {c.ms(cold):.0f} ms"
    )
    rep.result("submit 200 files/20 MB, first, vs tar+sbatch", c.median(first_ours), c.median(first_raw), n)
    rep.result("submit 200 files/20 MB, resubmit, vs tar+sbatch", c.median(again_ours), c.median(again_raw), n)
    rep.finish()
    client.close()


if __name__ == "__main__":
    main()
