"""Hyperparameter sweeps as Slurm job arrays (filled in by the sweep feature)."""

from __future__ import annotations

from typing import Any

from .errors import InvalidRequest
from .models import Job
from .project import EntryPoint


def load_sweep_file(path: str) -> dict[str, Any]:
    raise InvalidRequest("sweeps are not available yet")


def parse_sweep(raw: dict[str, Any], entry: EntryPoint) -> dict[str, Any]:
    raise InvalidRequest("sweeps are not available yet")


def summarize_sweep(job: Job) -> None:
    return None
