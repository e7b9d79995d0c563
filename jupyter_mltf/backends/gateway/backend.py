"""The gateway backend: our job model on mltf-gateway's wire API (credentials.py and client.py do the rest).

(Over 400 lines on purpose: it is the whole mapping of one wire API, both directions, read against one
reference; split, each half would need the other to be understood.)

Wire API (read from mltf-gateway 0.6.3's server code; see ``shared/reference/anchors-mltf.md`` §1.4-1.8):

- ``POST /api/job`` multipart: ``tarball`` (file), ``run_id``, ``entry_point``, ``params`` (JSON),
  ``backend_config`` (JSON, handed to Slurm/SSAM), ``tracking_uri``, ``experiment_id``, ``name`` ->
  ``{"gateway_id": ...}``
- ``GET /api/jobs`` -> ``[{run_id, gateway_id, name, creation_time}]`` (no status)
- ``GET /api/jobs/<id>?show_logs=true|false`` -> ``{status, name, failure_reason?, logs?}``
- ``DELETE /api/jobs/<id>`` -> cancel
- ``GET /api/config`` (no auth) -> the identity provider
- auth: ``Authorization: Bearer <JWT>`` checked against the identity provider's JWKS.

Where the gateway is weaker than our contract (no log offsets, four states, no pending reason, entry point and
parameters dropped by 0.6.3, local executor quirks) the client does what the API allows and says so in
:meth:`GatewayBackend.capabilities`. Tokens never reach a log line, an error message or the archive.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from collections.abc import Mapping
from typing import Any

import httpx
from traitlets import Any as AnyTrait
from traitlets import Bool, Enum, Float, Integer, Unicode, default, observe, validate

from ... import auth
from ...errors import (
    BackendUnavailable,
    CapabilityMissing,
    InvalidRequest,
    JobNotFound,
    TooLarge,
)
from ...models import Capabilities, Job, JobState, LogChunk, StatusInfo
from ...resources import ALIASES, RESOURCE_KEYS, parse_time
from ..base import Backend, DiscoveredJob, JobSpec
from .client import GatewayClient, Timeouts, tls_verify
from .credentials import TokenChain

#: every status string a gateway (0.6.x, local/SSAM/Slurm executors, DB column) is known to return
GATEWAY_STATES: dict[str, JobState] = {
    "SCHEDULED": JobState.PENDING,
    "PENDING": JobState.PENDING,
    "NOT_STARTED": JobState.PENDING,
    "QUEUED": JobState.PENDING,
    "RUNNING": JobState.RUNNING,
    "FINISHED": JobState.COMPLETED,
    "COMPLETED": JobState.COMPLETED,
    "FAILED": JobState.FAILED,
    "KILLED": JobState.CANCELLED,
    "CANCELLED": JobState.CANCELLED,
    "CANCELED": JobState.CANCELLED,
    "UNKNOWN": JobState.UNKNOWN,
}

#: keys of gateway_config.json / our resources that we rewrite in the gateway's (SSAM's) spelling
_RESOURCE_SPELLINGS = frozenset({*RESOURCE_KEYS, *ALIASES, "gres", "cpus_per_task", "cpus-per-task"})
#: never forwarded (the SSAM executor strips them too; they would be secrets in a job request)
_SECRET_KEYS = frozenset({"url", "auth_token", "token", "access_token", "refresh_token", "password"})


def map_status(text: Any) -> JobState:
    """The :class:`JobState` of a gateway status string; anything unknown is UNKNOWN (never failed)."""
    if not isinstance(text, str) or not text.strip():
        return JobState.UNKNOWN
    word = text.strip().upper()
    if word in GATEWAY_STATES:
        return GATEWAY_STATES[word]
    return JobState.parse(word)  # a newer gateway that passes Slurm's own words through


#: the settings the HTTP client and the token chain are built from
_CLIENT_TRAITS = (
    "url", "token", "token_file", "use_keyring", "keyring_timeout", "verify", "connect_timeout", "read_timeout",
    "upload_timeout", "log_timeout", "retries", "backoff", "max_concurrency", "transport",
)


class GatewayBackend(Backend):
    """Jobs go to the facility's MLTF gateway (REST, bearer token) instead of a local Slurm."""

    name = "gateway"

    url = Unicode(
        help="The MLTF gateway's address (https://...). Defaults to $MLTF_GATEWAY_URI.",
    ).tag(config=True)
    token = Unicode(
        help=(
            "A bearer token for the gateway. Leave empty to use, in order: $MLTF_GATEWAY_TOKEN, the token "
            "`mltf login` keeps in the keyring, the token `jupyter mltf login` stores. Never logged."
        ),
    ).tag(config=True)
    token_file = Unicode(
        help="Where `jupyter mltf login` keeps tokens (default ~/.config/jupyter_mltf/gateway-token.json).",
    ).tag(config=True)
    use_keyring = Bool(
        True,
        help="Look for the token the official `mltf login` stored in the keyring (service mltf_gateway).",
    ).tag(config=True)
    keyring_timeout = Float(5.0, help="Seconds to wait for the keyring before going on without it.").tag(config=True)
    connect_timeout = Float(10.0, help="Seconds to wait for a connection to the gateway.").tag(config=True)
    read_timeout = Float(30.0, help="Seconds to wait for an answer to a status, list or cancel request.").tag(
        config=True
    )
    upload_timeout = Float(
        600.0, help="Seconds to wait for the gateway to take the project archive and answer the submission."
    ).tag(config=True)
    log_timeout = Float(
        30.0,
        help=(
            "Seconds to wait for a job's log. mltf-gateway's local executor answers a log request only once "
            "the job has ended; on timeout an empty chunk is returned and the log is asked for again later."
        ),
    ).tag(config=True)
    retries = Integer(3, help="How often an idempotent request (GET, DELETE) is retried on network errors.").tag(
        config=True
    )
    backoff = Float(0.5, help="First retry delay in seconds; doubles on each retry (with jitter).").tag(config=True)
    max_concurrency = Integer(8, help="At most this many status requests run at once.").tag(config=True)
    max_archive_bytes = Integer(
        1024**3, help="Refuse to upload archives larger than this (the official client's limit: 1 GiB)."
    ).tag(config=True)
    reconcile_wait = Float(
        2.0,
        help="After a submission that got no answer, wait this long before looking for it in the job list.",
    ).tag(config=True)
    verify = Unicode(
        "true",
        help="TLS verification: 'true', 'false' or the path of a CA bundle for the gateway's certificate.",
    ).tag(config=True)
    server_runs_entry_point = Bool(
        False,
        help=(
            "Set to True when the gateway honours the submitted entry point and parameters. "
            "mltf-gateway 0.6.3 drops them and always runs the project's `main` entry point without "
            "parameters, so by default a submission that asks for another entry point or for parameters "
            "is refused, not run wrongly."
        ),
    ).tag(config=True)
    time_format = Enum(
        ["minutes", "slurm"],
        "minutes",
        help="How the time limit goes into backend_config: SSAM's minutes (default) or Slurm's D-HH:MM:SS.",
    ).tag(config=True)
    trust_mlflow_status = Bool(
        True,
        help=(
            "When the gateway says FAILED, ask MLflow: a run the job FINISHED counts as COMPLETED. mltf-gateway "
            "0.6.3's outside.sh ends in a bare `curl -X` that fails every job logging to an http(s) tracking "
            "server after the project itself succeeded."
        ),
    ).tag(config=True)
    transport = AnyTrait(None, allow_none=True, help="(tests) an httpx async transport to use instead of the network.")

    @default("url")
    def _default_url(self) -> str:
        return os.environ.get("MLTF_GATEWAY_URI", "").strip().rstrip("/")

    @default("token_file")
    def _default_token_file(self) -> str:
        return str(auth.default_token_path())

    @validate("url")
    def _valid_url(self, proposal: dict[str, Any]) -> str:
        return str(proposal["value"]).strip().rstrip("/")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check_config()
        self._client: GatewayClient | None = None
        self._cancel_requested: set[str] = set()
        self._log_cache: dict[str, tuple[str, JobState]] = {}

    @observe(*_CLIENT_TRAITS)
    def _settings_changed(self, _change: Any) -> None:
        self._client = None  # the next request builds a client with the new settings

    @property
    def _api(self) -> GatewayClient:
        if self._client is None:
            tokens = TokenChain(
                url=self.url,
                token=self.token,
                token_file=self.token_file,
                use_keyring=self.use_keyring,
                keyring_timeout=self.keyring_timeout,
                verify=tls_verify(self.verify),
                log=self.log,
            )
            timeouts = Timeouts(self.connect_timeout, self.read_timeout, self.upload_timeout, self.log_timeout)
            self._client = GatewayClient(
                url=self.url,
                tokens=tokens,
                timeouts=timeouts,
                retries=self.retries,
                backoff=self.backoff,
                max_concurrency=self.max_concurrency,
                transport=self.transport,
                log=self.log,
            )
        return self._client

    @property
    def _tokens(self) -> TokenChain:
        return self._api.tokens

    # --- configuration ---------------------------------------------------------------------------

    def check_config(self) -> None:
        """Validate the settings without touching the network; messages say what to set."""
        if not self.url:
            raise InvalidRequest(
                "The gateway backend needs the gateway's address: set MLTF_GATEWAY_URI=https://... "
                "(or c.GatewayBackend.url in jupyter_server_config.py)."
            )
        if not self.url.startswith(("http://", "https://")):
            raise InvalidRequest(
                f"MLTF_GATEWAY_URI / c.GatewayBackend.url {self.url!r} is not an http(s) address: "
                "set it to the gateway's https://... URL."
            )
        for trait in ("connect_timeout", "read_timeout", "upload_timeout", "log_timeout"):
            if getattr(self, trait) <= 0:
                raise InvalidRequest(f"c.GatewayBackend.{trait} must be more than 0 seconds")
        if self.retries < 0 or self.max_concurrency < 1 or self.max_archive_bytes < 1:
            raise InvalidRequest(
                "c.GatewayBackend.retries must be >= 0, max_concurrency >= 1 and max_archive_bytes >= 1"
            )

    # --- Backend API -----------------------------------------------------------------------------

    def capabilities(self) -> Capabilities:
        notes = [
            "The gateway serves a job's whole log at once: each read downloads it and the client slices it "
            "(no log offsets on the server).",
            "The gateway reports only SCHEDULED, RUNNING, FINISHED and FAILED; Slurm's other end states "
            "(timeout, out of memory, node failure, preemption) show as UNKNOWN, and a cancelled job "
            "is shown as CANCELLED only because this client remembers that it cancelled it.",
            "No pending reason, start estimate, node list or exit code from the gateway.",
            "No partition list from the gateway: resources are sent as backend_config and checked by the "
            "facility's Slurm, not here.",
            "The gateway turns on MLflow system metrics in every job (MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING=true): "
            "the project's environment must include psutil (and pynvml for GPU metrics), or its first MLflow "
            "call fails.",
            "mltf-gateway 0.6.3 marks every job that logs to an http(s) tracking server FAILED after the project "
            "ends (its wrapper's last line is a bare `curl -X`); the client then trusts the MLflow run's own "
            "status (c.GatewayBackend.trust_mlflow_status).",
            "The gateway builds the environment the project declares (python_env.yaml) on its side, for every "
            "job: the Python and packages are not looked up or built here, and --env has no effect.",
            "Multi-node jobs run one copy of the project per task (the gateway's srun wrapper), without "
            "torchrun wiring; job arrays are not supported.",
        ]
        if not self.server_runs_entry_point:
            notes.append(
                "mltf-gateway 0.6.3 ignores the entry point and parameters (they are sent, but the job "
                "always runs the project's `main` entry point without parameters), so submissions asking "
                "for another entry point or for parameters are refused. Set "
                "c.GatewayBackend.server_runs_entry_point = True for a gateway that honours them."
            )
        return Capabilities(
            cancel=True,
            logs=True,
            log_offsets=False,
            gpus=True,
            partitions=False,
            arrays=False,
            multi_node=False,
            pending_reason=False,
            builds_envs=True,
            notes=notes,
        )

    def backend_config(self, spec: JobSpec) -> dict[str, Any]:
        """What goes into the ``backend_config`` field: the project's gateway_config.json keys that are not
        resources, then the validated resources in the gateway's (SSAM's) spelling."""
        raw = dict(spec.backend_config or {})
        cpus_key = "cpus-per-task" if "cpus-per-task" in raw else "cpus_per_task"
        config: dict[str, Any] = {
            k: v for k, v in raw.items() if k not in _RESOURCE_SPELLINGS and k.lower() not in _SECRET_KEYS
        }
        res = spec.resources
        config["nodes"] = res.nodes
        if res.cpus:
            config[cpus_key] = res.cpus
        if res.mem:
            config["mem"] = res.mem
        if res.time:
            if self.time_format == "minutes":
                config["time"] = max(1, math.ceil(parse_time(res.time) / 60))
            else:
                config["time"] = res.time
        for key in ("partition", "account", "qos"):
            value = getattr(res, key)
            if value:
                config[key] = value
        if res.gpus:
            config["gres"] = f"gpu:{res.gpu_type}:{res.gpus}" if res.gpu_type else f"gpu:{res.gpus}"
        return config

    def _form(self, spec: JobSpec) -> dict[str, str]:
        return {
            "run_id": spec.run_id or "",
            "entry_point": spec.entry_point or "main",
            "params": json.dumps(spec.params or {}, sort_keys=True),
            "backend_config": json.dumps(self.backend_config(spec), sort_keys=True),
            "tracking_uri": spec.tracking_uri or "",
            "experiment_id": spec.experiment_id or "0",
            "name": spec.name or spec.project_name,
        }

    def _check_spec(self, spec: JobSpec) -> int:
        """Refuse what the gateway would run wrongly or not at all; returns the archive size."""
        if not spec.tracking_uri or not spec.tracking_uri.startswith(("http://", "https://")):
            raise InvalidRequest(
                f"Jobs on the MLTF gateway log to an MLflow tracking server they can reach, not to "
                f"{spec.tracking_uri or 'no tracking URI'}: set MLFLOW_TRACKING_URI to the "
                "facility's tracking server (https://...)."
            )
        if not self.server_runs_entry_point and ((spec.entry_point or "main") != "main" or spec.params):
            raise CapabilityMissing(
                "The MLTF gateway (mltf-gateway 0.6.3) runs only the project's `main` entry point, without "
                f"parameters; this submission asks for entry point {spec.entry_point!r}"
                f"{' with parameters ' + ', '.join(sorted(spec.params)) if spec.params else ''}. Make `main` "
                "do what you need (or put the values in the project), or submit to the Slurm backend."
            )
        if spec.array:
            raise CapabilityMissing("The MLTF gateway cannot run job arrays or sweeps: submit them to Slurm.")
        try:
            size = os.path.getsize(spec.archive_path)
        except OSError as exc:
            raise InvalidRequest(f"The project archive {spec.archive_path} cannot be read: {exc.strerror}") from None
        if size > self.max_archive_bytes:
            raise TooLarge(
                f"The project archive is {size / 1024**2:.1f} MiB; the gateway takes at most "
                f"{self.max_archive_bytes / 1024**2:.0f} MiB: move data out of the project directory "
                "(read it from shared storage in the job) and submit again."
            )
        return size

    def job_script(self, spec: JobSpec) -> str:
        form = self._form(spec)
        try:
            size = f"{os.path.getsize(spec.archive_path)} bytes"
        except OSError:
            size = "size unknown"
        lines = [
            f"POST {self.url}/api/job",
            "Authorization: Bearer <your gateway token>",
            "Content-Type: multipart/form-data",
            "",
            *(f"{key}: {value or '(set at submit)'}" for key, value in form.items()),
            f"tarball: {spec.archive_path} ({size}, uncompressed tar)",
        ]
        if not self.server_runs_entry_point:
            lines.append("# note: mltf-gateway 0.6.3 runs the `main` entry point and ignores entry_point/params")
        return "\n".join(lines) + "\n"

    async def submit(self, spec: JobSpec) -> str:
        self._check_spec(spec)
        await self._tokens.get()  # fail on a missing/expired token before uploading anything
        form = self._form(spec)
        what = f"submitting {spec.name or spec.project_name}"
        timeout = self._api.timeouts.of(self.upload_timeout)
        failure: str
        try:
            with open(spec.archive_path, "rb") as archive:  # streamed by httpx in chunks, never read whole
                resp = await self._api.send(
                    "POST",
                    "/api/job",
                    what,
                    idempotent=False,
                    timeout=timeout,
                    data=form,
                    files={"tarball": (f"{spec.project_name or 'project'}.tar", archive, "application/x-tar")},
                )
        except BackendUnavailable as exc:
            cause = exc.__cause__
            if not isinstance(cause, httpx.TransportError):
                raise  # never connected: nothing was sent
            failure = f"no answer ({type(cause).__name__})"
        else:
            if resp.status_code < 300:
                body = self._api.json(resp, what)
                gateway_id = body.get("gateway_id") if isinstance(body, Mapping) else None
                if not gateway_id:
                    raise BackendUnavailable(
                        "The MLTF gateway accepted the submission but returned no job id",
                        log_message=f"gateway {self.url}: submit answer {resp.text[:500]!r}",
                    )
                return str(gateway_id)
            if resp.status_code < 500:
                raise self._api.error(resp, what)
            failure = f"HTTP {resp.status_code}"
        # The gateway may have started the job without us hearing back: find it by run id instead of
        # submitting twice.
        found = await self._reconcile(spec.run_id)
        if found:
            self.log.warning("submission of run %s got %s but the gateway lists it as %s", spec.run_id, failure, found)
            return found
        raise BackendUnavailable(
            f"The MLTF gateway did not confirm the submission ({failure}) and does not list a job for run "
            f"{spec.run_id}: it was most likely not started. Check the job list, then submit again."
        )

    async def _reconcile(self, run_id: str | None) -> str | None:
        if not run_id:
            return None
        for attempt in range(2):
            await asyncio.sleep(self.reconcile_wait * (attempt + 1))
            try:
                listed = await self._list()
            except BackendUnavailable:
                continue
            matches = [j for j in listed if j.get("run_id") == run_id and j.get("gateway_id")]
            if matches:
                matches.sort(key=lambda j: j.get("creation_time") or 0)
                return str(matches[-1]["gateway_id"])
        return None

    async def _list(self) -> list[dict[str, Any]]:
        what = "listing jobs"
        resp = await self._api.send("GET", "/api/jobs", what, idempotent=True)
        if resp.status_code >= 300:
            raise self._api.error(resp, what)
        body = self._api.json(resp, what)
        if isinstance(body, Mapping):  # a newer server may wrap the list
            body = body.get("jobs", [])
        if not isinstance(body, list):
            raise BackendUnavailable("The MLTF gateway's job list is not a list")
        return [j for j in body if isinstance(j, dict)]

    async def _details(self, native_id: str, *, logs: bool) -> dict[str, Any]:
        what = f"reading {'the log of ' if logs else 'the status of '}job {native_id}"
        resp = await self._api.send(
            "GET",
            f"/api/jobs/{native_id}",
            what,
            idempotent=True,
            retry_read_errors=not logs,  # a log read that timed out is still running on the server
            params={"show_logs": "true" if logs else "false"},
            timeout=self._api.timeouts.of(self.log_timeout) if logs else None,
        )
        if resp.status_code >= 300:
            raise self._api.error(resp, what)
        body = self._api.json(resp, what)
        if not isinstance(body, dict):
            raise BackendUnavailable(f"The MLTF gateway's answer about job {native_id} is not an object")
        return body

    def _info(self, native_id: str, details: Mapping[str, Any], known: JobState | None = None) -> StatusInfo:
        state = map_status(details.get("status"))
        reason = details.get("failure_reason")
        cancelled = native_id in self._cancel_requested or known is JobState.CANCELLED
        if cancelled and state in (JobState.FAILED, JobState.UNKNOWN, JobState.CANCELLED):
            # a job it cancelled: FAILED (local executor: killed process) or UNKNOWN (SSAM)
            return StatusInfo(state=JobState.CANCELLED, reason="cancelled through the gateway")
        return StatusInfo(state=state, reason=str(reason) if reason else None)

    async def _status_one(self, job: Job) -> StatusInfo:
        assert self._api.semaphore is not None
        async with self._api.semaphore:
            try:
                details = await self._details(job.native_id, logs=False)
            except JobNotFound:
                return StatusInfo(state=JobState.UNKNOWN, reason="the gateway no longer lists this job")
            except BackendUnavailable as exc:
                self.log.warning("status of %s: %s", job.native_id, exc.log_message)
                return StatusInfo(state=JobState.UNKNOWN, reason=exc.message)
        info = self._info(job.native_id, details, job.state)
        if info.state is JobState.FAILED and self.trust_mlflow_status and job.run_id and job.tracking_uri:
            info = await self._mlflow_verdict(job, info)
        return info

    async def _mlflow_verdict(self, job: Job, info: StatusInfo) -> StatusInfo:
        """The gateway's FAILED, checked against the MLflow run the job itself closes."""
        from ... import tracking

        try:
            status = await asyncio.to_thread(tracking.run_status, job.tracking_uri, str(job.run_id))
        except Exception as exc:  # MLflow unreachable: keep what the gateway said
            self.log.info("cannot check MLflow run %s of %s: %s", job.run_id, job.native_id, type(exc).__name__)
            return info
        if status == "FINISHED":
            return StatusInfo(
                state=JobState.COMPLETED,
                reason="the gateway reported FAILED but the MLflow run FINISHED (mltf-gateway 0.6.3's job "
                "wrapper fails after the project succeeded)",
            )
        return info

    async def statuses(self, jobs: list[Job]) -> dict[str, StatusInfo]:
        """One concurrent request per job (no batch status), at most ``max_concurrency`` at once.

        An unreachable gateway gives UNKNOWN for each job; a refused token raises AuthenticationError.
        """
        if not jobs:
            return {}
        await self._tokens.get()
        self._api.http()
        results = await asyncio.gather(*(self._status_one(job) for job in jobs))
        return {job.native_id: info for job, info in zip(jobs, results, strict=True)}

    async def read_log(self, job: Job, offset: int = 0, limit: int = 1 << 20) -> LogChunk:
        """The log from byte ``offset``: the gateway sends it whole, the client slices it."""
        native_id = job.native_id
        try:
            details = await self._details(native_id, logs=True)
        except BackendUnavailable as exc:
            cause = exc.__cause__
            if isinstance(cause, httpx.ReadTimeout) and native_id not in self._log_cache:
                self.log.info(
                    "log of %s not ready after %ss (the gateway may answer only at the end)",
                    native_id,
                    self.log_timeout,
                )
                return LogChunk(text="", offset=offset, next_offset=offset, complete=False)
            if native_id not in self._log_cache:
                raise
            # mltf-gateway's local executor serves a log only once: use what it sent last time
            text, state = self._log_cache[native_id]
        else:
            text = str(details.get("logs") or "")
            state = self._info(native_id, details, job.state).state
            cached = self._log_cache.get(native_id)
            if not text and cached:
                text = cached[0]
            self._log_cache[native_id] = (text, state)
        data = text.encode("utf-8")
        if offset > len(data):
            offset = 0  # the gateway's log was replaced (for example after a gateway restart)
        end = min(len(data), offset + max(0, limit))
        while offset < end < len(data) and (data[end] & 0xC0) == 0x80:
            end -= 1  # do not cut a UTF-8 character
        chunk = data[offset:end].decode("utf-8", errors="replace")
        complete = state.is_terminal and end >= len(data)
        return LogChunk(text=chunk, offset=offset, next_offset=end, complete=complete)

    async def cancel(self, job: Job) -> None:
        what = f"cancelling job {job.native_id}"
        resp = await self._api.send("DELETE", f"/api/jobs/{job.native_id}", what, idempotent=True)
        if resp.status_code >= 300:
            error = self._api.error(resp, what)
            if resp.status_code >= 500:
                error = BackendUnavailable(
                    f"The MLTF gateway failed while {what} (HTTP {resp.status_code}). "
                    "mltf-gateway 0.6.3 answers "
                    "this way when the job belongs to another user; otherwise try again.",
                    log_message=error.log_message,
                )
            raise error
        self._cancel_requested.add(job.native_id)

    async def discover(self) -> list[DiscoveredJob]:
        """The gateway's list of our jobs (it keys them on the token's subject), with their statuses.

        The gateway keeps no job id of ours: match them to the store by ``run_id``.
        """
        listed = await self._list()
        shells = [
            Job(
                id="",
                backend=self.name,
                native_id=str(j["gateway_id"]),
                name=str(j.get("name") or ""),
                project_dir="",
                run_id=j.get("run_id"),
                state=JobState.UNKNOWN,
            )
            for j in listed
            if j.get("gateway_id")
        ]
        infos = await self.statuses(shells)
        found = []
        for entry, shell in zip([j for j in listed if j.get("gateway_id")], shells, strict=True):
            created = entry.get("creation_time")
            found.append(
                DiscoveredJob(
                    native_id=shell.native_id,
                    job_id="",
                    run_id=shell.run_id,
                    status=infos.get(shell.native_id, StatusInfo(JobState.UNKNOWN)),
                    name=shell.name,
                    submitted_at=float(created) if isinstance(created, (int, float)) else None,
                )
            )
        return found

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
