"""What the entry point (or a sweep trial) runs with: its interpreter's bin dir and its environment."""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path

from ..contract import ContractError, RunnerSpec
from ..envbuild import BuiltEnv, ensure_env
from ..envspec import EnvRequest, declared_env
from ..pythons import PythonFound
from .joblog import say


def project_env(spec: RunnerSpec, workdir: str) -> BuiltEnv | None:
    """The project's declared env: built at submit (a cache hit here), or built now (build_on "node", or the
    cached env was pruned since); None for jobs that run in the notebook's env."""
    request = _declared(spec, workdir)
    if request is None:
        return None
    if not spec.envs_dir:
        raise ContractError("the job spec names a project environment but no envs_dir: the job dir is damaged")
    python = PythonFound(path=spec.env_python or spec.python, version=spec.env_python_version or "", note=None)
    t0 = time.monotonic()
    built = ensure_env(
        request, python, spec.envs_dir, uv_cache_dir=spec.uv_cache_dir,
        extra_requirements=tuple(spec.extra_requirements or ()), say=say,
    )
    state = "built" if built.built_now else "cached"
    say(f"project env ({state}, {time.monotonic() - t0:.1f}s): Python {built.python_version}, {built.path}")
    return built


def _declared(spec: RunnerSpec, workdir: str) -> EnvRequest | None:
    if spec.env_request is not None:
        return EnvRequest.from_dict(spec.env_request)
    if spec.env_manager == "project" and spec.env_spec:  # a job queued by a release before env_request
        return declared_env(Path(workdir), spec.env_spec)
    return None


def entry_point_bin_dir(spec: RunnerSpec, workdir: str) -> str:
    """Where the entry point's ``python`` comes from: the project's env, or the notebook's."""
    built = project_env(spec, workdir)
    return built.bin_dir if built else os.path.dirname(spec.python or sys.executable)


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
