"""The job runner: ``python -m jupyter_mltf.runner SPEC.json`` on the compute node (or locally).

It unpacks the project archive in job scratch, resumes the MLflow run created at submit time, tags it
(Slurm job id, nodes, GPUs, partition, content hash), logs system metrics (GPU metrics where a GPU
exists), runs the entry point with its parameters, streams the output to the job log, and sets the
terminal status: FINISHED, FAILED (non-zero exit) or KILLED (SIGTERM from scancel or the time limit).
MLflow being unreachable never stops the job: the watcher reconciles the run later.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .ranklog import RankLogTail, write_lines

GRACE_SECONDS = 20.0  # without a KillWait from the cluster (the local backend: nothing SIGKILLs the runner)
CLEANUP_SECONDS = 2.0  # after a stop, how long the runner waits for MLflow's import before giving up on it
OWNER_FILE = "owner"  # in each scratch dir: "host pid start-time" of the runner that made it


def _say(message: str) -> None:
    from .formatting import redact

    write_lines(f"[mltf] {redact(message)}\n")


class Tracker:
    """MLflow calls that warn instead of failing the job.

    Importing MLflow takes seconds on a busy node, so the entry point starts first and the run is
    tagged and marked RUNNING from a background thread (:meth:`start`); :meth:`join` waits for it
    before the terminal status is set.
    """

    def __init__(self, tracking_uri: str | None, run_id: str | None) -> None:
        self.tracking_uri = tracking_uri
        self.run_id = run_id
        self.client: Any = None
        self.monitor: Any = None
        self._failed = False
        self._thread: threading.Thread | None = None

    def _ensure(self) -> bool:
        if self.client is None and self.run_id and not self._failed:
            try:
                from mlflow.tracking import MlflowClient

                self.client = MlflowClient(tracking_uri=self.tracking_uri)
            except Exception as exc:
                self._failed = True
                _say(f"warning: MLflow client unavailable ({exc}); the run is reconciled later")
        return self.client is not None

    def call(self, method: str, *args: Any, **kwargs: Any) -> None:
        if self._failed or not self._ensure():
            return
        try:
            getattr(self.client, method)(self.run_id, *args, **kwargs)
        except Exception as exc:
            _say(f"warning: MLflow {method} failed: {str(exc).splitlines()[0] if str(exc) else exc}")

    def start(self, tags: dict[str, str] | None, monitor_node: str | None, metrics: bool) -> None:
        def work() -> None:
            if not self._ensure():
                return
            if tags is not None:
                from mlflow.entities import RunTag

                self.call("log_batch", tags=[RunTag(k, v) for k, v in tags.items()])
                self.call("update_run", status="RUNNING")
            if metrics:
                try:
                    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

                    self.monitor = SystemMetricsMonitor(  # type: ignore[no-untyped-call]
                        self.run_id,
                        sampling_interval=float(os.environ.get("MLTF_SYSTEM_METRICS_INTERVAL", "5")),
                        node_id=monitor_node,
                        tracking_uri=self.tracking_uri,
                        resume_logging=True,
                    )
                    self.monitor.start()
                except Exception as exc:
                    _say(f"warning: system metrics unavailable: {exc}")

        self._thread = threading.Thread(target=work, name="mltf-tracking", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the background thread (at most ``timeout`` s); False when it is still busy."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._failed = True  # a stopped job has no time left for it: the watcher closes the run
                return False
        if self.monitor is not None:
            try:
                self.monitor.finish()
            except Exception:
                pass
            self.monitor = None
        return True


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (so a reused pid is not taken for the runner that made a dir)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _scratch_base(job_dir: str) -> str:
    """Node scratch when the cluster gives one, else one per-user dir next to the jobs dir (not inside the
    job dir: a later job's runner must find what a SIGKILLed one left, to remove it)."""
    for base in (os.environ.get("SLURM_TMPDIR"), os.environ.get("TMPDIR")):
        if base and os.path.isdir(base) and os.access(base, os.W_OK):
            return base
    base = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(job_dir))), "scratch")
    os.makedirs(base, mode=0o700, exist_ok=True)
    return base


def remove_stale_scratch(base: str, host: str, limit: int = 50) -> list[str]:
    """Remove scratch dirs on this host whose runner is gone (SIGKILLed before it could clean up).
    Only dirs of this user with an owner file naming this host are judged; at most ``limit`` are looked at."""
    removed: list[str] = []
    try:
        names = [n for n in os.listdir(base) if n.startswith("mltf-")][:limit]
    except OSError:
        return removed
    for name in names:
        path = os.path.join(base, name)
        try:
            if os.lstat(path).st_uid != os.getuid():
                continue
            with open(os.path.join(path, OWNER_FILE), encoding="utf-8") as fh:
                owner_host, pid, started = fh.read().split()
        except (OSError, ValueError):
            continue
        if owner_host == host and _start_time(int(pid)) != started:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _scratch(job_dir: str) -> tuple[str, str]:
    """(scratch dir, project dir inside it). Leftovers of killed runners on this host go first."""
    base = _scratch_base(job_dir)
    host = socket.gethostname()
    for path in remove_stale_scratch(base, host):
        _say(f"removed the scratch of an earlier job that was killed: {path}")
    scratch = tempfile.mkdtemp(prefix=f"mltf-{os.environ.get('SLURM_JOB_ID', 'local')}-", dir=base)
    with open(os.path.join(scratch, OWNER_FILE), "w", encoding="utf-8") as fh:
        fh.write(f"{host} {os.getpid()} {_start_time(os.getpid())}\n")
    workdir = os.path.join(scratch, "project")
    os.mkdir(workdir, 0o700)
    return scratch, workdir


def _wait_child(proc: subprocess.Popen[bytes], killed: dict[str, float], grace: float) -> int:
    """The entry point's exit code. After a stop signal it gets ``grace`` seconds (SIGTERM was passed on),
    then it is killed: the runner must still have time to clean up before Slurm's SIGKILL."""
    while True:
        try:
            return proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            pass
        if killed["signal"] and time.monotonic() >= killed["at"] + grace:
            _say(f"the entry point did not stop within {grace:g} s of the signal: killing it")
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return proc.wait()


def _read_secret(path: str | None, what: str) -> str | None:
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        _say(f"warning: cannot read the {what} file: {exc.strerror}")
        return None


def entry_point_bin_dir(spec: dict[str, Any], workdir: str) -> str:
    """Where the entry point's ``python`` comes from: the notebook's env, or the project's cached env."""
    bin_dir = os.path.dirname(spec.get("python") or sys.executable)
    if spec.get("env_manager") == "project" and spec.get("env_spec"):
        from .envs import ensure_env

        t0 = time.monotonic()
        bin_dir, built = ensure_env(Path(workdir) / spec["env_spec"], spec["envs_dir"], spec["python"])
        _say(("built" if built else "reusing cached") + f" project env in {time.monotonic() - t0:.1f}s: {bin_dir}")
    return bin_dir


def child_env(spec: dict[str, Any], bin_dir: str, token: str | None) -> dict[str, str]:
    """The entry point's environment: the job's MLflow run (``spec["run_id"]``), no other run's settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_EXPERIMENT_NAME", "MLFLOW_TRACKING_TOKEN")}
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "/usr/bin:/bin")
    env["PYTHONUNBUFFERED"] = "1"
    env["MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"] = "false"  # the runner logs them, once per node
    if spec.get("tracking_uri"):
        env["MLFLOW_TRACKING_URI"] = spec["tracking_uri"]
    if spec.get("run_id"):
        env["MLFLOW_RUN_ID"] = spec["run_id"]
    if spec.get("experiment_id"):
        env["MLFLOW_EXPERIMENT_ID"] = spec["experiment_id"]
    if token:
        env["MLFLOW_TRACKING_TOKEN"] = token
    if spec.get("params_file"):
        env["MLTF_PARAMS_FILE"] = spec["params_file"]  # parameters without the command line (seen in ps)
    env["MLTF_JOB_ID"] = spec["job_id"]
    return env


def run(spec_path: str) -> int:
    with open(spec_path, encoding="utf-8") as fh:
        spec: dict[str, Any] = json.load(fh)
    job_dir = os.path.dirname(os.path.abspath(spec_path))
    from .launchers import host_id, topology

    topo = topology(spec)
    node_rank = topo.node_rank
    is_leader = node_rank == 0
    host = socket.gethostname()
    started = time.time()
    token = _read_secret(spec.get("token_file"), "tracking token")
    if token:
        os.environ["MLFLOW_TRACKING_TOKEN"] = token  # for this process's own MLflow client
    password = _read_secret(spec.get("password_file"), "tracking password")
    if password:  # this process's client, the entry point and sweep trials (they inherit the environment)
        os.environ["MLFLOW_TRACKING_PASSWORD"] = password
    if spec.get("tracking_username") and not os.environ.get("MLFLOW_TRACKING_USERNAME"):
        os.environ["MLFLOW_TRACKING_USERNAME"] = spec["tracking_username"]
    if spec.get("tracking_uri"):
        os.environ["MLFLOW_TRACKING_URI"] = spec["tracking_uri"]
    tracker = Tracker(spec.get("tracking_uri"), spec.get("run_id"))
    slurm_job = os.environ.get("SLURM_JOB_ID")
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    where = f"slurm job {slurm_job or '-'}, node {node_rank} of {topo.nodes}, GPUs [{gpus}]"
    _say(f"job {spec['job_id']} on {host} ({where})")
    if topo.nodes > 1:
        _say(f"rendezvous {topo.master_addr}:{topo.master_port}")
    if spec.get("sweep"):
        from .sweep import run_sweep_task

        return int(run_sweep_task(spec, job_dir))
    tags: dict[str, str] | None = None
    if is_leader:
        tags = {
            "mltf.host": host,
            "mltf.nodes": os.environ.get("SLURM_JOB_NODELIST", host),
            "mltf.cuda_visible_devices": gpus,
            "mltf.partition": os.environ.get("SLURM_JOB_PARTITION", ""),
            "mltf.content_hash": spec.get("content_hash", ""),
            "mltf.job_id": spec["job_id"],
        }
        if slurm_job:
            tags["mltf.slurm_job_id"] = slurm_job
    grace = float(spec.get("stop_grace") or GRACE_SECONDS)
    scratch, workdir = _scratch(job_dir)
    rank_logs = os.path.join(scratch, "ranks")  # torchrun's per-rank output files, beside the project copy
    rank_tail: RankLogTail | None = None
    proc: subprocess.Popen[bytes] | None = None
    killed: dict[str, float] = {"signal": 0, "at": 0.0}

    def on_signal(signum: int, _frame: Any) -> None:
        if not killed["signal"]:
            killed["at"] = time.monotonic()
        killed["signal"] = signum
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGHUP):
        signal.signal(sig, on_signal)

    rc = 1
    try:
        from .packaging import extract_archive

        extract_archive(spec["archive"], workdir)
        bin_dir = entry_point_bin_dir(spec, workdir)
        from .launchers import launch_argv

        argv = launch_argv(spec, workdir, topo, rank_log_dir=rank_logs)
        env = child_env(spec, bin_dir, token)
        env.update(topo.env())
        if not is_leader:
            env["MLTF_FOLLOWER"] = "1"
        _say(f"running: {spec['command']}" + (f"  (launcher: {' '.join(argv[:6])} ...)" if argv[0] != "bash" else ""))
        if not killed["signal"]:
            proc = subprocess.Popen(argv, cwd=workdir, env=env, start_new_session=True)
            if argv[0] == "torchrun":
                rank_tail = RankLogTail(rank_logs, topo.node_rank, max(topo.gpus_per_node, 1)).start()
            tracker.start(tags, host_id() if topo.nodes > 1 else None, metrics=True)
            rc = _wait_child(proc, killed, grace)
        else:
            rc = 143
    except Exception as exc:
        _say(f"error: {type(exc).__name__}: {exc}")
        rc = 1
    finally:
        if rank_tail is not None:
            rank_tail.stop()
        shutil.rmtree(scratch, ignore_errors=True)  # first: after a stop, SIGKILL may come any moment
        tracker.join(CLEANUP_SECONDS if killed["signal"] else None)

    if killed["signal"]:
        status, state = "KILLED", "CANCELLED"
        _say(f"stopped by signal {killed['signal']} (cancel or time limit)")
    elif rc == 0:
        status, state = "FINISHED", "COMPLETED"
    else:
        status, state = "FAILED", "FAILED"
        _say(f"entry point exited with code {rc}")
    if is_leader:
        tracker.call("set_tag", "mltf.exit_code", str(rc))
        log_path = os.environ.get("MLTF_LOG_PATH") or os.path.join(job_dir, "job.log")
        if os.path.exists(log_path):
            sys.stdout.flush()
            tracker.call("log_artifact", log_path, "mltf")
        tracker.call("set_terminated", status=status)
        result = {"state": state, "exit_code": rc, "started_at": started, "ended_at": time.time(), "host": host}
        with open(os.path.join(job_dir, "result.json"), "w", encoding="utf-8") as fh:
            json.dump(result, fh)
    _say(f"done: {status}")
    return 143 if killed["signal"] and rc == 0 else int(rc)


def detach(spec_path: str, log_path: str) -> int:
    """Start the runner in its own session with output to ``log_path``; print its pid and return at once.

    The caller waits for this short-lived parent only, so the runner is re-parented to init: it outlives
    the server or CLI that started it and leaves no zombie behind.
    """
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_mltf.runner", spec_path],
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
