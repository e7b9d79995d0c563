"""The types of a submission: the request every surface builds, the plan the pipeline makes of it, and the
answers of preview, check and dry run.

They live apart from :mod:`.models` (the job model the watcher, store and REST API share) because they refer
to the project and packaging modules, which themselves use the job model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import packaging
from .envspec import EnvRequest
from .errors import InvalidRequest
from .models import Resources
from .project import EntryPoint, Project
from .pythons import PythonFound


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
            raise InvalidRequest(
                f"unknown field(s) {', '.join(unknown)}: valid fields are {', '.join(sorted(known))}",
                field=unknown[0] if len(unknown) == 1 else None,
            )
        if not isinstance(data.get("path"), str):
            raise InvalidRequest(
                "'path' (the project directory, relative to the Jupyter root) is required", field="path"
            )
        for key in ("params", "resources"):
            if data.get(key) is not None and not isinstance(data[key], dict):
                raise InvalidRequest(f"'{key}' must be an object of name -> value", field=key)
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
                raise InvalidRequest(f"'{key}' must be a string", field=key)
        if data.get("sweep") is not None and not isinstance(data["sweep"], dict):
            raise InvalidRequest("'sweep' must be an object (see the sweep file format)", field="sweep")
        if data.get("dry_run") is not None and not isinstance(data["dry_run"], bool):
            raise InvalidRequest(
                "'dry_run' must be true or false (a JSON boolean), not a string or number", field="dry_run"
            )
        values = dict(data)
        values["params"] = values.get("params") or {}
        values["resources"] = values.get("resources") or {}
        values["dry_run"] = bool(values.get("dry_run", False))
        return cls(**values)


@dataclass
class EnvDecision:
    """Which environment a job runs in, and why: what every surface shows before a submit."""

    policy: str  # what was asked: auto, notebook or project
    used: str  # what runs: notebook or project
    why: str
    request: EnvRequest | None = None  # the project's declared env (used == "project")
    python: PythonFound | None = None  # the interpreter found for it
    cached: bool | None = None  # the env is built already (None: nothing to build)

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "used": self.used,
            "why": self.why,
            "spec_file": self.request.spec_file if self.request else None,
            "python_requested": self.request.python if self.request else None,
            "python_used": self.python.version if self.python else None,
            "note": self.python.note if self.python else None,
            "cached": self.cached,
        }


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
    env: EnvDecision | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "project": self.project.to_dict() if self.project else None,
            "project_error": self.project_error,
            "files": self.selection.to_dict(self.limit_bytes, self.warn_bytes),
            "resources": self.resources,
            "warnings": self.warnings,
            "env": self.env.to_dict() if self.env else None,
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
    env: EnvDecision | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env.to_dict() if self.env else None,
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
class SubmitPlan:
    """A submit that passed every check; nothing has been created for it yet. Preview, check, dry run and
    submit all start from one."""

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
    env: EnvDecision
    launcher: str
    experiment: str
    stop_grace: float | None
    backend_config: dict[str, Any] = field(default_factory=dict)  # the project's gateway_config.json


@dataclass
class CheckResult:
    """What a submit would run, for a form to show while the user types; nothing is created for it."""

    command: str
    params: dict[str, str]
    resources: dict[str, Any]
    env: EnvDecision
    launcher: str
    experiment: str
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "command": self.command,
            "params": self.params,
            "resources": self.resources,
            "env_manager": self.env.used,
            "env": self.env.to_dict(),
            "launcher": self.launcher,
            "experiment": self.experiment,
            "warnings": self.warnings,
        }


@dataclass(frozen=True)
class Settings:
    """The manager's settings a submission needs (values, so the pipeline never reaches back into it)."""

    backend_name: str
    jobs_dir: str
    archives_dir: str
    tracking_uri: str | None
    ui_url: str | None
    python: str
    env_manager: str  # the default policy: auto, notebook or project
    python_search_paths: tuple[str, ...]
    envs_dir: str
    uv_cache_dir: str | None
    build_on: str  # submit or node
    experiment_name: str | None
    max_project_bytes: int
    warn_project_bytes: int
    default_resources: dict[str, Any]
    idempotency_claim_timeout: float
