"""The one core API behind every surface: the REST handlers, the widget, the magics and the CLI.

:class:`MLTFManager` turns a directory into a validated job (project, parameters, resources, files),
creates the MLflow run, hands a :class:`JobSpec` to the configured backend, and keeps a cache of jobs
that the shared :class:`StatusWatcher` keeps current.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from traitlets import Bool, Dict, Float, Int, Unicode, default, validate
from traitlets.config import LoggingConfigurable
from traitlets.utils.importstring import import_item

from . import packaging, tracking
from .backends.base import Backend, JobSpec
from .errors import InvalidRequest, JobNotFound, MLTFError, PermissionDenied, ProjectError, ResourceError
from .formatting import redact
from .models import Job, JobState, LogChunk, Partition, Resources
from .project import EntryPoint, Project, load_project, render_command, validate_params
from .resources import check_against_partitions, parse_resources, read_gateway_config
from .store import JobStore
from .watcher import StatusWatcher

BACKEND_GROUP = "jupyter_mltf.backends"
GATEWAY_CONFIG = "gateway_config.json"
CELL_SCRIPT = "mltf_cell.py"
PARAMS_FILE = "params.json"  # the job's parameters, 0600: $MLTF_PARAMS_FILE in the entry point's environment
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
_RUN_NAME = re.compile(r"^[^\x00-\x1f\x7f-\x9f]{1,250}$")  # no C0/C1 controls (ESC, CSI), no DEL


def _require_utf8(what: str, value: str | None) -> None:
    """Refuse text that cannot be encoded as UTF-8 (lone surrogates: non-UTF-8 file names, bad JSON escapes)."""
    if value is None:
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(
            f"{what} is not valid UTF-8 text (a non-UTF-8 file or directory name?): rename it or use UTF-8"
        ) from None


def installed_backends() -> dict[str, str]:
    """Backend entry-point names -> import paths."""
    return {ep.name: ep.value.replace(":", ".") for ep in entry_points(group=BACKEND_GROUP)}


@dataclass
class SubmitRequest:
    path: str
    entry_point: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    experiment: str | None = None
    notebook: str | None = None
    idempotency_key: str | None = None
    env_manager: str | None = None
    launcher: str | None = None
    sweep: dict[str, Any] | None = None
    script: str | None = None
    dry_run: bool = False

    @classmethod
    def from_dict(cls, data: Any) -> SubmitRequest:
        if not isinstance(data, dict):
            raise InvalidRequest("the request body must be a JSON object with at least 'path'")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidRequest(f"unknown field(s) {', '.join(unknown)}: valid fields are {', '.join(sorted(known))}")
        if not isinstance(data.get("path"), str):
            raise InvalidRequest("'path' (the project directory, relative to the Jupyter root) is required")
        for key in ("params", "resources"):
            if data.get(key) is not None and not isinstance(data[key], dict):
                raise InvalidRequest(f"'{key}' must be an object of name -> value")
        for key in (
            "entry_point",
            "name",
            "experiment",
            "notebook",
            "idempotency_key",
            "env_manager",
            "launcher",
            "script",
        ):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise InvalidRequest(f"'{key}' must be a string")
        if data.get("sweep") is not None and not isinstance(data["sweep"], dict):
            raise InvalidRequest("'sweep' must be an object (see the sweep file format)")
        if data.get("dry_run") is not None and not isinstance(data["dry_run"], bool):
            raise InvalidRequest("'dry_run' must be true or false (a JSON boolean), not a string or number")
        values = dict(data)
        values["params"] = values.get("params") or {}
        values["resources"] = values.get("resources") or {}
        values["dry_run"] = bool(values.get("dry_run", False))
        return cls(**values)


@dataclass
class Preview:
    path: str
    project: Project | None
    project_error: str | None
    selection: packaging.Selection
    limit_bytes: int
    warn_bytes: int
    resources: dict[str, Any]
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "project": self.project.to_dict() if self.project else None,
            "project_error": self.project_error,
            "files": self.selection.to_dict(self.limit_bytes, self.warn_bytes),
            "resources": self.resources,
            "warnings": self.warnings,
        }


@dataclass
class DryRun:
    script: str
    command: str
    files: list[str]
    excluded: list[dict[str, str]]
    project: dict[str, Any]
    resources: dict[str, Any]
    params: dict[str, str]
    content_hash: str
    total_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": True,
            "script": self.script,
            "command": self.command,
            "files": self.files,
            "excluded": self.excluded,
            "project": self.project,
            "resources": self.resources,
            "params": self.params,
            "content_hash": self.content_hash,
            "total_bytes": self.total_bytes,
        }


@dataclass
class _Plan:
    """A submit that passed every check; nothing has been created for it yet."""

    req: SubmitRequest
    directory: Path
    project: Project
    entry: EntryPoint
    params: dict[str, str]
    command: str
    resources: Resources
    selection: packaging.Selection
    extra: dict[str, bytes]
    sweep: dict[str, Any] | None
    env_manager: str
    launcher: str
    experiment: str
    stop_grace: float | None


@dataclass
class _Made:
    """What a submit has created so far, so that a failure undoes exactly that."""

    run_id: str | None = None
    job_dir: str | None = None
    job: Job | None = None


def _write_private(path: str, text: str) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


def _touch(path: str) -> None:
    try:
        os.utime(path)
    except OSError:
        pass


def _build_archive(
    selection: packaging.Selection, archives_dir: str, extra: dict[str, bytes]
) -> tuple[str, str]:
    """The project archive; a file that cannot be read while packing is named in a 4xx, not a 500."""
    try:
        return packaging.build_archive(selection, archives_dir, extra)
    except OSError as exc:
        name = str(exc.filename or "")
        if name and not name.startswith(os.path.abspath(archives_dir)):
            shown = os.path.relpath(name, selection.root) if name.startswith(str(selection.root)) else name
            raise ProjectError(
                f"cannot read {shown!r} while packing the project ({exc.strerror}): make it readable, "
                "or add it to .mltfignore"
            ) from None
        raise


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
        "notebook",
        help="'notebook': run in the notebook's own environment (no rebuild). 'project': build the project's "
        "python_env.yaml/requirements.txt env once, cached by the hash of its spec.",
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
        if value not in ("notebook", "project"):
            from traitlets import TraitError

            raise TraitError("env_manager must be 'notebook' or 'project'")
        return value

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = JobStore(self.store_path)
        self._backends: dict[str, Backend] = {}
        self._partitions: tuple[float, list[Partition]] | None = None
        self._last_prune: float | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self.watcher = StatusWatcher(self.store, self.backend_for, self.finish_sweep, interval=self.poll_interval)
        self.backend_name = self._resolve_backend_name(self.backend)
        self.backend_for(self.backend_name)  # fail early with the list of installed backends

    # ------------------------------------------------------------------------------------------ backends
    @staticmethod
    def _resolve_backend_name(name: str) -> str:
        if name == "auto":
            return "slurm" if shutil.which("sbatch") else "local"
        return name

    def backend_for(self, name: str) -> Backend:
        if name in self._backends:
            return self._backends[name]
        choices = installed_backends()
        target = choices.get(name, name if "." in name else None)
        if target is None:
            raise InvalidRequest(f"unknown backend {name!r}: installed backends are {', '.join(sorted(choices))}")
        cls = import_item(target)
        if not (isinstance(cls, type) and issubclass(cls, Backend)):
            raise InvalidRequest(f"{target} is not a jupyter_mltf Backend")
        instance = cls(parent=self)
        self._backends[name] = instance
        return instance

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
        _require_utf8("the project path", str(resolved))
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

    def _gateway_config(self, directory: Path) -> dict[str, Any]:
        path = directory / GATEWAY_CONFIG
        if not path.is_file():
            return {}
        return read_gateway_config(path)

    def _project_resources(self, directory: Path) -> Resources:
        base = parse_resources(self.default_resources)
        raw = self._gateway_config(directory)
        try:
            return parse_resources(raw, base)
        except MLTFError as exc:
            raise ProjectError(f"{GATEWAY_CONFIG}: {exc.message}") from None

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
            resources = self._project_resources(directory).to_dict()
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
        )

    def _cell_project(self, directory: Path, script: str) -> Project:
        entry = EntryPoint(name="main", command=f"python {CELL_SCRIPT}")
        return Project(
            directory=directory,
            name=directory.name or "cell",
            entry_points={"main": entry},
            generated=True,
            notes=["the cell body runs as the entry script"],
        )

    async def submit(self, req: SubmitRequest) -> Job | DryRun:
        """Validate everything, then (unless a dry run) claim the idempotency key, and only then create the
        archive, the MLflow run, the job dir and the Slurm job; a failure on the way undoes what was made."""
        plan = await self._plan(req)
        if req.dry_run:
            return await self._dry_run(plan)
        await asyncio.to_thread(tracking.ping, self.tracking_uri)  # seconds, not MLflow's minutes of retries
        await asyncio.to_thread(tracking.check_experiment, self.tracking_uri, plan.experiment)
        job_id = uuid.uuid4().hex[:10]
        key = req.idempotency_key
        if key:
            await asyncio.to_thread(self.store.claim_key, key, job_id, self.idempotency_claim_timeout)
        made = _Made()
        try:
            spec = await self._create(plan, job_id, key, made)
            assert made.job is not None
            made.job.native_id = await self.active_backend.submit(spec)
        except BaseException as exc:
            await self._roll_back(made, key, job_id, exc)
            raise
        return await self._submitted(plan, made.job)

    async def _plan(self, req: SubmitRequest) -> _Plan:
        """Every check of a submit, with nothing created: the project, parameters, resources against the
        cluster's partitions and limits, the files, the sweep."""
        directory = await asyncio.to_thread(self.resolve_dir, req.path)
        self._check_request(req)
        env_manager = req.env_manager or self.env_manager
        extra: dict[str, bytes] = {}
        if req.script is not None:
            project = self._cell_project(directory, req.script)
            extra[CELL_SCRIPT] = req.script.encode("utf-8")
        else:
            project = await asyncio.to_thread(load_project, directory, notebook=req.notebook)
        entry = project.entry_point(req.entry_point)
        params = validate_params(entry, req.params)
        command = render_command(entry, params)
        resources = await self._checked_resources(req, directory)
        if env_manager == "project" and not project.env_spec:
            raise ProjectError("env 'project' needs a python_env.yaml, conda.yaml or requirements.txt in the project")
        if env_manager == "project":
            await asyncio.to_thread(project.check_env)  # a detected requirements.txt matters only then
        launcher = req.launcher or project.launcher or "auto"
        if launcher not in ("auto", "none", "torchrun", "accelerate"):
            raise InvalidRequest("launcher must be one of auto, none, torchrun, accelerate")
        selection = await asyncio.to_thread(packaging.select_files, directory)
        packaging.check_size(selection, self.max_project_bytes)
        if project.generated and req.script is None:
            extra["MLproject"] = project.mlproject_text.encode("utf-8")
        if not selection.shipped_paths() and not extra:
            raise ProjectError("the project has no files to ship (all are ignored?): check .gitignore/.mltfignore")
        sweep = None
        if req.sweep is not None:
            from .sweep import parse_sweep

            sweep = parse_sweep(req.sweep, entry)
        limits = await self.active_backend.cluster_limits()
        if sweep and limits.max_array_tasks is not None and sweep["tasks"] > limits.max_array_tasks:
            raise ResourceError(
                f"the sweep's parallelism {sweep['tasks']} needs a job array of {sweep['tasks']} tasks, and this "
                f"cluster allows at most {limits.max_array_tasks} (Slurm MaxArraySize): lower 'parallelism'"
            )
        return _Plan(
            req=req,
            directory=directory,
            project=project,
            entry=entry,
            params=params,
            command=command,
            resources=resources,
            selection=selection,
            extra=extra,
            sweep=sweep,
            env_manager=env_manager,
            launcher=launcher,
            experiment=req.experiment or self.experiment_name or project.name,
            stop_grace=self.active_backend.stop_grace(limits),
        )

    @staticmethod
    def _check_request(req: SubmitRequest) -> None:
        for what in ("entry_point", "name", "experiment", "notebook", "script"):
            _require_utf8(what, getattr(req, what))
        if req.idempotency_key is not None and not _IDEMPOTENCY_KEY.fullmatch(req.idempotency_key):
            raise InvalidRequest("idempotency_key must be 1-128 letters, digits, '_', '-', '.', ':'")
        if req.name is not None and not _RUN_NAME.fullmatch(req.name):
            raise InvalidRequest("name must be 1-250 characters without control characters (no newlines)")
        if req.experiment is not None and not _RUN_NAME.fullmatch(req.experiment):
            raise InvalidRequest("experiment must be 1-250 characters without control characters")
        if (req.env_manager or "notebook") not in ("notebook", "project"):
            raise InvalidRequest("env_manager must be 'notebook' or 'project'")
        if req.script is not None and "\x00" in req.script:
            raise InvalidRequest("the cell contains a NUL byte")

    async def _checked_resources(self, req: SubmitRequest, directory: Path) -> Resources:
        resources = parse_resources(req.resources, self._project_resources(directory))
        caps = self.active_backend.capabilities()
        if caps.partitions:
            if getattr(self.active_backend, "tasks_as_nodes", False):
                # a one-host test cluster simulates nodes with tasks: check the rest against one node
                nodes, resources.nodes = resources.nodes, 1
                resources = check_against_partitions(resources, await self.partitions())
                resources.nodes = nodes
            else:
                resources = check_against_partitions(resources, await self.partitions())
        if resources.nodes > 1 and not caps.multi_node:
            raise InvalidRequest(f"the {self.backend_name} backend runs single-node jobs only: use nodes=1")
        return resources

    def _spec(self, plan: _Plan, job_id: str, archive: str, digest: str) -> JobSpec:
        sweep = plan.sweep
        return JobSpec(
            job_id=job_id,
            name=plan.req.name or plan.project.name,
            project_name=plan.project.name,
            project_dir=str(plan.directory),
            archive_path=archive,
            content_hash=digest,
            entry_point=plan.entry.name,
            params=plan.params,
            command=plan.command,
            resources=plan.resources,
            job_dir=os.path.join(self.jobs_dir, job_id),
            run_id=None,
            experiment_id=None,
            tracking_uri=self.tracking_uri,
            python=self.python,
            env_manager=plan.env_manager,
            env_spec=plan.project.env_spec,
            launcher=plan.launcher,
            array={"tasks": sweep["tasks"], "parallelism": sweep["parallelism"]} if sweep else None,
            backend_config=self._gateway_config(plan.directory),
            stop_grace=plan.stop_grace,
        )

    async def _dry_run(self, plan: _Plan) -> DryRun:
        """The script and file list; the archive is built only for its digest, in a scratch directory that is
        removed at once (a dry run leaves nothing behind, secrets included)."""
        _, digest = await asyncio.to_thread(self._archive_digest, plan.selection, plan.extra)
        spec = self._spec(plan, uuid.uuid4().hex[:10], os.path.join(self.archives_dir, f"{digest}.tar"), digest)
        return DryRun(
            script=self.active_backend.job_script(spec),
            command=plan.command,
            files=plan.selection.shipped_paths() + sorted(plan.extra),
            excluded=[{"path": p, "reason": r} for p, r in plan.selection.excluded],
            project=plan.project.to_dict(),
            resources=plan.resources.to_dict(),
            params=plan.params,
            content_hash=digest,
            total_bytes=plan.selection.total_bytes,
        )

    def _archive_digest(self, selection: packaging.Selection, extra: dict[str, bytes]) -> tuple[str, str]:
        os.makedirs(self.archives_dir, mode=0o700, exist_ok=True)
        scratch = tempfile.mkdtemp(prefix=".dry-run-", dir=self.archives_dir)
        try:
            return _build_archive(selection, scratch, extra)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    async def _create(self, plan: _Plan, job_id: str, key: str | None, made: _Made) -> JobSpec:
        """The archive, the MLflow run, the private job dir with spec and secret files, the store row; each
        recorded in ``made`` so that a failure undoes exactly what was created."""
        archive, digest = await asyncio.to_thread(_build_archive, plan.selection, self.archives_dir, plan.extra)
        _touch(archive)  # a reused archive is young again: pruning keeps it
        spec = self._spec(plan, job_id, archive, digest)
        user = getpass.getuser()
        tags = {
            "mltf.job_id": job_id,
            "mltf.backend": self.backend_name,
            "mltf.content_hash": digest,
            "mltf.project_dir": str(plan.directory),
            "mltf.entry_point": plan.entry.name,
            "mltf.partition": plan.resources.partition or "",
            "mltf.gpus_requested": str(plan.resources.gpus),
            "mlflow.user": user,
            "mlflow.source.name": str(plan.directory),
            "mlflow.source.type": "PROJECT",
            "mlflow.project.entryPoint": plan.entry.name,
        }
        if plan.sweep:
            tags["mltf.sweep"] = "parent"
        exp_id, run_id = await asyncio.to_thread(
            tracking.create_run, self.tracking_uri, plan.experiment, spec.name, tags, {} if plan.sweep else plan.params
        )
        made.run_id = run_id
        spec.run_id, spec.experiment_id = run_id, exp_id
        made.job_dir = spec.job_dir
        await asyncio.to_thread(self._make_job_dir, spec)
        job = Job(
            id=job_id,
            backend=self.backend_name,
            native_id="",
            name=spec.name,
            project_dir=str(plan.directory),
            entry_point=plan.entry.name,
            params=plan.params,
            resources=plan.resources,
            run_id=run_id,
            experiment_id=exp_id,
            tracking_uri=self.tracking_uri,
            mlflow_url=tracking.run_url(self.ui_url, exp_id, run_id),
            job_dir=spec.job_dir,
            log_path=spec.log_path,
            content_hash=digest,
            user=user,
            idempotency_key=key,
            sweep=plan.sweep,
        )
        await asyncio.to_thread(self._write_spec, spec, plan.sweep, plan.entry)
        await asyncio.to_thread(self.store.add, job)
        made.job = job
        return spec

    def _make_job_dir(self, spec: JobSpec) -> None:
        """The job dir, private to the user, with the MLflow secrets in 0600 files (never in the
        environment Slurm stores with the job, the script, argv or the spec) and the parameters in a
        0600 file a script may read instead of its command line (``$MLTF_PARAMS_FILE``)."""
        for private in (self.jobs_dir, spec.job_dir):  # other users must not read specs, logs or token files
            os.makedirs(private, mode=0o700, exist_ok=True)
            os.chmod(private, 0o700)
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        if token:
            spec.token_file = _write_private(os.path.join(spec.job_dir, "tracking-token"), token)
        password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
        if password:
            spec.password_file = _write_private(os.path.join(spec.job_dir, "tracking-password"), password)
        _write_private(os.path.join(spec.job_dir, PARAMS_FILE), json.dumps(spec.params))

    async def _roll_back(self, made: _Made, key: str | None, job_id: str, exc: BaseException) -> None:
        """Undo a submit that failed before the cluster took the job: no store row, no job dir, no live
        MLflow run (deleted: it never ran), and the idempotency key free again."""
        reason = getattr(exc, "log_message", None) or type(exc).__name__
        self.log.warning("submit of job %s failed, undoing it: %s", job_id, redact(reason))
        steps: list[tuple[str, Any]] = []
        if made.job is not None:
            steps.append(("store row", lambda: self.store.delete(job_id)))
        if made.job_dir:
            steps.append(("job dir", lambda: shutil.rmtree(made.job_dir or "", ignore_errors=True)))
        if made.run_id:
            steps.append(("MLflow run", lambda: tracking.delete_run(self.tracking_uri, made.run_id or "")))
        if key:
            steps.append(("idempotency key", lambda: self.store.release_key(key, job_id)))
        for what, undo in steps:
            try:
                await asyncio.to_thread(undo)
            except Exception as err:  # keep undoing the rest
                self.log.warning("could not undo the %s of job %s: %s", what, job_id, redact(err))

    async def _submitted(self, plan: _Plan, job: Job | None) -> Job:
        """The cluster has the job: record its id; what fails from here on is logged, never undone."""
        assert job is not None
        job.state = JobState.PENDING
        await asyncio.to_thread(self.store.save, job)
        await asyncio.to_thread(self._write_job_record, job)
        try:
            await asyncio.to_thread(
                tracking.set_tags,
                self.tracking_uri,
                job.run_id or "",
                {"mltf.slurm_job_id" if self.backend_name == "slurm" else "mltf.native_id": job.native_id},
            )
        except Exception as exc:
            self.log.warning("could not tag run %s with its job id: %s", job.run_id, redact(exc))
        if plan.project.generated and plan.req.script is None and self.write_generated_mlproject:
            self._write_mlproject(plan.directory, plan.project)
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
        """Delete archives (and their manifests, and leftovers of interrupted writes) older than
        ``archive_keep_days`` that no live job needs; at most ``limit`` per call. Returns what was removed."""
        try:
            names = sorted(os.listdir(self.archives_dir))
        except OSError:
            return []
        live = {j.content_hash for j in self.store.needing_poll() if j.content_hash}
        cutoff = time.time() - self.archive_keep_days * 86400
        removed: list[str] = []
        for name in names:
            if len(removed) >= limit:
                break
            if not name.startswith((".dry-run-", ".archive-", ".stage-", "manifest-")) and not name.endswith(".tar"):
                continue
            if name.endswith(".tar") and name[: -len(".tar")] in live:
                continue
            path = os.path.join(self.archives_dir, name)
            try:
                if os.lstat(path).st_mtime >= cutoff:
                    continue
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                else:
                    os.unlink(path)
                removed.append(name)
            except OSError as exc:
                self.log.info("could not prune %s: %s", path, exc)
        return removed

    def _write_spec(self, spec: JobSpec, sweep: dict[str, Any] | None, entry: EntryPoint | None = None) -> None:
        data = {
            "job_id": spec.job_id,
            "name": spec.name,
            "project_name": spec.project_name,
            "archive": spec.archive_path,
            "content_hash": spec.content_hash,
            "command": spec.command,
            "entry_point": spec.entry_point,
            "params": spec.params,
            "run_id": spec.run_id,
            "experiment_id": spec.experiment_id,
            "tracking_uri": spec.tracking_uri,
            "token_file": spec.token_file,
            "password_file": spec.password_file,
            "tracking_username": os.environ.get("MLFLOW_TRACKING_USERNAME"),
            "params_file": os.path.join(spec.job_dir, PARAMS_FILE),
            "stop_grace": spec.stop_grace,
            "env_manager": spec.env_manager,
            "env_spec": spec.env_spec,
            "launcher": spec.launcher,
            "resources": spec.resources.to_dict(),
            "python": spec.python,
            "envs_dir": os.path.join(os.path.dirname(self.jobs_dir.rstrip("/")), "envs"),
            "sweep": sweep,
            "entry": entry.to_dict() if entry is not None else None,
        }
        fd = os.open(spec.spec_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)

    def _write_job_record(self, job: Job) -> None:
        if job.job_dir:
            with open(os.path.join(job.job_dir, "job.json"), "w", encoding="utf-8") as fh:
                json.dump(job.to_dict(), fh)

    def _write_mlproject(self, directory: Path, project: Project) -> None:
        target = directory / "MLproject"
        try:
            with open(target, "x", encoding="utf-8") as fh:
                fh.write(project.mlproject_text)
        except OSError as exc:
            self.log.info("did not write %s: %s", target, exc)

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
        if not isinstance(job_id, str) or not re.fullmatch(r"[A-Za-z0-9_\-]{1,64}", job_id):
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
        backend = self.active_backend
        found = await backend.discover()
        known = {j.id for j in await asyncio.to_thread(self.store.all)}
        runs: dict[str, Any] = {}
        lost = {
            d.job_id: d.run_id
            for d in found
            if d.job_id not in known and not os.path.exists(os.path.join(self.jobs_dir, d.job_id, "job.json"))
        }
        try:
            runs = await asyncio.to_thread(tracking.find_runs_by_job, self.tracking_uri, lost)
        except Exception as exc:
            self.log.warning("MLflow unavailable while rebuilding the job list: %s", redact(exc))
        rebuilt: list[Job] = []
        for item in found:
            if not item.job_id:  # a backend that keeps no id of ours (the gateway): derive a stable one
                item.job_id = re.sub(r"[^A-Za-z0-9_-]", "", item.native_id)[:32] or uuid.uuid4().hex[:10]
            if item.job_id in known:
                continue
            if await asyncio.to_thread(self.store.find_native, self.backend_name, item.native_id) is not None:
                continue
            record = os.path.join(self.jobs_dir, item.job_id, "job.json")
            job: Job | None = None
            if os.path.exists(record):
                try:
                    with open(record, encoding="utf-8") as fh:
                        job = Job.from_dict(json.load(fh))
                except (OSError, ValueError, TypeError):
                    job = None
            if job is None:
                run = runs.get(item.job_id)
                tags = run.data.tags if run is not None else {}
                job = Job(
                    id=item.job_id,
                    backend=self.backend_name,
                    native_id=item.native_id,
                    name=run.info.run_name if run is not None else item.name,
                    project_dir=tags.get("mltf.project_dir", ""),
                    entry_point=tags.get("mltf.entry_point", "main"),
                    params=dict(run.data.params) if run is not None else {},
                    resources=Resources(partition=item.partition),
                    run_id=item.run_id or (run.info.run_id if run is not None else None),
                    experiment_id=run.info.experiment_id if run is not None else None,
                    tracking_uri=self.tracking_uri,
                    job_dir=os.path.join(self.jobs_dir, item.job_id),
                    log_path=os.path.join(self.jobs_dir, item.job_id, "job.log"),
                    content_hash=tags.get("mltf.content_hash"),
                    user=getpass.getuser(),
                    submitted_at=item.submitted_at or time.time(),
                )
                job.mlflow_url = tracking.run_url(self.ui_url, job.experiment_id, job.run_id)
            job.native_id = item.native_id
            job.apply(item.status)
            await asyncio.to_thread(self.store.save, job)
            rebuilt.append(job)
        return rebuilt

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
        for backend in self._backends.values():
            await backend.close()
        self.store.close()
