"""Launching a planned submission: claim the idempotency key, then create the archive, the MLflow run, the
private job directory with ``spec.json`` and its secret files, the store row, and the cluster job. A failure
on the way undoes exactly what was made, so a refused or failed submit leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import getpass
import importlib.metadata
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import archives, packaging, tracking
from .backends.base import Backend, JobSpec
from .contract import JobPaths, RunnerSpec
from .envbuild import BuiltEnv, ensure_env
from .envspec import EnvRequest
from .errors import InvalidRequest, ProjectError
from .formatting import redact
from .models import Job, JobState
from .store import JobStore
from .submission import EnvDecision, Settings, SubmitPlan


@dataclass
class _Made:
    """What a launch has created so far, so that a failure undoes exactly that."""

    run_id: str | None = None
    job_dir: str | None = None
    job: Job | None = None
    env: BuiltEnv | None = None  # a cache entry: never undone
    secrets: list[str] = field(default_factory=list)


def build_archive(selection: packaging.Selection, archives_dir: str, extra: dict[str, bytes]) -> tuple[str, str]:
    """The project archive; a file that cannot be read while packing is named in a 4xx, not a 500."""
    try:
        return archives.build_archive(selection, archives_dir, extra)
    except OSError as exc:
        name = str(exc.filename or "")
        if name and not name.startswith(os.path.abspath(archives_dir)):
            shown = os.path.relpath(name, selection.root) if name.startswith(str(selection.root)) else name
            raise ProjectError(
                f"cannot read {shown!r} while packing the project ({exc.strerror}): make it readable, "
                "or add it to .mltfignore"
            ) from None
        raise


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


def job_spec(settings: Settings, plan: SubmitPlan, job_id: str, archive: str, digest: str) -> JobSpec:
    """What the backend gets for one job (also rendered, never submitted, by a dry run)."""
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
        job_dir=os.path.join(settings.jobs_dir, job_id),
        run_id=None,
        experiment_id=None,
        tracking_uri=settings.tracking_uri,
        python=settings.python,
        env_manager=plan.env.used,
        env_spec=plan.env.request.spec_file if plan.env.request else None,
        launcher=plan.launcher,
        array={"tasks": sweep["tasks"], "parallelism": sweep["parallelism"]} if sweep else None,
        backend_config=plan.backend_config,
        stop_grace=plan.stop_grace,
    )


async def check_experiment(settings: Settings, experiment: str) -> None:
    """The tracking server answers, and the experiment may be written to (a deleted one is refused)."""
    uri = settings.tracking_uri
    await asyncio.to_thread(tracking.ping, uri)  # seconds, not MLflow's minutes of retries
    try:
        await asyncio.to_thread(tracking.check_experiment, uri, experiment)
    except InvalidRequest as exc:  # a deleted experiment; an unreachable server is about no field
        raise exc.about("experiment") from None


def env_tags(env: EnvDecision, built: BuiltEnv | None) -> dict[str, str]:
    """What the run records about its environment (the lock file itself is logged by the runner)."""
    tags = {"mltf.env": env.used, "mltf.env_reason": env.why}
    if env.python is not None:
        tags["mltf.python.requested"] = (env.request.python if env.request else None) or "any"
        tags["mltf.python.used"] = env.python.version
    if built is not None:
        tags["mltf.env_hash"] = built.key
    return tags


def mlflow_requirement(request: EnvRequest) -> list[str]:
    """What a project env gets besides its own packages: the MLflow client of this release, unless the project
    names one, so that ``import mlflow`` works in it and logs into the submitted run."""
    names = {re.split(r"[\s\[<>=!~;@]", line, maxsplit=1)[0].lower() for line in request.requirements}
    if names & {"mlflow", "mlflow-skinny"}:
        return []
    return [f"mlflow-skinny=={importlib.metadata.version('mlflow-skinny')}"]


def build_env(settings: Settings, env: EnvDecision) -> BuiltEnv | None:
    """The declared env, built now (before anything is created: a bad requirement is refused at submit), or
    None when the job builds it itself (build_on "node") or runs in the notebook env."""
    if env.request is None or env.python is None or settings.build_on != "submit":
        return None
    return ensure_env(
        env.request,
        env.python,
        settings.envs_dir,
        uv_cache_dir=settings.uv_cache_dir,
        extra_requirements=mlflow_requirement(env.request),
    )


# ------------------------------------------------------------------------------------------ launch

class Launcher:
    """Creates what a planned job needs, in order, and undoes it when a later step fails."""

    def __init__(self, settings: Settings, backend: Backend, store: JobStore, log: logging.Logger) -> None:
        self.settings = settings
        self.backend = backend
        self.store = store
        self.log = log

    async def launch(self, plan: SubmitPlan) -> Job:
        """Claim the idempotency key, then create the archive, the MLflow run, the job dir and the cluster
        job; a failure on the way undoes what was made."""
        await check_experiment(self.settings, plan.experiment)
        job_id = uuid.uuid4().hex[:10]
        key = plan.req.idempotency_key
        if key:
            await asyncio.to_thread(self.store.claim_key, key, job_id, self.settings.idempotency_claim_timeout)
        made = _Made()
        try:
            made.env = await asyncio.to_thread(build_env, self.settings, plan.env)
            spec = await self._create(plan, job_id, made)
            assert made.job is not None
            made.job.native_id = await self.backend.submit(spec)
        except BaseException as exc:
            await self._roll_back(made, key, job_id, exc)
            raise
        return await self._submitted(made.job)

    async def _create(self, plan: SubmitPlan, job_id: str, made: _Made) -> JobSpec:
        """The archive, the MLflow run, the private job dir with spec and secret files, the store row; each
        recorded in ``made`` so that a failure undoes exactly what was created."""
        archive, digest = await asyncio.to_thread(
            build_archive, plan.selection, self.settings.archives_dir, plan.extra
        )
        _touch(archive)  # a reused archive is young again: pruning keeps it
        spec = job_spec(self.settings, plan, job_id, archive, digest)
        exp_id, run_id = await asyncio.to_thread(
            tracking.create_run,
            self.settings.tracking_uri,
            plan.experiment,
            spec.name,
            self._run_tags(plan, job_id, digest, made.env),
            {} if plan.sweep else plan.params,
        )
        made.run_id = run_id
        spec.run_id, spec.experiment_id = run_id, exp_id
        made.job_dir = spec.job_dir
        await asyncio.to_thread(self._make_job_dir, spec)
        job = self._job(plan, spec)
        await asyncio.to_thread(self._runner_spec(plan, spec, made.env).write, JobPaths(spec.job_dir).spec)
        await asyncio.to_thread(self.store.add, job)
        made.job = job
        return spec

    def _run_tags(self, plan: SubmitPlan, job_id: str, digest: str, built: BuiltEnv | None) -> dict[str, str]:
        tags = {
            "mltf.job_id": job_id,
            "mltf.backend": self.settings.backend_name,
            "mltf.content_hash": digest,
            "mltf.project_dir": str(plan.directory),
            "mltf.entry_point": plan.entry.name,
            "mltf.partition": plan.resources.partition or "",
            "mltf.gpus_requested": str(plan.resources.gpus),
            "mlflow.user": getpass.getuser(),
            "mlflow.source.name": str(plan.directory),
            "mlflow.source.type": "PROJECT",
            "mlflow.project.entryPoint": plan.entry.name,
        }
        if plan.sweep:
            tags["mltf.sweep"] = "parent"
        return tags | env_tags(plan.env, built)

    def _job(self, plan: SubmitPlan, spec: JobSpec) -> Job:
        return Job(
            id=spec.job_id,
            backend=self.settings.backend_name,
            native_id="",
            name=spec.name,
            project_dir=str(plan.directory),
            entry_point=plan.entry.name,
            params=plan.params,
            resources=plan.resources,
            run_id=spec.run_id,
            experiment_id=spec.experiment_id,
            tracking_uri=self.settings.tracking_uri,
            mlflow_url=tracking.run_url(self.settings.ui_url, spec.experiment_id, spec.run_id),
            job_dir=spec.job_dir,
            log_path=spec.log_path,
            content_hash=spec.content_hash,
            user=getpass.getuser(),
            idempotency_key=plan.req.idempotency_key,
            sweep=plan.sweep,
        )

    def _make_job_dir(self, spec: JobSpec) -> None:
        """The job dir, private to the user, with the MLflow secrets in 0600 files (never in the
        environment Slurm stores with the job, the script, argv or the spec) and the parameters in a
        0600 file a script may read instead of its command line (``$MLTF_PARAMS_FILE``)."""
        for private in (self.settings.jobs_dir, spec.job_dir):  # others must not read specs, logs or tokens
            os.makedirs(private, mode=0o700, exist_ok=True)
            os.chmod(private, 0o700)
        paths = JobPaths(spec.job_dir)
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        if token:
            spec.token_file = _write_private(paths.token, token)
        password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
        if password:
            spec.password_file = _write_private(paths.password, password)
        _write_private(paths.params, json.dumps(spec.params))

    def _runner_spec(self, plan: SubmitPlan, spec: JobSpec, built: BuiltEnv | None) -> RunnerSpec:
        return RunnerSpec(
            job_id=spec.job_id,
            name=spec.name,
            project_name=spec.project_name,
            archive=spec.archive_path,
            content_hash=spec.content_hash,
            command=spec.command,
            entry_point=spec.entry_point,
            params=spec.params,
            python=spec.python,
            resources=spec.resources.to_dict(),
            run_id=spec.run_id,
            experiment_id=spec.experiment_id,
            tracking_uri=spec.tracking_uri,
            token_file=spec.token_file,
            password_file=spec.password_file,
            tracking_username=os.environ.get("MLFLOW_TRACKING_USERNAME"),
            params_file=JobPaths(spec.job_dir).params,
            stop_grace=spec.stop_grace,
            env_manager=spec.env_manager,
            env_spec=spec.env_spec,
            launcher=spec.launcher,
            envs_dir=self.settings.envs_dir,
            env_request=plan.env.request.to_dict() if plan.env.request else None,
            env_python=plan.env.python.path if plan.env.python else None,
            env_python_version=plan.env.python.version if plan.env.python else None,
            env_dir=built.path if built else None,
            env_key=built.key if built else None,
            uv_cache_dir=self.settings.uv_cache_dir,
            extra_requirements=mlflow_requirement(plan.env.request) if plan.env.request else None,
            sweep=plan.sweep,
            entry=plan.entry.to_dict(),
        )

    async def _roll_back(self, made: _Made, key: str | None, job_id: str, exc: BaseException) -> None:
        """Undo a submit that failed before the cluster took the job: no store row, no job dir, no live
        MLflow run (deleted: it never ran), and the idempotency key free again."""
        reason = getattr(exc, "log_message", None) or type(exc).__name__
        self.log.warning("submit of job %s failed, undoing it: %s", job_id, redact(reason))
        steps: list[tuple[str, Callable[[], Any]]] = []
        if made.job is not None:
            steps.append(("store row", lambda: self.store.delete(job_id)))
        if made.job_dir:
            steps.append(("job dir", lambda: shutil.rmtree(made.job_dir or "", ignore_errors=True)))
        if made.run_id:
            steps.append(("MLflow run", lambda: tracking.delete_run(self.settings.tracking_uri, made.run_id or "")))
        if key:
            steps.append(("idempotency key", lambda: self.store.release_key(key, job_id)))
        for what, undo in steps:
            try:
                await asyncio.to_thread(undo)
            except Exception as err:  # keep undoing the rest
                self.log.warning("could not undo the %s of job %s: %s", what, job_id, redact(err))

    async def _submitted(self, job: Job) -> Job:
        """The cluster has the job: record its id; what fails from here on is logged, never undone."""
        job.state = JobState.PENDING
        await asyncio.to_thread(self.store.save, job)
        await asyncio.to_thread(self._write_job_record, job)
        try:
            tags = {self.backend.native_id_tag: job.native_id}
            await asyncio.to_thread(tracking.set_tags, self.settings.tracking_uri, job.run_id or "", tags)
        except Exception as exc:
            self.log.warning("could not tag run %s with its job id: %s", job.run_id, redact(exc))
        return job

    @staticmethod
    def _write_job_record(job: Job) -> None:
        if job.job_dir:
            with open(JobPaths(job.job_dir).record, "w", encoding="utf-8") as fh:
                json.dump(job.to_dict(), fh)
