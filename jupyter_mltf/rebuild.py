"""Rebuild the local job cache from the cluster and MLflow: the store is a cache, Slurm and MLflow the truth.

A job is read back from its record in the job directory (``job.json``) when that is still there, else from
the cluster's answer and the MLflow run tagged with the job's id.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from . import tracking
from .backends.base import Backend, DiscoveredJob
from .contract import JobPaths
from .formatting import redact
from .models import Job, Resources
from .store import JobStore


@dataclass(frozen=True)
class RebuildContext:
    """Where the jobs of this user live and are tracked."""

    backend: Backend
    backend_name: str
    store: JobStore
    jobs_dir: str
    tracking_uri: str | None
    ui_url: str | None
    log: logging.Logger


async def rebuild(ctx: RebuildContext) -> list[Job]:
    """Read jobs back from the cluster and MLflow into an empty or lost store."""
    found = await ctx.backend.discover()
    known = {j.id for j in await asyncio.to_thread(ctx.store.all)}
    lost = {
        d.job_id: d.run_id
        for d in found
        if d.job_id not in known and not os.path.exists(_paths(ctx, d.job_id).record)
    }
    runs: dict[str, Any] = {}
    try:
        runs = await asyncio.to_thread(tracking.find_runs_by_job, ctx.tracking_uri, lost)
    except Exception as exc:
        ctx.log.warning("MLflow unavailable while rebuilding the job list: %s", redact(exc))
    rebuilt: list[Job] = []
    for item in found:
        if not item.job_id:  # a backend that keeps no id of ours (the gateway): derive a stable one
            item.job_id = re.sub(r"[^A-Za-z0-9_-]", "", item.native_id)[:32] or uuid.uuid4().hex[:10]
        if item.job_id in known:
            continue
        if await asyncio.to_thread(ctx.store.find_native, ctx.backend_name, item.native_id) is not None:
            continue
        job = _from_record(_paths(ctx, item.job_id).record) or _from_cluster(ctx, item, runs.get(item.job_id))
        job.native_id = item.native_id
        job.apply(item.status)
        await asyncio.to_thread(ctx.store.save, job)
        rebuilt.append(job)
    return rebuilt


def _paths(ctx: RebuildContext, job_id: str) -> JobPaths:
    return JobPaths(os.path.join(ctx.jobs_dir, job_id))


def _from_record(record: str) -> Job | None:
    """The job as it was submitted, from its record; None when there is none or it is unreadable."""
    if not os.path.exists(record):
        return None
    try:
        with open(record, encoding="utf-8") as fh:
            return Job.from_dict(json.load(fh))
    except (OSError, ValueError, TypeError):
        return None


def _from_cluster(ctx: RebuildContext, item: DiscoveredJob, run: Any) -> Job:
    """A job whose record is gone: what the cluster and its MLflow run (if found) still know."""
    tags = run.data.tags if run is not None else {}
    paths = _paths(ctx, item.job_id)
    job = Job(
        id=item.job_id,
        backend=ctx.backend_name,
        native_id=item.native_id,
        name=run.info.run_name if run is not None else item.name,
        project_dir=tags.get("mltf.project_dir", ""),
        entry_point=tags.get("mltf.entry_point", "main"),
        params=dict(run.data.params) if run is not None else {},
        resources=Resources(partition=item.partition),
        run_id=item.run_id or (run.info.run_id if run is not None else None),
        experiment_id=run.info.experiment_id if run is not None else None,
        tracking_uri=ctx.tracking_uri,
        job_dir=paths.job_dir,
        log_path=paths.log,
        content_hash=tags.get("mltf.content_hash"),
        user=getpass.getuser(),
        submitted_at=item.submitted_at or time.time(),
    )
    job.mlflow_url = tracking.run_url(ctx.ui_url, job.experiment_id, job.run_id)
    return job
