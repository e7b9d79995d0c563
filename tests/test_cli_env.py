"""``--env auto|notebook|project`` on the CLI, the magic and a sweep submit, and the ``env`` block (which env,
why, the Python used) in the dry run and preview printouts; a stand-in client, no cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

from jupyter_mltf import cli
from jupyter_mltf.magics import MLTFMagics, submit_parser
from jupyter_mltf.submission import DryRun

PROJECT_ENV = {
    "policy": "auto", "used": "project", "why": "the project declares python_env.yaml (python 3.10.4, 2 packages)",
    "spec_file": "python_env.yaml", "python_requested": "3.10.4", "python_used": "3.10.13",
    "note": "3.10.4 asked, 3.10.13 used (newest 3.10.x)", "cached": False,
}
NOTEBOOK_ENV = {
    "policy": "auto", "used": "notebook", "why": "the project declares no environment", "spec_file": None,
    "python_requested": None, "python_used": None, "note": None, "cached": None,
}


class EnvDryRun(DryRun):
    """A dry run answer with the ``env`` block the server sends (None: an older server sends none)."""

    env_block: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["env"] = self.env_block
        return data


def dry_run(env: dict[str, Any] | None) -> EnvDryRun:
    result = EnvDryRun(script="#!/bin/bash\nrun", command="python train.py", files=["MLproject", "train.py"],
                       excluded=[], project={"notes": []}, resources={}, params={}, content_hash="ab" * 32,
                       total_bytes=10)
    result.env_block = env
    return result


class FakeClient:
    def __init__(self, env: dict[str, Any] | None) -> None:
        self.env = env
        self.submitted: list[dict[str, Any]] = []

    def submit(self, path: str, **options: Any) -> DryRun:
        self.submitted.append(options)
        return dry_run(self.env)

    def preview(self, path: str, notebook: str | None = None) -> Any:
        env = self.env

        class Answer:
            def to_dict(self) -> dict[str, Any]:
                return {"project": None, "warnings": [], "env": env,
                        "files": {"count": 0, "total_bytes": 0, "limit_bytes": 1, "largest": [], "excluded": []}}

        return Answer()


# -- the flag ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["auto", "notebook", "project"])
def test_the_cli_and_the_magic_take_each_policy(value: str) -> None:
    ns = cli.build_parser().parse_args(["submit", ".", "--env", value])
    assert cli.submit_options_from_args(ns)["env_manager"] == value
    assert cli.submit_options_from_args(submit_parser().parse_args(["--env", value]))["env_manager"] == value


def test_no_flag_leaves_it_to_the_server() -> None:
    assert cli.submit_options_from_args(cli.build_parser().parse_args(["submit", "."]))["env_manager"] is None


def test_an_unknown_policy_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["submit", ".", "--env", "conda"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'conda'" in err and "'auto', 'notebook', 'project'" in err
    with pytest.raises(UsageError) as usage:
        MLTFMagics._parse(submit_parser(), "--env conda")
    assert "invalid choice" in str(usage.value) and "\n" not in str(usage.value)


def test_a_sweep_submit_carries_the_policy(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("objective: {metric: loss, direction: minimize}\ntrials: 4\nparallelism: 2\n"
                     "parameters:\n  lr: {type: float, low: 0.001, high: 0.1}\n")
    ns = cli.build_parser().parse_args(["submit", ".", "--sweep", str(sweep), "--env", "project"])
    options = cli.submit_options_from_args(ns)
    assert options["env_manager"] == "project" and options["sweep"]["trials"] == 4


# -- the printouts -------------------------------------------------------------------------------------------


def test_the_summary_says_which_env_and_which_python() -> None:
    assert cli.env_summary(PROJECT_ENV) == (
        "project env: python_env.yaml, Python 3.10.13 (3.10.4 asked); built at submit")
    assert cli.env_summary({**PROJECT_ENV, "cached": True}) == (
        "project env: python_env.yaml, Python 3.10.13 (3.10.4 asked)")
    assert cli.env_summary(NOTEBOOK_ENV) == "notebook env: the project declares no environment"
    assert cli.env_summary(None) is None and cli.env_summary({"policy": "auto"}) is None
    details = cli.env_details(PROJECT_ENV)
    assert details[1:] == [f"why: {PROJECT_ENV['why']}", f"note: {PROJECT_ENV['note']}"]
    assert cli.env_details(NOTEBOOK_ENV) == ["notebook env: the project declares no environment"]


def test_the_cli_dry_run_prints_the_env(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient(PROJECT_ENV)
    monkeypatch.setattr(cli, "_client", lambda ns, settings: client)
    assert cli.run(["submit", ".", "--env", "project", "--dry-run"]) == 0
    assert client.submitted[-1]["env_manager"] == "project" and client.submitted[-1]["dry_run"] is True
    out = capsys.readouterr().out
    assert "# environment: project env: python_env.yaml, Python 3.10.13 (3.10.4 asked)" in out
    assert "#   note: 3.10.4 asked, 3.10.13 used (newest 3.10.x)" in out
    assert "#   why: the project declares python_env.yaml" in out


def test_the_cli_preview_prints_the_env(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli, "_client", lambda ns, settings: FakeClient(NOTEBOOK_ENV))
    assert cli.run(["preview", "."]) == 0
    assert "environment: notebook env: the project declares no environment" in capsys.readouterr().out


def test_an_older_server_without_env_prints_no_env(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli, "_client", lambda ns, settings: FakeClient(None))
    assert cli.run(["submit", ".", "--dry-run"]) == 0
    assert cli.run(["preview", "."]) == 0
    out = capsys.readouterr().out
    assert "environment" not in out and "# files (2" in out


def test_env_text_is_escaped(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env = {**PROJECT_ENV, "spec_file": "evil\x1b[31m.yaml", "why": "because\u202e"}
    monkeypatch.setattr(cli, "_client", lambda ns, settings: FakeClient(env))
    assert cli.run(["submit", ".", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out and "evil\\x1b[31m.yaml" in out


def test_the_magic_sends_the_policy_and_prints_the_env(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient(PROJECT_ENV)
    magics = MLTFMagics(None, client=client)  # type: ignore[arg-type]
    assert magics.mltf_submit("/tmp --env auto --dry-run") is None
    assert client.submitted[-1]["env_manager"] == "auto"
    out = capsys.readouterr().out
    assert "environment: project env: python_env.yaml, Python 3.10.13 (3.10.4 asked)" in out
    assert "  note: 3.10.4 asked, 3.10.13 used (newest 3.10.x)" in out
    magics.mltf_submit("/tmp --dry-run")
    assert "env_manager" not in client.submitted[-1]  # no flag: the server's default


def test_the_magic_dry_run_of_an_older_server(capsys: pytest.CaptureFixture[str]) -> None:
    magics = MLTFMagics(None, client=FakeClient(None))  # type: ignore[arg-type]
    magics.mltf_submit("/tmp --dry-run")
    out = capsys.readouterr().out
    assert "dry run: nothing was submitted" in out and "environment" not in out
