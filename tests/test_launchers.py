import pytest

from jupyter_mltf.contract import RunnerSpec
from jupyter_mltf.errors import InvalidRequest
from jupyter_mltf.node.launchers import Topology, choose_launcher, launch_argv, topology


def runner_spec(command="python train.py --lr 0.1", launcher="auto", **resources):
    """A spec as the server writes it, with what the launchers read."""
    return RunnerSpec(job_id="j1", name="n", project_name="p", archive="a.tar", content_hash="h", command=command,
                      entry_point="main", params={}, python="python", resources=resources, launcher=launcher)


def _spec(command="python train.py --lr 0.1", gpus=2, nodes=1, launcher="auto"):
    return runner_spec(command, launcher, gpus=gpus, nodes=nodes)


TOPO = Topology(nodes=2, node_rank=1, gpus_per_node=2, master_addr="node-a", master_port=21234)


def test_torch_project_gets_torchrun(tmp_path):
    (tmp_path / "train.py").write_text("import torch\n")
    assert choose_launcher(_spec(), str(tmp_path)) == "torchrun"
    assert choose_launcher(_spec(gpus=1), str(tmp_path)) == "none"
    (tmp_path / "train.py").write_text("import numpy\n")
    assert choose_launcher(_spec(), str(tmp_path)) == "none"


def test_torchrun_argv_carries_the_allocation(tmp_path):
    argv = launch_argv(_spec(launcher="torchrun"), str(tmp_path), TOPO)
    assert argv == [
        "torchrun",
        "--nnodes=2",
        "--nproc-per-node=2",
        "--node-rank=1",
        "--master-addr=node-a",
        "--master-port=21234",
        "train.py",
        "--lr",
        "0.1",
    ]
    module = launch_argv(_spec(command="python -m pkg.train --x 'a b'", launcher="torchrun"), str(tmp_path), TOPO)
    assert module[-4:] == ["-m", "pkg.train", "--x", "a b"]


def test_accelerate_argv(tmp_path):
    argv = launch_argv(_spec(launcher="accelerate"), str(tmp_path), TOPO)
    assert argv[:2] == ["accelerate", "launch"] and "--num_processes=4" in argv and "--machine_rank=1" in argv


def test_plain_launcher_runs_the_shell_line(tmp_path):
    assert launch_argv(_spec(launcher="none"), str(tmp_path), TOPO) == ["bash", "-c", "python train.py --lr 0.1"]


def test_launcher_needs_python_command(tmp_path):
    with pytest.raises(InvalidRequest, match="starts with 'python'"):
        launch_argv(_spec(command="bash run.sh", launcher="torchrun"), str(tmp_path), TOPO)


def test_topology_from_slurm(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_NUM_NODES", "2")
    monkeypatch.setenv("SLURM_NODEID", "1")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_JOB_NODELIST", "gpu-a,gpu-b")
    monkeypatch.delenv("MLTF_TASKS_AS_NODES", raising=False)
    topo = topology(runner_spec(gpus=4))
    assert (topo.nodes, topo.node_rank, topo.gpus_per_node, topo.master_port) == (2, 1, 4, 20000 + 4242)
    assert topo.master_addr == "gpu-a"  # the first host of the allocation
    monkeypatch.setenv("MLTF_TASKS_AS_NODES", "1")
    monkeypatch.setenv("SLURM_NTASKS", "2")
    monkeypatch.setenv("SLURM_PROCID", "0")
    sim = topology(runner_spec(gpus=2))
    assert (sim.nodes, sim.node_rank, sim.master_addr) == (2, 0, "127.0.0.1")
