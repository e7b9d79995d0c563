"""How the entry point starts on a node: plainly, or under torchrun / accelerate for multi-GPU jobs.

The wiring comes from the Slurm allocation: node rank from ``SLURM_NODEID`` (or ``SLURM_PROCID`` on a
one-host test cluster that runs one task per simulated node), node count from ``SLURM_JOB_NUM_NODES``,
and the rendezvous host is the first host of ``SLURM_JOB_NODELIST``, on a port derived from the job id
(all nodes compute the same one without talking to each other).
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import socket
from dataclasses import dataclass
from pathlib import Path

from ..contract import RunnerSpec
from ..errors import InvalidRequest, MLTFError
from ..procs import run_cmd

LAUNCHERS = ("auto", "none", "torchrun", "accelerate")
_TORCH_IMPORT = re.compile(r"^\s*(import torch|from torch)\b", re.MULTILINE)


@dataclass
class Topology:
    nodes: int
    node_rank: int
    gpus_per_node: int
    master_addr: str
    master_port: int

    def env(self) -> dict[str, str]:
        return {
            "MASTER_ADDR": self.master_addr,
            "MASTER_PORT": str(self.master_port),
            "NNODES": str(self.nodes),
            "NODE_RANK": str(self.node_rank),
            "MLTF_NPROC_PER_NODE": str(max(self.gpus_per_node, 1)),
        }


def _first_host(nodelist: str) -> str:
    if not nodelist:
        return "127.0.0.1"
    try:  # the runner is synchronous: one short event loop for the one Slurm call
        _, out, _ = asyncio.run(run_cmd(["scontrol", "show", "hostnames", nodelist], timeout=10))
        hosts = out.split()
        if hosts:
            return hosts[0]
    except MLTFError:
        pass
    return nodelist.split(",")[0]


def topology(spec: RunnerSpec) -> Topology:
    env = os.environ
    tasks_as_nodes = env.get("MLTF_TASKS_AS_NODES") == "1"
    if tasks_as_nodes:
        nodes = int(env.get("SLURM_NTASKS", "1") or 1)
        rank = int(env.get("SLURM_PROCID", "0") or 0)
    else:
        nodes = int(env.get("SLURM_JOB_NUM_NODES", "1") or 1)
        rank = int(env.get("SLURM_NODEID", "0") or 0)
    gpus = int(spec.resources.get("gpus") or 0)
    master = _first_host(env.get("SLURM_JOB_NODELIST", "")) if nodes > 1 else "127.0.0.1"
    if tasks_as_nodes:
        master = "127.0.0.1"
    job = int(re.sub(r"\D", "", env.get("SLURM_JOB_ID", "")) or os.getpid())
    port = 20000 + job % 20000
    return Topology(nodes=nodes, node_rank=rank, gpus_per_node=gpus, master_addr=master, master_port=port)


def uses_torch(workdir: str, command: str) -> bool:
    """A PyTorch project: its entry script imports torch, or its requirements name it."""
    for token in shlex.split(command):
        if token.endswith(".py"):
            path = Path(workdir) / token
            if path.is_file() and _TORCH_IMPORT.search(path.read_text(encoding="utf-8", errors="replace")):
                return True
    for req in ("requirements.txt", "python_env.yaml", "conda.yaml"):
        path = Path(workdir) / req
        if path.is_file() and re.search(r"^\s*-?\s*torch\b", path.read_text(errors="replace"), re.MULTILINE):
            return True
    return False


def choose_launcher(spec: RunnerSpec, workdir: str) -> str:
    launcher = spec.launcher or "auto"
    if launcher != "auto":
        return launcher
    gpus = int(spec.resources.get("gpus") or 0)
    nodes = int(spec.resources.get("nodes") or 1)
    if (gpus > 1 or nodes > 1) and uses_torch(workdir, spec.command):
        return "torchrun"
    return "none"


def _python_tail(command: str, launcher: str) -> list[str]:
    """``python [-u] script.py args`` or ``python -m mod args`` -> the part after the interpreter."""
    argv = shlex.split(command)
    if not argv or os.path.basename(argv[0]) not in ("python", "python3"):
        raise InvalidRequest(
            f"launcher {launcher} needs an entry point command that starts with 'python' (got {command!r}); "
            "use launcher none to run it as it is"
        )
    tail = [a for a in argv[1:] if a != "-u"]
    return tail


def launch_argv(
    spec: RunnerSpec, workdir: str, topo: Topology | None = None, rank_log_dir: str | None = None
) -> list[str]:
    """The argv that runs the entry point's shell command (every parameter in it was shell-quoted at submit).

    With ``rank_log_dir``, torchrun writes each rank's output to files there (see node/ranklog.py) instead of sharing
    the job log's descriptor between ranks.
    """
    launcher = choose_launcher(spec, workdir)
    topo = topo or topology(spec)
    if launcher == "none":
        return ["bash", "-c", spec.command]
    nproc = max(topo.gpus_per_node, 1)
    tail = _python_tail(spec.command, launcher)
    if launcher == "torchrun":
        argv = [
            "torchrun",
            f"--nnodes={topo.nodes}",
            f"--nproc-per-node={nproc}",
            f"--node-rank={topo.node_rank}",
            f"--master-addr={topo.master_addr}",
            f"--master-port={topo.master_port}",
        ]
        if rank_log_dir:
            argv += ["--redirects=3", f"--log-dir={rank_log_dir}"]
        if tail and tail[0] == "-m":
            return [*argv, "-m", *tail[1:]] if len(tail) > 1 else argv
        return [*argv, *tail]
    if launcher == "accelerate":
        argv = [
            "accelerate",
            "launch",
            f"--num_processes={nproc * topo.nodes}",
            f"--num_machines={topo.nodes}",
            f"--machine_rank={topo.node_rank}",
            f"--main_process_ip={topo.master_addr}",
            f"--main_process_port={topo.master_port}",
        ]
        if nproc * topo.nodes > 1:
            argv.append("--multi_gpu")
        if tail and tail[0] == "-m":
            return [*argv, "-m", *tail[1:]]
        return [*argv, *tail]
    raise InvalidRequest(f"unknown launcher {launcher!r}: use one of {', '.join(LAUNCHERS)}")


def host_id() -> str:
    """Node id for system metrics: the hostname (plus the task rank on one-host simulated nodes)."""
    host = socket.gethostname()
    if os.environ.get("MLTF_TASKS_AS_NODES") == "1":
        return f"{host}-task{os.environ.get('SLURM_PROCID', '0')}"
    return host
