"""The backend contract: a small abstract class, one module per backend (slurm, local, gateway).

Shaped after MLflow's ``AbstractBackend``/``SubmittedRun`` and submitit's ``Executor``/``Job``: the core
hands a fully validated :class:`JobSpec` to :meth:`Backend.submit` and gets the cluster's native id back.
Status is asked for many jobs at once (:meth:`Backend.statuses`), so one watcher can poll all of them
with one cluster call.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from traitlets.config import LoggingConfigurable
from traitlets.traitlets import MetaHasTraits

from ..contract import JobPaths
from ..errors import CapabilityMissing
from ..models import Capabilities, Job, LogChunk, Partition, Resources, StatusInfo


@dataclass
class JobSpec:
    """Everything a backend needs to start one job; built and validated by the core."""

    job_id: str
    name: str
    project_name: str
    project_dir: str
    archive_path: str
    content_hash: str
    entry_point: str
    params: dict[str, str]
    command: str
    resources: Resources
    job_dir: str
    run_id: str | None
    experiment_id: str | None
    tracking_uri: str | None
    python: str
    env_manager: str = "notebook"
    env_spec: str | None = None
    launcher: str = "none"
    token_file: str | None = None
    password_file: str | None = None
    stop_grace: float | None = None
    array: dict[str, Any] | None = None
    backend_config: dict[str, Any] = field(default_factory=dict)

    @property
    def spec_path(self) -> str:
        return JobPaths(self.job_dir).spec

    @property
    def log_path(self) -> str:
        return JobPaths(self.job_dir).log


@dataclass
class ClusterLimits:
    """What the cluster allows, read once and cached by the backend (None: not known, not enforced)."""

    max_array_tasks: int | None = None  # Slurm MaxArraySize: array indexes 0 .. max_array_tasks - 1
    kill_wait: float | None = None  # seconds between SIGTERM and SIGKILL on cancel or time limit


@dataclass
class DiscoveredJob:
    """A job found on the cluster while rebuilding the local store from Slurm."""

    native_id: str
    job_id: str
    run_id: str | None
    status: StatusInfo
    name: str = ""
    partition: str | None = None
    submitted_at: float | None = None


class _BackendMeta(MetaHasTraits, abc.ABCMeta):
    """Lets a traitlets Configurable also be a real ``abc.ABC``."""


class Backend(LoggingConfigurable, metaclass=_BackendMeta):
    """A place where jobs run. Every setting of a subclass is a trait with ``help=``."""

    #: the entry-point name users choose the backend by
    name = "abstract"
    #: the MLflow tag a run gets with the backend's native job id
    native_id_tag = "mltf.native_id"

    @abc.abstractmethod
    async def submit(self, spec: JobSpec) -> str:
        """Start the job; returns the backend's native job id."""

    @abc.abstractmethod
    async def statuses(self, jobs: list[Job]) -> dict[str, StatusInfo]:
        """Status of many jobs in as few cluster calls as possible, keyed by native id.

        A job the backend cannot tell about maps to ``JobState.UNKNOWN``: never to failed or gone.
        """

    @abc.abstractmethod
    async def read_log(self, job: Job, offset: int = 0, limit: int = 1 << 20) -> LogChunk:
        """The job's combined output from byte ``offset`` (at most ``limit`` bytes)."""

    @abc.abstractmethod
    async def cancel(self, job: Job) -> None:
        """Ask the cluster to stop the job (SIGTERM, then SIGKILL after the grace time)."""

    @abc.abstractmethod
    def capabilities(self) -> Capabilities:
        """What this backend supports; surfaces hide what it cannot do."""

    async def partitions(self) -> list[Partition]:
        """Partitions with their GPU types and limits (empty when the backend cannot tell)."""
        return []

    async def discover(self) -> list[DiscoveredJob]:
        """Jobs of the current user that this package started, read back from the cluster."""
        return []

    async def cluster_limits(self) -> ClusterLimits:
        """Limits the core checks before anything is created (empty when the backend cannot tell)."""
        return ClusterLimits()

    def stop_grace(self, limits: ClusterLimits) -> float | None:
        """Seconds the runner may wait for the entry point after SIGTERM before it kills it, uploads the
        log and removes its scratch; None: the runner's default (nothing kills the runner itself)."""
        return None

    def partition_request(self, res: Resources) -> Resources:
        """The request the partition limits are checked against (the request itself on a real cluster)."""
        return res

    def job_script(self, spec: JobSpec) -> str:
        """The exact batch script (or request) :meth:`submit` would send, for ``--dry-run``."""
        raise CapabilityMissing(f"the {self.name} backend cannot show the job it would submit: leave out --dry-run")

    async def close(self) -> None:
        """Release connections and helpers."""
