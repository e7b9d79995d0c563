"""Helpers shared by the bench scripts: interleaved timing, medians and ratios, the RESULT line, clean-up.

Every bench measures "ours" against the raw tool in the same loop, alternating which goes first, and
reports medians, the ratio of medians and n, so a noisy shared machine still gives a stable figure.
Subprocesses are started with argv lists only.
"""

from __future__ import annotations

import argparse
import atexit
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

# the runs a bench closes must not print their URL into the tables
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
VENV_BIN = os.path.dirname(os.path.abspath(sys.executable))


# ------------------------------------------------------------------------------------------ arguments
def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", default=None, help="append the table and RESULT lines to this markdown file")
    p.add_argument("--full", action="store_true", help="the issue's full counts (slower)")
    p.add_argument("-n", "--repeat", type=int, default=None, help="interleaved repetitions (ours and raw each)")
    return p


# ------------------------------------------------------------------------------------------ statistics
def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def ratio(ours: float, raw: float) -> float:
    return ours / raw if raw > 0 else float("inf")


def interleave(n: int, ours: Callable[[int], float], raw: Callable[[int], float]) -> tuple[list[float], list[float]]:
    """Call ours(i) and raw(i) n times each, alternating which goes first; each returns seconds."""
    a: list[float] = []
    b: list[float] = []
    for i in range(n):
        if i % 2 == 0:
            a.append(ours(i))
            b.append(raw(i))
        else:
            b.append(raw(i))
            a.append(ours(i))
    return a, b


# ------------------------------------------------------------------------------------------ output
class Report:
    """Collects a table and RESULT lines; prints them and appends them to --out as markdown."""

    def __init__(self, name: str, args: argparse.Namespace) -> None:
        self.name = name
        self.out = args.out
        self.lines: list[str] = []
        self.results: list[str] = []
        self.notes: list[str] = []

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
        for k, row in enumerate(cells):
            line = "| " + " | ".join(c.ljust(widths[i]) for i, c in enumerate(row)) + " |"
            self.lines.append(line)
            print(line, flush=True)
            if k == 0:
                sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
                self.lines.append(sep)
                print(sep, flush=True)
        self.lines.append("")
        print(flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(text, flush=True)

    def result(self, label: str, ours_s: float, raw_s: float, n: int) -> str:
        line = (
            f"RESULT {label}: ours {ours_s * 1000:.1f} ms vs raw {raw_s * 1000:.1f} ms "
            f"-> ratio {ratio(ours_s, raw_s):.2f} (n={n})"
        )
        self.results.append(line)
        print(line, flush=True)
        return line

    def finish(self) -> None:
        if not self.out:
            return
        host = f"{platform.node()}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}"
        with open(self.out, "a", encoding="utf-8") as fh:
            fh.write(f"\n### {self.name}\n\n_{time.strftime('%Y-%m-%d %H:%M:%S %Z')} on {host}_; ")
            fh.write("`" + " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "`\n\n")
            fh.write("\n".join(self.lines) + "\n")
            for text in self.notes:
                fh.write(f"{text}\n\n")
            if self.results:
                fh.write("```\n" + "\n".join(self.results) + "\n```\n")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def ms(seconds: float) -> float:
    return seconds * 1000.0


# ------------------------------------------------------------------------------------------ processes
def run(argv: list[str], *, timeout: float = 60.0, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise TypeError("argv must be a list of strings")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {proc.stderr.strip()[:500]}")
    return proc


def timed(argv: list[str], *, timeout: float = 60.0) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = run(argv, timeout=timeout)
    return time.perf_counter() - t0, proc.stdout


def scancel(ids: Sequence[str], wait_for_controller: float = 180.0) -> None:
    """Cancel Slurm jobs by id (in chunks, so the argv stays short).

    A controller that is down (a test may stop slurmctld on purpose) is waited for, so no job is left behind.
    """
    ids = [i for i in ids if i]
    for k in range(0, len(ids), 400):
        argv = ["scancel", *ids[k : k + 400]]
        deadline = time.monotonic() + wait_for_controller
        while True:
            try:
                if run(argv, check=False, timeout=60).returncode == 0:
                    break
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                print(f"could not cancel jobs {argv[1]}..{argv[-1]}: cancel them by hand", file=sys.stderr)
                break
            time.sleep(5)


def scancel_name(name: str) -> None:
    """Cancel this user's jobs of a (bench-unique) name: catches a job whose sbatch answer was lost."""
    run(["scancel", "--user", os.environ.get("USER", ""), "--name", name], check=False, timeout=120)


def controller_down() -> bool:
    try:
        return run(["sinfo", "-h", "-o", "%a"], check=False, timeout=15).returncode != 0
    except subprocess.TimeoutExpired:
        return True


# ------------------------------------------------------------------------------------------ clean-up
_CLEANUPS: list[Callable[[], None]] = []


def on_exit(fn: Callable[[], None]) -> Callable[[], None]:
    """Run ``fn`` at exit (also on SIGINT/SIGTERM), last registered first."""
    _CLEANUPS.append(fn)
    return fn


def _cleanup() -> None:
    while _CLEANUPS:
        fn = _CLEANUPS.pop()
        try:
            fn()
        except Exception as exc:  # clean-up must go on
            print(f"clean-up step failed: {exc}", file=sys.stderr)


def _on_signal(signum: int, _frame: Any) -> None:
    _cleanup()
    raise SystemExit(128 + signum)


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, _on_signal)


def tempdir(prefix: str, shared: bool = False) -> str:
    """A temp dir removed at exit. ``shared``: under $HOME, where compute nodes see it (jobs, archives)."""
    base = None
    if shared:
        base = os.path.join(os.path.expanduser("~"), ".cache", "mltf-bench")
        os.makedirs(base, mode=0o700, exist_ok=True)
    path = tempfile.mkdtemp(prefix=prefix, dir=base)

    def remove() -> None:
        shutil.rmtree(path, ignore_errors=True)
        if base:
            try:
                os.rmdir(base)  # only when no other bench is using it
            except OSError:
                pass

    on_exit(remove)
    return path


# ------------------------------------------------------------------------------------------ the stack
def stack_problem() -> str | None:
    """None when Slurm and MLflow answer, else why not."""
    if shutil.which("sbatch") is None:
        return "Slurm is not installed (scripts/setup.sh, scripts/stack/up.sh)"
    try:
        if run(["sinfo", "-h", "-o", "%a"], check=False, timeout=15).returncode != 0:
            return "slurmctld does not answer (scripts/stack/up.sh)"
    except subprocess.TimeoutExpired:
        return "slurmctld does not answer (scripts/stack/up.sh)"
    try:
        urllib.request.urlopen(f"{TRACKING_URI}/health", timeout=5).close()
    except OSError:
        return f"MLflow does not answer at {TRACKING_URI}"
    return None


def require_stack() -> None:
    why = stack_problem()
    if why:
        print(f"cannot run: {why}", file=sys.stderr)
        raise SystemExit(2)


def delete_runs(run_ids: Sequence[str]) -> None:
    """Soft-delete the MLflow runs a bench created (they are benchmark noise, not experiments)."""
    ids = [r for r in run_ids if r]
    if not ids:
        return
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=TRACKING_URI)
    for run_id in ids:
        try:
            client.delete_run(run_id)
        except Exception:
            pass
