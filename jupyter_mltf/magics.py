"""IPython magics (``%load_ext jupyter_mltf``): submit and follow MLTF jobs from a notebook.

``%mltf_submit [PATH] [options]`` submits a directory (default: the notebook's) and returns a
:class:`~jupyter_mltf.api.JobHandle`; ``%%mltf_submit [options]`` submits the notebook's directory with the
cell body as the entry script. ``%mltf_jobs``, ``%mltf_logs ID [-f]``, ``%mltf_cancel ID`` and
``%mltf_panel`` complete the set. Arguments are split with :func:`shlex.split` (never a shell). Errors print
one line; ``--debug`` shows the traceback. Everything printed goes through
:func:`~jupyter_mltf.formatting.printable`; a job's log through ``printable_log`` (a notebook output is shown,
not kept, so bidi and escape sequences in it are escaped as on a terminal).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.display import display

from .errors import MLTFError
from .formatting import printable, printable_log
from .models import Job

if TYPE_CHECKING:
    from .api import Client, JobHandle
    from .submission import DryRun
    from .widgets import SubmitPanel

class _Help(Exception):
    """``--help`` was asked for: the help text was printed; nothing else to do."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one-line :class:`UsageError` and never exits the kernel."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"%{self.prog}: {printable(message)} (%{self.prog} --help shows the options)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            print(message, file=sys.stderr, end="")
        raise _Help()


def _parser(prog: str, description: str) -> _Parser:
    parser = _Parser(prog=prog, description=description, add_help=True)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return parser


def submit_parser(cell: bool = False) -> _Parser:
    """``%mltf_submit``'s options: exactly ``jupyter mltf submit``'s (:func:`jupyter_mltf.cli.add_submit_options`)."""
    from .cli import add_submit_options

    what = "the notebook's directory, with the cell body as the entry script" if cell else "a directory"
    parser = _parser("mltf_submit", f"Submit {what} to MLTF as an MLflow project.")
    add_submit_options(parser)
    return parser


def format_jobs(jobs: list[Job]) -> str:
    """A plain-text table of jobs, newest first."""
    from .widgets import fmt_duration

    if not jobs:
        return "no MLTF jobs yet: submit one with %mltf_submit"
    rows = [("ID", "NAME", "STATE", "ELAPSED", "REASON", "MLFLOW RUN")]
    for job in jobs:
        reason = (job.reason or "") if not job.state.is_terminal else (
            f"exit {job.exit_code}" if job.exit_code not in (None, 0) else ""
        )
        rows.append((job.id, printable(job.name)[:24], job.state.value, fmt_duration(job.elapsed),
                     printable(reason)[:30], printable(job.mlflow_url or "")))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])) + "  " + row[-1] for row in rows
    ).rstrip()


def final_line(job: Job) -> str:
    from .widgets import fmt_duration

    parts = [f"job {job.id} {job.state.value}"]
    if job.exit_code not in (None, 0):
        parts.append(f"exit code {job.exit_code}")
    if job.elapsed is not None:
        parts.append(f"ran {fmt_duration(job.elapsed)}")
    if job.mlflow_url:
        parts.append(f"MLflow run: {job.mlflow_url}")
    return printable(" · ".join(parts))


@magics_class
class MLTFMagics(Magics):
    """The ``%mltf_*`` magics; one :class:`~jupyter_mltf.api.Client` per shell, shared with the panel."""

    def __init__(self, shell: Any = None, client: Client | None = None) -> None:
        super().__init__(shell)
        self._client = client

    @property
    def client(self) -> Client:
        if self._client is None:
            from .api import Client

            self._client = Client()
        return self._client

    # -- helpers ---------------------------------------------------------------------------------------------

    @staticmethod
    def _parse(parser: _Parser, line: str) -> argparse.Namespace | None:
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%{parser.prog}: cannot split the arguments: {exc}") from None
        try:
            return parser.parse_args(argv)
        except _Help:
            return None

    @contextmanager
    def _errors(self, debug: bool) -> Iterator[None]:
        """One clear line for any error; the traceback only with ``--debug``."""
        try:
            yield
        except UsageError:
            raise
        except MLTFError as exc:
            if debug:
                traceback.print_exc()
            print(f"MLTF error: {printable(exc.message)}", file=sys.stderr)
        except Exception as exc:
            if debug:
                traceback.print_exc()
                return
            message = f"{type(exc).__name__}: {printable(exc)} (add --debug for the traceback)"
            print(f"MLTF error: {message}", file=sys.stderr)

    def _follow(self, job_id: str, offset: int = 0) -> None:
        """Print the log as it grows until the job ends; Ctrl-C (interrupt) stops following, not the job."""
        try:
            for text in self.client.follow(job_id, offset):
                sys.stdout.write(printable_log(text))
                sys.stdout.flush()
        except KeyboardInterrupt:
            print(f"\nstopped following job {job_id}; it keeps running (%mltf_cancel {job_id} stops it)")
            return
        print(final_line(self.client.job(job_id)))

    # -- magics ----------------------------------------------------------------------------------------------

    @line_cell_magic
    def mltf_submit(self, line: str, cell: str | None = None) -> JobHandle | None:
        """Submit a directory (or, as a cell magic, the cell body) to MLTF; returns a job handle.

        %mltf_submit [PATH] [-e ENTRY] [-P k=v ...] [--gpus N] [--gpu-type T] [--partition P] [--time T]
                     [--mem M] [--cpus N] [--nodes N] [--account A] [--qos Q] [--name N] [--experiment E]
                     [--env auto|notebook|project] [--launcher L] [--sweep FILE] [--notebook NB] [--wait]
                     [--dry-run] [--debug]
        """
        from .cli import submit_options_from_args

        args = self._parse(submit_parser(cell is not None), line)
        if args is None:
            return None
        with self._errors(args.debug):
            options = submit_options_from_args(args)
            if cell is not None:
                if not cell.strip():
                    raise UsageError("%%mltf_submit: the cell is empty: put the script under the magic")
                options["script"] = cell
            path = os.path.abspath(os.path.expanduser(args.path))  # relative to the notebook's directory
            result = self.client.submit(path, **{k: v for k, v in options.items() if v is not None})
            from .submission import DryRun

            if isinstance(result, DryRun):
                _print_dry_run(result)  # printed, not returned: the object would show a second time as Out
                return None
            self._show_status(result)
            if args.wait:
                self._follow(result.id)
                result.refresh()
            return result
        return None

    def _show_status(self, handle: JobHandle) -> None:
        from .widgets import JobStatusLine

        interval = float(self.client.manager.poll_interval)
        display(JobStatusLine(handle, interval=min(interval, 2.0)))  # type: ignore[no-untyped-call]

    @line_magic
    def mltf_jobs(self, line: str) -> list[Job] | None:
        """List your MLTF jobs, newest first: %mltf_jobs [-n N]"""
        parser = _parser("mltf_jobs", "List your MLTF jobs, newest first.")
        parser.add_argument("-n", "--limit", type=int, default=20, help="show at most N jobs (default 20)")
        args = self._parse(parser, line)
        if args is None:
            return None
        with self._errors(args.debug):
            jobs = self.client.jobs()[: max(1, args.limit)]
            print(format_jobs(jobs))
        return None

    @line_magic
    def mltf_logs(self, line: str) -> None:
        """Print a job's log: %mltf_logs ID [-f] (-f follows it until the job ends)"""
        parser = _parser("mltf_logs", "Print a job's log.")
        parser.add_argument("job_id", help="the job id (%mltf_jobs lists them)")
        parser.add_argument("-f", "--follow", action="store_true", help="follow the log until the job ends")
        args = self._parse(parser, line)
        if args is None:
            return
        with self._errors(args.debug):
            if args.follow:
                self._follow(args.job_id)
                return
            offset = 0
            while True:
                chunk = self.client.logs(args.job_id, offset)
                sys.stdout.write(printable_log(chunk.text))
                if not chunk.text or chunk.next_offset == offset:
                    break
                offset = chunk.next_offset
            sys.stdout.flush()

    @line_magic
    def mltf_cancel(self, line: str) -> Job | None:
        """Cancel a job: %mltf_cancel ID"""
        parser = _parser("mltf_cancel", "Cancel a job.")
        parser.add_argument("job_id", help="the job id (%mltf_jobs lists them)")
        args = self._parse(parser, line)
        if args is None:
            return None
        with self._errors(args.debug):
            job = self.client.cancel(args.job_id)
            print(printable(f"cancel requested for job {job.id}: now {job.state.value}"))
            return job
        return None

    @line_magic
    def mltf_panel(self, line: str) -> SubmitPanel | None:
        """Open the submit panel for a directory (default: the notebook's): %mltf_panel [PATH]"""
        parser = _parser("mltf_panel", "Open the MLTF submit panel.")
        parser.add_argument("path", nargs="?", default=None, help="directory (default: the notebook's)")
        args = self._parse(parser, line)
        if args is None:
            return None
        with self._errors(args.debug):
            from .widgets import SubmitPanel

            return SubmitPanel(args.path, client=self.client)
        return None


def _print_dry_run(result: DryRun) -> None:
    from .cli import env_details

    data = result.to_dict()
    print("dry run: nothing was submitted")
    print(f"command: {printable(data.get('command', ''))}")
    files = data.get("files") or []
    print(printable(f"files ({len(files)}): {', '.join(files[:20])}{' ...' if len(files) > 20 else ''}"))
    for i, line in enumerate(env_details(data.get("env"))):  # absent from an older server
        print(f"environment: {printable(line)}" if i == 0 else f"  {printable(line)}")
    print("batch script:")
    print(printable(data.get("script", ""), multiline=True))


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_mltf``: register the magics on this shell."""
    ipython.register_magics(MLTFMagics(ipython))
