"""The env decision of the submission pipeline, without a cluster: which env, why, and when it is refused."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pytest

from jupyter_mltf.errors import ProjectError
from jupyter_mltf.models import Capabilities
from jupyter_mltf.pipeline import SubmitPipeline
from jupyter_mltf.project import load_project
from jupyter_mltf.submission import Settings


class _Backend:
    def __init__(self, builds_envs: bool) -> None:
        self._caps = Capabilities(builds_envs=builds_envs)

    def capabilities(self) -> Capabilities:
        return self._caps


def _pipeline(tmp_path: Path, builds_envs: bool = False) -> SubmitPipeline:
    settings = Settings(
        backend_name="gateway" if builds_envs else "slurm", jobs_dir=str(tmp_path / "jobs"),
        archives_dir=str(tmp_path / "archives"), tracking_uri=None, ui_url=None, python=sys.executable,
        env_manager="auto", python_search_paths=(), envs_dir=str(tmp_path / "envs"), uv_cache_dir=None,
        build_on="submit", experiment_name=None, max_project_bytes=1 << 20, warn_project_bytes=1 << 20,
        default_resources={}, idempotency_claim_timeout=60.0,
    )
    backend: Any = _Backend(builds_envs)
    return SubmitPipeline(settings, backend, store=None, resolve_dir=Path, partitions=None, log=logging.getLogger())  # type: ignore[arg-type]


def _project(tmp_path: Path, env: str | None) -> Any:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "train.py").write_text("print(1)\n")
    if env is not None:
        (root / "python_env.yaml").write_text(env)
    return load_project(root)


def test_no_declared_env_runs_in_the_notebook_env(tmp_path: Path) -> None:
    decision = _pipeline(tmp_path).decide_env(None, _project(tmp_path, None))
    assert decision.used == "notebook" and "declares no environment" in decision.why


def test_a_python_that_is_not_here_is_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ProjectError) as info:
        _pipeline(tmp_path).decide_env(None, _project(tmp_path, 'python: "3.99"\n'))
    assert info.value.field == "env_manager" and "3.99" in info.value.message


def test_notebook_policy_ignores_the_declared_env(tmp_path: Path) -> None:
    decision = _pipeline(tmp_path).decide_env("notebook", _project(tmp_path, 'python: "3.99"\n'))
    assert decision.used == "notebook"


def test_a_backend_that_builds_envs_itself_is_left_to_it(tmp_path: Path) -> None:
    """The gateway builds python_env.yaml on its side: nothing is looked up or refused here."""
    decision = _pipeline(tmp_path, builds_envs=True).decide_env(None, _project(tmp_path, 'python: "3.99"\n'))
    assert decision.used == "project" and decision.request is None and "gateway" in decision.why
