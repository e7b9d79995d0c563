"""Hostile and careless project trees against the file selection (issue 12): ignore patterns that make a
backtracking matcher take minutes, ignore files too big or invalid, deep trees, and the REST preview of such a
project answering in time. No cluster needed: runs in the unit-test environment.

The time bounds are generous (a loaded 2-core CI box); the old matcher took minutes on each of these shapes. The
selection runs in the test's thread, so its bounds are on that thread's CPU time (``time.thread_time``): the OS
not running the test for a while on a busy machine says nothing about the matcher.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import pathspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_mltf.errors import ProjectError
from jupyter_mltf.ignore import MAX_IGNORE_FILE_BYTES, MAX_PATTERN_CHARS, IgnoreRules
from jupyter_mltf.packaging import select_files

from ..conftest import server_config

BOUND_S = 5.0
LONG_NAMES = ["a" * 60, "a" * 200, "ab" * 100, "a" * 254 + "c"]
# (id, pattern, names the pattern must ignore among LONG_NAMES + extra names)
CATASTROPHIC = [
    ("star-a-chain", "*a" * 20 + "*b", ["ab" * 100]),  # the exact example
    ("star-a-chain-long", "*a" * 120 + "*b", []),
    ("dstar-chain", "**/a/" * 20 + "b", []),
    ("dstar-leading-chain", "a/**/" * 30 + "b", []),
    ("class-star-chain", "[a-z]*" * 25 + "!", []),
    ("qmark-star-chain", "?*" * 40 + "x", []),
    ("star-run", "*" * 2000 + "c", ["a" * 254 + "c"]),
    ("qmark-tail", "*a" + "?" * 30, ["a" * 60, "a" * 200, "a" * 254 + "c"]),  # 2^30 DFA states if eager
    ("negated-chain", "!" + "*a" * 20 + "*b", []),
    ("dir-chain", "*a" * 20 + "*b/", []),
]


def _project(root: Path, gitignore: str, deep: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.py").write_text("print(1)\n")
    (root / ".gitignore").write_text(gitignore)
    for name in LONG_NAMES:
        (root / name).write_text("")
    if deep:  # long paths too: the patterns are tried on every prefix directory
        nested = root / "/".join(["a" * 40] * 20)
        nested.mkdir(parents=True)
        (nested / ("a" * 100)).write_text("")
    return root


@pytest.mark.parametrize("pattern,ignored", [(p, i) for _, p, i in CATASTROPHIC], ids=[c[0] for c in CATASTROPHIC])
def test_catastrophic_patterns_select_in_linear_time(tmp_path: Path, pattern: str, ignored: list[str]) -> None:
    root = _project(tmp_path / "p", pattern + "\n")
    started = time.thread_time()
    sel = select_files(root)
    elapsed = time.thread_time() - started
    assert elapsed < BOUND_S, f"{pattern[:40]}...: {elapsed:.1f} s"
    shipped = {p for p, _ in sel.files}
    assert "train.py" in shipped
    for name in LONG_NAMES:
        assert (name in shipped) == (name not in ignored), name


def test_catastrophic_patterns_everywhere_at_once(tmp_path: Path) -> None:
    """Every shape in the root .gitignore, a nested .gitignore and the .mltfignore, on one tree."""
    lines = "\n".join(p for _, p, _ in CATASTROPHIC) + "\n"
    root = _project(tmp_path / "p", lines)
    (root / ".mltfignore").write_text(lines)
    sub = root / ("a" * 40)
    (sub / ".gitignore").write_text(lines)
    started = time.thread_time()
    select_files(root)
    assert time.thread_time() - started < BOUND_S


def test_old_semantics_kept_for_the_exact_example(tmp_path: Path) -> None:
    """The pattern still means what git and pathspec say: it ignores a name with 20 a's then a b."""
    root = _project(tmp_path / "p", "*a" * 20 + "*b\n", deep=False)
    (root / ("a" * 20 + "b")).write_text("")
    (root / ("a" * 19 + "b")).write_text("")
    shipped = {p for p, _ in select_files(root).files}
    assert "a" * 20 + "b" not in shipped and "a" * 19 + "b" in shipped


PATTERN_CHARS = st.sampled_from(["a", "b", "*", "**", "/", "?", "!", "[ab]", "[!a]", "[a-", "]", "\\", " ", ".",
                                 "#", "[[:alpha:]]", "^"])
PATHS = st.lists(st.text(alphabet="ab*[]!^ .-", min_size=1, max_size=4).filter(lambda s: s not in (".", "..")),
                 min_size=1, max_size=5)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a loaded CI box
@given(lines=st.lists(st.lists(PATTERN_CHARS, min_size=1, max_size=8).map("".join), min_size=1, max_size=4),
       paths=st.lists(st.tuples(PATHS, st.booleans()), min_size=1, max_size=8))
def test_linear_matcher_agrees_with_pathspec(lines: list[str], paths: list[tuple[list[str], bool]]) -> None:
    """Same verdicts as pathspec's own (backtracking) GitIgnoreSpec on inputs small enough for it."""
    valid = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for line in lines:
            try:
                pathspec.GitIgnoreSpec.from_lines([line], backend="simple")
                valid.append(line)
            except Exception:  # pathspec's invalid lines never match in ours either
                pass
        reference = pathspec.GitIgnoreSpec.from_lines(valid, backend="simple")
    ours = IgnoreRules.from_patterns(lines)
    for parts, is_dir in paths:
        path = "/".join(parts) + ("/" if is_dir else "")
        assert ours.ignores(path) == reference.check_file(path).include, (lines, path)


def test_line_too_long_is_refused_with_its_number(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", "ok.txt\n# note\n" + "x" * (MAX_PATTERN_CHARS + 1) + "\n", deep=False)
    with pytest.raises(ProjectError, match=r"'\.gitignore' line 3 is \d+ characters long"):
        select_files(root)


def test_huge_ignore_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", "", deep=False)
    (root / "sub").mkdir()
    (root / "sub" / ".gitignore").write_bytes(b"data/\n" * (MAX_IGNORE_FILE_BYTES // 6 + 10))
    with pytest.raises(ProjectError, match=r"'sub/\.gitignore' is over"):
        select_files(root)


def test_invalid_lines_are_skipped_like_git_and_reported(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", "!\n\\\n[z-a]\nfoo\\\n*.log\n", deep=False)
    (root / "x.log").write_text("")
    sel = select_files(root)
    assert "x.log" not in {p for p, _ in sel.files}
    assert [w.split(":")[0] for w in sel.warnings] == [f"'.gitignore' line {n}" for n in (1, 2, 3, 4)]


def test_many_patterns_stay_fast_and_correct(tmp_path: Path) -> None:
    """A long generated .gitignore (more lines than one RE2 set holds) keeps every line's meaning."""
    lines = [f"*x{i}*y{i}*z{i}?" for i in range(3000)] + [f"dir{i}/" for i in range(3000)] + ["!keep.txt"]
    root = _project(tmp_path / "p", "\n".join(lines) + "\n", deep=False)
    (root / "ax2999by2999cz2999q").write_text("")
    (root / "dir1234").mkdir()
    (root / "keep.txt").write_text("")
    started = time.thread_time()
    sel = select_files(root)
    assert time.thread_time() - started < BOUND_S * 4
    shipped = {p for p, _ in sel.files}
    assert "ax2999by2999cz2999q" not in shipped and "keep.txt" in shipped
    assert ("dir1234/", ".gitignore") in sel.excluded


def test_deep_tree_does_not_hit_the_recursion_limit(tmp_path: Path) -> None:
    root = tmp_path / "p"
    dirs = [str(root)]
    for _ in range(1200):  # (os.makedirs and shutil.rmtree recurse: built and removed one level at a time)
        dirs.append(os.path.join(dirs[-1], "d"))
    for path in dirs:
        os.mkdir(path)
    Path(dirs[-1], "leaf.py").write_text("")
    try:
        sel = select_files(root)
        assert [p for p, _ in sel.files] == ["/".join(["d"] * 1200) + "/leaf.py"]
    finally:
        os.unlink(Path(dirs[-1], "leaf.py"))
        for path in reversed(dirs):
            os.rmdir(path)


# -- the REST preview (what the submit dialog calls first) on such projects: answers in time, says what ships
@pytest.fixture
def jp_server_config(jp_server_config: Any, tmp_path: Path) -> dict[str, Any]:
    return server_config(tmp_path / "state", "local")


async def test_rest_preview_of_hostile_project(jp_fetch: Any, jp_root_dir: Path) -> None:
    lines = "\n".join(p for _, p, _ in CATASTROPHIC) + "\n"
    root = _project(jp_root_dir / "hostile", lines)
    (root / ".aws").mkdir()
    (root / ".aws" / "credentials").write_text("[default]\n")
    os.symlink(root / "train.py", root / "alias.py")
    (root / "locked").mkdir()
    os.chmod(root / "locked", 0)
    try:
        started = time.monotonic()
        response = await jp_fetch("mltf", "api", "preview", method="POST", body=json.dumps({"path": "hostile"}),
                                  raise_error=False, request_timeout=60)
        assert time.monotonic() - started < BOUND_S * 2
        assert response.code == 200, response.body
        files = json.loads(response.body)["files"]
        excluded = {e["path"]: e["reason"] for e in files["excluded"]}
        assert "secret" in excluded[".aws/"]
        assert {"path": "alias.py", "size": 0, "link": "train.py"} in files["files"]
        assert files["shippable"] is False and files["unreadable"] == [{"path": "locked/",
                                                                        "reason": "permission denied"}]
    finally:
        os.chmod(root / "locked", 0o700)
