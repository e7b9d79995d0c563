"""A project's environment file read as pip requirements: checked at submit, installed on the node.

Pure (no server state): the submit check (:func:`check_spec`, from project.py) and the node's env builder
(jupyter_mltf/node/envs.py) read requirements the same way.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .errors import ProjectError
from .yamlsafe import load_yaml

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
