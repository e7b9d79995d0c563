"""The job's scratch: where the runner unpacks the project, one dir per job and host, removed at the end.

Each scratch dir holds an owner file (``host pid start-time`` of the runner that made it), so that a later
runner on the same host can tell the leftovers of a SIGKILLed one from a live one and remove them.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile

from ..contract import JobPaths
from .joblog import say

OWNER_FILE = "owner"  # in each scratch dir: "host pid start-time" of the runner that made it


def start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (so a reused pid is not taken for the runner that made a dir)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def scratch_base(job_dir: str) -> str:
    """Node scratch when the cluster gives one, else one per-user dir next to the jobs dir (not inside the
    job dir: a later job's runner must find what a SIGKILLed one left, to remove it)."""
    for base in (os.environ.get("SLURM_TMPDIR"), os.environ.get("TMPDIR")):
        if base and os.path.isdir(base) and os.access(base, os.W_OK):
            return base
    base = JobPaths.scratch_base(job_dir)
    os.makedirs(base, mode=0o700, exist_ok=True)
    return base


def remove_stale_scratch(base: str, host: str, limit: int = 50) -> list[str]:
    """Remove scratch dirs on this host whose runner is gone (SIGKILLed before it could clean up).
    Only dirs of this user with an owner file naming this host are judged; at most ``limit`` are looked at."""
    removed: list[str] = []
    try:
        names = [n for n in os.listdir(base) if n.startswith("mltf-")][:limit]
    except OSError:
        return removed
    for name in names:
        path = os.path.join(base, name)
        try:
            if os.lstat(path).st_uid != os.getuid():
                continue
            with open(os.path.join(path, OWNER_FILE), encoding="utf-8") as fh:
                owner_host, pid, started = fh.read().split()
        except (OSError, ValueError):
            continue
        if owner_host == host and start_time(int(pid)) != started:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def make_scratch(job_dir: str, kind: str = "") -> tuple[str, str]:
    """(scratch dir, project dir inside it). Leftovers of killed runners on this host go first."""
    base = scratch_base(job_dir)
    host = socket.gethostname()
    for path in remove_stale_scratch(base, host):
        say(f"removed the scratch of an earlier job that was killed: {path}")
    scratch = tempfile.mkdtemp(prefix=f"mltf-{kind}{os.environ.get('SLURM_JOB_ID', 'local')}-", dir=base)
    with open(os.path.join(scratch, OWNER_FILE), "w", encoding="utf-8") as fh:
        fh.write(f"{host} {os.getpid()} {start_time(os.getpid())}\n")
    workdir = os.path.join(scratch, "project")
    os.mkdir(workdir, 0o700)
    return scratch, workdir
