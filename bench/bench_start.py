"""Job start overhead: batch start (Slurm RUNNING) -> the entry point's first line, ours vs a raw ``sbatch --wrap``.

    python bench/bench_start.py [-n 3 | --full (n=10)] [--partition cpu] [--out results.md]

Ours runs a project whose entry point prints a timestamp as its very first action, through the core, once with
the notebook's env (``env_manager="notebook"``) and once with a cached project env (``env_manager="project"``,
a ``requirements.txt`` that lists nothing; the env is built by an untimed warm-up job first). Raw is
``sbatch --wrap 'date +%s.%N; cat /proc/$$/stat'``. For every job we take:

* batch start: when slurmstepd started the batch script (the start time of the child of slurmstepd from
  ``/proc/<pid>/stat``, 10 ms ticks), i.e. right after Slurm marks the job RUNNING (Slurm's own Start field
  only has 1 s resolution);
* first line: the entry point's first timestamp (``time.time()`` / ``date +%s.%N``);
* submitted: when the submit call returned the Slurm job id.

Start overhead = first line - batch start; sbatch -> first line is reported as well. The three kinds are
interleaved (rotating order) and each job is waited for until it has ended before the next one starts.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import _common as c

from jupyter_mltf.api import Client

FIRST_PY = r"""import time
T = time.time()
print(f"MLTF_BENCH_FIRST {T:.6f}", flush=True)
import os


def stat(pid):
    with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
        text = fh.read()
    rest = text[text.rindex(")") + 2 :].split()
    return text[text.index("(") + 1 : text.rindex(")")], int(rest[1]), int(rest[19])


pid = os.getpid()
for _ in range(20):
    comm, ppid, start = stat(pid)
    if stat(ppid)[0].startswith("slurmstepd"):
        print(f"MLTF_BENCH_BATCH {start} {os.sysconf('SC_CLK_TCK')}", flush=True)
        break
    pid = ppid
"""
MLPROJECT = """name: startbench
entry_points:
  main:
    command: "python first.py"
"""
RAW_WRAP = "date +%s.%N; cat /proc/$$/stat"
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL"}


def make_project(root: str, with_env: bool) -> None:
    os.makedirs(root)
    with open(os.path.join(root, "MLproject"), "w", encoding="utf-8") as fh:
        fh.write(MLPROJECT)
    with open(os.path.join(root, "first.py"), "w", encoding="utf-8") as fh:
        fh.write(FIRST_PY)
    if with_env:
        with open(os.path.join(root, "requirements.txt"), "w", encoding="utf-8") as fh:
            fh.write("# nothing beyond the interpreter: the cached env is what is measured\n")


def boot_epoch() -> float:
    """Wall-clock time of boot, to place /proc start ticks on the epoch clock."""
    return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


def wait_log(path: str, timeout: float, want_raw: bool) -> tuple[float, float]:
    """(first line epoch, batch start epoch) from a job log, waiting up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except FileNotFoundError:
            text = ""
        first = batch = None
        if want_raw:
            lines = text.splitlines()
            if len(lines) >= 2 and ")" in lines[1]:
                first = float(lines[0])
                ticks = int(lines[1][lines[1].rindex(")") + 2 :].split()[19])
                batch = boot_epoch() + ticks / os.sysconf("SC_CLK_TCK")
        else:
            for line in text.splitlines():
                if line.startswith("MLTF_BENCH_FIRST "):
                    first = float(line.split()[1])
                elif line.startswith("MLTF_BENCH_BATCH "):
                    _, ticks, hz = line.split()
                    batch = boot_epoch() + int(ticks) / int(hz)
        if first is not None and batch is not None:
            return first, batch
        time.sleep(0.02)
    raise SystemExit(f"no start marker in {path} after {timeout:.0f} s; it holds:\n{text[-2000:]}")


def wait_ended(native: str, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = c.run(["squeue", "-h", "-t", "all", "-j", native, "-o", "%T"], check=False).stdout.strip()
        if not state or state in TERMINAL:
            return state
        time.sleep(0.2)
    return state


def main() -> None:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--partition", default="cpu")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds one job may take to print its first line")
    args = p.parse_args()
    n = args.repeat or (10 if args.full else 3)
    c.require_stack()
    rep = c.Report("start", args)
    work = c.tempdir("start-", shared=True)
    nb_project = os.path.join(work, "nbenv")
    env_project = os.path.join(work, "projenv")
    make_project(nb_project, with_env=False)
    make_project(env_project, with_env=True)
    logs = os.path.join(work, "raw-logs")
    os.makedirs(logs)

    client = Client(
        backend="slurm",
        store_path=os.path.join(work, "jobs.sqlite"),
        jobs_dir=os.path.join(work, "mltf", "jobs"),
        archives_dir=os.path.join(work, "mltf", "archives"),
        tracking_uri=c.TRACKING_URI,
        experiment_name="mltf-bench",
        write_generated_mlproject=False,
    )
    resources = {"partition": args.partition, "time": "00:05:00", "mem": "500M"}
    run_ids: list[str] = []
    natives: list[str] = []
    raw_name = f"bench-start-raw-{os.getpid()}"
    c.on_exit(lambda: c.delete_runs(run_ids))
    c.on_exit(lambda: c.scancel(natives))
    c.on_exit(lambda: c.scancel_name(raw_name))

    def ours(kind: str) -> dict[str, float]:
        project = nb_project if kind == "notebook" else env_project
        handle: Any = client.submit(project, resources=resources, env_manager=kind)
        submitted = time.time()
        job = handle.job
        natives.append(job.native_id)
        if job.run_id:
            run_ids.append(job.run_id)
        first, batch = wait_log(job.log_path, args.timeout, want_raw=False)
        state = wait_ended(job.native_id)
        if state not in ("", "COMPLETED"):
            raise SystemExit(f"{kind} job {job.native_id} ended {state}: see {job.log_path}")
        return {"start": first - batch, "submit": first - submitted}

    def raw(i: int) -> dict[str, float]:
        log = os.path.join(logs, f"raw-{i}.log")
        argv = ["sbatch", "--parsable", "-p", args.partition, "-t", "00:05:00", "--mem", "500M", "-J", raw_name]
        out = c.run([*argv, "-o", log, "--wrap", RAW_WRAP]).stdout
        submitted = time.time()
        native = out.strip().split(";")[0]
        natives.append(native)
        first, batch = wait_log(log, args.timeout, want_raw=True)
        wait_ended(native)
        return {"start": first - batch, "submit": first - submitted}

    t0 = time.perf_counter()
    ours("notebook")  # warm-up, untimed: imports, the first MLflow experiment lookup
    ours("project")  # builds the project env once (cached by the hash of requirements.txt)
    raw(-1)
    print(f"warm-up (incl. building the project env) took {time.perf_counter() - t0:.1f} s", flush=True)

    got: dict[str, list[dict[str, float]]] = {"notebook": [], "project": [], "raw": []}
    # reference: what the runner's first MLflow step (importing the client) costs on this machine right now
    imports: list[float] = []
    import_argv = [sys.executable, "-c", "from mlflow.tracking import MlflowClient"]
    kinds = ["notebook", "project", "raw"]
    for i in range(n):
        order = kinds[i % 3 :] + kinds[: i % 3]
        for kind in order:
            got[kind].append(raw(i) if kind == "raw" else ours(kind))
        imports.append(c.timed(import_argv, timeout=120)[0])
        print(
            f"  round {i + 1}/{n}: start overhead notebook env {c.ms(got['notebook'][-1]['start']):.0f} ms, "
            f"project env {c.ms(got['project'][-1]['start']):.0f} ms, raw {c.ms(got['raw'][-1]['start']):.0f} ms",
            flush=True,
        )

    def med(kind: str, key: str) -> float:
        return c.median([g[key] for g in got[kind]])

    rows = []
    for kind, label in (("notebook", "ours, notebook env"), ("project", "ours, cached project env"), ("raw", "raw")):
        rows.append(
            [
                label,
                c.ms(med(kind, "start")),
                c.ratio(med(kind, "start"), med("raw", "start")),
                c.ms(med(kind, "submit")),
                c.ratio(med(kind, "submit"), med("raw", "submit")),
                n,
            ]
        )
    rows.append(
        ["reference: python -c 'from mlflow.tracking import MlflowClient'", c.ms(c.median(imports)), "", "", "", n]
    )
    rep.note("batch start = the batch script's process start (10 ms ticks), right after Slurm's RUNNING")
    rep.table(
        ["job", "batch start -> first line ms", "ratio", "sbatch -> first line ms", "ratio", "n"],
        rows,
    )
    raw_start = med("raw", "start")
    rep.result("start overhead (RUNNING -> first line), notebook env", med("notebook", "start"), raw_start, n)
    rep.result("start overhead (RUNNING -> first line), cached project env", med("project", "start"), raw_start, n)
    rep.result("sbatch -> first line, notebook env", med("notebook", "submit"), med("raw", "submit"), n)
    rep.finish()
    client.close()


if __name__ == "__main__":
    main()
