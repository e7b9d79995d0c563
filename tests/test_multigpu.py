"""Multi-GPU and multi-node launch on the real one-host cluster, through the same runner and launcher."""

import re
import shutil
from pathlib import Path

import pytest

from jupyter_mltf.models import JobState

from .conftest import mlflow_run

pytestmark = pytest.mark.slurm
DDP = Path(__file__).resolve().parents[1] / "notebooks" / "ddp-synthetic"

try:
    import torch  # noqa: F401

    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False
needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed (scripts/requirements-dev.txt)")


@pytest.fixture
def ddp_project(tmp_path):
    target = tmp_path / "ddp"
    shutil.copytree(DDP, target)
    return target


@needs_torch
def test_two_gpus_one_node_torchrun(client, ddp_project):
    handle = client.submit(str(ddp_project), params={"epochs": 2, "samples": 512}, resources={"gpus": 2})
    job = handle.wait(240)
    log = handle.logs()
    assert job.state is JobState.COMPLETED, log[-3000:]
    # each rank's lines arrive whole, prefixed with that rank (never two ranks' text on one line)
    ranks = re.findall(r"^\[rank (\d)\] rank \1/2 .*CUDA_VISIBLE_DEVICES=([0-9,]*) ", log, re.MULTILINE)
    assert sorted(r for r, _ in ranks) == ["0", "1"], log
    # torchrun gives each rank the allocation's two devices (the script picks cuda:LOCAL_RANK on real GPUs)
    assert {cvd for _, cvd in ranks} == {"0,1"}
    run = mlflow_run(handle.run_id)
    assert run.info.status == "FINISHED" and run.data.params["world_size"] == "2"
    assert run.data.tags["mltf.cuda_visible_devices"] == "0,1" and "samples_per_second" in run.data.metrics


@needs_torch
def test_two_nodes_rendezvous_wiring(stack, manager_traits, ddp_project):
    """On a one-host cluster, 2 nodes are simulated as 2 srun tasks; each runs torchrun with its node rank."""
    from traitlets.config import Config

    from jupyter_mltf.api import Client

    config = Config()
    config.SlurmBackend.tasks_as_nodes = True
    c = Client(config=config, backend="slurm", **manager_traits)
    try:
        handle = c.submit(
            str(ddp_project),
            params={"epochs": 1, "samples": 256},
            resources={"nodes": 2, "partition": "cpu"},
            launcher="torchrun",
        )
        script = open(f"{handle.job.job_dir}/job.sbatch").read()
        assert "#SBATCH --ntasks=2" in script and "exec srun" in script
        job = handle.wait(240)
        log = handle.logs()
        assert job.state is JobState.COMPLETED, log[-3000:]
        assert "node 0 of 2" in log and "node 1 of 2" in log and "rendezvous 127.0.0.1:" in log
        ranks = sorted(re.findall(r"^\[rank (\d)\] rank \1/2 ", log, re.MULTILINE))
        assert ranks == ["0", "1"], log
        assert mlflow_run(handle.run_id).info.status == "FINISHED"
    finally:
        c.close()


@needs_torch
def test_ddp_example_completes_on_cpu_single_process(client, ddp_project):
    handle = client.submit(str(ddp_project), params={"epochs": 1, "samples": 256}, resources={"partition": "cpu"})
    job = handle.wait(240)
    assert job.state is JobState.COMPLETED, handle.logs()[-2000:]
    assert "rank 0/1" in handle.logs() and mlflow_run(handle.run_id).data.metrics["train_loss"] > 0
