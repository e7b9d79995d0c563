"""Sweeps: validation (unit) and a real Slurm job array with Optuna trials as MLflow child runs."""

import time

import pytest

from jupyter_mltf.errors import InvalidRequest
from jupyter_mltf.models import JobState
from jupyter_mltf.project import load_project
from jupyter_mltf.sweep import MAX_SEED, load_sweep_file, parse_sweep

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


# issue 12: what Optuna, numpy or the entry point would refuse on the node is refused at submit
@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"lr": {"type": "float", "low": 0.01, "high": 1, "step": 0}}, "step must be more than zero"),
        ({"epochs": {"type": "int", "low": 1, "high": 5, "step": -2}}, "step must be more than zero"),
        ({"lr": {"type": "float", "low": 0.01, "high": 1, "log": True, "step": 0.1}}, "cannot have a step"),
        ({"epochs": {"type": "int", "low": 1, "high": 9, "log": True, "step": 2}}, "cannot have a step"),
        ({"lr": {"type": "float", "low": 0.1, "high": 1, "log": "yes"}}, "true or false"),
        ({"lr": {"type": "float", "low": 10**400, "high": 1}}, "401 digits"),  # was OverflowError
        ({"lr": {"type": "float", "low": "9" * 5000, "high": 1}}, "5000 characters"),
        ({"lr": {"type": "float", "low": 0, "high": float("nan")}}, "finite"),
        ({"lr": {"type": "float", "low": -1e308, "high": 1e308}}, "too large"),
        ({"lr": {"type": ["float"], "low": 0, "high": 1}}, "type must be"),  # was TypeError (unhashable)
        ({"epochs": {"type": "int", "low": 0.5, "high": 3}}, "whole number"),
        ({"epochs": {"type": "float", "low": 0, "high": 3}}, "use type int"),
        ({"epochs": ["one", "two"]}, "must be int"),
        ({"epochs": [1, 2.5]}, "must be int"),
        ({"lr": []}, "non-empty"),
        ({"lr": [0.1, "fast"]}, "mix strings and numbers"),
        ({"lr": [0.1, float("inf")]}, "finite"),
        ({"lr": [[0.1]]}, "strings or numbers"),
        ({"lr": [True]}, "strings or numbers"),
        ({"epochs": [1, 10**400]}, "at most 40 digits"),
    ],
    ids=lambda v: str(v)[:40] if not isinstance(v, dict) else ",".join(v),
)
def test_sweep_values_that_would_fail_on_the_node(make_project, change, words):
    entry = load_project(make_project()).entry_point("main")
    with pytest.raises(InvalidRequest, match=words):
        parse_sweep({**SWEEP, "parameters": change}, entry)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"seed": MAX_SEED + 1}, "seed must be between 0 and 4294967295"),
        ({"seed": -1}, "seed must be between 0"),
        ({"seed": 10**400}, "401 digits"),
        ({"seed": "9" * 5000}, "5000 characters"),
        ({"seed": 1.5}, "whole number"),
        ({"trials": 10**400}, "trials must be between 1"),
        ({"trials": True}, "trials must be a whole number"),
        ({"parallelism": 0}, "parallelism must be between 1 and 12"),
        ({"parameters": {"a;b": [1]}}, "not valid"),
        ({"objective": {"metric": "loss"}, "parameters": {"lr": [1]}, "a" * 10: {}}, "unknown keys"),
    ],
    ids=lambda v: ",".join(v) if isinstance(v, dict) else str(v)[:30],
)
def test_sweep_settings_bounded(make_project, change, words):
    entry = load_project(make_project()).entry_point("main")
    with pytest.raises(InvalidRequest, match=words):
        parse_sweep({**SWEEP, **change}, entry)


def test_sweep_accepts_typed_choices_and_seeds(make_project):
    entry = load_project(make_project()).entry_point("main")
    sweep = parse_sweep(
        {**SWEEP, "seed": MAX_SEED, "trials": "12", "parameters": {"epochs": {"type": "int", "low": 1, "high": 8,
                                                                              "log": True}, "lr": [0.1, 1]}},
        entry,
    )  # fmt: skip
    assert sweep["seed"] == MAX_SEED and sweep["trials"] == 12
    assert sweep["parameters"]["epochs"] == {"type": "int", "low": 1, "high": 8, "log": True}


def test_deep_sweeps_are_refused_without_recursion(make_project):
    entry = load_project(make_project()).entry_point("main")
    deep: list = ["a"]
    for _ in range(100_000):  # deeper than any repr() could print
        deep = [deep]
    for space in ({"lr": deep}, {"lr": [deep]}, {"lr": {"type": "float", "low": deep, "high": 1}}):
        with pytest.raises(InvalidRequest, match="'lr'"):
            parse_sweep({**SWEEP, "parameters": space}, entry)
    with pytest.raises(InvalidRequest, match="objective"):
        parse_sweep({**SWEEP, "objective": deep}, entry)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"trials: " + b"9" * 5000 + b"\n", "5000 characters"),  # was ValueError from PyYAML's int()
        (b"parameters: " + b"[" * 100000 + b"]" * 100000, "nested too deeply"),  # was RecursionError
        (b"parameters: &a [*a]\n", "contains itself"),
        (b"trials: 3\n# caf\xe9\n", "UTF-8"),
        (b"- a list\n", "mapping"),
        (b"x" * (1024 * 1024 + 10), "larger than"),
    ],
    ids=["big-int", "deep", "cycle", "latin1", "list", "huge-file"],
)
def test_hostile_sweep_files(tmp_path, content, words):
    path = tmp_path / "sweep.yaml"
    path.write_bytes(content)
    with pytest.raises(InvalidRequest, match=words):
        load_sweep_file(str(path))


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
