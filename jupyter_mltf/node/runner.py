"""The job runner: ``python -m jupyter_mltf.node.runner SPEC.json`` on the compute node (or locally).

It unpacks the project archive in job scratch, resumes the MLflow run created at submit time, tags it
(Slurm job id, nodes, GPUs, partition, content hash), logs system metrics (GPU metrics where a GPU
exists), runs the entry point with its parameters, streams the output to the job log, and sets the
terminal status: FINISHED, FAILED (non-zero exit) or KILLED (SIGTERM from scancel or the time limit).
MLflow being unreachable never stops the job: the watcher reconciles the run later. A spec this release
cannot read (another contract version, a damaged file) ends the job with one ``[mltf] error`` line, exit 2.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..contract import ContractError, JobPaths, RunnerSpec
from ..envbuild import BuiltEnv
from .archive import extract_archive
from .entry import child_env, project_env
from .envrecord import record_env
from .joblog import say
from .launchers import Topology, host_id, launch_argv, topology
from .ranklog import RankLogTail
from .scratch import make_scratch
from .signals import GRACE_SECONDS, STOPPED_EXIT_CODE, StopOnSignal
from .sweep_task import run_sweep_task
from .tracker import Tracker

CLEANUP_SECONDS = 2.0  # after a stop, how long the runner waits for MLflow's import before giving up on it
#: the exit code of a job whose spec this runner refuses (like a command-line usage error)
REFUSED_EXIT_CODE = 2


@dataclass
class _Job:
    """One run of the runner: the spec, where it runs, and what it ends with."""

    spec: RunnerSpec
    paths: JobPaths
    topo: Topology
    host: str
    started: float
    token: str | None
    env: BuiltEnv | None = None  # the project env the entry point ran in (None: the notebook's)

    @property
    def is_leader(self) -> bool:
        return self.topo.node_rank == 0


def _read_secret(path: str | None, what: str) -> str | None:
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        say(f"warning: cannot read the {what} file: {exc.strerror}")
        return None


def _export_tracking(spec: RunnerSpec) -> str | None:
    """MLflow settings for this process's client; the entry point and sweep trials inherit them. Returns the token."""
    token = _read_secret(spec.token_file, "tracking token")
    if token:
        os.environ["MLFLOW_TRACKING_TOKEN"] = token
    password = _read_secret(spec.password_file, "tracking password")
    if password:
        os.environ["MLFLOW_TRACKING_PASSWORD"] = password
    if spec.tracking_username and not os.environ.get("MLFLOW_TRACKING_USERNAME"):
        os.environ["MLFLOW_TRACKING_USERNAME"] = spec.tracking_username
    if spec.tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = spec.tracking_uri
    return token


def _leader_tags(job: _Job, gpus: str) -> dict[str, str]:
    tags = {
        "mltf.host": job.host,
        "mltf.nodes": os.environ.get("SLURM_JOB_NODELIST", job.host),
        "mltf.cuda_visible_devices": gpus,
        "mltf.partition": os.environ.get("SLURM_JOB_PARTITION", ""),
        "mltf.content_hash": job.spec.content_hash,
        "mltf.job_id": job.spec.job_id,
    }
    slurm_job = os.environ.get("SLURM_JOB_ID")
    if slurm_job:
        tags["mltf.slurm_job_id"] = slurm_job
    return tags


def _start_entry_point(job: _Job, workdir: str, rank_logs: str) -> tuple[subprocess.Popen[bytes], str]:
    """The entry point's process, started under its launcher (returned too)."""
    spec, topo = job.spec, job.topo
    extract_archive(spec.archive, workdir)
    job.env = project_env(spec, workdir)
    bin_dir = job.env.bin_dir if job.env else os.path.dirname(spec.python or sys.executable)
    argv = launch_argv(spec, workdir, topo, rank_log_dir=rank_logs)
    env = child_env(spec, bin_dir, job.token)
    env.update(topo.env())
    if not job.is_leader:
        env["MLTF_FOLLOWER"] = "1"
    say(f"running: {spec.command}" + (f"  (launcher: {' '.join(argv[:6])} ...)" if argv[0] != "bash" else ""))
    return subprocess.Popen(argv, cwd=workdir, env=env, start_new_session=True), argv[0]


def _run_entry_point(job: _Job, stop: StopOnSignal, tracker: Tracker, tags: dict[str, str] | None) -> int:
    """The entry point's exit code (1 when it could not start); the scratch is gone when this returns."""
    scratch, workdir = make_scratch(job.paths.job_dir)
    rank_logs = os.path.join(scratch, "ranks")  # torchrun's per-rank output files, beside the project copy
    rank_tail: RankLogTail | None = None
    try:
        if stop.stopped:
            return STOPPED_EXIT_CODE
        proc, launcher = _start_entry_point(job, workdir, rank_logs)
        stop.watch(proc)
        if launcher == "torchrun":
            rank_tail = RankLogTail(rank_logs, job.topo.node_rank, max(job.topo.gpus_per_node, 1)).start()
        tracker.start(tags, host_id() if job.topo.nodes > 1 else None, metrics=True)
        return stop.wait_child(proc)
    except Exception as exc:
        say(f"error: {type(exc).__name__}: {exc}")
        return 1
    finally:
        if rank_tail is not None:
            rank_tail.stop()
        shutil.rmtree(scratch, ignore_errors=True)  # first: after a stop, SIGKILL may come any moment
        tracker.join(CLEANUP_SECONDS if stop.stopped else None)


def _write_result(paths: JobPaths, state: str, rc: int, started: float, host: str) -> None:
    result = {"state": state, "exit_code": rc, "started_at": started, "ended_at": time.time(), "host": host}
    with open(paths.result, "w", encoding="utf-8") as fh:
        json.dump(result, fh)


def _finish(job: _Job, tracker: Tracker, stop: StopOnSignal, rc: int) -> int:
    """Set the terminal status (the leader: on the run and in the result file); returns the exit code."""
    if stop.stopped:
        status, state = "KILLED", "CANCELLED"
        say(f"stopped by signal {stop.signum} (cancel or time limit)")
    elif rc == 0:
        status, state = "FINISHED", "COMPLETED"
    else:
        status, state = "FAILED", "FAILED"
        say(f"entry point exited with code {rc}")
    if job.is_leader:
        tracker.call("set_tag", "mltf.exit_code", str(rc))
        log_path = os.environ.get("MLTF_LOG_PATH") or job.paths.log
        if os.path.exists(log_path):
            sys.stdout.flush()
            tracker.call("log_artifact", log_path, "mltf")
        record_env(tracker, job.env, job.spec.python)
        tracker.call("set_terminated", status=status)
        _write_result(job.paths, state, rc, job.started, job.host)
    say(f"done: {status}")
    return STOPPED_EXIT_CODE if stop.stopped and rc == 0 else rc


def run_spec(spec: RunnerSpec, job_dir: str) -> int:
    """Run the job ``spec`` describes (its files in ``job_dir``); returns the runner's exit code."""
    topo = topology(spec)
    job = _Job(spec, JobPaths(job_dir), topo, socket.gethostname(), time.time(), _export_tracking(spec))
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    where = f"slurm job {os.environ.get('SLURM_JOB_ID') or '-'}, node {topo.node_rank} of {topo.nodes}, GPUs [{gpus}]"
    say(f"job {spec.job_id} on {job.host} ({where})")
    if topo.nodes > 1:
        say(f"rendezvous {topo.master_addr}:{topo.master_port}")
    if spec.sweep:
        return run_sweep_task(spec, job_dir)
    tracker = Tracker(spec.tracking_uri, spec.run_id)
    stop = StopOnSignal(spec.stop_grace or GRACE_SECONDS).install()
    rc = _run_entry_point(job, stop, tracker, _leader_tags(job, gpus) if job.is_leader else None)
    return _finish(job, tracker, stop, rc)


def run(spec_path: str) -> int:
    """Read the spec and run its job; a spec this release cannot read is refused with one line, exit 2."""
    job_dir = os.path.dirname(os.path.abspath(spec_path))
    try:
        spec = RunnerSpec.read(spec_path)
    except (ContractError, OSError) as exc:
        reason = f"cannot read {spec_path}: {exc.strerror}" if isinstance(exc, OSError) else str(exc)
        say(f"error: job refused: {reason}")
        try:  # backends without an accounting database read the job's end from here
            _write_result(JobPaths(job_dir), "FAILED", REFUSED_EXIT_CODE, time.time(), socket.gethostname())
        except OSError:
            pass
        return REFUSED_EXIT_CODE
    return run_spec(spec, job_dir)


def detach(spec_path: str, log_path: str) -> int:
    """Start the runner in its own session with output to ``log_path``; print its pid and return at once.

    The caller waits for this short-lived parent only, so the runner is re-parented to init: it outlives
    the server or CLI that started it and leaves no zombie behind.
    """
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_mltf.node.runner", spec_path],
            cwd=os.path.dirname(os.path.abspath(spec_path)),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    print(proc.pid, flush=True)
    return 0


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--detach":
        raise SystemExit(detach(sys.argv[2], sys.argv[3]))
    if len(sys.argv) != 2:
        print("usage: python -m jupyter_mltf.runner SPEC.json", file=sys.stderr)
        raise SystemExit(2)
    code = run(sys.argv[1])
    raise SystemExit(code if 0 <= code < 256 else 1)


if __name__ == "__main__":
    main()
