"""The job log as the node writes it: whole lines, one write each, under one lock shared by every writer."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from ..formatting import redact

_WRITE_LOCK = threading.Lock()


def write_lines(text: str, out: TextIO | None = None) -> None:
    """Whole lines in one write, then flush, under the one lock of every writer in this process."""
    stream = out or sys.stdout
    with _WRITE_LOCK:
        stream.write(text)
        stream.flush()


def say(message: str) -> None:
    """One ``[mltf] ...`` line of the node's own, secrets redacted."""
    write_lines(f"[mltf] {redact(message)}\n")
