"""What a run records about the environment it ran in: the resolved package set, as the artifact
``environment/requirements.lock.txt`` (so a job can be re-run in the identical env)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

from ..envbuild import BuiltEnv
from .joblog import say

LOCK_NAME = "requirements.lock.txt"
FREEZE_SECONDS = 30.0


def _freeze(python: str) -> str | None:
    """The notebook env's package set, as ``pip freeze`` writes it (uv when present: 50x faster)."""
    uv = shutil.which("uv") or os.path.join(os.path.dirname(sys.executable), "uv")
    argv = [uv, "pip", "freeze", "--python", python] if os.path.exists(uv) else [python, "-m", "pip", "freeze"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=FREEZE_SECONDS, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        say(f"warning: could not list the environment's packages: {exc}")
        return None
    return out.stdout


def record_env(tracker: Any, built: BuiltEnv | None, python: str) -> None:
    """Log the lock of the project env, or a freeze of the notebook env, under ``environment/``."""
    text: str | None
    if built is not None:
        try:
            with open(built.lock_file, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            say(f"warning: the env's lock file is unreadable: {exc.strerror}")
            return
    else:
        text = _freeze(python or sys.executable)
    if text is None:
        return
    with tempfile.TemporaryDirectory(prefix="mltf-env-") as tmp:
        path = os.path.join(tmp, LOCK_NAME)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        tracker.call("log_artifact", path, "environment")
