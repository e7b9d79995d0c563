"""The submission pipeline: ``plan(request) -> SubmitPlan`` checks everything and creates nothing;
``check``, ``dry_run`` and ``launch`` (:mod:`.launching`: side effects and rollback) all start from that plan,
so what a form is told, what a dry run shows and what is submitted cannot drift apart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from . import packaging
from .backends.base import Backend
from .envbuild import env_key, ready_env
from .envspec import EnvRequest, declared_env
from .errors import InvalidRequest, MLTFError, ProjectError, ResourceError
from .launching import Launcher, build_archive, check_experiment, job_spec, mlflow_requirement
from .models import Job, Partition, Resources
from .project import EntryPoint, Project, load_project, render_command, validate_params
from .pythons import PythonFound, find_python
from .resources import check_against_partitions, parse_resources, read_gateway_config
from .store import JobStore
from .submission import CheckResult, DryRun, EnvDecision, Settings, SubmitPlan, SubmitRequest

GATEWAY_CONFIG = "gateway_config.json"
CELL_SCRIPT = "mltf_cell.py"
LAUNCHERS = ("auto", "none", "torchrun", "accelerate")
ENV_MANAGERS = ("auto", "notebook", "project")
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
_LABEL = re.compile(r"^[^\x00-\x1f\x7f-\x9f]{1,250}$")  # run and experiment names: no C0/C1 controls, no DEL


def require_utf8(what: str, value: str | None) -> None:
    """Refuse text that cannot be encoded as UTF-8 (lone surrogates: non-UTF-8 file names, bad JSON escapes)."""
    if value is None:
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(
            f"{what} is not valid UTF-8 text (a non-UTF-8 file or directory name?): rename it or use UTF-8",
            field=what if what != "the project path" else "path",
        ) from None


def check_request(req: SubmitRequest) -> None:
    """The request's own fields, before anything is read from disk or the cluster."""
    for what in ("entry_point", "name", "experiment", "notebook", "script"):
        require_utf8(what, getattr(req, what))
    if req.idempotency_key is not None and not _IDEMPOTENCY_KEY.fullmatch(req.idempotency_key):
        raise InvalidRequest(
            "idempotency_key must be 1-128 letters, digits, '_', '-', '.', ':'", field="idempotency_key"
        )
    if req.name is not None and not _LABEL.fullmatch(req.name):
        raise InvalidRequest("name must be 1-250 characters without control characters (no newlines)", field="name")
    if req.experiment is not None and not _LABEL.fullmatch(req.experiment):
        raise InvalidRequest("experiment must be 1-250 characters without control characters", field="experiment")
    if req.env_manager is not None and req.env_manager not in ENV_MANAGERS:
        raise InvalidRequest(f"env_manager must be one of {', '.join(ENV_MANAGERS)}", field="env_manager")
    if req.launcher is not None and req.launcher not in LAUNCHERS:
        raise InvalidRequest(f"launcher must be one of {', '.join(LAUNCHERS)}", field="launcher")
    if req.script is not None and "\x00" in req.script:
        raise InvalidRequest("the cell contains a NUL byte", field="script")


def project_resources(directory: Path, default_resources: dict[str, Any]) -> Resources:
    """The site defaults, then the project's gateway_config.json on top."""
    base = parse_resources(default_resources)
    path = directory / GATEWAY_CONFIG
    raw = read_gateway_config(path) if path.is_file() else {}
    try:
        return parse_resources(raw, base)
    except MLTFError as exc:
        raise ProjectError(f"{GATEWAY_CONFIG}: {exc.message}") from None


def gateway_config(directory: Path) -> dict[str, Any]:
    path = directory / GATEWAY_CONFIG
    return read_gateway_config(path) if path.is_file() else {}


def cell_project(directory: Path) -> Project:
    """A cell submitted as a job: its body runs as the entry script of the directory's project."""
    entry = EntryPoint(name="main", command=f"python {CELL_SCRIPT}")
    return Project(
        directory=directory,
        name=directory.name or "cell",
        entry_points={"main": entry},
        generated=True,
        notes=["the cell body runs as the entry script"],
    )


class SubmitPipeline:
    """Plan and launch submissions for one user against one backend."""

    def __init__(
        self,
        settings: Settings,
        backend: Backend,
        store: JobStore,
        resolve_dir: Callable[[str], Path],
        partitions: Callable[[], Awaitable[list[Partition]]],
        log: logging.Logger,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.store = store
        self._resolve_dir = resolve_dir
        self._partitions = partitions
        self.log = log

    # ------------------------------------------------------------------------------------------ plan
    async def plan(self, req: SubmitRequest) -> SubmitPlan:
        """Every check of a submit, with nothing created: the project, parameters, resources against the
        cluster's partitions and limits, the files, the sweep."""
        try:
            directory = await asyncio.to_thread(self._resolve_dir, req.path)
        except MLTFError as exc:
            raise exc.about("path") from None
        check_request(req)
        project, extra = await self._project(req, directory)
        try:
            entry = project.entry_point(req.entry_point)
        except MLTFError as exc:
            raise exc.about("entry_point") from None
        params = validate_params(entry, req.params)
        resources = await self._resources(req, directory)
        env = await asyncio.to_thread(self.decide_env, req.env_manager, project, req.script is not None)
        selection = await self._selection(directory, extra)
        limits = await self.backend.cluster_limits()
        return SubmitPlan(
            req=req,
            directory=directory,
            project=project,
            entry=entry,
            params=params,
            command=render_command(entry, params),
            resources=resources,
            selection=selection,
            extra=extra,
            sweep=self._sweep(req, entry, limits.max_array_tasks),
            env=env,
            launcher=req.launcher or project.launcher or "auto",
            experiment=req.experiment or self.settings.experiment_name or project.name,
            stop_grace=self.backend.stop_grace(limits),
            backend_config=gateway_config(directory),
        )

    async def _project(self, req: SubmitRequest, directory: Path) -> tuple[Project, dict[str, bytes]]:
        """The project, and the files the submit adds to it (a cell's script, a proposed MLproject)."""
        if req.script is not None:
            return cell_project(directory), {CELL_SCRIPT: req.script.encode("utf-8")}
        try:
            project = await asyncio.to_thread(load_project, directory, notebook=req.notebook)
        except MLTFError as exc:
            raise (exc.about("notebook") if req.notebook else exc) from None
        return project, ({"MLproject": project.mlproject_text.encode("utf-8")} if project.generated else {})

    async def _resources(self, req: SubmitRequest, directory: Path) -> Resources:
        """The request on top of the project's and the site's defaults, checked against the partitions."""
        resources = parse_resources(req.resources, project_resources(directory, self.settings.default_resources))
        caps = self.backend.capabilities()
        if caps.partitions:
            checked = check_against_partitions(self.backend.partition_request(resources), await self._partitions())
            resources.partition = checked.partition
        if resources.nodes > 1 and not caps.multi_node:
            raise InvalidRequest(
                f"the {self.settings.backend_name} backend runs single-node jobs only: use nodes=1",
                field="resources.nodes",
            )
        return resources

    def decide_env(self, asked: str | None, project: Project, cell: bool = False) -> EnvDecision:
        """Which environment runs the job, and why (blocking: reads the env file, looks up Pythons)."""
        policy = asked or self.settings.env_manager
        if policy == "notebook":
            return EnvDecision(policy, "notebook", "the notebook's environment was asked for")
        if cell and policy == "auto":  # the cell ran in the kernel: it runs in the same packages
            return EnvDecision(policy, "notebook", "a notebook cell runs in the notebook's environment")
        if self.backend.capabilities().builds_envs:  # the gateway: its own builder, its own Pythons
            why = f"the {self.settings.backend_name} backend builds the project's environment on its side"
            return EnvDecision(policy, "project", why)
        request = declared_env(project.directory, project.env_spec)
        if request is None:
            if policy == "project":
                raise ProjectError(
                    "env 'project' needs a python_env.yaml, conda.yaml, requirements.txt or pyproject.toml "
                    "dependencies in the project: add one, or use env 'notebook'",
                    field="env_manager",
                )
            return EnvDecision(policy, "notebook", "the project declares no environment: the notebook's is used")
        python = find_python(request.python, self.settings.python_search_paths, self.settings.python)
        key = env_key(request, python, mlflow_requirement(request))
        cached = ready_env(self.settings.envs_dir, key) is not None
        return EnvDecision(policy, "project", _why(request, python), request, python, cached)

    async def _selection(self, directory: Path, extra: dict[str, bytes]) -> packaging.Selection:
        selection = await asyncio.to_thread(packaging.select_files, directory)
        packaging.check_size(selection, self.settings.max_project_bytes)
        if not selection.shipped_paths() and not extra:
            raise ProjectError("the project has no files to ship (all are ignored?): check .gitignore/.mltfignore")
        return selection

    @staticmethod
    def _sweep(req: SubmitRequest, entry: EntryPoint, max_array_tasks: int | None) -> dict[str, Any] | None:
        if req.sweep is None:
            return None
        from .sweep import parse_sweep

        try:
            sweep = parse_sweep(req.sweep, entry)
        except MLTFError as exc:
            raise exc.about("sweep") from None
        if max_array_tasks is not None and sweep["tasks"] > max_array_tasks:
            raise ResourceError(
                f"the sweep's parallelism {sweep['tasks']} needs a job array of {sweep['tasks']} tasks, and this "
                f"cluster allows at most {max_array_tasks} (Slurm MaxArraySize): lower 'parallelism'",
                field="sweep",
            )
        return sweep

    # ------------------------------------------------------------------------------------------ check, dry run
    async def check(self, plan: SubmitPlan) -> CheckResult:
        """What the plan would run, for a form to show; the warnings a preview would give. The experiment
        is checked too (a deleted one is refused at submit), so check refuses what submit refuses."""
        await check_experiment(self.settings, plan.experiment)
        warnings = list(plan.project.notes) if plan.project.generated else []
        if plan.selection.total_bytes > self.settings.warn_project_bytes:
            warnings.append(f"the project ships {plan.selection.total_bytes / 1e6:.0f} MB: consider a .mltfignore")
        return CheckResult(
            command=plan.command,
            params=plan.params,
            resources=plan.resources.to_dict(),
            env=plan.env,
            launcher=plan.launcher,
            experiment=plan.experiment,
            warnings=warnings,
        )

    async def dry_run(self, plan: SubmitPlan) -> DryRun:
        """The script and file list; the archive is built only for its digest, in a scratch directory that is
        removed at once (a dry run leaves nothing behind, secrets included)."""
        _, digest = await asyncio.to_thread(self._archive_digest, plan)
        archive = os.path.join(self.settings.archives_dir, f"{digest}.tar")
        spec = job_spec(self.settings, plan, uuid.uuid4().hex[:10], archive, digest)
        return DryRun(
            script=self.backend.job_script(spec),
            command=plan.command,
            files=plan.selection.shipped_paths() + sorted(plan.extra),
            excluded=[{"path": p, "reason": r} for p, r in plan.selection.excluded],
            project=plan.project.to_dict(),
            resources=plan.resources.to_dict(),
            params=plan.params,
            content_hash=digest,
            total_bytes=plan.selection.total_bytes,
            env=plan.env,
        )

    def _archive_digest(self, plan: SubmitPlan) -> tuple[str, str]:
        os.makedirs(self.settings.archives_dir, mode=0o700, exist_ok=True)
        scratch = tempfile.mkdtemp(prefix=".dry-run-", dir=self.settings.archives_dir)
        try:
            return build_archive(plan.selection, scratch, plan.extra)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    async def launch(self, plan: SubmitPlan) -> Job:
        """Create everything the job needs and submit it (see :mod:`.launching`)."""
        return await Launcher(self.settings, self.backend, self.store, self.log).launch(plan)


def _why(request: EnvRequest, python: PythonFound) -> str:
    count = len(request.requirements)
    packages = f"{count} package{'s' if count != 1 else ''}"
    return f"the project declares {request.spec_file} (Python {request.python or python.version}, {packages})"


def write_mlproject(directory: Path, project: Project, log: logging.Logger) -> None:
    """Keep the proposed MLproject in a folder that had none (never over an existing file)."""
    target = directory / "MLproject"
    try:
        with open(target, "x", encoding="utf-8") as fh:
            fh.write(project.mlproject_text)
    except OSError as exc:
        log.info("did not write %s: %s", target, exc)
