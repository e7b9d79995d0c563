"""Per-rank output of a multi-process launch, written to the job log one whole line at a time.

Ranks run with ``PYTHONUNBUFFERED=1`` so that a user's ``print`` reaches the log at once, but then Python writes
the text and its newline in two system calls: two ranks sharing one stdout interleave mid-line
(``...:20166rank 0/2 ...``). torchrun's own ``--tee`` does not help, since its tailer copies a partial line as soon
as it sees one. So torchrun writes each rank's stdout and stderr to files of their own (``--redirects=3``) and
this tailer copies complete lines only, each prefixed with its global rank, in one write under one lock.
"""

from __future__ import annotations

import glob
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from typing import TextIO

from .joblog import write_lines

POLL_SECONDS = 0.2
_CHUNK = 1 << 16
_MAX_PARTIAL = 1 << 16
_LINE_END = re.compile(rb"\r\n|\r|\n")


@dataclass
class _Stream:
    path: str
    prefix: str
    offset: int = 0
    partial: bytes = field(default=b"")


class RankLogTail:
    """Follow ``<log_dir>/<run>/attempt_<n>/<local_rank>/std{out,err}.log`` files as torchrun creates them."""

    def __init__(self, log_dir: str, node_rank: int, procs_per_node: int, out: TextIO | None = None) -> None:
        self.log_dir = log_dir
        self.first_rank = node_rank * procs_per_node
        self.out = out or sys.stdout
        self._streams: dict[str, _Stream] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mltf-rank-log", daemon=True)

    def start(self) -> RankLogTail:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Copy what is left (a last line without its newline too) and end the thread."""
        self._stop.set()
        self._thread.join(timeout=30)
        self._poll(final=True)

    def _loop(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            self._poll(final=False)

    def _discover(self) -> None:
        for path in sorted(glob.glob(os.path.join(self.log_dir, "*", "attempt_*", "*", "std*.log"))):
            if path in self._streams:
                continue
            local_rank = os.path.basename(os.path.dirname(path))
            if not local_rank.isdigit():
                continue
            self._streams[path] = _Stream(path, f"[rank {self.first_rank + int(local_rank)}] ")

    def _poll(self, final: bool) -> None:
        self._discover()
        for stream in self._streams.values():
            self._copy(stream, final)

    def _copy(self, stream: _Stream, final: bool) -> None:
        try:
            with open(stream.path, "rb") as fh:
                fh.seek(stream.offset)
                data = fh.read() if final else fh.read(_CHUNK)
        except OSError:
            return
        stream.offset += len(data)
        # a carriage return ends a line too (progress bars redraw with it), and a line that never ends is
        # cut at _MAX_PARTIAL: nothing is held back for long and the buffer stays small
        lines = _LINE_END.split(stream.partial + data)
        stream.partial = lines.pop()
        if (final and stream.partial) or len(stream.partial) > _MAX_PARTIAL:
            lines.append(stream.partial)
            stream.partial = b""
        lines = [line for line in lines if line]  # "\r\n" gives an empty piece
        if lines:
            text = "".join(f"{stream.prefix}{line.decode('utf-8', 'replace')}\n" for line in lines)
            self._write(text)

    def _write(self, text: str) -> None:
        write_lines(text, self.out)
