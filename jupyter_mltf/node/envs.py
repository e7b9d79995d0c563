"""Project environments, built once and cached under the hash of their spec (never rebuilt per job).

``python_env.yaml`` (MLflow's format: python, build_dependencies, dependencies) and ``requirements.txt``
become a virtualenv under ``<envs_dir>/<sha256 of spec>``; concurrent jobs wait on a lock instead of
building twice. Reading the requirements (and refusing bad ones at submit) is :mod:`jupyter_mltf.envspec`.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..envspec import requirements_of


def env_key(spec_path: Path, python: str) -> str:
    digest = hashlib.sha256()
    digest.update(spec_path.name.encode())
    digest.update(b"\0")
    digest.update(spec_path.read_bytes())
    digest.update(b"\0")
    digest.update(os.path.realpath(python).encode())
    return digest.hexdigest()[:24]


def ensure_env(spec_path: Path, envs_dir: str, python: str = sys.executable) -> tuple[str, bool]:
    """Return (bin dir, built_now). Builds under a lock the first time; later jobs reuse it as is."""
    key = env_key(spec_path, python)
    root = Path(envs_dir)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = root / key
    done = target / ".mltf-ready"
    if done.exists():
        return str(target / "bin"), False
    with open(root / f"{key}.lock", "w", encoding="ascii") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return str(target / "bin"), False
        reqs = requirements_of(spec_path)
        if target.exists():
            shutil.rmtree(target)  # a build that died half-way
        # venv scripts embed their path, so build in place under the final name; ready only once marked
        subprocess.run([python, "-m", "venv", str(target)], check=True)
        _layer_on_base(target, python)
        if reqs:
            subprocess.run([str(target / "bin" / "python"), "-m", "pip", "install", "-q", *reqs], check=True)
        done.touch()
        return str(target / "bin"), True


def _layer_on_base(target: Path, python: str) -> None:
    """Let the project env see the notebook env's packages (mlflow, the runner) behind its own ones."""
    out = subprocess.run(
        [python, "-c", "import site, sys; print('\\n'.join(p for p in sys.path if p.endswith('-packages')))"],
        capture_output=True,
        text=True,
        check=True,
    )
    lib = next((target / "lib").glob("python*/site-packages"))
    (lib / "_mltf_notebook_env.pth").write_text(out.stdout, encoding="utf-8")
