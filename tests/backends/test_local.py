"""The local backend (the embedded default without Slurm): same runner, detached processes."""

import time

import pytest

from jupyter_mltf.models import JobState

from ..conftest import mlflow_run


@pytest.fixture
def local_client(stack, manager_traits):
    from jupyter_mltf.api import Client

    c = Client(backend="local", **manager_traits)
    yield c
    c.close()


def test_local_job_completes(local_client, make_project):
    handle = local_client.submit(str(make_project()), params={"lr": 0.3})
    job = handle.wait(120)
    assert job.state is JobState.COMPLETED, handle.logs()
    assert mlflow_run(handle.run_id).info.status == "FINISHED"
    assert "training done" in handle.logs()


def test_local_cancel(local_client, make_project):
    handle = local_client.submit(str(make_project()), params={"epochs": 100, "sleep": 1})
    deadline = time.time() + 30
    while "epoch 0" not in handle.logs() and time.time() < deadline:
        time.sleep(0.3)
    handle.cancel()
    job = handle.wait(30)
    assert job.state is JobState.CANCELLED
    assert mlflow_run(handle.run_id).info.status == "KILLED"


def test_local_jobs_survive_a_lost_store(local_client, make_project, manager_traits):
    import os

    from jupyter_mltf.api import Client

    handle = local_client.submit(str(make_project()))
    handle.wait(120)
    local_client.close()
    os.unlink(manager_traits["store_path"])
    fresh = Client(backend="local", **manager_traits)
    try:
        job = fresh.job(handle.id)
        assert job.state is JobState.COMPLETED and job.run_id == handle.run_id
    finally:
        fresh.close()
