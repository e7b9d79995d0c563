"""Slurm backend: ``sbatch --parsable`` of a script rendered from package data; squeue + sacct for status.

(Over 400 lines on purpose: what submit writes into a job (name, comment ``mltf:<id>``, script) is what
status and discover parse back; they are kept side by side so the two cannot drift.)
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import re
import shlex
import time
from importlib import resources as importlib_resources

import jinja2
from traitlets import Bool, Float, List, Unicode

from ..contract import JobPaths
from ..errors import CommandError, JobNotFound, ProjectError
from ..models import Capabilities, Job, JobState, LogChunk, Partition, Resources, StatusInfo
from ..procs import run_cmd
from ..resources import format_time, parse_time
from .base import Backend, ClusterLimits, DiscoveredJob, JobSpec
from .common import clean_submit_env, read_log_file

JOB_NAME_PREFIX = "mltf-"
_UNSAFE_PATH = re.compile(r"[\s\x00]")
_SQUEUE_FORMAT = "%F|%T|%r|%N|%S|%e|%b|%j|%k|%P|%V|%i"
_SACCT_FIELDS = "JobID,State,ExitCode,Start,End,NodeList,Reason,JobName,Comment,Partition,Submit"
_ACTIVE_ORDER = (
    JobState.RUNNING,
    JobState.COMPLETING,
    JobState.CONFIGURING,
    JobState.SUSPENDED,
    JobState.REQUEUED,
    JobState.PENDING,
)
_FAILURE_ORDER = (
    JobState.CANCELLED,
    JobState.TIMEOUT,
    JobState.OUT_OF_MEMORY,
    JobState.NODE_FAIL,
    JobState.FAILED,
    JobState.BOOT_FAIL,
    JobState.DEADLINE,
    JobState.PREEMPTED,
)


def combine(infos: list[StatusInfo]) -> StatusInfo:
    """One status for an array job from its tasks' statuses (a single job passes through)."""
    if len(infos) == 1:
        return infos[0]
    states = [i.state for i in infos]
    state = next((s for s in _ACTIVE_ORDER if s in states), None)
    if state is None:
        if all(s is JobState.COMPLETED for s in states):
            state = JobState.COMPLETED
        else:
            state = next((s for s in _FAILURE_ORDER if s in states), JobState.UNKNOWN)
    chosen = next(i for i in infos if i.state is state) if state in states else infos[0]
    nodes = sorted({n for i in infos for n in i.nodes})
    starts = [i.started_at for i in infos if i.started_at]
    ends = [i.ended_at for i in infos if i.ended_at]
    codes = [i.exit_code for i in infos if i.exit_code is not None]
    return StatusInfo(
        state=state,
        reason=chosen.reason,
        nodes=nodes,
        exit_code=max(codes) if codes else None,
        started_at=min(starts) if starts else None,
        ended_at=max(ends) if ends and state.is_terminal else None,
        estimated_start=chosen.estimated_start,
        gpus=chosen.gpus,
    )


def _ts(text: str) -> float | None:
    text = text.strip()
    if not text or text in ("N/A", "Unknown", "None", "0"):
        return None
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


def _squeue_line(parts: list[str]) -> StatusInfo:
    """One line of squeue -o _SQUEUE_FORMAT (job id first) as a status."""
    _native, state, reason, nodes, start, end, gres = parts[:7]
    st = JobState.parse(state)
    info = StatusInfo(
        state=st,
        reason=None if reason in ("None", "(null)", "") else reason,
        nodes=[n for n in nodes.split(",") if n and n != "(null)"],
        gpus=None if gres in ("N/A", "(null)", "") else gres,
    )
    if st is JobState.PENDING:
        info.estimated_start = _ts(start)
    else:
        info.started_at = _ts(start)
        info.ended_at = _ts(end) if st.is_terminal else None
    return info


def _sacct_line(parts: list[str]) -> StatusInfo:
    """One line of sacct -o _SACCT_FIELDS as a status."""
    _job, state, exit_code, start, end, nodes, reason = parts[:7]
    code = exit_code.split(":")[0]
    return StatusInfo(
        state=JobState.parse(state),
        reason=None if reason in ("None", "") else reason,
        nodes=[n for n in nodes.split(",") if n and n != "None assigned"],
        exit_code=int(code) if code.isdigit() else None,
        started_at=_ts(start),
        ended_at=_ts(end),
    )


class SlurmBackend(Backend):
    """Runs jobs on the Slurm cluster this machine can submit to (sbatch on PATH)."""

    name = "slurm"
    native_id_tag = "mltf.slurm_job_id"
    _limits: tuple[float, ClusterLimits] | None = None

    gpu_template = Unicode(
        "--gres=gpu:{type}:{count}",
        help="How a typed GPU request is written in the batch script. {type} and {count} are filled in. "
        "Sites that use --gpus-per-node set '--gpus-per-node={type}:{count}'.",
    ).tag(config=True)
    gpu_template_untyped = Unicode(
        "--gres=gpu:{count}",
        help="How a GPU request without a GPU type is written ('--gpus-per-node={count}' on some sites).",
    ).tag(config=True)
    extra_directives = List(
        Unicode(),
        default_value=[],
        help="Extra '#SBATCH' options added to every job, e.g. ['--constraint=x86-64v4']. Site admins only.",
    ).tag(config=True)
    tasks_as_nodes = Bool(
        False,
        help="One-host test clusters only: run a request for N nodes as N tasks on one node, each task acting "
        "as a node (node rank = task rank). Real clusters leave this off.",
    ).tag(config=True)
    command_timeout = Float(30.0, help="Seconds before a Slurm command is given up as failed.").tag(config=True)
    config_ttl = Float(
        600.0, help="Seconds the cluster's configuration (`scontrol show config`: KillWait, MaxArraySize) is cached."
    ).tag(config=True)
    stop_margin = Float(
        3.0,
        help="Seconds of Slurm's KillWait kept for the runner after the entry point is stopped on cancel or "
        "time limit: to remove its scratch, upload the log and close the MLflow run before SIGKILL.",
    ).tag(config=True)
    discover_days = Float(14.0, help="How far back (days) sacct looks when rebuilding the job list.").tag(config=True)

    def capabilities(self) -> Capabilities:
        return Capabilities(arrays=True, multi_node=True)

    def partition_request(self, res: Resources) -> Resources:
        if self.tasks_as_nodes:  # a one-host test cluster simulates nodes with tasks: the rest fits on one node
            return dataclasses.replace(res, nodes=1)
        return res

    async def cluster_limits(self) -> ClusterLimits:
        """KillWait and MaxArraySize from ``scontrol show config`` (cached); unknown when it fails."""
        now = time.monotonic()
        if self._limits is not None and now - self._limits[0] < self.config_ttl:
            return self._limits[1]
        try:
            _, out, _ = await run_cmd(["scontrol", "show", "config"], timeout=self.command_timeout)
        except CommandError as exc:
            self.log.warning("could not read the Slurm configuration: %s", exc.log_message)
            return ClusterLimits()
        limits = parse_config(out)
        self._limits = (now, limits)
        return limits

    def stop_grace(self, limits: ClusterLimits) -> float | None:
        if limits.kill_wait is None:
            return None
        return round(max(limits.kill_wait - self.stop_margin, limits.kill_wait / 2), 1)

    async def submit(self, spec: JobSpec) -> str:
        # rendering compiles the template the first time: keep that CPU off the event loop
        script = await asyncio.to_thread(self.job_script, spec)
        script_path = JobPaths(spec.job_dir).script
        with open(script_path, "w", encoding="utf-8") as fh:
            fh.write(script)
        try:
            _, out, _ = await run_cmd(
                ["sbatch", "--parsable", script_path], timeout=self.command_timeout, env=clean_submit_env()
            )
        except CommandError as exc:
            if exc.returncode is not None:
                raise  # sbatch answered: the job was refused
            # sbatch was killed while waiting for a slow controller, which may have queued the job anyway:
            # adopt it rather than roll back a job that will run
            queued = await self._queued_as(JOB_NAME_PREFIX + spec.job_id)
            if queued is None:
                raise
            return queued
        native = out.strip().split(";")[0]
        if not native.isdigit():
            raise CommandError(["sbatch"], 0, out, "sbatch did not print a job id")
        return native

    async def _queued_as(self, job_name: str) -> str | None:
        """The id of this user's job named ``job_name`` if Slurm has it (None if not, or if Slurm cannot say)."""
        try:
            argv = ["squeue", "--me", "-h", "-n", job_name, "-o", "%i"]
            _, out, _ = await run_cmd(argv, timeout=self.command_timeout)
        except CommandError:
            return None
        ids = out.split()
        return ids[0] if len(ids) == 1 and ids[0].isdigit() else None

    # ---------------------------------------------------------------------------------------------- script
    def job_script(self, spec: JobSpec) -> str:
        for path in (spec.job_dir, spec.spec_path, spec.log_path):
            if _UNSAFE_PATH.search(path):
                raise ProjectError(
                    f"the job directory {spec.job_dir!r} contains whitespace: set a jobs_dir without spaces"
                )
        res = spec.resources
        gpu_directive = ""
        if res.gpus:
            template = self.gpu_template if res.gpu_type else self.gpu_template_untyped
            gpu_directive = template.format(type=res.gpu_type or "", count=res.gpus)
        array = None
        if spec.array:
            array = f"0-{int(spec.array['tasks']) - 1}"
            if spec.array.get("parallelism"):
                array += f"%{int(spec.array['parallelism'])}"
        return _template().render(
            job_name=JOB_NAME_PREFIX + spec.job_id,
            comment=f"mltf:{spec.job_id}",  # other users see comments: the run id stays in the job dir and tags
            log_path=spec.log_path,
            job_dir=spec.job_dir,
            job_id=spec.job_id,
            res=res,
            tasks_as_nodes=self.tasks_as_nodes and res.nodes > 1,
            gpu_directive=gpu_directive,
            array=array,
            extra_directives=list(self.extra_directives),
            python=spec.python,
            spec_path=spec.spec_path,
        )

    # ---------------------------------------------------------------------------------------------- status
    async def statuses(self, jobs: list[Job]) -> dict[str, StatusInfo]:
        ids = sorted({j.native_id for j in jobs if j.native_id})
        if not ids:
            return {}
        found: dict[str, StatusInfo] = {}
        try:
            found.update(await self._squeue(ids))
        except CommandError as exc:
            if "Invalid job id" not in exc.stderr:
                return {i: StatusInfo(JobState.UNKNOWN, reason="squeue failed: status unknown") for i in ids}
        # sacct for jobs squeue no longer knows, and for exit codes of jobs that just ended
        missing = [i for i in ids if i not in found or found[i].state.is_terminal]
        if missing:
            try:
                from_sacct = await self._sacct(missing)
            except CommandError:
                from_sacct = {}
            for native, info in from_sacct.items():
                if native in found and not info.state.is_terminal:
                    continue  # accounting lags behind the controller: keep squeue's view
                found[native] = info
        for native in ids:
            found.setdefault(native, StatusInfo(JobState.UNKNOWN, reason="not found in squeue or sacct"))
        await asyncio.to_thread(_fill_exit_codes, jobs, found)
        return found

    async def _squeue(self, ids: list[str]) -> dict[str, StatusInfo]:
        _, out, _ = await run_cmd(
            ["squeue", "-h", "-t", "all", "-j", ",".join(ids), "-o", _SQUEUE_FORMAT], timeout=self.command_timeout
        )
        grouped: dict[str, list[StatusInfo]] = {}
        for parts in (line.split("|") for line in out.splitlines()):
            if len(parts) >= 7:
                grouped.setdefault(parts[0], []).append(_squeue_line(parts))
        return {native: combine(infos) for native, infos in grouped.items()}

    async def _sacct(self, ids: list[str]) -> dict[str, StatusInfo]:
        _, out, _ = await run_cmd(
            ["sacct", "-X", "-n", "-P", "-j", ",".join(ids), "-o", _SACCT_FIELDS], timeout=self.command_timeout
        )
        grouped: dict[str, list[StatusInfo]] = {}
        for parts in (line.split("|") for line in out.splitlines()):
            if len(parts) >= 7:  # array tasks ("123_4") fold into their array job
                grouped.setdefault(parts[0].split("_")[0], []).append(_sacct_line(parts))
        return {native: combine(infos) for native, infos in grouped.items()}

    # ---------------------------------------------------------------------------------------------- logs etc.
    async def read_log(self, job: Job, offset: int = 0, limit: int = 1 << 20) -> LogChunk:
        return await asyncio.to_thread(read_log_file, job.log_path, offset, limit, job.state.is_terminal)

    async def cancel(self, job: Job) -> None:
        if not job.native_id:
            raise JobNotFound(f"job {job.id} has no Slurm job id yet")
        await run_cmd(["scancel", job.native_id], timeout=self.command_timeout)

    async def partitions(self) -> list[Partition]:
        _, out, _ = await run_cmd(["sinfo", "-h", "-o", "%P|%l|%L|%c|%m|%G|%D|%a|%s"], timeout=self.command_timeout)
        parts: dict[str, Partition] = {}
        for line in out.splitlines():
            fields = line.split("|")
            if len(fields) < 9:
                continue
            raw_name, max_time, def_time, cpus, mem, gres, count, avail, max_nodes = fields[:9]
            name = raw_name.rstrip("*")
            part = parts.setdefault(name, Partition(name=name, default=raw_name.endswith("*"), nodes=0))
            part.nodes += int(count) if count.isdigit() else 0
            part.max_time = _norm_time(max_time)
            part.default_time = _norm_time(def_time)
            part.state = avail
            part.max_nodes = int(max_nodes) if max_nodes.isdigit() else None
            cpu_n = int(cpus.rstrip("+")) if cpus.rstrip("+").isdigit() else None
            if cpu_n:
                part.cpus_per_node = max(part.cpus_per_node or 0, cpu_n)
            mem_n = int(mem.rstrip("+")) if mem.rstrip("+").isdigit() else None
            if mem_n:
                part.mem_per_node_mb = max(part.mem_per_node_mb or 0, mem_n)
            for item in gres.split(","):
                bits = re.sub(r"\(.*?\)", "", item).split(":")
                if bits[0] != "gpu" or len(bits) < 2:
                    continue
                count_txt = bits[-1]
                if count_txt.isdigit():
                    part.gpus_per_node = max(part.gpus_per_node, int(count_txt))
                if len(bits) == 3 and bits[1] not in part.gpu_types:
                    part.gpu_types.append(bits[1])
        return sorted(parts.values(), key=lambda p: (not p.default, p.name))

    async def discover(self) -> list[DiscoveredJob]:
        found: dict[str, DiscoveredJob] = {}
        statuses: dict[str, list[StatusInfo]] = {}
        since = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - self.discover_days * 86400))

        def remember(native: str, name: str, comment: str, partition: str, submit: str, info: StatusInfo) -> None:
            job_id, run_id = _parse_comment(comment, name)
            statuses.setdefault(native, []).append(info)
            found.setdefault(
                native,
                DiscoveredJob(
                    native_id=native,
                    job_id=job_id,
                    run_id=run_id,
                    name=name,
                    partition=partition or None,
                    submitted_at=_ts(submit),
                    status=info,
                ),
            )

        try:
            _, out, _ = await run_cmd(
                ["sacct", "-X", "-n", "-P", "-S", since, "-o", _SACCT_FIELDS], timeout=self.command_timeout
            )
            for parts in (line.split("|") for line in out.splitlines()):
                if len(parts) < 11 or not parts[7].startswith(JOB_NAME_PREFIX):
                    continue
                name, comment, partition, submit = parts[7:11]
                remember(parts[0].split("_")[0], name, comment, partition, submit, _sacct_line(parts))
        except CommandError:
            pass  # accounting may be off: squeue below still finds live jobs
        from_sacct = set(statuses)
        _, out, _ = await run_cmd(
            ["squeue", "--me", "-h", "-t", "all", "-o", _SQUEUE_FORMAT], timeout=self.command_timeout
        )
        live: dict[str, list[StatusInfo]] = {}
        for parts in (line.split("|") for line in out.splitlines()):
            if len(parts) < 11 or not parts[7].startswith(JOB_NAME_PREFIX):
                continue
            native, (name, comment, partition, submit) = parts[0], parts[7:11]
            info = _squeue_line(parts)
            if native not in from_sacct:
                remember(native, name, comment, partition, submit, info)
            live.setdefault(native, []).append(info)
        for native, job in found.items():
            # the controller's view is fresher than accounting for jobs it still knows
            job.status = combine(live[native]) if native in live else combine(statuses[native])
        return list(found.values())


def _fill_exit_codes(jobs: list[Job], found: dict[str, StatusInfo]) -> None:
    """Accounting can lag behind the controller: a job squeue already shows ended has no exit code until sacct
    has its record. The runner wrote the code into the job directory (result.json): take it from there."""
    for job in jobs:
        info = found.get(job.native_id)
        if info is None or info.exit_code is not None or not job.job_dir:
            continue
        if info.state not in (JobState.FAILED, JobState.COMPLETED):
            continue
        try:
            with open(JobPaths(job.job_dir).result, encoding="utf-8") as fh:
                code = json.load(fh).get("exit_code")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(code, int) and not isinstance(code, bool):
            info.exit_code = code


def parse_config(text: str) -> ClusterLimits:
    """``scontrol show config`` lines ("KillWait = 30 sec", "MaxArraySize = 1001") as limits."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    kill = re.match(r"(\d+)\s*(sec)?", values.get("KillWait", ""))
    size = values.get("MaxArraySize", "")
    return ClusterLimits(
        max_array_tasks=int(size) if size.isdigit() and int(size) > 0 else None,
        kill_wait=float(kill.group(1)) if kill else None,
    )


def _parse_comment(comment: str, name: str) -> tuple[str, str | None]:
    if comment.startswith("mltf:"):  # "mltf:JOB" (jobs from before: "mltf:JOB:RUN")
        bits = comment.split(":")
        if len(bits) >= 2 and bits[1]:
            run = bits[2] if len(bits) >= 3 and bits[2] not in ("-", "") else None
            return bits[1], run
    return name[len(JOB_NAME_PREFIX) :], None


def _norm_time(text: str) -> str | None:
    text = text.strip()
    if text in ("infinite", "UNLIMITED", "n/a", "NONE", ""):
        return None
    try:
        return format_time(parse_time(text))
    except Exception:
        return None


@functools.lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    """The batch script template, compiled once per process (compiling takes tens of ms of CPU)."""
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_load_template),
        autoescape=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["q"] = lambda value: shlex.quote(str(value))
    return env.get_template("sbatch.sh.j2")


def _load_template(name: str) -> str:
    return (importlib_resources.files("jupyter_mltf") / "templates" / name).read_text(encoding="utf-8")
