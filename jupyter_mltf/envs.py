"""Project environments, built once and cached under the hash of their spec (never rebuilt per job).

``python_env.yaml`` (MLflow's format: python, build_dependencies, dependencies) and ``requirements.txt``
become a virtualenv under ``<envs_dir>/<sha256 of spec>``; concurrent jobs wait on a lock instead of
building twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import yaml

from .errors import ProjectError


def requirements_of(spec_path: Path) -> list[str]:
    name = spec_path.name
    text = spec_path.read_text(encoding="utf-8")
    if name == "requirements.txt":
        return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if name.endswith((".yaml", ".yml")):
        data = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise ProjectError(f"{name} must be a mapping")
        if "channels" in data or name == "conda.yaml":
            pip: list[str] = []
            for dep in data.get("dependencies") or []:
                if isinstance(dep, dict):
                    pip.extend(str(x) for x in dep.get("pip") or [])
            return pip
        deps = [str(x) for x in (data.get("build_dependencies") or [])]
        deps += [str(x) for x in (data.get("dependencies") or [])]
        return deps
    raise ProjectError(f"unsupported environment file {name}")


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
            import shutil

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
