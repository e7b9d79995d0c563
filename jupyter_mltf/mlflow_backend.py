"""``mlflow run -b mltf <project> --backend-config cfg.json``: the same core as an MLflow project backend.

``cfg.json`` holds resources (gpus, gpu_type, partition, time, mem, cpus, nodes, account, qos, or the
gateway_config.json spellings) and optionally ``"backend"`` (slurm, local, gateway) and ``"env_manager"``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from mlflow.projects.backend.abstract_backend import AbstractBackend
from mlflow.projects.submitted_run import SubmittedRun

from .errors import InvalidRequest
from .models import JobState

_OWN_KEYS = ("backend", "env_manager", "launcher", "name")
_MLFLOW_KEYS = ("ENV_MANAGER", "SYNCHRONOUS", "DOCKER_ARGS", "STORAGE_DIR", "build_image", "docker_auth")


class MLTFSubmittedRun(SubmittedRun):  # type: ignore[misc]
    def __init__(self, handle: Any) -> None:
        self._handle = handle

    @property
    def run_id(self) -> str:
        return str(self._handle.run_id)

    def wait(self) -> bool:
        try:
            job = self._handle.wait()
        except KeyboardInterrupt:
            self._handle.cancel()
            raise
        return bool(job.state is JobState.COMPLETED)

    def get_status(self) -> str:
        state = JobState(self._handle.status)
        if state.is_terminal:
            return state.mlflow_status or "FAILED"
        return "RUNNING" if state in (JobState.RUNNING, JobState.COMPLETING) else "SCHEDULED"

    def cancel(self) -> None:
        self._handle.cancel()


class MLTFProjectBackend(AbstractBackend):  # type: ignore[misc]
    def run(
        self,
        project_uri: str,
        entry_point: str,
        params: dict[str, Any],
        version: str | None,
        backend_config: dict[str, Any] | str | None,
        tracking_uri: str | None,
        experiment_id: str | None,
    ) -> MLTFSubmittedRun:
        from mlflow.tracking import MlflowClient

        from .api import Client

        if version:
            raise InvalidRequest("the mltf backend runs local project directories; check out the version first")
        path = project_uri[len("file://") :] if project_uri.startswith("file://") else project_uri
        if "://" in path or not os.path.isdir(path):
            raise InvalidRequest(f"{project_uri!r} is not a local directory: the mltf backend ships local projects")
        config: dict[str, Any] = {}
        if isinstance(backend_config, str):
            with open(backend_config, encoding="utf-8") as fh:
                config = json.load(fh)
        elif backend_config:
            config = dict(backend_config)
        own = {k: config.pop(k) for k in _OWN_KEYS if k in config}
        # MLflow adds its own upper-case keys (ENV_MANAGER, SYNCHRONOUS, STORAGE_DIR, DOCKER_ARGS...)
        mlflow_keys = {k: config.pop(k) for k in list(config) if k in _MLFLOW_KEYS}
        env_manager = mlflow_keys.get("ENV_MANAGER")
        if env_manager and "env_manager" not in own:
            own["env_manager"] = "notebook" if env_manager == "local" else "project"
        traits: dict[str, Any] = {}
        if own.get("backend"):
            traits["backend"] = own["backend"]
        if tracking_uri:
            traits["tracking_uri"] = tracking_uri
        experiment = None
        if experiment_id and str(experiment_id) != "0":
            experiment = MlflowClient(tracking_uri=tracking_uri).get_experiment(str(experiment_id)).name
        handle = Client(**traits).submit(
            path,
            entry_point=entry_point,
            params=params,
            resources=config,
            experiment=experiment,
            env_manager=own.get("env_manager"),
            launcher=own.get("launcher"),
            name=own.get("name"),
        )
        return MLTFSubmittedRun(handle)


def backend_builder() -> MLTFProjectBackend:
    return MLTFProjectBackend()
