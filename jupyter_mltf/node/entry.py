"""What the entry point (or a sweep trial) runs with: its interpreter's bin dir and its environment."""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path

from ..contract import ContractError, RunnerSpec
from .envs import ensure_env
from .joblog import say


def entry_point_bin_dir(spec: RunnerSpec, workdir: str) -> str:
    """Where the entry point's ``python`` comes from: the notebook's env, or the project's cached env."""
    bin_dir = os.path.dirname(spec.python or sys.executable)
    if spec.env_manager == "project" and spec.env_spec:
        if not spec.envs_dir:
            raise ContractError("the job spec names a project environment but no envs_dir: the job dir is damaged")
        t0 = time.monotonic()
        bin_dir, built = ensure_env(Path(workdir) / spec.env_spec, spec.envs_dir, spec.python)
        say(("built" if built else "reusing cached") + f" project env in {time.monotonic() - t0:.1f}s: {bin_dir}")
    return bin_dir


def child_env(spec: RunnerSpec, bin_dir: str, token: str | None) -> dict[str, str]:
    """The entry point's environment: the job's MLflow run (``spec.run_id``), no other run's settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_EXPERIMENT_NAME", "MLFLOW_TRACKING_TOKEN")}
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "/usr/bin:/bin")
    env["PYTHONUNBUFFERED"] = "1"
    env["MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"] = "false"  # the runner logs them, once per node
    if spec.tracking_uri:
        env["MLFLOW_TRACKING_URI"] = spec.tracking_uri
    if spec.run_id:
        env["MLFLOW_RUN_ID"] = spec.run_id
    if spec.experiment_id:
        env["MLFLOW_EXPERIMENT_ID"] = spec.experiment_id
    if token:
        env["MLFLOW_TRACKING_TOKEN"] = token
    if spec.params_file:
        env["MLTF_PARAMS_FILE"] = spec.params_file  # parameters without the command line (seen in ps)
    env["MLTF_JOB_ID"] = spec.job_id
    return env


def for_run(spec: RunnerSpec, run_id: str) -> RunnerSpec:
    """The same spec for another MLflow run (a sweep trial's child run)."""
    return dataclasses.replace(spec, run_id=run_id)
