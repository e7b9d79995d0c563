"""The %mltf_* magics through a real IPython shell, against the real stack."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from jupyter_mltf.api import Client, JobHandle
from jupyter_mltf.magics import MLTFMagics

MAGICS = ("mltf_submit", "mltf_jobs", "mltf_logs", "mltf_cancel", "mltf_panel")

pytestmark = [pytest.mark.slurm]


@pytest.fixture
def shell(client: Client) -> Iterator[InteractiveShell]:
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "jupyter_mltf")
    sh.register_magics(MLTFMagics(sh, client=client))  # the same magics, on this test's isolated client
    yield sh
    InteractiveShell.clear_instance()


def run(shell: InteractiveShell, line: str, cell: str | None = None) -> Any:
    if cell is None:
        name, _, rest = line.partition(" ")
        return shell.run_line_magic(name, rest)
    name, _, rest = line.partition(" ")
    return shell.run_cell_magic(name, rest, cell)


def test_load_ext_registers_every_magic() -> None:
    sh = InteractiveShell.instance()
    try:
        sh.run_line_magic("load_ext", "jupyter_mltf")
        assert set(MAGICS) <= set(sh.magics_manager.magics["line"])
        assert "mltf_submit" in sh.magics_manager.magics["cell"]
    finally:
        InteractiveShell.clear_instance()


def test_submit_wait_follows_the_log_to_the_end(shell: InteractiveShell, iris: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    handle = run(shell, f"mltf_submit {iris} -P C=0.5 -P max_iter=300 --partition cpu --time 00:10:00 "
                        "--name iris-magic --wait")
    out = capsys.readouterr()
    assert isinstance(handle, JobHandle), out.err
    assert handle.job.state.value == "COMPLETED"
    assert "accuracy=" in out.out  # the job's own output, followed
    assert f"job {handle.id} COMPLETED" in out.out and "MLflow run: http://127.0.0.1:5000" in out.out
    assert handle.run_id and handle.mlflow_url and handle.run_id in handle.mlflow_url
    assert handle.job.name == "iris-magic" and handle.job.params["C"] == "0.5"
    assert "accuracy=" in handle.logs()
    assert out.err == ""

    # %mltf_jobs lists it; %mltf_logs prints its log, with -f to the end
    run(shell, "mltf_jobs")
    table = capsys.readouterr().out
    assert "STATE" in table and handle.id in table and "COMPLETED" in table
    run(shell, f"mltf_logs {handle.id}")
    assert "accuracy=" in capsys.readouterr().out
    run(shell, f"mltf_logs {handle.id} -f")
    out = capsys.readouterr()
    assert "accuracy=" in out.out and f"job {handle.id} COMPLETED" in out.out


def test_submit_returns_a_handle_at_once(shell: InteractiveShell, sleeper: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    handle = run(shell, f"mltf_submit {sleeper} -e sleep.py --partition cpu --time 00:10:00")
    assert isinstance(handle, JobHandle), capsys.readouterr().err
    assert time.monotonic() - started < 30
    assert handle.status in {"PENDING", "CONFIGURING", "RUNNING"}
    assert "JobStatusLine" in capsys.readouterr().out  # the live status widget was displayed
    run(shell, f"mltf_cancel {handle.id}")
    assert f"cancel requested for job {handle.id}" in capsys.readouterr().out
    assert handle.wait(timeout=60).state.value == "CANCELLED"


def test_interrupt_stops_following_not_the_job(shell: InteractiveShell, sleeper: Path, client: Client,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    following = threading.Event()
    real_follow = client.follow

    def spy(job_id: str, offset: int = 0, interval: float = 1.0) -> Iterator[str]:
        following.set()
        yield from real_follow(job_id, offset, interval)

    monkeypatch.setattr(client, "follow", spy)

    def interrupt() -> None:  # what Jupyter's "interrupt kernel" does: SIGINT to the kernel process
        if following.wait(60):
            time.sleep(3)
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    handle = run(shell, f"mltf_submit {sleeper} -e sleep.py --partition cpu --time 00:10:00 --wait")
    out = capsys.readouterr().out
    assert isinstance(handle, JobHandle)
    assert f"stopped following job {handle.id}; it keeps running" in out
    assert not handle.refresh().state.is_terminal  # the job goes on
    handle.cancel()
    assert handle.wait(timeout=60).state.value == "CANCELLED"


def test_cell_magic_runs_the_cell_body(shell: InteractiveShell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    notebook_dir = tmp_path / "analysis"
    notebook_dir.mkdir()
    (notebook_dir / "helpers.py").write_text("GREETING = 'hello from a helper module'\n")
    monkeypatch.chdir(notebook_dir)  # the notebook's directory
    body = "import sys\nfrom helpers import GREETING\nprint(GREETING, 'and from the cell', sys.argv[1:])\n"
    handle = run(shell, "mltf_submit --partition cpu --time 00:05:00 --wait", body)
    out = capsys.readouterr()
    assert isinstance(handle, JobHandle), out.err
    assert "hello from a helper module and from the cell" in out.out
    assert handle.job.state.value == "COMPLETED"
    assert handle.job.project_dir == str(notebook_dir)


def test_dry_run_submits_nothing(shell: InteractiveShell, iris: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(shell, f"mltf_submit {iris} -P C=2 --gpus 1 --gpu-type fake_a100 --time 00:20:00 --dry-run")
    out = capsys.readouterr().out
    assert result is None
    assert "dry run: nothing was submitted" in out and "#SBATCH" in out
    assert "--C 2" in out and "train.py" in out


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ("--gpus 9", ["gpus=9", "at most 2"]),
        ("--time 99:00:00", ["at most 08:00:00"]),
        ("-e nope", ["'nope'", "main"]),
        ("-P C=lots", ["'C'", "float"]),
    ],
)
def test_errors_are_one_line(shell: InteractiveShell, iris: Path, capsys: pytest.CaptureFixture[str],
                             options: str, words: list[str]) -> None:
    assert run(shell, f"mltf_submit {iris} {options}") is None
    err = capsys.readouterr().err
    assert err.startswith("MLTF error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in err


def test_debug_shows_the_traceback(shell: InteractiveShell, iris: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(shell, f"mltf_submit {iris} --gpus 9 --debug")
    err = capsys.readouterr().err
    assert "Traceback" in err and "ResourceError" in err and "MLTF error: gpus=9" in err


def test_unknown_job(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    for line in ("mltf_logs nosuchjob", "mltf_cancel nosuchjob"):
        run(shell, line)
        err = capsys.readouterr().err
        assert err.startswith("MLTF error: ") and "nosuchjob" in err and "Traceback" not in err


def test_usage_errors(shell: InteractiveShell, iris: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # values the core checks: one MLTF error line
    for options, words in (("-P novalue", "KEY=VALUE"), ("--gpus many", "whole number")):
        assert shell.run_cell(f"%mltf_submit {iris} {options}").success
        err = capsys.readouterr().err
        assert err.startswith("MLTF error: ") and words in err and "Traceback" not in err
    # malformed command lines: IPython's one-line UsageError
    result = shell.run_cell("%mltf_submit --env conda")
    assert "invalid choice" in str(result.error_in_exec)
    result = shell.run_cell("%mltf_logs")
    assert "job_id" in str(result.error_in_exec)
    result = shell.run_cell("%mltf_submit 'unclosed")
    assert "cannot split" in str(result.error_in_exec)
    err = capsys.readouterr().err
    assert "UsageError" in err and "Traceback" not in err
    assert shell.run_line_magic("mltf_submit", "--help") is None
    assert "--gpu-type" in capsys.readouterr().out


def test_panel_magic(shell: InteractiveShell, iris: Path) -> None:
    from jupyter_mltf.widgets import SubmitPanel

    panel = run(shell, f"mltf_panel {iris}")
    try:
        assert isinstance(panel, SubmitPanel)
        assert panel.entry_point.options == ("main",)
        assert panel.client is shell.magics_manager.registry["MLTFMagics"].client  # one client per shell
    finally:
        panel.close()
