"""How the entry point is started on a node: plainly, or under torchrun/accelerate for multi-GPU jobs."""

from __future__ import annotations

from typing import Any


def launch_argv(spec: dict[str, Any], workdir: str) -> list[str]:
    """The argv that runs the entry point's shell command (an MLproject command is a shell line by design;
    every parameter in it was shell-quoted at submit)."""
    return ["bash", "-c", spec["command"]]
