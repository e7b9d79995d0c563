"""The one core API behind every surface: the REST handlers, the widget, the magics and the CLI.

:class:`MLTFManager` turns a directory into a validated job (project, parameters, resources, files),
creates the MLflow run, hands a :class:`JobSpec` to the configured backend, and keeps a cache of jobs
that the shared :class:`StatusWatcher` keeps current. The work is done elsewhere (pipeline, launching,
registry, rebuild, watcher, store): this module is the table of contents of the API and its settings.

(Over 400 lines on purpose: a third of it is the settings, each a trait with its ``help=``.)
"""

from __future__ import annotations

import asyncio
import getpass
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from traitlets import Bool, Dict, Float, Int, List, TraitError, Unicode, default, validate
from traitlets.config import LoggingConfigurable

from . import packaging, tracking
from .archives import prune_archives
from .backends.base import Backend
from .contract import JobPaths
from .errors import InvalidRequest, JobNotFound, MLTFError, PermissionDenied, ProjectError
from .formatting import redact
from .models import Job, LogChunk, Partition
from .pipeline import ENV_MANAGERS, SubmitPipeline, project_resources, require_utf8, write_mlproject
from .project import Project, load_project
from .rebuild import RebuildContext, rebuild
from .registry import BackendRegistry, installed_backends, resolve_backend_name
from .resources import parse_resources
from .store import JobStore
from .submission import CheckResult, DryRun, Preview, Settings, SubmitRequest
from .watcher import StatusWatcher

_JOB_ID = re.compile(r"[A-Za-z0-9_\-]{1,64}")


class MLTFManager(LoggingConfigurable):
    """Submits, lists, follows and cancels MLTF jobs. Configure it as ``c.MLTFManager.<trait>``."""

    backend = Unicode(
        "auto",
        help="Where jobs run: the name of an installed backend (entry point group 'jupyter_mltf.backends': "
        "slurm, local, gateway...) or a 'module.Class' import path. 'auto' picks slurm when sbatch is on "
        "PATH, else local.",
    ).tag(config=True)
    tracking_uri = Unicode(
        None,
        allow_none=True,
        help="MLflow tracking URI jobs log to. Defaults to $MLFLOW_TRACKING_URI, else a sqlite store under ~/.mltf.",
    ).tag(config=True)
    mlflow_ui_url = Unicode(
        None, allow_none=True, help="Base URL of the MLflow UI for run links (defaults to the tracking URI if http)."
    ).tag(config=True)
    experiment_name = Unicode(
        None, allow_none=True, help="MLflow experiment for runs; default: the project's name."
    ).tag(config=True)
    jobs_dir = Unicode(
        help="Where job directories (spec, script, log, token file) live; must be on a filesystem the "
        "compute nodes share (the home directory on most clusters)."
    ).tag(config=True)
    archives_dir = Unicode(help="Where content-addressed project archives are kept (shared filesystem).").tag(
        config=True
    )
    store_path = Unicode(help="The local job cache (sqlite). Safe to delete: it is rebuilt from Slurm and MLflow.").tag(
        config=True
    )
    python = Unicode(
        help="Interpreter that runs jobs (the runner and, by default, the entry point). Default: this "
        "process's interpreter, so jobs see the notebook's environment."
    ).tag(config=True)
    env_manager = Unicode(
        "auto",
        help="Which environment jobs run in. 'auto': the one the project declares (python_env.yaml, conda.yaml's "
        "pip part, requirements.txt, pyproject.toml dependencies) with the Python it asks for, else the "
        "notebook's own. 'notebook': always the notebook's. 'project': the declared one, refused when there is none.",
    ).tag(config=True)
    python_search_paths = List(
        Unicode(),
        default_value=[
            "/opt/mltf/pythons/*/bin/python3",
            "~/.pyenv/versions/*/bin/python3",
            "~/.local/share/uv/python/*/bin/python3",
            "/usr/bin/python3.*",
            "/usr/local/bin/python3.*",
            "PATH",
        ],
        help="Glob patterns of the interpreters a project's declared Python is looked up in (first the exact "
        "version, else the newest patch of the same minor). 'PATH' means the python3.X on PATH. Sites add their "
        "module tree, e.g. '/sw/pythons/*/bin/python3'.",
    ).tag(config=True)
    envs_dir = Unicode(
        help="Where project environments are built and cached (shared filesystem, per user). Default: beside jobs_dir."
    ).tag(config=True)
    uv_cache_dir = Unicode(
        None,
        allow_none=True,
        help="uv's package cache (shared filesystem, so login and compute nodes reuse downloads). Default: "
        "'uv-cache' beside envs_dir.",
    ).tag(config=True)
    build_on = Unicode(
        "submit",
        help="Where a project environment that is not cached yet is built: 'submit' (here, before the job is "
        "queued: a bad requirement is refused at submit) or 'node' (the job's first step, for sites whose login "
        "nodes differ from compute nodes).",
    ).tag(config=True)
    max_project_bytes = Int(1 << 30, help="Largest project (sum of shipped file sizes) that may be submitted.").tag(
        config=True
    )
    warn_project_bytes = Int(100 << 20, help="Projects above this size get a warning in the preview.").tag(config=True)
    poll_interval = Float(5.0, help="Seconds between status polls of the shared watcher.").tag(config=True)
    partitions_ttl = Float(60.0, help="Seconds the cluster's partition list is cached.").tag(config=True)
    default_resources = Dict(
        help="Resources every job gets unless the project (gateway_config.json) or the user says otherwise, "
        "e.g. {'time': '01:00:00', 'mem': '4G'}."
    ).tag(config=True)
    write_generated_mlproject = Bool(
        True, help="Write the proposed MLproject into a directory that has none when it is submitted."
    ).tag(config=True)
    archive_keep_days = Float(
        7.0,
        help="Days a project archive is kept in archives_dir after its last submit; older archives that no "
        "live job needs are deleted (after a submit, at most once per archive_prune_interval).",
    ).tag(config=True)
    idempotency_claim_timeout = Float(
        900.0,
        help="Seconds an idempotency key stays claimed by a submit that has not finished (a process that "
        "died mid-submit); after that another submit with the key may take it over.",
    ).tag(config=True)
    archive_prune_interval = Float(
        3600.0, help="Seconds between two prunings of old archives by one process."
    ).tag(config=True)
    root_dir = Unicode(
        None,
        allow_none=True,
        help="If set, project paths must resolve inside this directory (the Jupyter server's root).",
    ).tag(config=True)

    @default("jobs_dir")
    def _jobs_dir_default(self) -> str:
        return os.path.expanduser("~/.mltf/jobs")

    @default("envs_dir")
    def _envs_dir_default(self) -> str:
        return JobPaths.envs_dir(self.jobs_dir)

    @default("archives_dir")
    def _archives_dir_default(self) -> str:
        return os.path.expanduser("~/.mltf/archives")

    @default("store_path")
    def _store_path_default(self) -> str:
        data_home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
        return os.path.join(data_home, "jupyter_mltf", "jobs.sqlite")

    @default("python")
    def _python_default(self) -> str:
        return sys.executable

    @default("tracking_uri")
    def _tracking_default(self) -> str:
        env = os.environ.get("MLFLOW_TRACKING_URI")
        if env:
            return env
        return "sqlite:///" + os.path.expanduser("~/.mltf/mlflow.db")

    @validate("env_manager")
    def _check_env_manager(self, proposal: Any) -> str:
        value = str(proposal["value"])
        if value not in ENV_MANAGERS:
            raise TraitError(f"env_manager must be one of {', '.join(ENV_MANAGERS)}")
        return value

    @validate("build_on")
    def _check_build_on(self, proposal: Any) -> str:
        value = str(proposal["value"])
        if value not in ("submit", "node"):
            raise TraitError("build_on must be 'submit' or 'node'")
        return value

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = JobStore(self.store_path)
        self._registry = BackendRegistry(self)
        self._partitions: tuple[float, list[Partition]] | None = None
        self._last_prune: float | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self.watcher = StatusWatcher(self.store, self.backend_for, self.finish_sweep, interval=self.poll_interval)
        self.backend_name = resolve_backend_name(self.backend)
        self.backend_for(self.backend_name)  # fail early with the list of installed backends

    # ------------------------------------------------------------------------------------------ backends
    def backend_for(self, name: str) -> Backend:
        return self._registry.get(name)

    @property
    def active_backend(self) -> Backend:
        return self.backend_for(self.backend_name)

    @property
    def ui_url(self) -> str | None:
        if self.mlflow_ui_url:
            return self.mlflow_ui_url
        uri = self.tracking_uri or ""
        return uri if uri.startswith(("http://", "https://")) else None

    # ------------------------------------------------------------------------------------------ helpers
    def resolve_dir(self, path: str) -> Path:
        """A project directory, refused when it escapes the root dir (``..``, absolute, symlinks out)."""
        if not isinstance(path, str) or "\x00" in path:
            raise InvalidRequest("path must be a directory path without NUL bytes")
        if self.root_dir:
            root = Path(self.root_dir).resolve()
            candidate = Path(path)
            if candidate.is_absolute():
                raise PermissionDenied("use a path relative to the Jupyter root directory, not an absolute path")
            if ".." in candidate.parts:
                raise PermissionDenied("'..' is not allowed in project paths: use a path inside the Jupyter root")
            resolved = (root / candidate).resolve()
            try:
                resolved.relative_to(root)
            except ValueError:
                raise PermissionDenied(
                    "the path leads outside the Jupyter root directory (through a symlink)"
                ) from None
        else:
            resolved = Path(os.path.expanduser(path or ".")).resolve()
        require_utf8("the project path", str(resolved))
        if not resolved.exists():
            raise InvalidRequest(f"{path!r} does not exist")
        if not resolved.is_dir():
            raise InvalidRequest(f"{path!r} is not a directory: submit the directory that holds the project")
        return resolved

    async def partitions(self) -> list[Partition]:
        now = time.monotonic()
        if self._partitions and now - self._partitions[0] < self.partitions_ttl:
            return self._partitions[1]
        parts = await self.active_backend.partitions()
        self._partitions = (now, parts)
        return parts

    # ------------------------------------------------------------------------------------------ API
    async def config_info(self) -> dict[str, Any]:
        warnings: list[str] = []
        try:
            parts = [p.to_dict() for p in await self.partitions()]
        except MLTFError as exc:
            parts = []
            warnings.append(exc.message)
        return {
            "backend": self.backend_name,
            "backends": sorted(installed_backends()),
            "capabilities": self.active_backend.capabilities().to_dict(),
            "partitions": parts,
            "defaults": {
                "resources": parse_resources(self.default_resources).to_dict(),
                "env_manager": self.env_manager,
                "build_on": self.build_on,
            },
            "limits": {"max_project_bytes": self.max_project_bytes, "warn_project_bytes": self.warn_project_bytes},
            "mlflow_ui_url": redact(self.ui_url) if self.ui_url else None,
            "tracking_uri": redact(self.tracking_uri) if self.tracking_uri else None,
            "user": getpass.getuser(),
            "poll_interval": self.poll_interval,
            "warnings": warnings,
        }

    async def preview(self, path: str, notebook: str | None = None) -> Preview:
        directory = await asyncio.to_thread(self.resolve_dir, path)
        project: Project | None = None
        project_error = None
        try:
            project = await asyncio.to_thread(load_project, directory, notebook=notebook)
        except ProjectError as exc:
            project_error = exc.message
        selection = await asyncio.to_thread(packaging.select_files, directory)
        warnings: list[str] = []
        if project_error:
            warnings.append(project_error)
        if selection.total_bytes > self.warn_project_bytes:
            warnings.append(f"the project ships {selection.total_bytes / 1e6:.0f} MB: consider a .mltfignore")
        resources: dict[str, Any] = {}
        try:
            resources = project_resources(directory, self.default_resources).to_dict()
        except ProjectError as exc:
            warnings.append(exc.message)
        env = None
        if project is not None:
            try:
                env = await asyncio.to_thread(self._pipeline().decide_env, None, project)
            except ProjectError as exc:
                warnings.append(exc.message)
        return Preview(
            str(path),
            project,
            project_error,
            selection,
            self.max_project_bytes,
            self.warn_project_bytes,
            resources,
            warnings,
            env,
        )

    def _pipeline(self) -> SubmitPipeline:
        settings = Settings(
            backend_name=self.backend_name,
            jobs_dir=self.jobs_dir,
            archives_dir=self.archives_dir,
            tracking_uri=self.tracking_uri,
            ui_url=self.ui_url,
            python=self.python,
            env_manager=self.env_manager,
            python_search_paths=tuple(self.python_search_paths),
            envs_dir=self.envs_dir,
            uv_cache_dir=self.uv_cache_dir,
            build_on=self.build_on,
            experiment_name=self.experiment_name,
            max_project_bytes=self.max_project_bytes,
            warn_project_bytes=self.warn_project_bytes,
            default_resources=dict(self.default_resources),
            idempotency_claim_timeout=self.idempotency_claim_timeout,
        )
        return SubmitPipeline(settings, self.active_backend, self.store, self.resolve_dir, self.partitions, self.log)

    async def check(self, req: SubmitRequest) -> CheckResult:
        """What a submit of ``req`` would run, with every check of a submit and nothing created."""
        pipeline = self._pipeline()
        return await pipeline.check(await pipeline.plan(req))

    async def submit(self, req: SubmitRequest) -> Job | DryRun:
        """Plan (every check, nothing created), then launch: claim the idempotency key, and only then create
        the archive, the MLflow run, the job dir and the Slurm job; a failure on the way undoes what was made."""
        pipeline = self._pipeline()
        plan = await pipeline.plan(req)
        if req.dry_run:
            return await pipeline.dry_run(plan)
        job = await pipeline.launch(plan)
        if plan.project.generated and req.script is None and self.write_generated_mlproject:
            write_mlproject(plan.directory, plan.project, self.log)
        self.watcher.poke()
        self._prune_soon()
        return job

    # ------------------------------------------------------------------------------------------ archives
    def _prune_soon(self) -> None:
        """At most once per ``archive_prune_interval``, prune old archives in a worker thread."""
        now = time.monotonic()
        if self._last_prune is not None and now - self._last_prune < self.archive_prune_interval:
            return
        self._last_prune = now
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(self.prune_archives))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def prune_archives(self, limit: int = 1000) -> list[str]:
        """Delete archives older than ``archive_keep_days`` that no live job needs; returns what was removed."""
        live = {j.content_hash for j in self.store.needing_poll() if j.content_hash}
        return prune_archives(self.archives_dir, live, self.archive_keep_days, self.log, limit)

    # ------------------------------------------------------------------------------------------ jobs
    async def _rebuild_if_needed(self) -> bool:
        """Rebuild a new/lost store from the cluster; if the cluster cannot be asked now, try again next time."""
        if not await asyncio.to_thread(self.store.needs_rebuild):
            return False
        try:
            await self.rebuild()
        except MLTFError as exc:
            self.store.rebuilt_from_scratch = True  # keep the flag: the jobs are read back once Slurm answers
            self.log.warning("could not read the job list back from the cluster yet: %s", exc.log_message)
            return False
        return True

    async def _current(self, refresh: bool) -> None:
        """Bring the cache up to date: rebuilt if lost, then one (shared, rate-limited) status poll."""
        await self._rebuild_if_needed()
        if refresh:
            await self.watcher.refresh()

    async def list_jobs(self, refresh: bool = True) -> list[Job]:
        await self._current(refresh)
        return await asyncio.to_thread(self.store.all)

    async def list_jobs_json(self) -> str:
        """The job list as the REST API sends it, serialised once for all the clients polling it."""
        await self._current(refresh=True)
        return await asyncio.to_thread(self.store.all_json)

    async def _job(self, job_id: str) -> Job:
        if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
            raise JobNotFound(f"no job {job_id!r}: job ids are letters and digits, see `jupyter mltf list`")
        try:
            return await asyncio.to_thread(self.store.get, job_id)
        except JobNotFound:
            if await self._rebuild_if_needed():
                return await asyncio.to_thread(self.store.get, job_id)
            raise

    async def get_job(self, job_id: str, metrics: bool = False) -> Job:
        await self._job(job_id)
        await self.watcher.refresh()
        job = await self._job(job_id)
        if metrics and job.run_id:
            try:
                job.metrics = await asyncio.to_thread(tracking.latest_metrics, job.tracking_uri, job.run_id)
            except Exception as exc:
                self.log.info("metrics of %s unavailable: %s", job.run_id, redact(exc))
        return job

    async def metrics_history(self, job_id: str) -> dict[str, list[list[float]]]:
        job = await self._job(job_id)
        if not job.run_id:
            return {}
        try:
            return await asyncio.to_thread(tracking.metric_history, job.tracking_uri, job.run_id)
        except Exception as exc:
            raise tracking._unavailable(job.tracking_uri, exc) from None

    async def read_log(self, job_id: str, offset: int = 0, limit: int = 1 << 20) -> LogChunk:
        if not isinstance(offset, int) or offset < 0:
            raise InvalidRequest("offset must be a whole number of bytes, 0 or more")
        job = await self._job(job_id)
        return await self.backend_for(job.backend).read_log(job, offset, limit)

    async def cancel(self, job_id: str) -> Job:
        job = await self._job(job_id)
        if job.state.is_terminal:
            return job
        await self.backend_for(job.backend).cancel(job)
        await asyncio.sleep(0.2)
        await self.watcher.refresh(force=True)
        return await self._job(job_id)

    async def wait(self, job_id: str, timeout: float | None = None, interval: float = 1.0) -> Job:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            await self.watcher.refresh()
            job = await self._job(job_id)
            if job.state.is_terminal:
                return job
            if deadline is not None and time.monotonic() > deadline:
                return job
            await asyncio.sleep(interval)

    async def rebuild(self) -> list[Job]:
        """Read jobs back from the cluster and MLflow into an empty or lost store."""
        ctx = RebuildContext(
            self.active_backend, self.backend_name, self.store, self.jobs_dir, self.tracking_uri, self.ui_url, self.log
        )
        return await rebuild(ctx)

    async def sweep_trials(self, job_id: str) -> list[dict[str, Any]]:
        """The trials of a sweep job (MLflow child runs), oldest first."""
        from .sweep import trials_of

        job = await self._job(job_id)
        if not job.sweep or not job.run_id:
            return []
        try:
            return await asyncio.to_thread(trials_of, job.tracking_uri, job.experiment_id, job.run_id)
        except Exception as exc:
            raise tracking._unavailable(job.tracking_uri, exc) from None

    async def finish_sweep(self, job: Job) -> None:
        from .sweep import summarize_sweep

        await asyncio.to_thread(summarize_sweep, job)

    def start_watcher(self) -> None:
        self.watcher.start()

    async def close(self) -> None:
        if self._background:  # an archive pruning in flight: let it finish (it is bounded)
            await asyncio.wait(self._background, timeout=30)
        await self.watcher.stop()
        await self._registry.close()
        self.store.close()
