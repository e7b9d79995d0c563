"""find_python / available_pythons on fake trees of fake interpreters (shell scripts that print a version)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from jupyter_mltf import pythons
from jupyter_mltf.errors import ProjectError
from jupyter_mltf.pythons import PythonFound, available_pythons, find_python, interpreter_version


def _fake(path: Path, version: str, *, stderr: bool = False, status: int = 0) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    out = ">&2" if stderr else ""
    path.write_text(f"#!/bin/sh\necho 'Python {version}' {out}\nexit {status}\n")
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def tree(tmp_path: Path) -> tuple[list[str], str]:
    """A site tree and a pyenv tree; the default interpreter is a fake 3.11.2."""
    site = tmp_path / "site" / "pythons"
    pyenv = tmp_path / "home" / ".pyenv" / "versions"
    for version in ("3.10.13", "3.10.9", "3.12.1"):
        _fake(site / version / "bin" / "python3", version)
    _fake(pyenv / "3.9.18" / "bin" / "python3", "3.9.18")
    _fake(pyenv / "3.13.0rc1" / "bin" / "python3", "3.13.0rc1")
    _fake(pyenv / "broken" / "bin" / "python3", "3.8.1", status=1)  # does not run: not a candidate
    (pyenv / "notexec" / "bin").mkdir(parents=True)
    (pyenv / "notexec" / "bin" / "python3").write_text("#!/bin/sh\necho Python 3.7.1\n")
    default = _fake(tmp_path / "venv" / "bin" / "python", "3.11.2")
    return [str(site / "*" / "bin" / "python3"), str(pyenv / "*" / "bin" / "python3")], default


def test_available_newest_first(tree):
    paths, _ = tree
    assert [p.version for p in available_pythons(paths)] == ["3.13.0rc1", "3.12.1", "3.10.13", "3.10.9", "3.9.18"]


@pytest.mark.parametrize(
    ("request_", "version", "note"),
    [
        ("3.10.9", "3.10.9", None),  # exact first, though 3.10.13 is newer
        ("3.10", "3.10.13", None),  # a minor: its newest release
        ("3.10.4", "3.10.13", "3.10.4 asked, 3.10.13 used (the newest 3.10.x here)"),
        ("3.11", "3.11.2", None),  # the default interpreter counts too
        ("3", "3.13.0rc1", None),
        (">=3.10,<3.12", "3.11.2", None),  # a specifier: the newest that matches
        (">=3.10", "3.12.1", None),  # pre-releases only when asked for
        ("~=3.9.0", "3.9.18", None),
        ("==3.12.1", "3.12.1", None),
    ],
)
def test_find(tree, request_, version, note):
    paths, default = tree
    found = find_python(request_, paths, default)
    assert (found.version, found.note) == (version, note)
    assert interpreter_version(found.path) == version


def test_no_request_is_the_default(tree):
    paths, default = tree
    assert find_python(None, paths, default) == PythonFound(default, "3.11.2", None)


@pytest.mark.parametrize("request_", ["3.99", "3.8", "3.14.1", ">=3.14", "<3"])
def test_not_here_lists_what_is(tree, request_):
    paths, default = tree
    with pytest.raises(ProjectError) as caught:
        find_python(request_, paths, default)
    assert caught.value.field == "env_manager"
    assert "3.9.18, 3.10.9, 3.10.13, 3.11.2, 3.12.1" in caught.value.message
    assert request_ in caught.value.message


def test_nothing_found_at_all(tmp_path):
    with pytest.raises(ProjectError, match=r"found: none"):
        find_python("3.10", [str(tmp_path / "*" / "python3")], str(tmp_path / "missing"))


def test_venv_version_from_pyvenv_cfg_without_running(tmp_path):
    venv = tmp_path / "env"
    _fake(venv / "bin" / "python", "3.0.0", status=1)  # would fail if it were run
    (venv / "pyvenv.cfg").write_text("home = /x/bin\nversion_info = 3.10.13\n")
    assert interpreter_version(str(venv / "bin" / "python")) == "3.10.13"


def test_versions_are_read_once_per_file(tmp_path, monkeypatch):
    path = _fake(tmp_path / "python3", "3.10.1")
    runs = []
    real = pythons._run_version
    monkeypatch.setattr(pythons, "_run_version", lambda p: runs.append(p) or real(p))
    assert interpreter_version(path) == interpreter_version(path) == "3.10.1"
    assert len(runs) <= 1  # 0: an earlier test read this very file already
    _fake(tmp_path / "python3", "3.10.22-changed")  # rewritten: read again
    os.utime(path, ns=(1, 1))
    assert interpreter_version(path) == "3.10.22"


def test_python2_prints_on_stderr(tmp_path):
    assert interpreter_version(_fake(tmp_path / "python", "2.7.18", stderr=True)) == "2.7.18"


def test_path_pattern(tmp_path, monkeypatch):
    _fake(tmp_path / "bin" / "python3.10", "3.10.2")
    _fake(tmp_path / "bin" / "python3-config", "9.9.9")  # not an interpreter name
    monkeypatch.setenv("PATH", str(tmp_path / "bin") + os.pathsep + str(tmp_path / "nope"))
    assert [p.version for p in available_pythons(["PATH"])] == ["3.10.2"]


def test_only_interpreter_names(tmp_path):
    _fake(tmp_path / "python3.10", "3.10.2")
    _fake(tmp_path / "python3.10-config", "9.9.9")
    _fake(tmp_path / "python3.10-gdb.py", "9.9.8")
    assert [p.version for p in available_pythons([str(tmp_path / "python3.*")])] == ["3.10.2"]


def test_symlinks_count_once(tmp_path):
    real = _fake(tmp_path / "a" / "python3.10", "3.10.2")
    (tmp_path / "b").mkdir()
    os.symlink(real, tmp_path / "b" / "python3")
    assert len(available_pythons([str(tmp_path / "*" / "python3*")])) == 1


def test_this_interpreter():
    assert interpreter_version(sys.executable) == ".".join(map(str, sys.version_info[:3]))
