"""One shared status watcher: asks each backend once per poll for all tracked jobs (submitit's InfoWatcher).

Concurrent callers share a poll in flight and a recent result (``min_interval``), so fifty clients
listing jobs cause one ``squeue``, not fifty. Errors back the poll off and mark jobs UNKNOWN; they never
mark a job failed or gone. When a job ends, the MLflow run is reconciled so no run stays RUNNING.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from . import tracking
from .models import Job, JobState, StatusInfo

if TYPE_CHECKING:
    from .backends.base import Backend
    from .store import JobStore

log = logging.getLogger("jupyter_mltf.watcher")


class StatusWatcher:
    """Given what it needs and nothing more: the store, a backend by name, and what to do when a sweep ends."""

    def __init__(
        self,
        store: JobStore,
        backend_for: Callable[[str], Backend],
        on_sweep_end: Callable[[Job], Awaitable[None]],
        *,
        interval: float,
        max_interval: float = 60.0,
        min_interval: float = 1.0,
    ):
        self.store = store
        self.backend_for = backend_for
        self.on_sweep_end = on_sweep_end
        self.interval = interval
        self.max_interval = max_interval
        self.min_interval = min_interval
        self.polls = 0
        self.failures = 0
        self._lock = asyncio.Lock()
        self._last_poll = 0.0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    # ------------------------------------------------------------------------------------------------
    async def refresh(self, *, force: bool = False) -> list[Job]:
        """Poll the backends for every active job (at most once per ``min_interval``); returns changed jobs."""
        if not force and time.monotonic() - self._last_poll < self.min_interval:
            return []
        async with self._lock:
            if not force and time.monotonic() - self._last_poll < self.min_interval:
                return []  # another caller polled while we waited for the lock
            try:
                return await self._poll()
            finally:
                self._last_poll = time.monotonic()

    async def _poll(self) -> list[Job]:
        store = self.store
        tracked = await asyncio.to_thread(store.needing_poll)
        jobs = [j for j in tracked if not j.state.is_terminal]
        # a terminal job whose run was not closed yet (MLflow was down) is retried too
        pending_runs = [j for j in tracked if j.state.is_terminal and j.run_id and j.mlflow_pending]
        changed: list[Job] = []
        by_backend: dict[str, list[Job]] = {}
        for job in jobs:
            if job.native_id:
                by_backend.setdefault(job.backend, []).append(job)
        self.polls += 1
        for name, group in by_backend.items():
            try:
                backend = self.backend_for(name)
                infos = await backend.statuses(group)
                self.failures = 0
            except Exception as exc:  # unknown, never failed: keep what we knew
                self.failures += 1
                log.warning("status poll of %s failed: %s", name, getattr(exc, "log_message", exc))
                infos = {j.native_id: StatusInfo(JobState.UNKNOWN, reason="status command failed") for j in group}
            for job in group:
                info = infos.get(job.native_id)
                if info is None:
                    continue
                if job.apply(info):
                    if job.state.is_terminal:
                        await self._reconcile(job)
                    changed.append(job)
        for job in pending_runs:
            await self._reconcile(job)
            changed.append(job)
        await asyncio.to_thread(store.save_many, changed)
        return changed

    async def _reconcile(self, job: Job) -> None:
        status = job.state.mlflow_status
        if not (job.run_id and status):
            return
        note = f"slurm state {job.state.value}"
        try:
            await asyncio.to_thread(tracking.reconcile, job.tracking_uri, job.run_id, status, note)
            if job.sweep:
                await self.on_sweep_end(job)
            job.mlflow_pending = False
        except Exception as exc:
            # MLflow down: remember to try again on a later poll
            log.warning("could not reconcile MLflow run %s: %s", job.run_id, exc)
            job.mlflow_pending = True

    # ------------------------------------------------------------------------------------------------
    def start(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            # called before the event loop runs (a server extension loading): start once it does
            asyncio.get_event_loop().call_soon(self.start)
            return
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(), name="mltf-status-watcher")

    def poke(self) -> None:
        """Poll soon (after a submit or cancel)."""
        self._wake.set()

    async def _run(self) -> None:
        delay = self.interval
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.refresh(force=True)
            except Exception:
                log.exception("status watcher poll failed")
            # back off while the cluster is failing, recover at once when it answers again
            delay = (
                min(self.max_interval, self.interval * (2 ** min(self.failures, 5))) if self.failures else self.interval
            )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
