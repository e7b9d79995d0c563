"""Shared fixtures: the real stack (skipped cleanly where it is not up), example projects, isolated managers."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# the source tree may not be writable by the test user: keep hypothesis' example database in memory
settings.register_profile("mltf", database=None, deadline=None)
settings.load_profile("mltf")

TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")


def missing(why: str) -> None:
    """A real component a test needs is not there: skip on a developer's machine, fail in CI (where the
    scripts must have brought it up), so a missing hub or browser can never pass CI as a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must have this: {why}", pytrace=False)
    pytest.skip(why)


def _stack_up() -> str | None:
    if shutil.which("sbatch") is None:
        return "Slurm is not installed here (scripts/stack/up.sh brings it up)"
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%a"], capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return "slurmctld does not answer"
    if out.returncode != 0:
        return "slurmctld is not running (scripts/stack/up.sh)"
    try:
        urllib.request.urlopen(f"{TRACKING_URI}/health", timeout=5)
    except OSError:
        return f"MLflow server at {TRACKING_URI} is not running"
    return None


@pytest.fixture(scope="session")
def stack() -> str:
    """The real one-host Slurm + MLflow stack; tests that need it are skipped where it is not up."""
    why = _stack_up()
    if why:
        missing(why)
    return TRACKING_URI


TRAIN_PY = textwrap.dedent(
    """\
    import argparse, os, sys, time
    import mlflow

    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--fail", type=int, default=0)
    args = parser.parse_args()
    print("CUDA_VISIBLE_DEVICES=" + os.environ.get("CUDA_VISIBLE_DEVICES", ""), flush=True)
    for epoch in range(args.epochs):
        mlflow.log_metric("loss", args.lr / (epoch + 1), step=epoch)
        print(f"epoch {epoch}", flush=True)
        time.sleep(args.sleep)
    if args.fail:
        print("failing on purpose", flush=True)
        sys.exit(3)
    mlflow.log_metric("accuracy", 0.9)
    print("training done", flush=True)
    """
)

MLPROJECT = textwrap.dedent(
    """\
    name: tiny
    entry_points:
      main:
        parameters:
          lr: {type: float, default: 0.1}
          epochs: {type: int, default: 2}
          sleep: {type: float, default: 0}
          fail: {type: int, default: 0}
        command: "python train.py --lr {lr} --epochs {epochs} --sleep {sleep} --fail {fail}"
      other:
        parameters:
          word: {type: string, default: hello}
        command: "echo said {word}"
    """
)


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str = "proj", *, mlproject: bool = True, files: dict[str, str] | None = None) -> Path:
        root = tmp_path / name
        root.mkdir()
        (root / "train.py").write_text(TRAIN_PY)
        if mlproject:
            (root / "MLproject").write_text(MLPROJECT)
        for rel, text in (files or {}).items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return root

    return make


#: one uv download cache for the whole run (envs stay per test): a second build of a spec copies, not downloads
TEST_UV_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "mltf-test-uv")


def state_traits(state: Path, backend: str, **traits: Any) -> dict[str, Any]:
    """MLTFManager settings that keep a test's store, jobs and archives under ``state``."""
    return {
        "backend": backend,
        "store_path": str(state / "jobs.sqlite"),
        "jobs_dir": str(state / "jobs"),
        "archives_dir": str(state / "archives"),
        "uv_cache_dir": TEST_UV_CACHE,
        **traits,
    }


def server_config(state: Path, backend: str, **traits: Any) -> dict[str, Any]:
    """A jupyter server with the extension on, its jobs, archives and store under ``state``."""
    manager = state_traits(state, backend, **traits)
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mltf": True}}, "MLTFManager": manager}


@pytest.fixture
def manager_traits(tmp_path: Path) -> dict[str, Any]:
    """Settings that keep a test's jobs, archives and store in its own directory."""
    return {
        "jobs_dir": str(tmp_path / "mltf" / "jobs"),
        "archives_dir": str(tmp_path / "mltf" / "archives"),
        "store_path": str(tmp_path / "mltf" / "jobs.sqlite"),
        "uv_cache_dir": TEST_UV_CACHE,
        "tracking_uri": TRACKING_URI,
        "poll_interval": 0.5,
    }


@pytest.fixture
def client(stack: str, manager_traits: dict[str, Any]) -> Iterator[Any]:
    from jupyter_mltf.api import Client

    c = Client(backend="slurm", **manager_traits)
    yield c
    for job in c.jobs(refresh=False):  # only this test's jobs: others of the same user may be running
        if not job.state.is_terminal and (job.job_dir or "").startswith(manager_traits["jobs_dir"]):
            try:
                c.cancel(job.id)
            except Exception:
                pass
    c.close()


EXAMPLES = Path(__file__).resolve().parent.parent / "notebooks"


@pytest.fixture
def iris(tmp_path: Path) -> Path:
    """A copy of the scikit-learn example project."""
    return Path(shutil.copytree(EXAMPLES / "sklearn-iris", tmp_path / "iris"))


@pytest.fixture
def sleeper(tmp_path: Path) -> Path:
    """A directory without an MLproject whose script sleeps for five minutes (for cancel tests)."""
    target = tmp_path / "sleeper"
    target.mkdir()
    (target / "sleep.py").write_text("import time\nprint('sleeping', flush=True)\ntime.sleep(300)\n")
    return target


def wait_until(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Poll ``check`` until it returns something truthy (returned); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def mlflow_run(run_id: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=TRACKING_URI).get_run(run_id)
