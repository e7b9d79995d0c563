"""Fixtures of the robustness suite: a real ``jupyter server`` subprocess with the extension and a loop meter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import JupyterServer, scancel, slurm_jobs_under


@pytest.fixture
def server_factory(stack: str, tmp_path: Path) -> Iterator[object]:
    """Start real jupyter servers (root ``tmp_path/root``, state ``tmp_path/state``); all stopped, their jobs
    cancelled, at the end."""
    started: list[JupyterServer] = []
    root = tmp_path / "root"
    state = tmp_path / "state"
    root.mkdir(exist_ok=True)
    state.mkdir(exist_ok=True)

    def make(**manager: object) -> JupyterServer:
        server = JupyterServer(root, state, extra_manager=dict(manager))
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
    scancel(slurm_jobs_under(str(state)))
