"""Shared helpers of the robustness suite: scoped 'nothing happened' counts, a real jupyter server subprocess.

Other engineers share the cluster and the MLflow server (as the same user), so "nothing ran" is checked in
this test's own scope: Slurm jobs whose working directory is under the test's jobs dir, MLflow runs whose
``mltf.project_dir`` tag is under the test's project root, rows of the test's job store, entries of its jobs
dir.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..conftest import (
    state_traits,
    wait_until,  # noqa: F401  (re-exported to the robustness tests)
)

TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
HERE = Path(__file__).resolve().parent
CTL = "/opt/mltf/src/scripts/stack/ctl.sh"

MLPROJECT = """\
name: corpus
entry_points:
  main:
    parameters:
      word: {type: string, default: hello}
      n: {type: int, default: 1}
      lr: {type: float, default: 0.1}
    command: "python echo.py {word} {n} {lr}"
  sleep:
    parameters:
      seconds: {type: int, default: 300}
    command: "python sleep.py {seconds}"
"""
ECHO_PY = "import sys\nprint('ARGV=' + repr(sys.argv[1:]), flush=True)\n"
SLEEP_PY = (
    "import sys, time\nprint('sleeping', flush=True)\n"
    "for i in range(int(sys.argv[1])):\n    print('tick', i, flush=True)\n    time.sleep(1)\n"
)


def write_tiny(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "MLproject").write_text(MLPROJECT)
    (root / "echo.py").write_text(ECHO_PY)
    (root / "sleep.py").write_text(SLEEP_PY)
    return root


# ------------------------------------------------------------------------------------------ "nothing happened"
class SlurmQueryError(AssertionError):
    """squeue/sacct failed: a 'no job was created' check cannot be answered, so it must not pass."""


def _slurm_query(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SlurmQueryError(f"{argv[0]} could not be asked: {exc}") from None
    if done.returncode != 0:
        raise SlurmQueryError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return done.stdout


def slurm_jobs_under(prefix: str) -> set[str]:
    """Slurm job ids (live or in accounting today) whose working directory is under ``prefix``.

    Raises SlurmQueryError when squeue or sacct fails: an empty answer must mean "no job", never "no answer".
    """
    found: set[str] = set()
    queries = (
        ["squeue", "--me", "-h", "-t", "all", "-o", "%i|%Z"],
        ["sacct", "-X", "-n", "-P", "-S", "now-6hours", "-o", "JobID,WorkDir"],
    )
    for argv in queries:
        for line in _slurm_query(argv).splitlines():
            jid, _, workdir = line.partition("|")
            if workdir.startswith(prefix):
                found.add(jid.split("_")[0])
    return found


def mlflow_runs_under(prefix: str) -> set[str]:
    """MLflow run ids (any experiment) tagged with a project dir under ``prefix``."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=TRACKING_URI)
    exps = [e.experiment_id for e in client.search_experiments(max_results=1000)]
    like = prefix.replace("'", "''") + "%"
    runs = client.search_runs(exps, filter_string=f"tags.`mltf.project_dir` LIKE '{like}'", max_results=5000)
    return {r.info.run_id for r in runs}


def store_rows(store_path: str) -> int:
    if not os.path.exists(store_path):
        return 0
    conn = sqlite3.connect(store_path, timeout=30)
    try:
        return int(conn.execute("SELECT count(*) FROM jobs").fetchone()[0])
    except sqlite3.DatabaseError:
        return -1
    finally:
        conn.close()


def dir_entries(path: str) -> int:
    try:
        return len(os.listdir(path))
    except FileNotFoundError:
        return 0


@dataclass
class Snapshot:
    slurm: set[str]
    runs: set[str]
    rows: int
    job_dirs: int


def snapshot(*, jobs_dir: str, store_path: str, project_root: str) -> Snapshot:
    return Snapshot(
        slurm=slurm_jobs_under(jobs_dir),
        runs=mlflow_runs_under(project_root),
        rows=store_rows(store_path),
        job_dirs=dir_entries(jobs_dir),
    )


# ------------------------------------------------------------------------------------------ a real server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class JupyterServer:
    """``jupyter server`` with the extension (and the loop-lag meter) as a subprocess, token auth."""

    def __init__(self, root: Path, state: Path, *, extra_manager: dict[str, Any] | None = None) -> None:
        self.root = root
        self.state = state
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = state / "server.log"
        self.manager = state_traits(
            state, "slurm", tracking_uri=TRACKING_URI, poll_interval=1.0, **(extra_manager or {})
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def start(self, timeout: float = 90) -> None:
        cfg = self.state / "config"
        cfg.mkdir(parents=True, exist_ok=True)
        config = {
            "ServerApp": {
                "jpserver_extensions": {"jupyter_mltf": True, "tests.robustness.loopmon": True},
                "token": self.token,
                "port": self.port,
                "port_retries": 0,
                "ip": "127.0.0.1",
                "open_browser": False,
                "root_dir": str(self.root),
            },
            "IdentityProvider": {"token": self.token},
            "MLTFManager": self.manager,
        }
        (cfg / "jupyter_server_config.json").write_text(json.dumps(config))
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(cfg),
            "JUPYTER_RUNTIME_DIR": str(self.state / "runtime"),
            "JUPYTER_DATA_DIR": str(self.state / "data"),
            "PYTHONPATH": os.pathsep.join(p for p in [os.environ.get("PYTHONPATH", ""), str(HERE.parent.parent)] if p),
            "MLTF_LOOPMON_FILE": str(self.state / "loop.json"),
        }
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server", "--no-browser"],
            cwd=str(self.root),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"jupyter server exited {self.proc.returncode}:\n{self.tail()}")
            try:
                req = urllib.request.Request(f"{self.url}/mltf/api/health", headers=self.headers)
                with urllib.request.urlopen(req, timeout=3) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"jupyter server did not answer in {timeout} s:\n{self.tail()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.proc = None

    def tail(self, lines: int = 60) -> str:
        try:
            return "".join(self.log_path.read_text(errors="replace").splitlines(True)[-lines:])
        except OSError:
            return ""

    def loop_lag(self, reset: bool = False) -> dict[str, Any]:
        url = f"{self.url}/mltf-test/loop" + ("?reset=1" if reset else "")
        with urllib.request.urlopen(urllib.request.Request(url, headers=self.headers), timeout=10) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]


def scancel(ids: list[str] | set[str]) -> None:
    ids = sorted(i for i in ids if i)
    for k in range(0, len(ids), 200):
        subprocess.run(["scancel", *ids[k : k + 200]], capture_output=True, timeout=60)


def ctl(action: str, daemon: str) -> None:
    subprocess.run(["sudo", "-n", CTL, action, daemon], check=True, capture_output=True, timeout=240)


def slurm_answers() -> bool:
    try:
        return subprocess.run(["sinfo", "-h", "-o", "%a"], capture_output=True, timeout=10).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def mlflow_answers() -> bool:
    try:
        with urllib.request.urlopen(f"{TRACKING_URI}/health", timeout=3):
            return True
    except OSError:
        return False


