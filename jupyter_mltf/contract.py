"""The typed contract between the server side and what runs on the compute node.

The server writes one :class:`RunnerSpec` (``spec.json``, 0600) into the job directory; the runner on the
node reads it back with :meth:`RunnerSpec.from_json`. :class:`JobPaths` is the one place that names the
files of a job directory. Both sides import this module; it imports nothing of either side, so the node
package stays free of server code and the server never imports the node package.

A spec carries a ``version``: a node that meets a version it does not know refuses the job with a message
(a job queued by a newer jupyter-mltf than the one installed on the node), rather than guessing.
"""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, Field, asdict, dataclass, fields
from typing import Any

#: the version of spec.json this jupyter-mltf writes and reads
SPEC_VERSION = 1


class ContractError(ValueError):
    """A spec.json the node cannot use (unknown version, not a spec, a field of the wrong type)."""


@dataclass(frozen=True)
class JobPaths:
    """The files of one job directory (private to its user, on the shared filesystem)."""

    job_dir: str

    @property
    def spec(self) -> str:
        return os.path.join(self.job_dir, "spec.json")  # the RunnerSpec

    @property
    def log(self) -> str:
        return os.path.join(self.job_dir, "job.log")  # the job's combined output

    @property
    def result(self) -> str:
        return os.path.join(self.job_dir, "result.json")  # the runner's exit status (backends without sacct)

    @property
    def record(self) -> str:
        return os.path.join(self.job_dir, "job.json")  # the Job as submitted: rebuilds a lost store

    @property
    def script(self) -> str:
        return os.path.join(self.job_dir, "job.sbatch")  # the batch script as submitted (Slurm)

    @property
    def pid(self) -> str:
        return os.path.join(self.job_dir, "pid")  # the runner's pid (local backend)

    @property
    def token(self) -> str:
        return os.path.join(self.job_dir, "tracking-token")  # MLFLOW_TRACKING_TOKEN, 0600

    @property
    def password(self) -> str:
        return os.path.join(self.job_dir, "tracking-password")  # MLFLOW_TRACKING_PASSWORD, 0600

    @property
    def params(self) -> str:
        return os.path.join(self.job_dir, "params.json")  # $MLTF_PARAMS_FILE, 0600

    @property
    def sweep_study(self) -> str:
        return os.path.join(self.job_dir, "optuna.journal")  # a sweep's Optuna study (default storage)

    @staticmethod
    def scratch_base(job_dir: str) -> str:
        """Where runners unpack projects: ``<jobs_dir>/../scratch`` (one tree per host and job)."""
        return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(job_dir))), "scratch")

    @staticmethod
    def envs_dir(jobs_dir: str) -> str:
        """Where project environments are cached: ``<jobs_dir>/../envs``."""
        return os.path.join(os.path.dirname(jobs_dir.rstrip("/")), "envs")


@dataclass
class RunnerSpec:
    """What the runner on the node needs to run one job; written once by the server, never edited."""

    job_id: str
    name: str
    project_name: str
    archive: str
    content_hash: str
    command: str
    entry_point: str
    params: dict[str, str]
    python: str
    resources: dict[str, Any]
    run_id: str | None = None
    experiment_id: str | None = None
    tracking_uri: str | None = None
    token_file: str | None = None
    password_file: str | None = None
    tracking_username: str | None = None
    params_file: str | None = None
    stop_grace: float | None = None
    env_manager: str = "notebook"
    env_spec: str | None = None
    launcher: str = "auto"
    envs_dir: str | None = None
    # the declared environment (env_manager "project"): what the project asks for, the interpreter found for
    # it at submit, the env built for it (None: the job builds it, build_on "node") and its cache key
    env_request: dict[str, Any] | None = None
    env_python: str | None = None
    env_python_version: str | None = None
    env_dir: str | None = None
    env_key: str | None = None
    uv_cache_dir: str | None = None
    extra_requirements: list[str] | None = None
    sweep: dict[str, Any] | None = None
    entry: dict[str, Any] | None = None
    version: int = SPEC_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    def write(self, path: str) -> None:
        """Write the spec readable by its owner only (it names the secret files)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(self.to_json())

    @classmethod
    def from_json(cls, text: str) -> RunnerSpec:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ContractError(f"spec.json is not JSON ({exc}): the job directory is damaged") from None
        if not isinstance(data, dict):
            raise ContractError("spec.json is not an object: the job directory is damaged")
        version = data.get("version", SPEC_VERSION)  # specs from before versioning are version 1
        if version != SPEC_VERSION:
            raise ContractError(
                f"spec.json has contract version {version!r}, this jupyter-mltf reads version {SPEC_VERSION}: "
                "the job was submitted by another jupyter-mltf release; install the same release where jobs run"
            )
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        missing = sorted(f.name for f in fields(cls) if f.name not in values and _required(f))
        if missing:
            raise ContractError(f"spec.json lacks {', '.join(missing)}: the job directory is damaged")
        wrong = [f.name for f in fields(cls) if f.name in values and not _of_type(values[f.name], str(f.type))]
        if wrong:
            raise ContractError(f"spec.json has a {wrong[0]} of the wrong type: the job directory is damaged")
        values["version"] = SPEC_VERSION
        return cls(**values)

    @classmethod
    def read(cls, path: str) -> RunnerSpec:
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except UnicodeDecodeError:
            raise ContractError("spec.json is not UTF-8 text: the job directory is damaged") from None
        return cls.from_json(text)


def _required(f: Field[Any]) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


#: the JSON types of the annotations RunnerSpec uses (``from __future__ import annotations``: they are text)
_JSON_TYPES: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "float": (int, float), "None": (type(None),)}


def _of_type(value: Any, annotation: str) -> bool:
    kinds: list[type] = []
    for part in annotation.split(" | "):
        kinds.extend(_JSON_TYPES.get(part, (dict,) if part.startswith("dict[") else (object,)))
    return isinstance(value, tuple(kinds)) and not (isinstance(value, bool) and bool not in kinds)
