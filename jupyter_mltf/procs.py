"""The one subprocess helper: every Slurm (and other cluster) command goes through :func:`run_cmd`.

argv lists only, never a shell string; a bounded timeout; a clear :class:`CommandError` with the full
context for the log. It is also the single seam that unit tests fake.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from dataclasses import dataclass

from .errors import BackendUnavailable, CommandError

log = logging.getLogger("jupyter_mltf.procs")


@dataclass
class CommandStats:
    """Counts calls per tool: the benchmarks read it to show 'cluster calls per poll'."""

    calls: dict[str, int]


STATS = CommandStats(calls={})


async def run_cmd(
    argv: list[str],
    *,
    timeout: float = 30.0,
    check: bool = True,
    input_bytes: bytes | None = None,
    env: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    """Run ``argv``; returns (returncode, stdout, stderr). Raises CommandError when ``check`` and rc != 0."""
    if not argv or not all(isinstance(a, str) for a in argv):
        raise TypeError("run_cmd takes a non-empty list of strings")
    if any("\x00" in a for a in argv):
        raise ValueError("argument contains a NUL byte")
    tool = os.path.basename(argv[0])
    STATS.calls[tool] = STATS.calls.get(tool, 0) + 1
    if shutil.which(argv[0]) is None:
        raise BackendUnavailable(f"{argv[0]} is not installed or not on PATH on this machine")
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if input_bytes is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(input_bytes), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise CommandError(argv, None, "", f"timed out after {timeout:.0f} s") from None
    except asyncio.CancelledError:
        proc.kill()
        await proc.wait()
        raise
    stdout = out.decode("utf-8", "replace")
    stderr = err.decode("utf-8", "replace")
    log.debug("%s -> %s in %.3fs", argv, proc.returncode, time.monotonic() - started)
    if check and proc.returncode != 0:
        raise CommandError(argv, proc.returncode, stdout, stderr)
    return proc.returncode or 0, stdout, stderr
