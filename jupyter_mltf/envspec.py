"""A project's environment file read as pip requirements: checked at submit, installed on the node.

Pure (no server state): the submit check (:func:`check_spec`, from project.py), the env decision
(:func:`declared_env`: which Python and packages the project asks for) and the env builder
(:mod:`jupyter_mltf.envbuild`, at submit or on the node) read requirements the same way.

(Just over 400 lines: five file formats and their refusals, each a few lines, read by one reader.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard
from urllib.parse import unquote, urlparse

from .errors import ProjectError
from .resources import shown
from .yamlsafe import load_yaml

#: an environment file larger than this is not a list of requirements
MAX_SPEC_BYTES = 1024 * 1024
#: more requirements than this is not a project's environment
MAX_REQUIREMENTS = 1000
#: the field every surface marks for an environment problem
FIELD = "env_manager"
# pip's comment rule: '#' at the start of a line or after whitespace
_COMMENT = re.compile(r"(^|\s)#.*$")
# pip options that name where packages come from: the site's settings decide that, unless allowed
_INDEX_OPTIONS = {
    "-i": "--index-url",
    "--index-url": "--index-url",
    "--extra-index-url": "--extra-index-url",
    "-f": "--find-links",
    "--find-links": "--find-links",
}
_INCLUDES = ("-r", "--requirement", "-c", "--constraint")
_EDITABLE = ("-e", "--editable")
_VERSION = re.compile(r"(\d{1,4})(\.\d{1,4}){0,2}")
_SPECIFIER_START = ("<", ">", "=", "!", "~")
_VERSION_EXAMPLE = 'write one like "3.10" (the newest 3.10.x available) or "3.10.4" (that release), in quotes'
# conda's spelling of the interpreter: python, python=3.10, python==3.10.4, python>=3.9, python 3.10.*
_CONDA_PYTHON = re.compile(r"(?:[\w.-]+::)?python(?:\s*(?P<spec>[=<>!~ ].*))?", re.IGNORECASE)
_CONDA_PIP = re.compile(r"(?:[\w.-]+::)?pip(?:\s*[=<>!~ ].*)?", re.IGNORECASE)


@dataclass(frozen=True)
class EnvRequest:
    """What a project declares: the Python it asks for and the packages, as read from its env file."""

    spec_file: str  # project-relative: python_env.yaml, conda.yaml, requirements.txt, pyproject.toml...
    python: str | None  # the declared version ("3.10", "3.10.4", ">=3.10"), None when not declared
    requirements: tuple[str, ...]  # PEP 508 requirements, normalised, in file order
    index_options: tuple[str, ...] = ()  # "--index-url=URL"... only where the site allows them

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec_file": self.spec_file,
            "python": self.python,
            "requirements": list(self.requirements),
            "index_options": list(self.index_options),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EnvRequest:
        """The request a job spec carries (a ValueError when damaged: the job dir was not written by us)."""
        spec_file, python = data.get("spec_file"), data.get("python")
        requirements, options = data.get("requirements"), data.get("index_options", [])
        if not isinstance(spec_file, str) or not (python is None or isinstance(python, str)):
            raise ValueError("env_request: spec_file must be a string and python a string or null")
        if not _strings(requirements) or not _strings(options):
            raise ValueError("env_request: requirements and index_options must be lists of strings")
        return cls(spec_file, python, tuple(requirements), tuple(options))


def _strings(value: Any) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _error(message: str) -> ProjectError:
    return ProjectError(message, field=FIELD)


def declared_env(
    directory: str | Path, env_spec: str | None, *, allow_index_options: bool = False
) -> EnvRequest | None:
    """The environment the project in ``directory`` declares: ``env_spec`` (the MLproject's python_env or
    conda_env, or the detected python_env.yaml / conda.yaml / requirements.txt), else pyproject.toml's
    ``[project] dependencies``; None when it declares none. A ProjectError (field env_manager) says what to
    fix in the file: the node must be able to build exactly this, from the package index."""
    root = Path(directory)
    if env_spec is None:
        return _pyproject(root)
    path = root / env_spec
    if not _inside(root, path):
        raise _error(f"the environment file {shown(env_spec)} is outside the project: name a file inside it")
    return read_env_file(path, root, spec_file=env_spec, allow_index_options=allow_index_options)


def read_env_file(
    path: Path, directory: Path, *, spec_file: str | None = None, allow_index_options: bool = False
) -> EnvRequest:
    """One environment file read and checked (``directory``: the project, for paths in requirements)."""
    name = path.name
    text = _read_text(path)
    if name == "pyproject.toml":
        found = _pyproject_request(text, directory, allow_index_options)
        return found or EnvRequest(spec_file or name, None, ())
    python, items = _python_and_items(name, text)
    requirements, options = _checked(name, items, directory, allow_index_options)
    return EnvRequest(spec_file or name, python, tuple(requirements), tuple(options))


def _read_text(path: Path) -> str:
    name = path.name
    try:
        if path.stat().st_size > MAX_SPEC_BYTES:
            raise _error(f"{name} is larger than {MAX_SPEC_BYTES // 1024} KiB: is it really an environment file?")
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise _error(f"cannot read {name}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise _error(f"{name} is not UTF-8 text: save it as UTF-8") from None


def _python_and_items(name: str, text: str) -> tuple[str | None, list[Any]]:
    """The declared Python (None: not declared) and the raw requirement entries of one env file."""
    if name.endswith(".txt"):
        return None, _requirement_lines(text)
    if not name.endswith((".yaml", ".yml")):
        raise _error(
            f"unsupported environment file {name}: use python_env.yaml, conda.yaml, requirements.txt or pyproject.toml"
        )
    try:
        data = load_yaml(text, name) or {}
    except ProjectError as exc:
        raise exc.about(FIELD) from None
    if not isinstance(data, dict):
        raise _error(
            f'{name} must be a mapping, like python: "3.10" and dependencies: [numpy==1.26.0], not a {_kind(data)}'
        )
    if _is_conda(name, data):
        return _conda(name, data)
    items = _list(name, "build_dependencies", data.get("build_dependencies"))
    items += _list(name, "dependencies", data.get("dependencies"))
    return _yaml_python(name, data.get("python"), text), items


def _kind(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def _is_conda(name: str, data: dict[str, Any]) -> bool:
    if "python" in data or "build_dependencies" in data:
        return False
    return "channels" in data or name.startswith(("conda", "environment"))


def _conda(name: str, data: dict[str, Any]) -> tuple[str | None, list[Any]]:
    """conda.yaml's ``python=`` and ``pip:`` parts; anything else needs conda, which is not used."""
    python: str | None = None
    pip: list[Any] = []
    for dep in _list(name, "dependencies", data.get("dependencies")):
        if isinstance(dep, dict):
            pip.extend(_list(name, "pip", dep.get("pip")))
            continue
        if not isinstance(dep, str):
            raise _error(f"{name}: each dependency must be a string like python=3.10, not a {_kind(dep)}")
        text = dep.strip()
        match = _CONDA_PYTHON.fullmatch(text)
        if match is not None:
            python = _conda_python(name, dep, (match["spec"] or "").strip())
        elif not _CONDA_PIP.fullmatch(text):
            raise _error(
                f"{name}: {shown(dep)} is a conda package: conda envs are not supported, list pip packages "
                "under pip: (dependencies: [python=3.10, {pip: [numpy==1.26.0]}])"
            )
    return python, pip


def _conda_python(name: str, dep: str, spec: str) -> str | None:
    """conda's match spec for python as a version request: =3.10 and 3.10.* mean the newest 3.10.x."""
    if not spec:
        return None
    if spec.startswith("==") and "," not in spec:
        spec = spec[2:]
    elif spec.startswith("=") and not spec.startswith("=="):
        spec = spec[1:].split("=")[0]  # python=3.10.4=h1234_0: the build string is conda's business
    spec = spec.strip().removesuffix(".*")
    return check_python_request(f"{name}: {shown(dep)}", spec)


def _yaml_python(name: str, value: Any, text: str) -> str | None:
    """python_env.yaml's ``python:``; an unquoted 3.10 is the number 3.1 to YAML: read it from the text."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        literal = re.search(r"^python\s*:\s*([0-9][0-9.]*)\s*(#.*)?$", text, re.MULTILINE)
        if literal is None:
            raise _error(f"{name}: python must be a version in quotes: {_VERSION_EXAMPLE}")
        value = literal[1]
    if not isinstance(value, str):
        raise _error(f"{name}: python must be a version, not a {_kind(value)}: {_VERSION_EXAMPLE}")
    return check_python_request(f"{name}: python", value)


def check_python_request(what: str, value: str) -> str:
    """A declared Python version ("3", "3.10", "3.10.4") or PEP 440 specifier (">=3.10,<3.12"), stripped; a
    ProjectError (``what`` names where it was read) for anything else, such as "banana". Whether such a
    Python exists here is :func:`jupyter_mltf.pythons.find_python`'s answer."""
    text = value.strip().removesuffix(".*")
    if _VERSION.fullmatch(text):
        if int(text.split(".")[0]) != 3:
            raise _error(f"{what} {shown(value)}: only Python 3 is supported: {_VERSION_EXAMPLE}")
        return text
    if text.startswith(_SPECIFIER_START) and len(text) <= 200:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        try:
            SpecifierSet(text)
        except InvalidSpecifier:
            pass
        else:
            return text
    raise _error(f"{what} {shown(value)} is not a Python version: {_VERSION_EXAMPLE}")


def _requirement_lines(text: str) -> list[str]:
    """requirements.txt's entries: comments dropped, backslash continuations joined, blank lines skipped."""
    out: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = _COMMENT.sub("", raw)
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        line, pending = (pending + line).strip(), ""
        if line:
            out.append(line)
    if pending.strip():
        out.append(pending.strip())
    return out


def _list(name: str, key: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _error(f"{name}: {key} must be a list of requirements, like [numpy>=1.26]")
    return value


def _checked(
    name: str, items: Iterable[Any], directory: Path, allow_index_options: bool
) -> tuple[list[str], list[str]]:
    """The requirements (normalised PEP 508) and index options of a file's entries, each one checked."""
    requirements: list[str] = []
    options: list[str] = []
    for index, item in enumerate(items, 1):
        if index > MAX_REQUIREMENTS:
            raise _error(f"{name} has more than {MAX_REQUIREMENTS} requirements: is it really an environment file?")
        if not isinstance(item, str):
            raise _error(f"{name}: each requirement must be a string like numpy>=1.26, not a {type(item).__name__}")
        line = item.strip()
        if line.startswith("-"):
            options.append(_option(name, index, line, directory, allow_index_options))
        else:
            requirements.append(_requirement(name, index, line, directory))
    return requirements, options


def _option(name: str, index: int, line: str, directory: Path, allow: bool) -> str:
    """An option line: an index option where allowed (as ``--opt=value``), else a ProjectError saying why."""
    option, value = _split_option(line)
    where = f"{name}: requirement {index} {shown(line)} is not a valid requirement"
    if option in _EDITABLE:
        if _looks_local(value) or "://" not in value:
            _check_local(name, value, directory, editable=True, line=line)
        raise _error(f"{where}: editable installs are not supported: name the package (pkg @ git+https://...)")
    if option in _INCLUDES:
        raise _error(f"{where}: includes (-r, -c) are not followed: list the packages in {name} itself")
    if option not in _INDEX_OPTIONS:
        raise _error(f"{where}: the pip option {shown(option)} is not supported: write one package per line")
    if not allow:
        raise _error(
            f"{where}: index options ({_INDEX_OPTIONS[option]}) are refused, since every env is built from the "
            "site's package index (PIP_INDEX_URL, pip.conf, UV_INDEX_URL): remove the line, or ask the "
            "administrator to allow index options"
        )
    if not re.fullmatch(r"https?://[^\s]+", value):
        raise _error(f"{where}: {option} needs an http(s) URL, like {option} https://host/simple")
    return f"{_INDEX_OPTIONS[option]}={value}"


def _split_option(line: str) -> tuple[str, str]:
    """``--opt value``, ``--opt=value``, ``-ivalue`` as (option, value)."""
    head, _, rest = line.partition(" ")
    if head.startswith("--") and "=" in head:
        head, _, value = head.partition("=")
        return head, (value + " " + rest).strip()
    if not head.startswith("--") and len(head) > 2:
        return head[:2], (head[2:] + " " + rest).strip()
    return head, rest.strip()


def _requirement(name: str, index: int, line: str, directory: Path) -> str:
    """One PEP 508 requirement, normalised; a local path or file: URL is refused with what to write."""
    from packaging.requirements import InvalidRequirement, Requirement

    if _looks_local(line):
        _check_local(name, line, directory, editable=False)
    try:
        requirement = Requirement(line)
    except InvalidRequirement as exc:
        detail = str(exc).splitlines()[0][:160]
        raise _error(
            f"{name}: requirement {index} {shown(line)} is not a valid requirement ({detail}): "
            "write one package per entry, like numpy>=1.26 or pkg @ https://host/pkg.whl"
        ) from None
    if requirement.url and requirement.url.lower().startswith("file:"):
        _check_local(name, requirement.url, directory, editable=False)
    return str(requirement)


def _looks_local(line: str) -> bool:
    return line.startswith((".", "/", "~", "file:")) or ("/" in line.split("@")[0] and "://" not in line)


def _check_local(name: str, target: str, directory: Path, *, editable: bool, line: str | None = None) -> None:
    """Refuse a local path (always: envs come from the index and are shared by runs): outside the project
    the job cannot even see it."""
    text = unquote(urlparse(target).path) if target.lower().startswith("file:") else target.split("#")[0]
    what = "an editable install of " if editable else ""
    target = line or target
    path = Path(text).expanduser() if text.startswith("~") else directory / text
    if not _inside(directory, path):
        raise _error(
            f"{name}: {shown(target)} ({what}a path outside the project) cannot be installed: the job cannot see "
            "it; name a package from the index (like numpy==1.26.0) or a URL (pkg @ https://host/pkg.whl)"
        )
    raise _error(
        f"{name}: {shown(target)} is {what}a local path: project envs are built from the package index and "
        "shared between runs; name a package or a URL, or import that code from the project directory (the "
        "job's working directory)"
    )


def _inside(root: Path, path: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError, ValueError):
        return False


def _pyproject(directory: Path) -> EnvRequest | None:
    """pyproject.toml's ``[project] dependencies`` (and ``requires-python``), when nothing else is declared."""
    path = directory / "pyproject.toml"
    if not path.is_file() or not _inside(directory, path):
        return None
    return _pyproject_request(_read_text(path), directory, False)


def _pyproject_request(text: str, directory: Path, allow_index_options: bool) -> EnvRequest | None:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef,import-not-found,unused-ignore]
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise _error("pyproject.toml is nested too deeply: fix it, or use env 'notebook'") from None
    except ValueError as exc:  # TOMLDecodeError, and int() of thousands of digits
        detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise _error(f"pyproject.toml is not valid TOML ({detail}): fix it, or use env 'notebook'") from None
    project = data.get("project")
    if not isinstance(project, dict) or "dependencies" not in project:
        return None
    dynamic = project.get("dynamic")
    if isinstance(dynamic, list) and "dependencies" in dynamic:
        return None
    items = project["dependencies"]
    if not isinstance(items, list):
        raise _error('pyproject.toml: [project] dependencies must be a list of requirements, like ["numpy>=1.26"]')
    python = project.get("requires-python")
    if python is not None and not isinstance(python, str):
        raise _error('pyproject.toml: requires-python must be a string, like ">=3.10"')
    if python is not None:
        python = check_python_request("pyproject.toml: requires-python", python)
    requirements, options = _checked("pyproject.toml", items, directory, allow_index_options)
    return EnvRequest("pyproject.toml", python, tuple(requirements), tuple(options))


def requirements_of(spec_path: Path) -> list[str]:
    """The pip requirements of ``python_env.yaml`` (MLflow's format), ``conda.yaml``'s pip section or
    ``requirements.txt``, one string each, as ``pip install`` takes them (checked as :func:`check_spec`)."""
    return list(read_env_file(spec_path, spec_path.parent).requirements)


def check_spec(spec_path: Path, *, allow_index_options: bool = False) -> None:
    """Refuse, at submit, an environment file the node could not build: unreadable, not UTF-8, malformed,
    a Python that is not a version, a conda-only package, or a line that is not a PEP 508 requirement (pip
    options such as -r, -e or --index-url included, unless index options are allowed)."""
    read_env_file(spec_path, spec_path.parent, allow_index_options=allow_index_options)
