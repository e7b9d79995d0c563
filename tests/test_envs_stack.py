"""Declared environments on the real stack (issue 13): the exact Python and packages a project declares,
built at submit with uv, recorded on the run; refused at submit when they cannot be had."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jupyter_mltf.errors import MLTFError, ProjectError
from jupyter_mltf.models import JobState

from .conftest import mlflow_run

pytestmark = [pytest.mark.slurm]

PRINT_VERSIONS = (
    "import sys, numpy\n"
    "print('python', '.'.join(map(str, sys.version_info[:3])), 'numpy', numpy.__version__, flush=True)\n"
)
NUMPY_ENV = 'python: "3.10"\ndependencies:\n  - numpy==1.26.0\n'


def _project(root: Path, files: dict[str, str]) -> Path:
    root.mkdir()
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def _artifact_text(run_id: str, path: str) -> str:
    from mlflow.artifacts import download_artifacts

    local = download_artifacts(run_id=run_id, artifact_path=path)
    return Path(local).read_text(encoding="utf-8")


def test_declared_python_and_packages_are_the_ones_used(client: Any, tmp_path: Path) -> None:
    root = _project(tmp_path / "pinned", {"train.py": PRINT_VERSIONS, "python_env.yaml": NUMPY_ENV})
    check = client.check(str(root), resources={"partition": "cpu"})
    assert check.env.used == "project" and check.env.python.version.startswith("3.10."), check.env
    handle = client.submit(str(root), resources={"partition": "cpu"})
    job = handle.wait(300)
    log = handle.logs()
    assert job.state is JobState.COMPLETED, log
    assert "python 3.10." in log and "numpy 1.26.0" in log, log
    run = mlflow_run(handle.run_id)
    tags = run.data.tags
    assert tags["mltf.env"] == "project" and tags["mltf.python.requested"] == "3.10", tags
    assert tags["mltf.python.used"].startswith("3.10.") and tags["mltf.env_hash"], tags
    assert "numpy==1.26.0" in _artifact_text(handle.run_id, "environment/requirements.lock.txt")


def test_a_project_without_an_env_runs_in_the_notebook_env(client: Any, tmp_path: Path) -> None:
    root = _project(tmp_path / "plain", {"train.py": "import mlflow, sys\nprint('exe', sys.executable)\n"})
    assert client.check(str(root), resources={"partition": "cpu"}).env.used == "notebook"
    handle = client.submit(str(root), resources={"partition": "cpu"})
    assert handle.wait(300).state is JobState.COMPLETED, handle.logs()
    assert mlflow_run(handle.run_id).data.tags["mltf.env"] == "notebook"
    assert "mlflow" in _artifact_text(handle.run_id, "environment/requirements.lock.txt").lower()


@pytest.mark.parametrize(
    ("env_file", "words"),
    [
        ('python: "3.99"\ndependencies: []\n', ["3.99", "3.10"]),  # the versions that exist are listed
        ("python: \"3.10\"\ndependencies:\n  - six==99.0\n", ["six"]),  # the resolver's own words
        ('python: "3.10"\ndependencies:\n  - no-such-package-mltf==1.0\n', ["no-such-package-mltf"]),
    ],
)
def test_an_env_that_cannot_be_had_is_refused_at_submit(
    client: Any, tmp_path: Path, manager_traits: dict[str, Any], env_file: str, words: list[str]
) -> None:
    root = _project(tmp_path / "bad", {"train.py": "print(1)\n", "python_env.yaml": env_file})
    with pytest.raises(MLTFError) as info:
        client.submit(str(root), resources={"partition": "cpu"})
    assert isinstance(info.value, ProjectError) and info.value.field == "env_manager", info.value
    for word in words:
        assert word in info.value.message, info.value.message
    jobs_dir = Path(manager_traits["jobs_dir"])
    assert not jobs_dir.exists() or not any(jobs_dir.iterdir()), "a job directory was made"
