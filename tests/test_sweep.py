"""Sweeps: validation (unit) and a real Slurm job array with Optuna trials as MLflow child runs."""

import time

import pytest

from jupyter_mltf.errors import InvalidRequest
from jupyter_mltf.models import JobState
from jupyter_mltf.project import load_project
from jupyter_mltf.sweep import parse_sweep

from .conftest import TRACKING_URI, mlflow_run

SWEEP = {
    "objective": {"metric": "loss", "direction": "minimize"},
    "trials": 12,
    "parallelism": 4,
    "parameters": {"lr": {"type": "float", "low": 0.01, "high": 1.0, "log": True}, "epochs": [1, 2]},
}


def test_parse_sweep(make_project):
    entry = load_project(make_project()).entry_point("main")
    sweep = parse_sweep(SWEEP, entry)
    assert sweep["tasks"] == 4 and sweep["parameters"]["epochs"]["type"] == "categorical"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"trials": 0}, "trials"),
        ({"parallelism": 13}, "parallelism"),
        ({"bogus": 1}, "unknown keys"),
        ({"parameters": {"nope": [1]}}, "not parameters"),
        ({"objective": {"metric": "x", "direction": "up"}}, "direction"),
        ({"parameters": {"lr": {"type": "float", "low": 1, "high": 0}}}, "low must be less"),
        ({"parameters": {"lr": {"type": "float", "low": 0, "high": 1, "log": True}}}, "log scale"),
        ({"objective": {"metric": "bad\nname"}}, "metric"),
    ],
)
def test_bad_sweeps(make_project, change, words):
    entry = load_project(make_project()).entry_point("main")
    with pytest.raises(InvalidRequest, match=words):
        parse_sweep({**SWEEP, **change}, entry)


def _children(parent_run):
    from mlflow.tracking import MlflowClient

    mc = MlflowClient(tracking_uri=TRACKING_URI)
    return mc.search_runs(
        [parent_run.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_run.info.run_id}'",
        max_results=100,
    )


@pytest.mark.slurm
def test_sweep_runs_as_one_array(client, make_project):
    handle = client.submit(str(make_project()), sweep=SWEEP, resources={"partition": "cpu"})
    script = open(f"{handle.job.job_dir}/job.sbatch").read()
    assert "#SBATCH --array=0-3%4" in script
    job = handle.wait(400)
    assert job.state is JobState.COMPLETED, handle.logs()[-3000:]
    parent = mlflow_run(handle.run_id)
    children = _children(parent)
    assert len(children) == 12
    assert {c.info.status for c in children} <= {"FINISHED", "KILLED", "FAILED"}
    assert parent.info.status == "FINISHED"
    assert "best_loss" in parent.data.metrics and "best.lr" in parent.data.params
    best = min(c.data.metrics["loss"] for c in children if "loss" in c.data.metrics and c.info.status == "FINISHED")
    assert parent.data.metrics["best_loss"] == pytest.approx(best)
    tasks = {c.data.tags["mltf.array_task"] for c in children}
    assert len(tasks) > 1  # trials really ran in parallel array tasks
    trials = client.sweep_trials(handle.id)
    assert len(trials) == 12 and trials[0]["trial"] == 0


@pytest.mark.slurm
def test_cancel_sweep_leaves_no_running_runs(client, make_project):
    slow = {**SWEEP, "parameters": {"sleep": {"type": "float", "low": 2, "high": 3}}, "trials": 8, "parallelism": 2}
    handle = client.submit(str(make_project()), sweep=slow, params={"epochs": 10}, resources={"partition": "cpu"})
    deadline = time.time() + 90
    while time.time() < deadline and "trial 0" not in handle.logs() and "trial 1" not in handle.logs():
        time.sleep(0.5)
    time.sleep(2)
    handle.cancel()
    job = handle.wait(60)
    assert job.state is JobState.CANCELLED
    deadline = time.time() + 30
    while time.time() < deadline:
        parent = mlflow_run(handle.run_id)
        statuses = [parent.info.status] + [c.info.status for c in _children(parent)]
        if "RUNNING" not in statuses and "SCHEDULED" not in statuses:
            break
        time.sleep(1)
    assert parent.info.status == "KILLED"
    assert "RUNNING" not in statuses and "SCHEDULED" not in statuses, statuses
