"""The ipywidgets panel without a browser, against the real stack: form from a real MLproject and the
cluster's partitions, Submit creates a real Slurm job, the table follows it to COMPLETED, cancel works, and
the background refresh never blocks the kernel."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ipywidgets as w
import pytest

from jupyter_mltf.api import Client
from jupyter_mltf.models import Job, JobState
from jupyter_mltf.widgets import JobStatusLine, SubmitPanel, metrics_svg, state_html

pytestmark = [pytest.mark.slurm]


@pytest.fixture
def panels() -> Iterator[list[SubmitPanel]]:
    made: list[SubmitPanel] = []
    yield made
    for panel in made:
        panel.close()


def eventually(check: Callable[[], Any], timeout: float = 180, what: str | Callable[[], str] = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what() if callable(what) else what}"
        time.sleep(0.5)


def test_panel_builds_from_the_mlproject_and_the_cluster(client: Client, iris: Path,
                                                         panels: list[SubmitPanel]) -> None:
    panel = SubmitPanel(iris, client=client, autostart=False)
    panels.append(panel)
    assert panel.directory.value == str(iris)
    assert panel.entry_point.options == ("main",)
    fields = {name: widget for name, widget in panel._param_widgets.items()}
    assert isinstance(fields["C"], w.FloatText) and fields["C"].value == 1.0
    assert isinstance(fields["max_iter"], w.IntText) and fields["max_iter"].value == 200
    # bounded by what the cluster reports
    assert panel.partition.value == "gpu"
    assert "2 GPU(s)/node" in panel.limits.value
    assert ("fake_a100", "fake_a100") in panel.gpu_type.options
    assert "at most 08:00:00" in panel.limits.value
    panel.gpus.value = 9  # not clamped: the core's own check refuses it, and the GPUs input is marked
    error = panel.check()
    assert error is not None and error.field == "resources.gpus" and "at most 2" in error.message
    assert panel.marks.marked == "resources.gpus"
    panel.gpus.value = 2
    assert panel.check() is None and panel.marks.marked is None
    # preview of files and size
    assert re.search(r"\d+ files, [\d.]+ K?B", panel.preview_html.value), panel.preview_html.value
    assert panel.params() == {"C": 1.0, "max_iter": 200, "test_size": 0.25, "seed": 0}
    res = panel.resources()
    assert res["partition"] == "gpu" and res["gpus"] == 2 and res["nodes"] == 1
    assert panel.last_error is None


def test_submit_runs_a_real_job_to_completed(client: Client, iris: Path, panels: list[SubmitPanel]) -> None:
    panel = SubmitPanel(iris, client=client, poll_interval=1.0)
    panels.append(panel)
    panel._param_widgets["C"].value = 0.5
    panel.gpus.value = 0
    panel.time.value = "00:10:00"
    panel.submit_button.click()  # submits on a thread
    job: Job = eventually(lambda: panel.last_job, 60, "the submission")
    assert panel.last_error is None, panel.last_error
    assert job.params["C"] == "0.5"
    assert "submitted" in panel.message.value
    # the panel's own poller brings the row to COMPLETED; the test only looks
    eventually(lambda: job.id in panel.rows, 30, "the row")
    row = panel.rows[job.id]
    eventually(lambda: row.state_value == "COMPLETED", 180, "COMPLETED")
    assert "COMPLETED" in row.state.value and "#2e7d32" in row.state.value  # green
    assert row.cancel.disabled is True
    assert "MLflow run" in row.link.value and job.run_id in row.link.value
    # the selected job's log and metrics
    assert panel.selected == job.id
    eventually(lambda: "accuracy=" in panel.log_view.value, 30, "the log tail")
    eventually(lambda: "<svg" in panel.metrics_view.value and "accuracy" in panel.metrics_view.value, 30,
               "the metrics plot")


def test_cancel_button(client: Client, sleeper: Path, panels: list[SubmitPanel]) -> None:
    panel = SubmitPanel(sleeper, client=client, poll_interval=1.0)
    panels.append(panel)
    assert panel.entry_point.value == "main"  # proposed: runs sleep.py
    panel.partition.value = "cpu"
    panel.time.value = "00:10:00"
    handle = panel.submit()
    assert handle is not None, panel.last_error
    row = eventually(lambda: panel.rows.get(handle.id), 30, "the row")
    eventually(lambda: row.state_value == "RUNNING", 120, "RUNNING")
    assert row.cancel.disabled is False
    row.cancel.click()
    eventually(lambda: row.state_value == "CANCELLED", 60, "CANCELLED")
    assert row.cancel.disabled is True


def test_errors_show_in_the_panel(client: Client, iris: Path, tmp_path: Path, panels: list[SubmitPanel]) -> None:
    panel = SubmitPanel(iris, client=client, autostart=False)
    panels.append(panel)
    panel.time.value = "99:00:00"
    assert panel.submit() is None
    assert "08:00:00" in (panel.last_error or "")
    assert "color:#b00020" in panel.message.value and "08:00:00" in panel.message.value
    assert panel.marks.marked == "resources.time"  # the input the error is about (MLTFError.field)
    panel.time.value = ""
    panel._param_widgets["C"].value = float("nan")
    assert panel.submit() is None
    assert "'C'" in (panel.last_error or "")
    assert panel.marks.marked == "params.C"
    panel.load(str(tmp_path / "missing"))
    assert "does not exist" in (panel.last_error or "") and panel.entry_point.options == ()
    assert panel.marks.marked == "path"


def test_refresh_does_not_block_the_kernel(client: Client, iris: Path, panels: list[SubmitPanel]) -> None:
    """While the panel's poll is stuck inside a cluster call, a cell still runs at once."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        entered, release = threading.Event(), threading.Event()
        real_jobs = client.jobs

        def slow_jobs(refresh: bool = True) -> list[Job]:
            entered.set()
            release.wait(30)
            return real_jobs(refresh)

        client.jobs = slow_jobs  # type: ignore[method-assign]
        shell.user_ns["client"] = client
        shell.user_ns["project"] = str(iris)
        result = shell.run_cell("from jupyter_mltf import SubmitPanel\npanel = SubmitPanel(project, client=client)")
        assert result.success, result.error_in_exec
        panel = shell.user_ns["panel"]
        panels.append(panel)
        assert entered.wait(10), "the poller never polled"
        started = time.monotonic()
        result = shell.run_cell("x = 6 * 7")
        assert result.success and shell.user_ns["x"] == 42
        panel.select_job("some-job")  # what a click on a row does, on the kernel's thread
        assert time.monotonic() - started < 1.0
        assert not release.is_set() and panel.poller.ticks == 0  # the poll was still in flight meanwhile
        release.set()
        eventually(lambda: panel.poller.ticks >= 1, 30, "the poll to finish")
        assert panel.poller.thread.daemon and panel.poller.running
        panel.stop()
        eventually(lambda: not panel.poller.thread.is_alive(), 30, "the poller to stop")
    finally:
        InteractiveShell.clear_instance()


def test_status_line_follows_a_job(client: Client, iris: Path) -> None:
    handle = client.submit(str(iris), resources={"partition": "cpu", "time": "00:10:00"})
    assert not isinstance(handle, dict) and hasattr(handle, "job")
    line = JobStatusLine(handle, interval=1.0)  # type: ignore[arg-type]
    try:
        assert handle.id in line.value
        eventually(lambda: "COMPLETED" in line.value, 180,
                   lambda: f"COMPLETED in the status line: {line.value} {line.error}")
        eventually(lambda: not line.poller.thread.is_alive(), 10, "the status poller to stop")
        assert "MLflow run" in line.value
    finally:
        line.close()


def test_render_helpers() -> None:
    assert "#b00020" in state_html(JobState.FAILED) and "#2e7d32" in state_html("COMPLETED")
    svg = metrics_svg({"loss": [[0, 1.0, 0], [1, 0.5, 0], [2, 0.25, 0]], "empty": []})
    assert svg.count("<svg") == 1 and "loss: 0.25" in svg
    assert "no metrics" in metrics_svg({})


def test_panel_hides_what_the_backend_cannot_do(tmp_path: Path, iris: Path) -> None:
    state = tmp_path / "local-state"
    local = Client(backend="local", store_path=str(state / "jobs.sqlite"), jobs_dir=str(state / "jobs"),
                   archives_dir=str(state / "archives"))
    panel = SubmitPanel(iris, client=local, autostart=False)
    try:
        assert not panel.capability("gpus") and not panel.capability("partitions")
        assert panel.gpus.layout.display == "none" and panel.gpu_type.layout.display == "none"
        assert panel.partition.layout.display == "none"
        assert panel.cpus.layout.display is None and panel.time.layout.display is None  # only those
        assert "partition" not in panel.resources()
    finally:
        panel.close()
        local.close()


def test_sweep_from_the_panel_shows_its_trials(client: Client, iris: Path, panels: list[SubmitPanel]) -> None:
    panel = SubmitPanel(iris, client=client, autostart=False)
    panels.append(panel)
    panel.partition.value = "cpu"
    panel.sweep.value = "objective: {metric: nope: x}"
    assert panel.submit() is None and "not valid YAML" in (panel.last_error or "")
    panel.sweep.value = (
        "objective: {metric: accuracy, direction: maximize}\ntrials: 4\nparallelism: 2\n"
        "parameters:\n  C: {type: float, low: 0.01, high: 10, log: true}\n"
    )
    handle = panel.submit()
    assert handle is not None, panel.last_error
    assert handle.job.sweep and handle.job.sweep["tasks"] == 2
    handle.wait(400)
    panel.refresh()
    row = panel.rows[handle.id]
    assert "sweep: 4 trials" in row.name.value and "COMPLETED" in row.state.value
    panel.select_job(handle.id)
    panel.refresh()
    view = panel.trials_view.value
    assert "4 of 4 trials started" in view and "best accuracy" in view and "<svg" in view
