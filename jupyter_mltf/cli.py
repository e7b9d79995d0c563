"""``jupyter mltf``: submit, list, status, logs, cancel (and preview, rebuild, login) from a terminal.

Errors print one line that says what to do (``--debug`` shows the traceback); exit status 2 for bad
input, 1 for a failed job or an unreachable cluster. Every name, path, parameter and message is printed
through :func:`~jupyter_mltf.formatting.printable` (control, bidi and zero-width characters escaped); a job's
own log keeps its bytes when piped and is escaped the same way on a terminal (:func:`write_log`).
(Just over 400 lines: one parser for every subcommand, and the printouts the magics reuse.)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import traceback
from collections.abc import Mapping
from typing import Any, NoReturn

from traitlets import TraitError

from .errors import InvalidRequest, MLTFError
from .formatting import printable, printable_log
from .models import Job

RESOURCE_OPTIONS = (
    ("--gpus", "gpus", "number of GPUs per node"),
    ("--gpu-type", "gpu_type", "GPU type (GRES type), e.g. nvidia_a100_80gb"),
    ("--partition", "partition", "Slurm partition"),
    ("--time", "time", "time limit, HH:MM:SS (or 90m, 2h)"),
    ("--mem", "mem", "memory per node, e.g. 16G"),
    ("--cpus", "cpus", "CPUs per task"),
    ("--nodes", "nodes", "number of nodes"),
    ("--account", "account", "Slurm account"),
    ("--qos", "qos", "Slurm QOS"),
)


#: the values of ``--env`` (the request's ``env_manager``)
ENV_CHOICES = ("auto", "notebook", "project")


def add_submit_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``jupyter mltf submit`` and ``%mltf_submit``."""
    parser.add_argument("path", nargs="?", default=".", help="project directory (default: current)")
    parser.add_argument("-e", "--entry-point", default=None, help="MLproject entry point (default: main)")
    parser.add_argument("-P", "--param", action="append", default=[], metavar="KEY=VALUE", help="parameter")
    for flag, dest, text in RESOURCE_OPTIONS:
        parser.add_argument(flag, dest=dest, default=None, help=text)
    parser.add_argument("--name", default=None, help="run name")
    parser.add_argument("--experiment", default=None, help="MLflow experiment (default: project name)")
    parser.add_argument(
        "--env",
        dest="env_manager",
        choices=ENV_CHOICES,
        default=None,
        help="environment: auto (the project's declared env if it declares one, else the notebook's), "
        "notebook or project (default: the server's setting, auto)",
    )
    parser.add_argument("--launcher", choices=("auto", "none", "torchrun", "accelerate"), default=None)
    parser.add_argument("--sweep", default=None, metavar="SWEEP.yaml", help="hyperparameter sweep file")
    parser.add_argument("--notebook", default=None, help="notebook or script to run when there is no MLproject")
    parser.add_argument("--dry-run", action="store_true", help="print the batch script and file list only")
    parser.add_argument("--wait", action="store_true", help="follow the log until the job ends")


def params_from_args(items: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise InvalidRequest(f"parameter {item!r} must be KEY=VALUE, e.g. -P lr=0.01")
        key, value = item.split("=", 1)
        if not key:
            raise InvalidRequest(f"parameter {item!r} has no name: use KEY=VALUE")
        params[key] = value
    return params


def resources_from_args(ns: argparse.Namespace) -> dict[str, Any]:
    return {dest: getattr(ns, dest) for _, dest, _ in RESOURCE_OPTIONS if getattr(ns, dest) is not None}


def submit_options_from_args(ns: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {
        "entry_point": ns.entry_point,
        "params": params_from_args(ns.param),
        "resources": resources_from_args(ns),
        "name": ns.name,
        "experiment": ns.experiment,
        "env_manager": ns.env_manager,
        "launcher": ns.launcher,
        "notebook": ns.notebook,
        "dry_run": ns.dry_run,
    }
    if ns.sweep:
        from .sweep import load_sweep_file

        options["sweep"] = load_sweep_file(ns.sweep)
    return options


def _fmt_time(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _fmt_elapsed(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def format_job_table(jobs: list[Job]) -> str:
    rows = [("ID", "SLURM", "STATE", "ELAPSED", "GPUS", "NAME", "REASON")]
    for j in jobs:
        rows.append(
            (
                j.id,
                printable(j.native_id or "-"),
                j.state.value,
                _fmt_elapsed(j.elapsed),
                str(j.resources.gpus),
                printable(j.name)[:30],
                printable(j.reason or ""),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def format_job_detail(job: Job) -> str:
    lines = [
        f"job        {job.id}  ({job.backend} {job.native_id or '-'})",
        f"state      {job.state.value}" + (f"  reason: {job.reason}" if job.reason else ""),
        f"name       {job.name}   entry point: {job.entry_point}",
        f"params     {json.dumps(job.params)}",
        "resources  " + ", ".join(f"{k}={v}" for k, v in job.resources.to_dict().items() if v not in (None, 0)),
        f"nodes      {','.join(job.nodes) or '-'}",
        f"submitted  {_fmt_time(job.submitted_at)}   started {_fmt_time(job.started_at)}"
        f"   ended {_fmt_time(job.ended_at)}",
        f"elapsed    {_fmt_elapsed(job.elapsed)}"
        + (f"   exit code {job.exit_code}" if job.exit_code is not None else ""),
        f"mlflow run {job.run_id or '-'}" + (f"  {job.mlflow_url}" if job.mlflow_url else ""),
        f"log        {job.log_path or '-'}",
    ]
    if job.estimated_start and not job.started_at:
        lines.insert(2, f"est. start {_fmt_time(job.estimated_start)}")
    if job.metrics:
        lines.append(
            "metrics    "
            + ", ".join(f"{k}={v:g}" for k, v in sorted(job.metrics.items()) if not k.startswith("system/"))
        )
    return "\n".join(printable(line) for line in lines)


class _Parser(argparse.ArgumentParser):
    """argparse whose error line escapes the value it quotes (an option value may hold control characters)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {printable(message)}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="jupyter mltf",
        description="Submit projects to MLTF and follow them.",
        epilog="Any setting can be given as --Section.trait=value (e.g. --SlurmBackend.tasks_as_nodes=True), "
        "as in jupyter_mltf_config.py.",
    )
    parser.add_argument("--backend", default=None, help="backend name (slurm, local, gateway); default: auto")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    submit = sub.add_parser("submit", help="package a directory as an MLflow project and run it")
    add_submit_options(submit)
    preview = sub.add_parser("preview", help="show the project, entry points, files and size")
    preview.add_argument("path", nargs="?", default=".")
    preview.add_argument("--notebook", default=None)
    preview.add_argument("--json", action="store_true")
    lst = sub.add_parser("list", help="list your jobs")
    lst.add_argument("--json", action="store_true")
    status = sub.add_parser("status", help="one job in detail")
    status.add_argument("job_id")
    status.add_argument("--json", action="store_true")
    logs = sub.add_parser("logs", help="a job's output")
    logs.add_argument("job_id")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing until the job ends")
    cancel = sub.add_parser("cancel", help="cancel a job")
    cancel.add_argument("job_id")
    sub.add_parser("rebuild", help="rebuild the local job list from Slurm and MLflow")
    sub.add_parser("config", help="backend, partitions and limits")
    login = sub.add_parser("login", help="log in to the MLTF gateway (OAuth device flow)")
    login.add_argument("--url", default=None, help="gateway URL (default: $MLTF_GATEWAY_URI)")
    return parser


_TRAIT_ARG = re.compile(r"--([A-Za-z_]\w*)\.([A-Za-z_]\w*)(?:=(.*))?\Z", re.DOTALL)


def split_setting_args(argv: list[str]) -> tuple[list[str], Any]:
    """``--Section.trait=value`` arguments (anywhere on the line) as traitlets config, and the rest.

    The sections are those of the settings files (MLTFManager, SlurmBackend, LocalBackend, GatewayBackend);
    values are converted by the trait itself, as Jupyter's own command lines do."""
    from traitlets.config import Config
    from traitlets.config.loader import DeferredConfigString

    from .api import CONFIG_SECTIONS, configurable_classes

    config = Config()
    rest: list[str] = []
    for arg in argv:
        match = _TRAIT_ARG.match(arg)
        if not match:
            rest.append(arg)
            continue
        section, name, value = match.groups()
        if section not in CONFIG_SECTIONS:
            raise InvalidRequest(f"--{section}.{name}: no settings section {section!r}; use one of "
                                 + ", ".join(CONFIG_SECTIONS))
        known = configurable_classes()[section].class_trait_names(config=True)
        if name not in known:
            raise InvalidRequest(f"--{section}.{name}: {section} has no setting {name!r} "
                                 f"(`jupyter mltf config` and the README list them)")
        if value is None:
            raise InvalidRequest(f"--{section}.{name} needs a value: --{section}.{name}=VALUE")
        config[section][name] = DeferredConfigString(value)
    return rest, config


def _client(ns: argparse.Namespace, settings: Any) -> Any:
    from .api import Client, load_config

    traits: dict[str, Any] = {}
    if ns.backend:
        traits["backend"] = ns.backend
    config = load_config()
    config.merge(settings)
    return Client(config=config, **traits)


def write_log(text: str) -> None:
    """A job's own output: its bytes as they are when piped or redirected (``> file`` keeps the exact log),
    escaped on a terminal, where an escape sequence in it would act on the terminal instead of showing."""
    sys.stdout.write(printable_log(text) if sys.stdout.isatty() else text)
    sys.stdout.flush()


def env_summary(env: Mapping[str, Any] | None) -> str | None:
    """The one line a surface shows about the env a submit will use (the ``env`` block of a check, preview or
    dry run): ``project env: python_env.yaml, Python 3.10.13 (3.10 asked)`` or ``notebook env: the project
    declares no environment``. None when the server sends no ``env`` (an older server). Not escaped: each
    surface escapes it its own way."""
    if not isinstance(env, Mapping) or not env.get("used"):
        return None
    used = str(env["used"])
    python = f"Python {env['python_used']}" if env.get("python_used") else ""
    if env.get("python_requested") and python:
        python += f" ({env['python_requested']} asked)"
    if used == "project":
        what = ", ".join(str(x) for x in (env.get("spec_file") or env.get("why"), python) if x)
    else:
        what = ", ".join(str(x) for x in (env.get("why"), python) if x)
    line = f"{used} env: {what}" if what else f"{used} env"
    if env.get("cached") is False:
        line += "; built at submit"
    return line


def env_details(env: Mapping[str, Any] | None) -> list[str]:
    """The printout lines of the ``env`` block: the summary, why (when the summary does not say it), the note
    about the Python (``3.10.4 asked, 3.10.13 used (newest 3.10.x)``). Empty for an older server."""
    line = env_summary(env)
    if line is None or env is None:
        return []
    lines = [line]
    why = env.get("why")
    if why and str(why) not in line:
        lines.append(f"why: {why}")
    if env.get("note"):
        lines.append(f"note: {env['note']}")
    return lines


def print_dry_run(result: Any) -> None:
    print("# batch script\n" + printable(result.script, multiline=True))
    print(f"# command: {printable(result.command)}")
    print(f"# files ({len(result.files)}, {result.total_bytes} bytes, sha256 {result.content_hash[:16]}):")
    for name in result.files:
        print(f"  {printable(name)}")
    if result.excluded:
        print("# excluded:")
        for item in result.excluded:
            print(f"  {printable(item['path'])}  ({printable(item['reason'])})")
    for i, line in enumerate(env_details(result.to_dict().get("env"))):
        print(f"# environment: {printable(line)}" if i == 0 else f"#   {printable(line)}")
    for note in result.project.get("notes") or []:
        print(f"# note: {printable(note)}")
    if result.project.get("generated"):
        print("# generated MLproject:\n" + printable(result.project.get("mlproject", ""), multiline=True))


def print_preview(pv: dict[str, Any]) -> None:
    project = pv["project"]
    if project:
        print(f"project {printable(project['name'])}" + (" (MLproject proposed)" if project["generated"] else ""))
        for note in project["notes"]:
            print(f"  note: {printable(note)}")
        for ep in project["entry_points"]:
            params = ", ".join(f"{p['name']}:{p['type']}={p['default']}" for p in ep["parameters"])
            line = f"entry point {ep['name']}: {ep['command']}" + (f"  [{params}]" if params else "")
            print("  " + printable(line))
    files = pv["files"]
    print(f"{files['count']} files, {files['total_bytes']} bytes (limit {files['limit_bytes']})")
    for item in files["largest"][:5]:
        print(f"  {item['size']:>12}  {printable(item['path'])}")
    for item in files["excluded"][:20]:
        print(f"  excluded {printable(item['path'])} ({printable(item['reason'])})")
    for i, line in enumerate(env_details(pv.get("env"))):
        print(f"environment: {printable(line)}" if i == 0 else f"  {printable(line)}")
    for warning in pv["warnings"]:
        print(f"warning: {printable(warning)}")


def _follow(client: Any, job_id: str) -> Job:
    try:
        for text in client.follow(job_id):
            write_log(text)
    except KeyboardInterrupt:
        print(f"\nstopped following; job {job_id} goes on (`jupyter mltf cancel {job_id}` stops it)")
        raise SystemExit(130) from None
    job: Job = client.job(job_id)
    return job if job.state.is_terminal else client.wait(job_id, timeout=60)


def run(argv: list[str]) -> int:
    argv, settings = split_setting_args(argv)
    ns = build_parser().parse_args(argv)
    if ns.command == "login":
        from .auth import login

        login(ns.url)
        return 0
    client = _client(ns, settings)
    if ns.command == "submit":
        result = client.submit(ns.path, **submit_options_from_args(ns))
        from .submission import DryRun

        if isinstance(result, DryRun):
            print_dry_run(result)
            return 0
        job = result.job
        print(printable(f"submitted job {job.id} ({job.backend} {job.native_id}); MLflow run {job.run_id}"))
        if job.mlflow_url:
            print(f"run: {printable(job.mlflow_url)}")
        if ns.wait:
            final = _follow(client, job.id)
            print(printable(
                f"job {final.id} ended {final.state.value}" + (f"; run: {final.mlflow_url}" if final.mlflow_url else "")
            ))
            return 0 if final.state.value == "COMPLETED" else 1
        return 0
    if ns.command == "preview":
        pv = client.preview(ns.path, ns.notebook).to_dict()
        if ns.json:
            print(json.dumps(pv, indent=1))  # ensure_ascii: every control character is a \u escape
            return 0
        print_preview(pv)
        return 0
    if ns.command == "list":
        jobs = client.jobs()
        print(json.dumps([j.to_dict() for j in jobs], indent=1) if ns.json else format_job_table(jobs))
        return 0
    if ns.command == "status":
        job = client.job(ns.job_id, metrics=True)
        print(json.dumps(job.to_dict(), indent=1) if ns.json else format_job_detail(job))
        return 0
    if ns.command == "logs":
        if ns.follow:
            _follow(client, ns.job_id)
        else:
            write_log(client.logs(ns.job_id).text)
        return 0
    if ns.command == "cancel":
        job = client.cancel(ns.job_id)
        print(printable(f"job {job.id}: {job.state.value}"))
        return 0
    if ns.command == "rebuild":
        jobs = client.rebuild()
        print(f"recovered {len(jobs)} job(s) from the cluster")
        return 0
    if ns.command == "config":
        print(json.dumps(client.config(), indent=1))
        return 0
    return 2


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        code = run(args)
    except MLTFError as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {printable(exc.message)}", file=sys.stderr)
        from .errors import http_status

        code = 2 if 400 <= http_status(exc) < 500 else 1
    except TraitError as exc:  # a --Section.trait=value the trait refuses
        print(f"error: {printable(str(exc).splitlines()[0] if str(exc) else exc)}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    raise SystemExit(code)


if __name__ == "__main__":
    main()
