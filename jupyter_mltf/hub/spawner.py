"""``MLTFSlurmSpawner``: hub sessions as Slurm jobs, with a bounded spawn form and a status that never lies.

A subclass of batchspawner's :class:`~batchspawner.SlurmSpawner` that adds:

* a spawn form (presets + advanced) bounded by the cluster's partitions (``sinfo``, cached for
  :attr:`MLTFSlurmSpawner.partitions_ttl` seconds) and validated before anything is submitted: in
  ``options_from_form`` for the form and in the ``apply_user_options`` hook for REST spawns;
* progress messages with Slurm's pending reason and the time spent in the queue;
* a status that only says "stopped" when Slurm positively says so (a terminal state, or "Invalid job id"):
  a failing, slow or unreachable ``squeue`` is "unknown", which keeps the session (batchspawner #236/#315);
* ``listen_ip`` for one-host clusters, ``--nodes=1``, the session's environment (``MLFLOW_TRACKING_URI``,
  ``JUPYTER_CONFIG_PATH`` that enables the jupyter_mltf server extension and the activity keepalive).

(Over 400 lines: batchspawner's hooks are methods of one class; the form, status and progress parts each
override a few of them and share the spawner's state.)

Configure it in ``jupyterhub_config.py`` (see ``hub_config/jupyterhub_config.py``)::

    c.JupyterHub.spawner_class = "jupyter_mltf.hub.spawner.MLTFSlurmSpawner"

Over 400 lines because it is one batchspawner subclass: options, environment, commands, state hooks and
lifecycle are overrides of the same class; the form's pure functions live in :mod:`.form`.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources as importlib_resources
from typing import Any

import batchspawner  # importing it registers /hub/api/batchspawner, where jobs report their port
from batchspawner import JobStatus, SlurmSpawner
from tornado import web
from traitlets import Dict, Float, List, Unicode, default

from ..errors import CommandError, MLTFError
from ..formatting import format_duration
from ..models import JobState, Partition, Resources
from ..procs import run_cmd
from . import form as spawn_form

#: what Slurm prints when it positively does not know the job any more (purged after MinJobAge)
GONE_MARKERS = ("Invalid job id specified", "Invalid job id")
PENDING_STATES = frozenset(
    {JobState.PENDING, JobState.CONFIGURING, JobState.REQUEUED, JobState.SUSPENDED, JobState.RESIZING}
)
RUNNING_STATES = frozenset({JobState.RUNNING, JobState.COMPLETING, JobState.SIGNALING, JobState.STAGE_OUT})

SESSION_SCRIPT = """#!/bin/bash
# JupyterHub session of {{username}}, submitted by jupyter_mltf.hub.MLTFSlurmSpawner
#SBATCH --job-name={{job_name}}
#SBATCH --output={{log_path}}
#SBATCH --chdir={{homedir}}
#SBATCH --export={{keepvars}}
#SBATCH --nodes=1
#SBATCH --ntasks=1
{% if partition %}#SBATCH --partition={{partition}}
{% endif %}{% if runtime %}#SBATCH --time={{runtime}}
{% endif %}{% if memory %}#SBATCH --mem={{memory}}
{% endif %}{% if gres %}#SBATCH --gres={{gres}}
{% endif %}{% if nprocs %}#SBATCH --cpus-per-task={{nprocs}}
{% endif %}{% if account %}#SBATCH --account={{account}}
{% endif %}{% if qos %}#SBATCH --qos={{qos}}
{% endif %}{% if reservation %}#SBATCH --reservation={{reservation}}
{% endif %}{% if options %}#SBATCH {{options}}
{% endif %}
set -euo pipefail
# Slurm created the log with the submitter's umask: keep it to the user (its directory already is, mode 700)
chmod 600 -- {{log_path_sh}} 2>/dev/null || true
# the server gets SIGTERM from scancel; keep the script alive long enough to let it stop cleanly
trap 'echo "session job: SIGTERM received"' TERM
{{prologue}}
{% if srun %}{{srun}} {% endif %}{{cmd}}
echo "session job: jupyterhub-singleuser ended"
{{epilogue}}
"""


@dataclass
class SessionStatus:
    """One line of ``squeue -o '%T|%B|%r|%V'`` (state|batch host|reason|submit time)."""

    state: JobState
    host: str = ""
    reason: str = ""
    submitted_at: float | None = None


def parse_status(text: str) -> SessionStatus | None:
    """The first line of the query output; None when there is none."""
    line = next((ln for ln in text.strip().splitlines() if ln.strip()), "")
    if not line:
        return None
    fields = (line.split("|") + ["", "", "", ""])[:4]
    state = JobState.parse(fields[0])
    host = fields[1].strip()
    if host in ("n/a", "(null)", "None"):
        host = ""
    submitted: float | None = None
    try:
        submitted = datetime.fromisoformat(fields[3].strip()).timestamp()
    except ValueError:
        submitted = None
    return SessionStatus(state=state, host=host, reason=fields[2].strip(), submitted_at=submitted)


def shell_path_with_job_id(path: str) -> str:
    """``path`` as one shell word, single-quoted, with Slurm's ``%j`` turned into ``$SLURM_JOB_ID``."""
    quoted = "'" + path.replace("'", "'\\''") + "'"
    return quoted.replace("%j", "'\"$SLURM_JOB_ID\"'")


def classify(returncode: int | None, stdout: str, stderr: str) -> JobStatus:
    """How a status query ended -> batchspawner's JobStatus. Only a positive answer is NOTFOUND.

    * rc 0 with a terminal state, or rc 0 with no line (slurmctld answered: the job is not in the queue)
      -> NOTFOUND;
    * "Invalid job id specified" (rc != 0) -> NOTFOUND: slurmctld forgot the job, it ended long ago;
    * anything else that failed (timeout, "Unable to contact slurm controller", sudo errors...) -> UNKNOWN.
    """
    if returncode != 0:
        text = f"{stderr}\n{stdout}"
        return JobStatus.NOTFOUND if any(m in text for m in GONE_MARKERS) else JobStatus.UNKNOWN
    status = parse_status(stdout)
    if status is None or status.state.is_terminal:
        return JobStatus.NOTFOUND
    if status.state in RUNNING_STATES:
        return JobStatus.RUNNING
    if status.state in PENDING_STATES:
        return JobStatus.PENDING
    return JobStatus.UNKNOWN


class PartitionCache:
    """Partitions read from the cluster at most once per ``ttl`` seconds; the last good answer on errors."""

    def __init__(self) -> None:
        self.value: list[Partition] | None = None
        self.at = 0.0
        self.error: str = ""
        self._lock: asyncio.Lock | None = None

    async def get(self, ttl: float) -> list[Partition]:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.value is not None and time.monotonic() - self.at < ttl:
                return self.value
            try:
                from ..backends.slurm import SlurmBackend

                parts = await SlurmBackend().partitions()
                self.value, self.at, self.error = parts, time.monotonic(), ""
            except MLTFError as exc:
                self.error = exc.message
                if self.value is None:
                    return []
            return self.value

    def clear(self) -> None:
        self.value, self.at = None, 0.0


PARTITIONS = PartitionCache()

OPTIONS_HELP = (
    "these session options cannot be used: give preset (gpu1, ...) or custom with partition, gpu_type, gpus, "
    "cpus, mem and time as short text or whole numbers"
)


def spawn_error(message: str, field: str | None = None) -> web.HTTPError:
    """A 400 whose message JupyterHub shows as it is, on the spawn form and in the REST answer; ``field``
    (the form input it is about, or None) travels as ``mltf_field`` for the form shown again."""
    error = web.HTTPError(400, "%s", message)
    error.jupyterhub_message = message  # type: ignore[attr-defined]
    error.mltf_field = field  # type: ignore[attr-defined]
    return error


@dataclass
class RefusedForm:
    """A posted form the spawner refused: JupyterHub shows the form again (``get_options_form``) right after,
    and that rendering keeps the user's values and marks ``field`` with ``message``."""

    values: dict[str, Any]
    field: str | None
    message: str


def redisplayable(values: Mapping[str, Any]) -> dict[str, Any]:
    """The posted values that may go back into the form as they are: short text without control characters
    (the message says what was wrong with the others)."""
    return {
        key: value
        for key, value in values.items()
        if isinstance(value, str) and len(value) <= spawn_form.MAX_OPTION_CHARS and value.isprintable()
    }


async def _apply_user_options(spawner: MLTFSlurmSpawner, user_options: dict[str, Any]) -> None:
    await spawner.apply_session_options(user_options)


async def _options_form(spawner: MLTFSlurmSpawner) -> str:
    return await spawner.render_options_form()


async def _options_from_form(formdata: Mapping[str, Any], spawner: MLTFSlurmSpawner) -> dict[str, Any]:
    return await spawner.validate_form(formdata)


class MLTFSlurmSpawner(SlurmSpawner):  # type: ignore[misc]
    """Starts a JupyterLab session as a Slurm job of the logged-in user (``sudo -u USER sbatch``)."""

    listen_ip = Unicode(
        "0.0.0.0",
        help="Address the session's server listens on inside the job. 0.0.0.0 on a real cluster (the hub "
        "connects to the job's node); 127.0.0.1 on a one-host cluster (then also set "
        "state_exechost_exp = '127.0.0.1'). batchspawner itself ignores c.Spawner.ip.",
    ).tag(config=True)

    presets = List(
        Dict(),
        default_value=spawn_form.DEFAULT_PRESETS,
        help="Simple choices of the spawn form: [{'key': 'gpu1', 'label': '1 GPU, 4 h', 'resources': "
        "{'partition': 'gpu', 'gpus': 1, 'cpus': 2, 'mem': '8G', 'time': '04:00:00'}}, ...]. The first one "
        "is the default. Resources use jupyter_mltf's names (gpus, gpu_type, partition, time, mem, cpus).",
    ).tag(config=True)

    partitions_ttl = Float(60.0, help="Seconds the partition limits read by sinfo are cached.").tag(config=True)

    status_timeout = Float(
        20.0,
        help="Seconds before a status query (squeue) is given up; the session is then 'unknown', not gone.",
    ).tag(config=True)

    command_timeout = Float(60.0, help="Seconds before sbatch/scancel are given up as failed.").tag(config=True)

    progress_interval = Float(1.0, help="Seconds between progress updates on the spawn page.").tag(config=True)

    mlflow_tracking_uri = Unicode(
        help="MLFLOW_TRACKING_URI inside the session (default: the hub's own MLFLOW_TRACKING_URI)."
    ).tag(config=True)

    session_config_dir = Unicode(
        help="A Jupyter config directory put first on the session's JUPYTER_CONFIG_PATH; the default one "
        "(shipped in jupyter_mltf.hub) enables the jupyter_mltf server extension and the activity keepalive."
    ).tag(config=True)

    req_job_name = Unicode("jupyterhub-session", help="Slurm job name of the sessions.").tag(config=True)
    req_log_file = Unicode(
        "jupyterhub_session_%j.log", help="File name of the session job's output, in req_log_dir (%j = job id)."
    ).tag(config=True)
    req_log_dir = Unicode(
        ".local/state/jupyter-mltf/hub",
        help="Directory of the session logs, relative to the user's home (or absolute). The spawner creates it "
        "as the user with mode 700 before each submit (`install -d -m 700`, through exec_prefix), and the job "
        "makes its log 600: the log holds the server's port and request URLs, for the user's eyes only.",
    ).tag(config=True)

    batch_script = Unicode(SESSION_SCRIPT).tag(config=True)
    batch_query_cmd = Unicode("squeue -h -t all -j {job_id} -o '%T|%B|%r|%V'").tag(config=True)

    @default("mlflow_tracking_uri")
    def _default_tracking_uri(self) -> str:
        return os.environ.get("MLFLOW_TRACKING_URI", "")

    @default("session_config_dir")
    def _default_session_config_dir(self) -> str:
        return str(importlib_resources.files("jupyter_mltf.hub") / "session_config")

    @default("apply_user_options")
    def _default_apply_user_options(self) -> Any:
        return _apply_user_options

    @default("options_form")
    def _default_options_form(self) -> Any:
        return _options_form

    @default("options_from_form")
    def _default_options_from_form(self) -> Any:
        return _options_from_form

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        spawn_form.check_presets(self.presets)
        self.submitted_at: float | None = None
        self.refused_form: RefusedForm | None = None
        self.status_error = ""
        self._unknown_since: float | None = None

    # ------------------------------------------------------------------------------------- options

    async def cluster_partitions(self) -> list[Partition]:
        return await PARTITIONS.get(self.partitions_ttl)

    async def render_options_form(self) -> str:
        """The form: pre-filled with the last choice, or once with the values just refused, marked."""
        parts = await self.cluster_partitions()
        notice = ""
        if PARTITIONS.error:
            notice = f"The cluster's limits could not be read just now ({PARTITIONS.error})."
        refused, self.refused_form = self.refused_form, None
        if refused is None:
            return spawn_form.render_form(self.presets, parts, selected=self.user_options or {}, notice=notice)
        invalid = (refused.field, refused.message) if refused.field else None
        return spawn_form.render_form(self.presets, parts, selected=refused.values, notice=notice, invalid=invalid)

    async def resolve(self, user_options: Any) -> Resources:
        """``user_options`` (from the form or REST JSON) -> the session's resources, or a 400 that says what
        to fix: JupyterHub shows its message on the form and answers it to ``POST /hub/api/users/.../server``."""
        partitions = await self.cluster_partitions()
        try:
            return spawn_form.resolve_options(user_options, self.presets, partitions)
        except MLTFError as exc:
            raise spawn_error(exc.message, exc.field) from None
        except (ValueError, TypeError, ArithmeticError, RecursionError) as exc:  # a value no check foresaw
            self.log.warning("Session options of %s refused: %s: %.300s", self.user.name, type(exc).__name__, exc)
            raise spawn_error(OPTIONS_HELP) from None

    async def validate_form(self, formdata: Mapping[str, Any]) -> dict[str, Any]:
        """Validate the form before anything is submitted. On a refusal JupyterHub shows the 400's message above
        the form it renders again at once: :attr:`refused_form` has that rendering keep the user's values and
        mark the refused input."""
        raw = spawn_form.options_from_formdata(formdata, self.presets)
        self.refused_form = None
        try:
            res = await self.resolve(raw)
        except web.HTTPError as exc:
            message = str(getattr(exc, "jupyterhub_message", "") or OPTIONS_HELP)
            self.refused_form = RefusedForm(redisplayable(raw), getattr(exc, "mltf_field", None), message)
            raise
        return spawn_form.resources_to_options(str(raw.get("preset")), res)

    def options_from_query(self, query_data: Mapping[str, Any]) -> Any:
        """``/hub/spawn?opt-preset=gpu1``: the form's own checks (JupyterHub's default would call
        ``options_from_form`` without the spawner, a TypeError instead of a message)."""
        return self.run_options_from_form(query_data)

    async def apply_session_options(self, user_options: Mapping[str, Any] | None) -> None:
        """Validate ``user_options`` (also REST spawns, which skip the form) and set the ``req_*`` traits."""
        res = await self.resolve(user_options)
        self.req_partition = res.partition or ""
        self.req_gres = spawn_form.gres_for(res)
        self.req_nprocs = str(res.cpus or "")
        self.req_memory = res.mem or ""
        self.req_runtime = res.time or ""
        self.log.info(
            "Session of %s: partition=%s gres=%s cpus=%s mem=%s time=%s",
            self.user.name,
            self.req_partition,
            self.req_gres or "-",
            self.req_nprocs or "-",
            self.req_memory or "-",
            self.req_runtime,
        )

    # ------------------------------------------------------------------------------ environment

    def get_env(self) -> dict[str, str]:
        env: dict[str, str] = super().get_env()
        if self.mlflow_tracking_uri:
            env.setdefault("MLFLOW_TRACKING_URI", self.mlflow_tracking_uri)
        if self.session_config_dir:
            rest = env.get("JUPYTER_CONFIG_PATH", "")
            env["JUPYTER_CONFIG_PATH"] = self.session_config_dir + (os.pathsep + rest if rest else "")
        return env

    def log_dir(self) -> str:
        return os.path.join(str(self.get_req_subvars()["homedir"]), self.req_log_dir)

    def log_path(self, job_id: str = "%j") -> str:
        return os.path.join(self.log_dir(), self.req_log_file.replace("%j", job_id))

    async def _get_batch_script(self, **subvars: Any) -> str:
        # batchspawner merges user_options into the template variables: keep only our own req_* values
        # (user_options were validated and applied to the req_* traits in apply_session_options)
        clean = self.get_req_subvars()
        clean["cmd"] = subvars["cmd"]
        clean["log_path"] = self.log_path()
        clean["log_path_sh"] = shell_path_with_job_id(self.log_path())
        script: str = await super()._get_batch_script(**clean)
        return script

    # ---------------------------------------------------------------------------------- commands

    async def run_command(self, cmd: str, input: str | None = None, env: dict[str, str] | None = None) -> str:
        """batchspawner's command hook without a shell, with a timeout; RuntimeError(stderr) on failure."""
        argv = shlex.split(cmd)
        try:
            _, out, _ = await run_cmd(
                argv,
                timeout=self.command_timeout,
                input_bytes=input.encode() if input is not None else None,
                env=env,
            )
        except CommandError as exc:
            raise RuntimeError((exc.stderr or exc.stdout).strip() or exc.message) from None
        except MLTFError as exc:
            raise RuntimeError(exc.message) from None
        return out.strip()

    def _command(self, template: str) -> list[str]:
        subvars = self.get_req_subvars()
        subvars["job_id"] = self.job_id
        text = " ".join(
            (
                batchspawner.batchspawner.format_template(self.exec_prefix, **subvars),
                batchspawner.batchspawner.format_template(template, **subvars),
            )
        )
        return shlex.split(text)

    async def query_job_status(self) -> JobStatus:
        """Ask Slurm; errors are UNKNOWN (keep the session), only a positive answer is NOTFOUND."""
        if not self.job_id:
            self.job_status = ""
            return JobStatus.NOTFOUND
        argv = self._command(self.batch_query_cmd)
        try:
            rc, out, err = await run_cmd(argv, timeout=self.status_timeout, check=False)
        except MLTFError as exc:  # timeout, missing tool
            rc, out, err = None, "", exc.message
        except OSError as exc:
            rc, out, err = None, "", str(exc)
        status = classify(rc, out, err)
        if status is JobStatus.UNKNOWN:
            # keep the last good job_status: progress and state_gethost still use it
            self.status_error = (err or out).strip().splitlines()[-1] if (err or out).strip() else f"exit {rc}"
            if self._unknown_since is None:
                self._unknown_since = time.monotonic()
                self.log.warning(
                    "Status of session job %s of %s unknown (%s): keeping the session",
                    self.job_id,
                    self.user.name,
                    self.status_error,
                )
            return status
        if self._unknown_since is not None:
            self.log.info(
                "Status of session job %s known again after %.0f s",
                self.job_id,
                time.monotonic() - self._unknown_since,
            )
        self._unknown_since, self.status_error = None, ""
        self.job_status = out.strip().splitlines()[0] if out.strip() else (err.strip() or "gone")
        return status

    async def cancel_batch_job(self) -> None:
        try:
            await super().cancel_batch_job()
        except RuntimeError as exc:
            if any(m in str(exc) for m in (*GONE_MARKERS, "already completing or completed")):
                self.log.info("Session job %s was already gone: %s", self.job_id, exc)
                return
            raise

    # -------------------------------------------------------------------------------- state hooks

    def _status(self) -> SessionStatus | None:
        return parse_status(self.job_status or "")

    def state_ispending(self) -> bool:
        status = self._status()
        return bool(status and status.state in PENDING_STATES)

    def state_isrunning(self) -> bool:
        status = self._status()
        return bool(status and status.state in RUNNING_STATES)

    def state_isunknown(self) -> bool:
        return bool(self.status_error)

    def state_gethost(self) -> str:
        status = self._status()
        host = status.host if status else ""
        if self.state_exechost_exp:
            return str(self.state_exechost_exp)
        return host

    # ------------------------------------------------------------------------------- lifecycle

    async def make_log_dir(self) -> None:
        """Create the session log directory as the user, mode 700 (Slurm needs it before the job starts)."""
        prefix = batchspawner.batchspawner.format_template(self.exec_prefix, **self.get_req_subvars())
        try:
            await self.run_command(f"{prefix} install -d -m 700 {shlex.quote(self.log_dir())}")
        except RuntimeError as exc:
            raise RuntimeError(f"could not create the session log directory {self.log_dir()}: {exc}") from None

    async def submit_batch_script(self) -> str:
        self.ip = self.listen_ip  # where the server listens; the hub connects to state_gethost() later
        await self.make_log_dir()
        job_id: str = await super().submit_batch_script()
        self.submitted_at = time.time()
        return job_id

    async def start(self) -> tuple[str, int]:
        """Submit, wait while PENDING, then wait for the server to report its port (job death is noticed)."""
        self.port = 0
        if self.server:
            self.server.port = 0
        self.status_error, self._unknown_since = "", None
        await self.submit_batch_script()
        if not self.job_id:
            raise RuntimeError("Slurm gave no job id for the session: see the hub log")
        self.log.info("Session of %s is Slurm job %s", self.user.name, self.job_id)
        while True:
            status = await self.query_job_status()
            if status is JobStatus.RUNNING:
                break
            if status is JobStatus.NOTFOUND:
                raise RuntimeError(self._ended_message("before it started"))
            await asyncio.sleep(self.startup_poll_interval)
        self.ip = self.state_gethost()
        last_check = time.monotonic()
        while self.port == 0:
            await asyncio.sleep(self.startup_poll_interval)
            if time.monotonic() - last_check > 3:
                last_check = time.monotonic()
                if await self.query_job_status() is JobStatus.NOTFOUND:
                    raise RuntimeError(self._ended_message("before JupyterLab started"))
        self.log.info("Session job %s of %s is up at %s:%s", self.job_id, self.user.name, self.ip, self.port)
        return self.ip, self.port

    def _ended_message(self, when: str) -> str:
        status = self._status()
        state = status.state.value if status else "gone"
        home = str(self.get_req_subvars()["homedir"])
        log = self.log_path(self.job_id)
        shown = "~/" + os.path.relpath(log, home) if log.startswith(home.rstrip("/") + "/") else log
        return f"The session's Slurm job {self.job_id} ended {when} ({state}): see {shown}"

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super().get_state()
        if self.job_id:
            if self.submitted_at:
                state["submitted_at"] = self.submitted_at
            if self.port:
                state["port"] = self.port
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        """Reconnect after a hub restart: job id, status line, and the port the server reported."""
        super().load_state(state)
        self.submitted_at = state.get("submitted_at")
        if state.get("port"):
            self.port = int(state["port"])

    def clear_state(self) -> None:
        super().clear_state()
        self.submitted_at = None
        self.status_error, self._unknown_since = "", None

    async def progress(self) -> AsyncIterator[dict[str, Any]]:  # type: ignore[override]
        """Spawn-page messages: queued for how long and why (Slurm's pending reason), then starting."""
        last = ""
        last_at = 0.0
        while True:
            status = self._status()
            waited = time.time() - (
                (status.submitted_at if status and status.submitted_at else None) or self.submitted_at or time.time()
            )
            if not self.job_id:
                message, pct = "Submitting the session to Slurm...", 10
            elif self.status_error:
                message, pct = (
                    f"Slurm job {self.job_id}: the cluster does not answer right now ({self.status_error}); "
                    "retrying...",
                    30,
                )
            elif status and status.state in PENDING_STATES:
                where = f" on partition {self.req_partition}" if self.req_partition else ""
                message = (
                    f"Slurm job {self.job_id} is queued{where} for {format_duration(waited)}: "
                    f"{spawn_form.explain_reason(status.reason)}"
                )
                pct = 40
            elif status and status.state in RUNNING_STATES:
                host = f" on {status.host}" if status.host else ""
                yield {
                    "progress": 80,
                    "message": f"Slurm job {self.job_id} is running{host}: waiting for JupyterLab to start",
                }
                return
            else:
                message, pct = f"Slurm job {self.job_id}: waiting for its status...", 30
            now = time.monotonic()
            key = message.split(" for ")[0] + (status.reason if status else "")
            if key != last or now - last_at >= 5:
                yield {"progress": pct, "message": message}
                last, last_at = key, now
            await asyncio.sleep(self.progress_interval)
