"""The typed contract with the compute node: RunnerSpec round trips, refuses what it cannot read, and the
runner ends a job whose spec it refuses with one ``[mltf]`` line and exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from jupyter_mltf.contract import SPEC_VERSION, ContractError, JobPaths, RunnerSpec

ROOT = Path(__file__).resolve().parent.parent


def _spec(**changes: object) -> RunnerSpec:
    values: dict[str, object] = dict(
        job_id="j1",
        name="train",
        project_name="proj",
        archive="/a/x.tar",
        content_hash="abc",
        command="python train.py --lr 0.1",
        entry_point="main",
        params={"lr": "0.1"},
        python=sys.executable,
        resources={"gpus": 2, "nodes": 1, "time": "01:00:00"},
        run_id="r1",
        sweep={"metric": "loss", "trials": 3},
        entry={"name": "main", "command": "python train.py --lr {lr}", "parameters": []},
    )
    values.update(changes)
    return RunnerSpec(**values)  # type: ignore[arg-type]


def _json(**changes: object) -> str:
    data = asdict(_spec())
    data.update(changes)
    return json.dumps(data)


def test_round_trip(tmp_path: Path) -> None:
    spec = _spec()
    assert RunnerSpec.from_json(spec.to_json()) == spec
    path = JobPaths(str(tmp_path)).spec
    spec.write(path)
    assert RunnerSpec.read(path) == spec and os.stat(path).st_mode & 0o777 == 0o600
    assert json.loads(spec.to_json())["version"] == SPEC_VERSION


def test_a_spec_from_before_versioning_is_version_1() -> None:
    data = json.loads(_json())
    del data["version"]
    data["unknown_later_key"] = 1  # what an older or newer writer adds is ignored
    assert RunnerSpec.from_json(json.dumps(data)).version == SPEC_VERSION


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (_json(version=SPEC_VERSION + 1), ["contract version 2", "reads version 1", "same release"]),
        (_json(version="1"), ["contract version '1'"]),
        ("{not json", ["not JSON", "damaged"]),
        ("[1, 2]", ["not an object"]),
        (
            json.dumps({k: v for k, v in json.loads(_json()).items() if k not in ("job_id", "archive")}),
            ["lacks archive, job_id"],
        ),
        (_json(job_id=7), ["job_id of the wrong type"]),
        (_json(params=["lr"]), ["params of the wrong type"]),
        (_json(stop_grace=True), ["stop_grace of the wrong type"]),
        (_json(run_id={"x": 1}), ["run_id of the wrong type"]),
    ],
)
def test_refused(text: str, words: list[str]) -> None:
    with pytest.raises(ContractError) as info:
        RunnerSpec.from_json(text)
    for word in words:
        assert word in str(info.value)


def test_a_grace_in_whole_seconds_is_a_float() -> None:
    assert RunnerSpec.from_json(_json(stop_grace=20)).stop_grace == 20


def test_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(ContractError, match="not UTF-8"):
        RunnerSpec.read(str(path))


def test_job_paths_name_every_file(tmp_path: Path) -> None:
    paths = JobPaths(str(tmp_path / "jobs" / "j1"))
    files = [
        paths.spec,
        paths.log,
        paths.result,
        paths.record,
        paths.token,
        paths.password,
        paths.params,
        paths.sweep_study,
    ]
    assert len(set(files)) == len(files) and all(os.path.dirname(f) == paths.job_dir for f in files)
    assert JobPaths.scratch_base(paths.job_dir) == str(tmp_path / "scratch")


@pytest.mark.parametrize("module", ["jupyter_mltf.runner", "jupyter_mltf.node.runner"])
@pytest.mark.parametrize(
    ("content", "words"),
    [
        (_json(version=99), ["contract version 99"]),
        ("{damaged", ["not JSON"]),
        (None, ["cannot read"]),
    ],
)
def test_runner_refuses_a_spec_it_cannot_read(
    tmp_path: Path, module: str, content: str | None, words: list[str]
) -> None:
    """One ``[mltf] error`` line in the job log, exit code 2, no traceback, the end in the result file."""
    paths = JobPaths(str(tmp_path))
    if content is not None:
        Path(paths.spec).write_text(content, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", module, paths.spec], capture_output=True, text=True, env=env, timeout=60
    )
    lines = (done.stdout + done.stderr).splitlines()
    assert done.returncode == 2, lines
    assert len(lines) == 1 and lines[0].startswith("[mltf] error: job refused: "), lines
    for word in words:
        assert word in lines[0]
    result = json.loads(Path(paths.result).read_text(encoding="utf-8"))
    assert (result["state"], result["exit_code"]) == ("FAILED", 2)
