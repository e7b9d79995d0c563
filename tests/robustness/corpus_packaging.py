"""Round-two corpus rows (issue 12): file selection, ignore patterns, secrets, symlinks, unreadable files, archives.

Only what a submit must refuse is a row here. What ships or is left out (credential files, links inside the
project) is checked file by file in tests/test_packaging.py and tests/robustness/test_packaging_hostile.py.
The ignore-pattern rows end on the size limit (413) on purpose: the refusal comes after the file selection, so
the answer proves the selection finished (the old backtracking matcher took minutes, past the request timeout).
"""

from __future__ import annotations

import os
from pathlib import Path

from .case import ALL, LIMIT_BYTES, Case
from .helpers import write_tiny

EXACT_PATTERN = "*a" * 20 + "*b"  # the example, with one 60-character name
CATASTROPHIC_PATTERNS = [
    EXACT_PATTERN,
    "*a" * 120 + "*b",
    "**/a/" * 20 + "b",
    "a/**/" * 30 + "b",
    "[a-z]*" * 25 + "!",
    "?*" * 40 + "x",
    "*a" + "?" * 30,
    "!" + "*a" * 20 + "*b/",
]
INVALID_LINES = ["!", "\\", "[z-a]", "foo\\", "[[:alpha:]]"]  # pathspec raised on the first four (a 500)
OVER = ["over the", "limit", "data.bin"]
UNREADABLE = ["cannot read", "mltfignore"]

CASES: list[Case] = [
    # -- ignore patterns: linear-time matching (the submit finishes, and is refused only for its size)
    Case("ignore-catastrophic-exact", {}, 413, OVER, ALL, project="ignore_exact"),
    Case("ignore-catastrophic-shapes", {}, 413, OVER, ALL, project="ignore_shapes"),
    Case("ignore-catastrophic-nested-and-mltfignore", {}, 413, OVER, ALL, project="ignore_nested"),
    Case("ignore-invalid-lines", {}, 413, OVER, ALL, project="ignore_invalid"),
    Case("ignore-line-too-long", {}, 422, [".gitignore", "line 2", "characters long"], ALL + ("preview",),
         project="ignore_long_line"),
    Case("ignore-file-huge", {}, 422, ["sub/.gitignore", "is over"], ALL + ("preview",), project="ignore_huge"),
    # -- unreadable paths: named at submit (the preview lists them as not shippable, with a 200)
    Case("unreadable-subdir", {}, 422, [*UNREADABLE, "locked/"], ALL, project="unreadable_dir"),
    Case("unreadable-file", {}, 422, [*UNREADABLE, "weights.bin"], ALL, project="unreadable_file"),
    Case("unreadable-dir-without-x", {}, 422, [*UNREADABLE, "noexec/"], ALL, project="unreadable_noexec"),
    Case("unreadable-deep-file", {}, 422, [*UNREADABLE, "a/b/c/model.pt"], ALL, project="unreadable_deep"),
    Case("unreadable-gitignore", {}, 422, [*UNREADABLE, "sub/.gitignore"], ALL, project="unreadable_gitignore"),
    Case("unreadable-many", {}, 422, [*UNREADABLE, "cannot read 7 path", "and 2 more"], ALL,
         project="unreadable_many"),
]


def _over_limit(root: Path) -> Path:
    write_tiny(root)
    (root / "data.bin").write_bytes(b"\0" * (LIMIT_BYTES + 1024))
    return root


def _long_names(root: Path) -> None:
    for name in ("a" * 60, "a" * 200, "ab" * 100, "a" * 254 + "c"):
        (root / name).write_text("")
    nested = root / "/".join(["a" * 40] * 20)
    nested.mkdir(parents=True)
    (nested / ("a" * 100)).write_text("")


def _ignore_projects(root: Path) -> None:
    exact = _over_limit(root / "ignore_exact")
    (exact / ".gitignore").write_text(EXACT_PATTERN + "\n")
    (exact / ("a" * 60)).write_text("")
    lines = "\n".join(CATASTROPHIC_PATTERNS) + "\n"
    shapes = _over_limit(root / "ignore_shapes")
    (shapes / ".gitignore").write_text(lines)
    _long_names(shapes)
    nested = _over_limit(root / "ignore_nested")
    (nested / ".mltfignore").write_text(lines)
    _long_names(nested)
    (nested / ("a" * 40) / ".gitignore").write_text(lines)
    invalid = _over_limit(root / "ignore_invalid")
    (invalid / ".gitignore").write_text("\n".join(INVALID_LINES) + "\n")
    long_line = write_tiny(root / "ignore_long_line")
    (long_line / ".gitignore").write_text("*.log\n" + "x" * 5000 + "\n")
    huge = write_tiny(root / "ignore_huge")
    (huge / "sub").mkdir()
    (huge / "sub" / ".gitignore").write_bytes(b"data/\n" * 200_000)


def _unreadable_projects(root: Path) -> None:
    locked = write_tiny(root / "unreadable_dir")
    (locked / "locked").mkdir()
    (locked / "locked" / "notes.txt").write_text("x")
    os.chmod(locked / "locked", 0)
    unreadable_file = write_tiny(root / "unreadable_file")
    (unreadable_file / "weights.bin").write_bytes(b"w")
    os.chmod(unreadable_file / "weights.bin", 0)
    noexec = write_tiny(root / "unreadable_noexec")
    (noexec / "noexec").mkdir()
    (noexec / "noexec" / "x.py").write_text("")
    os.chmod(noexec / "noexec", 0o600)
    deep = write_tiny(root / "unreadable_deep")
    (deep / "a" / "b" / "c").mkdir(parents=True)
    (deep / "a" / "b" / "c" / "model.pt").write_bytes(b"m")
    os.chmod(deep / "a" / "b" / "c" / "model.pt", 0)
    gitignore = write_tiny(root / "unreadable_gitignore")
    (gitignore / "sub").mkdir()
    (gitignore / "sub" / ".gitignore").write_text("*.tmp\n")
    os.chmod(gitignore / "sub" / ".gitignore", 0)
    many = write_tiny(root / "unreadable_many")
    for index in range(7):
        (many / f"f{index}.txt").write_text("")
        os.chmod(many / f"f{index}.txt", 0)


def build_projects(root: Path, outside: Path) -> None:
    """The projects these rows name, under ``root``; ``outside`` is a directory outside it."""
    _ignore_projects(root)
    _unreadable_projects(root)
