"""The core against the real stack: Slurm jobs as a non-root user, tracked in a real MLflow server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from jupyter_mltf.errors import DuplicateSubmission, ProjectError, ResourceError
from jupyter_mltf.models import JobState

from .conftest import TRACKING_URI, mlflow_run

pytestmark = pytest.mark.slurm


def _wait_state(client, job_id, states, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.job(job_id)
        if job.state in states:
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} stayed {client.job(job_id).state}")


def test_gpu_job_completes_and_is_tracked(client, make_project):
    handle = client.submit(str(make_project()), params={"lr": 0.5}, resources={"gpus": 1, "time": "00:05:00"})
    assert handle.run_id and handle.mlflow_url.startswith("http://127.0.0.1:5000/#/experiments/")
    assert mlflow_run(handle.run_id).info.status in ("SCHEDULED", "RUNNING", "FINISHED")
    job = handle.wait(120)
    assert job.state is JobState.COMPLETED, handle.logs()
    run = mlflow_run(handle.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["lr"] == "0.5" and run.data.metrics["accuracy"] == 0.9
    tags = run.data.tags
    assert tags["mltf.slurm_job_id"] == job.native_id
    assert tags["mltf.cuda_visible_devices"] in ("0", "1")
    assert tags["mltf.partition"] == "gpu" and tags["mltf.content_hash"] == job.content_hash
    assert tags["mltf.nodes"] and tags["mltf.job_id"] == job.id
    log = handle.logs()
    assert f"CUDA_VISIBLE_DEVICES={tags['mltf.cuda_visible_devices']}" in log and "training done" in log


def test_failing_project_fails_run(client, make_project):
    handle = client.submit(str(make_project()), params={"fail": 1}, resources={"partition": "cpu"})
    job = handle.wait(120)
    assert job.state is JobState.FAILED and job.exit_code == 3
    assert mlflow_run(handle.run_id).info.status == "FAILED"
    assert "failing on purpose" in handle.logs()


def test_cancel_running_job_kills_run(client, make_project):
    handle = client.submit(str(make_project()), params={"epochs": 100, "sleep": 1})
    _wait_state(client, handle.id, {JobState.RUNNING})
    deadline = time.time() + 30
    while "epoch 0" not in handle.logs() and time.time() < deadline:
        time.sleep(0.3)
    started = time.time()
    handle.cancel()
    job = _wait_state(client, handle.id, {JobState.CANCELLED}, timeout=30)
    assert job.state is JobState.CANCELLED
    deadline = time.time() + 15
    while mlflow_run(handle.run_id).info.status != "KILLED" and time.time() < deadline:
        time.sleep(0.3)
    assert mlflow_run(handle.run_id).info.status == "KILLED"
    assert time.time() - started < 15


def test_log_offsets_grow_while_running(client, make_project):
    handle = client.submit(str(make_project()), params={"epochs": 6, "sleep": 1}, resources={"partition": "cpu"})
    _wait_state(client, handle.id, {JobState.RUNNING})
    chunks, offset = [], 0
    deadline = time.time() + 60
    while time.time() < deadline:
        chunk = client.logs(handle.id, offset)
        if chunk.text:
            chunks.append((client.job(handle.id).state, chunk.text))
            assert chunk.offset == offset and chunk.next_offset == offset + len(chunk.text.encode())
        offset = chunk.next_offset
        if chunk.complete:
            break
        time.sleep(0.5)
    text = "".join(t for _, t in chunks)
    assert "epoch 0" in text and "training done" in text
    assert any(state is JobState.RUNNING and "epoch" in t for state, t in chunks), "no output seen while running"


def test_store_rebuilt_from_slurm_and_mlflow(client, make_project, manager_traits):
    from jupyter_mltf.api import Client

    handle = client.submit(str(make_project()), resources={"partition": "cpu"})
    handle.wait(120)
    before = {j.id: (j.native_id, j.run_id, j.state) for j in client.jobs()}
    client.close()
    os.unlink(manager_traits["store_path"])
    fresh = Client(backend="slurm", **manager_traits)
    after = {j.id: (j.native_id, j.run_id, j.state) for j in fresh.jobs()}
    assert after[handle.id] == before[handle.id]
    # and once more from a corrupted file
    fresh.close()
    with open(manager_traits["store_path"], "wb") as fh:
        fh.write(b"garbage" * 1000)
    again = Client(backend="slurm", **manager_traits)
    assert {j.id for j in again.jobs()} >= {handle.id}
    again.close()


def test_bad_input_runs_nothing(client, make_project):
    root = str(make_project())
    before = {j.id for j in client.jobs()}
    from mlflow.tracking import MlflowClient

    runs_before = len(
        MlflowClient(tracking_uri=TRACKING_URI).search_runs(
            [e.experiment_id for e in MlflowClient(tracking_uri=TRACKING_URI).search_experiments()], max_results=5000
        )
    )
    for kwargs, error in [
        ({"params": {"lr": "fast"}}, ProjectError),
        ({"params": {"nope": 1}}, ProjectError),
        ({"entry_point": "missing"}, ProjectError),
        ({"resources": {"gpus": 9}}, ResourceError),
        ({"resources": {"time": "99:00:00"}}, ResourceError),
        ({"resources": {"partition": "nope"}}, ResourceError),
        ({"resources": {"gpuz": 1}}, ResourceError),
    ]:
        with pytest.raises(error):
            client.submit(root, **kwargs)
    assert {j.id for j in client.jobs()} == before
    runs_after = len(
        MlflowClient(tracking_uri=TRACKING_URI).search_runs(
            [e.experiment_id for e in MlflowClient(tracking_uri=TRACKING_URI).search_experiments()], max_results=5000
        )
    )
    assert runs_after == runs_before


def test_idempotency_key(client, make_project):
    root = str(make_project())
    first = client.submit(root, idempotency_key="key-1", resources={"partition": "cpu"})
    with pytest.raises(DuplicateSubmission):
        client.submit(root, idempotency_key="key-1")
    assert [j.id for j in client.jobs() if j.idempotency_key == "key-1"] == [first.id]


def test_timeout_kills_run(client, make_project):
    if not os.environ.get("CI") and not os.environ.get("MLTF_FULL"):
        pytest.skip("takes 1-2 minutes (Slurm's smallest time limit is one minute); runs in CI")
    handle = client.submit(
        str(make_project()), params={"epochs": 400, "sleep": 1}, resources={"partition": "cpu", "time": "1"}
    )
    job = handle.wait(200)
    assert job.state is JobState.TIMEOUT
    deadline = time.time() + 20
    while mlflow_run(handle.run_id).info.status != "KILLED" and time.time() < deadline:
        time.sleep(0.5)
    assert mlflow_run(handle.run_id).info.status == "KILLED"


def _cli(*args, env_extra=None, cwd=None):
    env = {**os.environ, "MLFLOW_TRACKING_URI": TRACKING_URI, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "jupyter_mltf.cli", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


def test_cli_submit_wait_list_status_logs_cancel(stack, make_project, tmp_path):
    home = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    root = make_project()
    dry = _cli("submit", str(root), "--gpus", "1", "--dry-run", env_extra=home)
    assert dry.returncode == 0 and "#SBATCH --gres=gpu:1" in dry.stdout and "train.py" in dry.stdout
    done = _cli("submit", str(root), "--gpus", "1", "-P", "lr=0.2", "--wait", env_extra=home)
    assert done.returncode == 0, done.stderr
    assert "CUDA_VISIBLE_DEVICES=0\n" in done.stdout or "CUDA_VISIBLE_DEVICES=1\n" in done.stdout, done.stdout
    assert "ended COMPLETED" in done.stdout
    listing = json.loads(_cli("list", "--json", env_extra=home).stdout)
    job_id = listing[0]["id"]
    status = _cli("status", job_id, env_extra=home)
    assert "COMPLETED" in status.stdout and "mlflow run" in status.stdout
    assert "training done" in _cli("logs", job_id, env_extra=home).stdout
    bad = _cli("submit", str(root), "--gpus", "lots", env_extra=home)
    assert bad.returncode == 2 and bad.stderr.startswith("error: gpus must be a whole number")
    assert "Traceback" not in bad.stderr
    # follow a running job, then cancel it from the CLI
    long = _cli("submit", str(root), "-P", "epochs=100", "-P", "sleep=1", "--partition", "cpu", env_extra=home)
    long_id = json.loads(_cli("list", "--json", env_extra=home).stdout)[0]["id"]
    assert long.returncode == 0
    follow = subprocess.Popen(
        [sys.executable, "-m", "jupyter_mltf.cli", "logs", long_id, "-f"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **home},
    )
    assert follow.stdout is not None
    seen = ""
    deadline = time.time() + 60
    while "epoch 1" not in seen and time.time() < deadline:
        seen += follow.stdout.readline()
    assert "epoch 1" in seen
    cancel = _cli("cancel", long_id, env_extra=home)
    assert cancel.returncode == 0
    follow.wait(timeout=60)
    deadline = time.time() + 30
    while "CANCELLED" not in _cli("status", long_id, env_extra=home).stdout and time.time() < deadline:
        time.sleep(0.5)
    assert "CANCELLED" in _cli("status", long_id, env_extra=home).stdout


def test_mlflow_run_backend(stack, make_project, tmp_path):
    root = make_project()
    (root / "cfg.json").write_text(json.dumps({"partition": "cpu", "time": "00:05:00"}))
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": TRACKING_URI,
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
        "MLFLOW_EXPERIMENT_NAME": "mlflow-run-backend",
    }
    out = subprocess.run(
        ["mlflow", "run", "-b", "mltf", str(root), "--backend-config", str(root / "cfg.json"), "-P", "lr=0.7"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    from mlflow.tracking import MlflowClient

    mc = MlflowClient(tracking_uri=TRACKING_URI)
    exp = mc.get_experiment_by_name("mlflow-run-backend")
    deadline = time.time() + 120
    while time.time() < deadline:
        runs = mc.search_runs([exp.experiment_id])
        if runs and runs[0].info.status == "FINISHED":
            break
        time.sleep(1)
    assert runs[0].info.status == "FINISHED" and runs[0].data.params["lr"] == "0.7"
    assert runs[0].data.tags["mlflow.project.backend"] == "mltf"


def test_notebook_project_runs_with_parameters(client, tmp_path):
    import nbformat

    root = tmp_path / "nbproj"
    root.mkdir()
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("alpha = 0.5\nlabel = 'x'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("import mlflow\nprint('alpha is', alpha * 2, label)\n"
                                                  "mlflow.log_metric('alpha2', alpha * 2)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "analysis.ipynb")
    handle = client.submit(str(root), params={"alpha": 2.0}, resources={"partition": "cpu"})
    job = handle.wait(180)
    assert job.state is JobState.COMPLETED, handle.logs()
    assert "alpha is 4.0 x" in handle.logs()
    run = mlflow_run(handle.run_id)
    assert run.data.metrics["alpha2"] == 4.0 and run.info.status == "FINISHED"
    assert (root / "MLproject").exists()  # the proposed MLproject was written for the user


def test_project_env_built_once_and_cached(client, make_project, manager_traits):
    """Built at submit (the job finds it cached), built once: the second submit reuses it."""
    root = make_project(files={"requirements.txt": "# nothing extra: the env only has to exist\n"})
    first = client.submit(str(root), env_manager="project", resources={"partition": "cpu"})
    assert first.wait(300).state is JobState.COMPLETED, first.logs()
    assert "project env (cached" in first.logs()
    envs = sorted(os.listdir(client.manager.envs_dir))
    second = client.submit(str(root), env_manager="project", resources={"partition": "cpu"})
    assert second.wait(300).state is JobState.COMPLETED, second.logs()
    assert "project env (cached" in second.logs()
    assert sorted(os.listdir(client.manager.envs_dir)) == envs


def test_tracking_token_travels_in_a_private_file(client, make_project, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "s3cret-token-value")
    handle = client.submit(str(make_project()), resources={"partition": "cpu"})
    job_dir = handle.job.job_dir
    token_file = os.path.join(job_dir, "tracking-token")
    assert oct(os.stat(token_file).st_mode & 0o777) == "0o600"
    assert oct(os.stat(job_dir).st_mode & 0o777) == "0o700"
    handle.wait(120)
    for name in os.listdir(job_dir):
        if name != "tracking-token":
            assert "s3cret-token-value" not in open(os.path.join(job_dir, name), errors="replace").read(), name
    assert "s3cret-token-value" not in handle.logs()
