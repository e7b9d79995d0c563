"""Local backend: the embedded default where no Slurm is found.

The same runner as on a cluster node, started as a detached process (its own session) so it outlives
the Jupyter server or the CLI that started it. State: a pid file while it runs, ``result.json`` after.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

from ..contract import JobPaths
from ..errors import JobNotFound
from ..models import Capabilities, Job, JobState, LogChunk, StatusInfo
from ..procs import run_cmd
from .base import Backend, DiscoveredJob, JobSpec
from .common import clean_submit_env, read_log_file


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie counts as ended
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


class LocalBackend(Backend):
    """Runs jobs on this machine, one detached process each (no GPUs are scheduled)."""

    name = "local"

    def capabilities(self) -> Capabilities:
        return Capabilities(
            gpus=False,
            partitions=False,
            pending_reason=False,
            notes=["local backend: jobs run on this machine without a scheduler; GPU requests are not enforced"],
        )

    def job_script(self, spec: JobSpec) -> str:
        return f"{spec.python} -m jupyter_mltf.node.runner {spec.spec_path}\n"

    async def submit(self, spec: JobSpec) -> str:
        env = clean_submit_env()
        env["MLTF_JOB_ID"] = spec.job_id
        _, out, _ = await run_cmd(
            [spec.python, "-m", "jupyter_mltf.node.runner", "--detach", spec.spec_path, spec.log_path], env=env
        )
        pid = int(out.strip().splitlines()[-1])
        with open(JobPaths(spec.job_dir).pid, "w", encoding="ascii") as fh:
            fh.write(str(pid))
        return f"local-{pid}"

    def _status(self, job: Job) -> StatusInfo:
        paths = JobPaths(job.job_dir or "")
        result = paths.result
        if os.path.exists(result):
            try:
                with open(result, encoding="utf-8") as fh:
                    data = json.load(fh)
                return StatusInfo(
                    state=JobState(data["state"]),
                    exit_code=data.get("exit_code"),
                    started_at=data.get("started_at"),
                    ended_at=data.get("ended_at"),
                    nodes=[data.get("host", "localhost")],
                )
            except (OSError, ValueError, KeyError):
                return StatusInfo(JobState.UNKNOWN, reason="result file unreadable")
        try:
            pid = int(job.native_id.removeprefix("local-"))
        except ValueError:
            return StatusInfo(JobState.UNKNOWN, reason="no process id")
        if _alive(pid):
            started = os.path.getmtime(paths.pid) if os.path.exists(paths.pid) else None
            return StatusInfo(JobState.RUNNING, started_at=started, nodes=[os.uname().nodename])
        # the process is gone without writing its result: killed hard, like a node failure
        return StatusInfo(JobState.NODE_FAIL, reason="process ended without reporting", ended_at=time.time())

    async def discover(self) -> list[DiscoveredJob]:
        """Local jobs have no scheduler to ask: read them back from the job directories' records."""
        jobs_dir = getattr(self.parent, "jobs_dir", None)
        if not jobs_dir or not os.path.isdir(jobs_dir):
            return []

        def scan() -> list[DiscoveredJob]:
            found = []
            for name in sorted(os.listdir(jobs_dir)):
                try:
                    with open(JobPaths(os.path.join(jobs_dir, name)).record, encoding="utf-8") as fh:
                        job = Job.from_dict(json.load(fh))
                except (OSError, ValueError, TypeError, KeyError):
                    continue
                if job.backend != self.name:
                    continue
                found.append(DiscoveredJob(native_id=job.native_id, job_id=job.id, run_id=job.run_id,
                                           name=job.name, submitted_at=job.submitted_at, status=self._status(job)))
            return found

        return await asyncio.to_thread(scan)

    async def statuses(self, jobs: list[Job]) -> dict[str, StatusInfo]:
        return {j.native_id: self._status(j) for j in jobs if j.native_id}

    async def read_log(self, job: Job, offset: int = 0, limit: int = 1 << 20) -> LogChunk:
        return await asyncio.to_thread(read_log_file, job.log_path, offset, limit, job.state.is_terminal)

    async def cancel(self, job: Job) -> None:
        try:
            pid = int(job.native_id.removeprefix("local-"))
        except ValueError:
            raise JobNotFound(f"job {job.id} has no process") from None
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
