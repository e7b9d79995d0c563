"""The Python interpreters a project env can be built on, and the one that answers a declared version.

Pure (no server state): the submit side picks the interpreter (and refuses a version that is not here), the
node uses the same answer. Interpreters are found by glob patterns (the ``python_search_paths`` trait: a
site's modules tree, pyenv's ``versions/``, uv's managed Pythons) and ``PATH`` (the pattern ``"PATH"``).
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ProjectError
from .resources import shown

#: more candidates than this are not looked at (a pattern such as "/*/*/*/bin/python3" on a large tree)
MAX_CANDIDATES = 200
#: the pattern that stands for the ``python3.X`` interpreters on ``PATH``
PATH_PATTERN = "PATH"
VERSION_SECONDS = 5.0
_OUTPUT_VERSION = re.compile(r"Python (\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?)")
_CFG_VERSION = re.compile(r"^\s*(?:version_info|version)\s*=\s*(\d+\.\d+\.\d+)", re.MULTILINE)
_PATH_NAME = re.compile(r"python3(\.\d+)?")
# what an interpreter is called (a glob such as python3.* also finds python3.11-config, which is not one)
_INTERPRETER_NAME = re.compile(r"python(3(\.\d+)?)?")

_versions: dict[tuple[str, int, int], str | None] = {}
_versions_lock = threading.Lock()


@dataclass(frozen=True)
class PythonFound:
    """An interpreter and its full version; ``note`` says when it is not exactly the version asked for."""

    path: str
    version: str
    note: str | None = None  # "3.10.4 asked, 3.10.13 used (the newest 3.10.x here)"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "version": self.version, "note": self.note}


def interpreter_version(path: str) -> str | None:
    """``path``'s full version ("3.10.13"), None when it is not a working interpreter. Read from a venv's
    pyvenv.cfg where there is one, else from ``--version``; cached per process by the file's identity."""
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError:
        return None
    key = (real, st.st_mtime_ns, st.st_size)
    with _versions_lock:
        if key in _versions:
            return _versions[key]
    version = _venv_version(path) or _run_version(path)
    with _versions_lock:
        _versions[key] = version
    return version


def _venv_version(path: str) -> str | None:
    cfg = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(path))), "pyvenv.cfg")
    try:
        with open(cfg, encoding="utf-8") as fh:
            match = _CFG_VERSION.search(fh.read(64 * 1024))
    except (OSError, UnicodeDecodeError):
        return None
    return match[1] if match else None


def _run_version(path: str) -> str | None:
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=VERSION_SECONDS, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError, UnicodeDecodeError):
        return None
    match = _OUTPUT_VERSION.search(out.stdout + out.stderr) if out.returncode == 0 else None
    return match[1] if match else None


def _candidates(search_paths: Sequence[str]) -> list[str]:
    found: list[str] = []
    for pattern in search_paths:
        if pattern == PATH_PATTERN:
            found += _on_path()
        else:
            matches = sorted(glob.glob(os.path.expanduser(pattern)))
            found += [m for m in matches if _INTERPRETER_NAME.fullmatch(os.path.basename(m))]
        if len(found) >= MAX_CANDIDATES:
            return found[:MAX_CANDIDATES]
    return found


def _on_path() -> list[str]:
    out: list[str] = []
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        try:
            names = sorted(os.listdir(directory or "."))
        except OSError:
            continue
        out += [os.path.join(directory, n) for n in names if _PATH_NAME.fullmatch(n)]
    return out


def available_pythons(search_paths: Sequence[str]) -> list[PythonFound]:
    """Every working interpreter the patterns find, once per real file, newest version first."""
    seen: set[str] = set()
    found: list[PythonFound] = []
    for path in _candidates(search_paths):
        real = os.path.realpath(path)
        if real in seen or not os.path.isfile(real) or not os.access(real, os.X_OK):
            continue
        seen.add(real)
        version = interpreter_version(path)
        if version is not None:
            found.append(PythonFound(path, version))
    return sorted(found, key=lambda p: _sortable(p.version), reverse=True)


def _sortable(version: str) -> Any:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version)
    except InvalidVersion:
        return Version("0")


def find_python(request: str | None, search_paths: Sequence[str], default: str) -> PythonFound:
    """The interpreter for a declared version: ``default`` (the notebook's) when none is declared; an exact
    release ("3.10.13") first; "3.10" as the newest 3.10.x; a release that is not here ("3.10.4") as the
    newest of its minor, with a note; a specifier (">=3.10,<3.12") as the newest that matches. Else a
    ProjectError (field env_manager) listing the versions there are."""
    if request is None:
        return PythonFound(default, interpreter_version(default) or "unknown")
    found = available_pythons(search_paths)
    default_version = interpreter_version(default)
    if default_version and all(os.path.realpath(p.path) != os.path.realpath(default) for p in found):
        found = sorted([*found, PythonFound(default, default_version)], key=lambda p: _sortable(p.version))[::-1]
    chosen = _choose(request.strip(), found)
    if chosen is not None:
        return chosen
    versions = ", ".join(sorted({p.version for p in found}, key=_sortable)) or "none"
    raise ProjectError(
        f"Python {shown(request)} is not available here (found: {versions}): declare one of those, "
        'like python: "3.11", or ask the administrator to install it where python_search_paths look',
        field="env_manager",
    )


def _choose(request: str, found: list[PythonFound]) -> PythonFound | None:
    """The newest match in ``found`` (newest first), or None."""
    if request[:1].isdigit():
        parts = request.split(".")
        exact = [p for p in found if p.version == request]
        if exact:
            return exact[0]
        prefix = ".".join(parts[:2])
        same = [p for p in found if _release(p.version)[: len(parts[:2])] == parts[:2]]
        if not same:
            return None
        if len(parts) < 3:
            return same[0]
        note = f"{request} asked, {same[0].version} used (the newest {prefix}.x here)"
        return PythonFound(same[0].path, same[0].version, note)
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        spec = SpecifierSet(request)
    except InvalidSpecifier:
        return None
    matching = [p for p in found if spec.contains(_sortable(p.version), prereleases=False)]
    return matching[0] if matching else None


def _release(version: str) -> list[str]:
    return re.split(r"[.]", re.sub(r"(a|b|rc)\d+$", "", version))
