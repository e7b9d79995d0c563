"""Select a project's files (the archive they are packed into is written by :mod:`.archives`).

Selection: the project's ``.gitignore`` files (root and nested) plus a ``.mltfignore`` (gitignore syntax,
``!pattern`` re-includes), on top of defaults that always exclude VCS and cache directories,
virtualenvs, MLflow's local stores and the credential files of common tools (SECRET_FILES, SECRET_DIRS: no
``!pattern`` brings those back). Patterns are matched in linear time (see ignore.py). Symlinks that point
outside the directory are skipped; links inside it ship as relative links when their target ships.
Paths that should ship but cannot be read are listed, and :func:`check_size` refuses the selection.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ProjectError, TooLarge
from .exclusions import CACHE_PATTERNS, DEFAULT_EXCLUDED_DIRS, SECRET_DIRS, SECRET_FILES
from .formatting import format_bytes
from .ignore import MAX_IGNORE_FILE_BYTES, IgnoreRules, PatternError, numbered_lines

IGNORE_FILES = (".gitignore", ".mltfignore")
_UNREADABLE_LISTED = 5
_SECRET_FILE_RULES = IgnoreRules.from_patterns(list(SECRET_FILES))
_SECRET_DIR_RULES = IgnoreRules.from_patterns(list(SECRET_DIRS))
_CACHE_RULES = IgnoreRules.from_patterns(CACHE_PATTERNS)


@dataclass
class Selection:
    """The files that will be shipped, and what was left out and why."""

    root: Path
    files: list[tuple[str, int]] = field(default_factory=list)  # (posix relpath, size)
    # (relpath, link text): links whose target is shipped, as relative links the node's extractor accepts
    links: list[tuple[str, str]] = field(default_factory=list)
    excluded: list[tuple[str, str]] = field(default_factory=list)  # (relpath, reason)
    # (relpath, reason): paths that should ship but cannot be read; a submit is refused while there are any
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. ignore-file lines that are not valid patterns

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)

    def largest(self, count: int = 10) -> list[tuple[str, int]]:
        return sorted(self.files, key=lambda item: (-item[1], item[0]))[:count]

    def shipped_paths(self) -> list[str]:
        """Every path the archive will hold: regular files, then links."""
        return [p for p, _ in self.files] + [p for p, _ in self.links]

    def to_dict(self, limit_bytes: int, warn_bytes: int, max_listed: int = 2000) -> dict[str, Any]:
        total = self.total_bytes
        listed = [{"path": p, "size": s} for p, s in self.files]
        listed += [{"path": p, "size": 0, "link": target} for p, target in self.links]
        return {
            "count": len(listed),
            "total_bytes": total,
            "largest": [{"path": p, "size": s} for p, s in self.largest()],
            "files": listed[:max_listed],
            "truncated": len(listed) > max_listed,
            "excluded": [{"path": p, "reason": r} for p, r in self.excluded[:max_listed]],
            "unreadable": [{"path": p, "reason": r} for p, r in self.unreadable[:max_listed]],
            "shippable": not self.unreadable,
            "warnings": list(self.warnings),
            "limit_bytes": limit_bytes,
            "warn_bytes": warn_bytes,
            "over_limit": total > limit_bytes,
            "warn": total > warn_bytes,
        }


def _is_venv(path: Path) -> bool:
    try:
        return (path / "pyvenv.cfg").is_file() or (path / "conda-meta").is_dir()
    except OSError:  # an unreadable directory: reported as such by the walk
        return False


def is_inside(root_real: str, target: str) -> bool:
    return target == root_real or target.startswith(root_real + os.sep)


def _secret_reason(rule_text: str, rules: dict[str, str]) -> str:
    return f"looks like a secret ({rules[rule_text]}, default pattern {rule_text!r}): never shipped"


def _printable(rel: str) -> str:
    return rel.replace("\n", "\\n").replace("\r", "\\r")


@dataclass
class _Dir:
    rel: str
    entries: Iterator[os.DirEntry[str]]
    has_rules: bool


class _Walker:
    """One pass over the project: every entry is shipped, excluded with a reason, or reported unreadable."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.root_real = os.path.realpath(base)
        self.sel = Selection(root=base)
        self.git_rules: list[tuple[str, IgnoreRules]] = []  # (directory relpath, rules): apply below it
        self.mltf_rules = IgnoreRules([])
        self.walked_dirs: set[str] = set()
        self.link_candidates: list[tuple[str, str]] = []  # (relpath, target relpath from the root)

    # -- ignore rules
    def read_rules(self, path: Path, rel: str) -> IgnoreRules | None:
        """The rules of one ignore file; None when there is none (or it cannot be read: reported)."""
        try:
            if not path.is_file():
                return None
            # O_NONBLOCK: a FIFO swapped in after the check must not hang the walk
            with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as fh:
                data = fh.read(MAX_IGNORE_FILE_BYTES + 1)
        except OSError as exc:
            self.unreadable(rel, exc, "its rules are unknown")
            return None
        if len(data) > MAX_IGNORE_FILE_BYTES:
            raise ProjectError(
                f"{rel!r} is over {format_bytes(MAX_IGNORE_FILE_BYTES)}: ignore files that large are not read; "
                "shorten it (a directory pattern such as 'data/' replaces a line per file)"
            )
        try:
            rules = IgnoreRules(numbered_lines(data.decode("utf-8", errors="replace")))
        except PatternError as exc:
            raise ProjectError(f"{rel!r} line {exc.line} {exc.why}") from None
        self.sel.warnings += [f"{rel!r} line {line}: {why}" for line, why in rules.skipped]
        return rules

    def ignored_by_git(self, rel: str, is_dir: bool) -> bool:
        verdict = False
        for prefix, rules in self.git_rules:
            if prefix and not rel.startswith(prefix + "/"):
                continue
            sub = rel[len(prefix) + 1 :] if prefix else rel
            result = rules.ignores(sub + ("/" if is_dir else ""))
            if result is not None:
                verdict = result
        return verdict

    def excluded_reason(self, rel: str, is_dir: bool) -> str | None:
        mltf = self.mltf_rules.ignores(rel + ("/" if is_dir else ""))
        if mltf is True:
            return ".mltfignore"
        if self.ignored_by_git(rel, is_dir) and mltf is not False:
            return ".gitignore"
        return None

    # -- outcomes
    def exclude(self, rel: str, reason: str) -> None:
        self.sel.excluded.append((rel, reason))

    def unreadable(self, rel: str, exc: OSError | None, note: str = "") -> None:
        if rel in dict(self.sel.unreadable):  # an unreadable .gitignore is met again as a file
            return
        why = (exc.strerror if exc is not None and exc.strerror else "permission denied").lower()
        why += f"; {note}" if note else ""
        self.sel.unreadable.append((rel, why))
        self.exclude(rel, f"cannot be read ({why}): not shippable, fix its permissions or add it to .mltfignore")

    # -- the walk (iterative: a deep tree must not hit Python's recursion limit)
    def open_dir(self, rel: str) -> _Dir | None:
        abs_dir = self.base / rel if rel else self.base
        shown = rel + "/" if rel else "./"
        if not os.access(abs_dir, os.R_OK | os.X_OK):
            self.unreadable(shown, None)
            return None
        rules = self.read_rules(abs_dir / ".gitignore", f"{rel}/.gitignore" if rel else ".gitignore")
        if rules is not None:
            self.git_rules.append((rel, rules))
        try:
            entries = sorted(os.scandir(abs_dir), key=lambda e: e.name)
        except OSError as exc:
            self.unreadable(shown, exc)
            if rules is not None:
                self.git_rules.pop()
            return None
        self.walked_dirs.add(rel)
        return _Dir(rel, iter(entries), rules is not None)

    def run(self) -> Selection:
        if not os.access(self.base, os.R_OK | os.X_OK):
            self.unreadable("./", None)
            return self.sel
        self.mltf_rules = self.read_rules(self.base / ".mltfignore", ".mltfignore") or IgnoreRules([])
        root = self.open_dir("")
        stack = [root] if root else []
        while stack:
            frame = stack[-1]
            entry = next(frame.entries, None)
            if entry is None:
                stack.pop()
                if frame.has_rules and frame.rel:
                    self.git_rules.pop()
                continue
            child = self.visit(frame.rel, entry)
            if child is not None:
                opened = self.open_dir(child)
                if opened is not None:
                    stack.append(opened)
        self.resolve_links()
        return self.sel

    def visit(self, dir_rel: str, entry: os.DirEntry[str]) -> str | None:
        """Decide one entry; returns its relpath when it is a directory to walk into."""
        name = entry.name
        rel = f"{dir_rel}/{name}" if dir_rel else name
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            shown = rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            self.exclude(shown, "file name is not valid UTF-8: rename it")
            return None
        if "\n" in name or "\r" in name:
            self.exclude(_printable(rel), "file name contains a newline")
            return None
        try:
            if entry.is_symlink():
                self.visit_link(rel, entry)
                return None
            if entry.is_dir(follow_symlinks=False):
                return self.visit_dir(rel, entry)
            if not entry.is_file(follow_symlinks=False):
                self.exclude(rel, "not a regular file")
                return None
            self.visit_file(rel, entry)
        except OSError as exc:
            self.unreadable(rel, exc)
        return None

    def visit_dir(self, rel: str, entry: os.DirEntry[str]) -> str | None:
        name = entry.name
        if name in DEFAULT_EXCLUDED_DIRS:
            self.exclude(rel + "/", DEFAULT_EXCLUDED_DIRS[name])
            return None
        secret = _SECRET_DIR_RULES.match(rel + "/")
        if secret is not None:
            self.exclude(rel + "/", _secret_reason(secret.text, SECRET_DIRS))
            return None
        if _is_venv(Path(entry.path)):
            self.exclude(rel + "/", "virtualenv")
            return None
        reason = self.excluded_reason(rel, True)
        if reason:
            self.exclude(rel + "/", reason)
            return None
        return rel

    def visit_file(self, rel: str, entry: os.DirEntry[str]) -> None:
        secret = _SECRET_FILE_RULES.match(rel)
        if secret is not None:
            self.exclude(rel, _secret_reason(secret.text, SECRET_FILES))
            return
        if _CACHE_RULES.match(rel) is not None:
            self.exclude(rel, "cache file")
            return
        reason = self.excluded_reason(rel, False)
        if reason:
            self.exclude(rel, reason)
            return
        if not os.access(entry.path, os.R_OK):
            self.unreadable(rel, None)
            return
        self.sel.files.append((rel, entry.stat(follow_symlinks=False).st_size))

    def visit_link(self, rel: str, entry: os.DirEntry[str]) -> None:
        target = os.path.realpath(entry.path)
        if not os.path.exists(target):
            self.exclude(rel, "broken symlink (its target does not exist)")
            return
        if not is_inside(self.root_real, target):
            self.exclude(rel, "symlink points outside the project (not followed)")
            return
        secret = _SECRET_FILE_RULES.match(rel)
        if secret is not None:
            self.exclude(rel, _secret_reason(secret.text, SECRET_FILES))
            return
        if entry.name in DEFAULT_EXCLUDED_DIRS or self.excluded_reason(rel, os.path.isdir(target)):
            self.exclude(rel, "ignored")
            return
        self.link_candidates.append((rel, os.path.relpath(target, self.root_real)))

    def resolve_links(self) -> None:
        """Ship a link inside the project as a relative link to its target when the target ships too;
        otherwise say why not (the node would meet a dangling link)."""
        shipped = {p for p, _ in self.sel.files} | self.walked_dirs
        reasons = dict(self.sel.excluded)
        for rel, target in self.link_candidates:
            target = "" if target == "." else target
            if target in shipped:
                parent = os.path.join(self.root_real, os.path.dirname(rel))
                self.sel.links.append((rel, os.path.relpath(os.path.join(self.root_real, target), parent)))
                continue
            why = self.target_reason(target, reasons)
            self.exclude(rel, f"symlink to {target!r}, which is not shipped" + (f" ({why})" if why else ""))

    @staticmethod
    def target_reason(target: str, reasons: dict[str, str]) -> str | None:
        parts = target.split("/")
        for end in range(len(parts), 0, -1):
            path = "/".join(parts[:end])
            for key in (path, path + "/"):
                if key in reasons:
                    return reasons[key] if key == target else f"{key}: {reasons[key]}"
        return None


def select_files(root: str | os.PathLike[str]) -> Selection:
    """Walk ``root`` and decide for every file whether it ships, with a reason when it does not.

    Unreadable paths that would ship are listed in ``unreadable`` (and ``excluded``): :func:`check_size`
    refuses such a selection. ProjectError for an ignore file that cannot be matched safely.
    """
    base = Path(root)
    if not base.is_dir():
        raise ProjectError(f"{str(root)!r} is not a directory")
    return _Walker(base).run()


def check_readable(sel: Selection) -> None:
    """Refuse a selection with paths that should ship but cannot be read, naming them."""
    if not sel.unreadable:
        return
    named = ", ".join(f"{p} ({why})" for p, why in sel.unreadable[:_UNREADABLE_LISTED])
    more = len(sel.unreadable) - _UNREADABLE_LISTED
    raise ProjectError(
        f"cannot read {len(sel.unreadable)} path(s) of the project: {named}"
        + (f" and {more} more" if more > 0 else "")
        + ". Make them readable (chmod u+r files, u+rx directories) or add them to .mltfignore"
    )


def check_size(sel: Selection, limit_bytes: int) -> None:
    """Refuse a selection that cannot be shipped: unreadable paths first (named), then the size limit."""
    check_readable(sel)
    total = sel.total_bytes
    if total > limit_bytes:
        worst = ", ".join(f"{p} ({format_bytes(s)})" for p, s in sel.largest(3))
        raise TooLarge(
            f"the project is {format_bytes(total)}, over the {format_bytes(limit_bytes)} limit; "
            f"largest files: {worst}. "
            "Add them to .mltfignore (or .gitignore) and read data from shared storage instead"
        )
