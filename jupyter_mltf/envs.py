"""Project environments, built once and cached under the hash of their spec (never rebuilt per job).

``python_env.yaml`` (MLflow's format: python, build_dependencies, dependencies) and ``requirements.txt``
become a virtualenv under ``<envs_dir>/<sha256 of spec>``; concurrent jobs wait on a lock instead of
building twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from .errors import ProjectError

#: an environment file larger than this is not a list of requirements
MAX_SPEC_BYTES = 1024 * 1024
# pip's comment rule: '#' at the start of a line or after whitespace
_COMMENT = re.compile(r"(^|\s)#.*$")


def requirements_of(spec_path: Path) -> list[str]:
    """The pip requirements of ``python_env.yaml`` (MLflow's format), ``conda.yaml``'s pip section or
    ``requirements.txt``, one string each, as ``pip install`` takes them."""
    name = spec_path.name
    text = spec_path.read_text(encoding="utf-8")
    if name == "requirements.txt":
        lines = (_COMMENT.sub("", ln).strip() for ln in text.splitlines())
        return [ln for ln in lines if ln]
    if name.endswith((".yaml", ".yml")):
        from .project import load_yaml

        data = load_yaml(text, name) or {}
        if not isinstance(data, dict):
            raise ProjectError(f"{name} must be a mapping")
        if "channels" in data or name == "conda.yaml":
            pip: list[Any] = []
            for dep in _list(name, "dependencies", data.get("dependencies")):
                if isinstance(dep, dict):
                    pip.extend(_list(name, "pip", dep.get("pip")))
            return [_requirement_text(name, item) for item in pip]
        deps = _list(name, "build_dependencies", data.get("build_dependencies"))
        deps += _list(name, "dependencies", data.get("dependencies"))
        return [_requirement_text(name, item) for item in deps]
    raise ProjectError(f"unsupported environment file {name}: use python_env.yaml, conda.yaml or requirements.txt")


def _list(name: str, key: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ProjectError(f"{name}: {key} must be a list of requirements, like [numpy>=1.26]")
    return value


def _requirement_text(name: str, item: Any) -> str:
    if not isinstance(item, str):
        raise ProjectError(f"{name}: each requirement must be a string like numpy>=1.26, not a {type(item).__name__}")
    return item.strip()


def check_spec(spec_path: Path) -> None:
    """Refuse, at submit, an environment file the node could not build: unreadable, not UTF-8, malformed,
    or with a line that is not a PEP 508 requirement (pip options such as -r or --index-url included, since
    each line reaches ``pip install`` as one argument)."""
    from packaging.requirements import InvalidRequirement, Requirement

    name = spec_path.name
    try:
        if spec_path.stat().st_size > MAX_SPEC_BYTES:
            raise ProjectError(f"{name} is larger than {MAX_SPEC_BYTES // 1024} KiB: is it really an environment file?")
        reqs = requirements_of(spec_path)
    except OSError as exc:
        raise ProjectError(f"cannot read {name}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ProjectError(f"{name} is not UTF-8 text: save it as UTF-8") from None
    for index, line in enumerate(reqs, 1):
        try:
            Requirement(line)
        except InvalidRequirement as exc:
            detail = str(exc).splitlines()[0][:160]
            shown = line if len(line) <= 60 else line[:60] + "..."
            raise ProjectError(
                f"{name}: requirement {index} {shown!r} is not a valid requirement ({detail}): "
                "write one package per entry, like numpy>=1.26 or pkg @ https://host/pkg.whl"
            ) from None


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
