"""`jupyter mltf --Section.trait=value ...`: every setting on the command line, as the README promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_mltf.cli import split_setting_args
from jupyter_mltf.errors import InvalidRequest


def test_settings_anywhere_on_the_line_become_config() -> None:
    rest, config = split_setting_args(
        ["--SlurmBackend.tasks_as_nodes=True", "submit", ".", "--MLTFManager.poll_interval=2.5", "-P", "lr=0.1"]
    )
    assert rest == ["submit", ".", "-P", "lr=0.1"]
    assert set(config) == {"SlurmBackend", "MLTFManager"}
    assert str(config.SlurmBackend.tasks_as_nodes) == "True"


@pytest.mark.parametrize(
    "arg, words",
    [
        ("--Nope.x=1", ["no settings section 'Nope'", "MLTFManager"]),
        ("--SlurmBackend.nope=1", ["SlurmBackend has no setting 'nope'"]),
        ("--SlurmBackend.tasks_as_nodes", ["needs a value", "--SlurmBackend.tasks_as_nodes=VALUE"]),
    ],
)
def test_unknown_or_incomplete_settings_are_refused_by_name(arg: str, words: list[str]) -> None:
    with pytest.raises(InvalidRequest) as info:
        split_setting_args([arg, "list"])
    for word in words:
        assert word in info.value.message


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    state = tmp_path / "state"
    traits = [
        "--MLTFManager.backend=local",
        f"--MLTFManager.store_path={state / 'jobs.sqlite'}",
        f"--MLTFManager.jobs_dir={state / 'jobs'}",
        f"--MLTFManager.archives_dir={state / 'archives'}",
    ]
    return subprocess.run([sys.executable, "-m", "jupyter_mltf.cli", *traits, *args], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)


def test_the_cli_uses_them(tmp_path: Path) -> None:
    done = _cli(tmp_path, "config")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["backend"] == "local"


def test_a_value_the_trait_refuses_is_one_error_line(tmp_path: Path) -> None:
    done = _cli(tmp_path, "--MLTFManager.poll_interval=often", "list")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "poll_interval" in lines[0], done.stderr
