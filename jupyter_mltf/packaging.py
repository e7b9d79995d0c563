"""Select a project's files and pack them into a deterministic archive.

Selection: the project's ``.gitignore`` files (root and nested) plus a ``.mltfignore`` (gitignore syntax,
``!pattern`` re-includes), on top of defaults that always exclude VCS and cache directories,
virtualenvs, MLflow's local stores and secrets. Symlinks that point outside the directory are skipped.

Archive: an uncompressed tar with sorted members and normalised metadata (mtime, owner, mode), so the
same files give the same bytes and the same sha256 content hash; identical resubmissions reuse it.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pathspec

from .errors import ProjectError, TooLarge
from .formatting import format_bytes

# directories never shipped (name match at any depth)
DEFAULT_EXCLUDED_DIRS = {
    ".git": "version control",
    ".hg": "version control",
    ".svn": "version control",
    "__pycache__": "Python cache",
    ".ipynb_checkpoints": "notebook checkpoints",
    "mlruns": "local MLflow store",
    "mlartifacts": "local MLflow store",
    ".mltf": "jupyter-mltf credentials and state",
    ".mypy_cache": "tool cache",
    ".pytest_cache": "tool cache",
    ".ruff_cache": "tool cache",
    "node_modules": "node packages",
    ".venv": "virtualenv",
    ".tox": "virtualenv",
    ".nox": "virtualenv",
}
# files never shipped: secrets and caches (gitignore syntax)
SECRET_PATTERNS = [
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_*",
    ".netrc",
    "_netrc",
    ".pypirc",
    ".git-credentials",
    ".mltf-token",
    "*.token",
    "gateway-token.json",
]
CACHE_PATTERNS = ["*.pyc", "*.pyo", ".DS_Store"]
IGNORE_FILES = (".gitignore", ".mltfignore")
FIXED_MTIME = 315532800  # 1980-01-01, like wheels: keeps archives reproducible


@dataclass
class Selection:
    """The files that will be shipped, and what was left out and why."""

    root: Path
    files: list[tuple[str, int]] = field(default_factory=list)  # (posix relpath, size)
    links: list[tuple[str, str]] = field(default_factory=list)  # (relpath, link target), inside the root
    excluded: list[tuple[str, str]] = field(default_factory=list)  # (relpath, reason)

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)

    def largest(self, count: int = 10) -> list[tuple[str, int]]:
        return sorted(self.files, key=lambda item: (-item[1], item[0]))[:count]

    def to_dict(self, limit_bytes: int, warn_bytes: int, max_listed: int = 2000) -> dict[str, Any]:
        total = self.total_bytes
        return {
            "count": len(self.files),
            "total_bytes": total,
            "largest": [{"path": p, "size": s} for p, s in self.largest()],
            "files": [{"path": p, "size": s} for p, s in self.files[:max_listed]],
            "truncated": len(self.files) > max_listed,
            "excluded": [{"path": p, "reason": r} for p, r in self.excluded[:max_listed]],
            "limit_bytes": limit_bytes,
            "warn_bytes": warn_bytes,
            "over_limit": total > limit_bytes,
            "warn": total > warn_bytes,
        }


def _read_patterns(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _is_venv(path: Path) -> bool:
    return (path / "pyvenv.cfg").is_file() or (path / "conda-meta").is_dir()


def _inside(root_real: str, target: str) -> bool:
    return target == root_real or target.startswith(root_real + os.sep)


def select_files(root: str | os.PathLike[str]) -> Selection:
    """Walk ``root`` and decide for every file whether it ships, with a reason when it does not."""
    base = Path(root)
    if not base.is_dir():
        raise ProjectError(f"{str(root)!r} is not a directory")
    root_real = os.path.realpath(base)
    secrets = pathspec.GitIgnoreSpec.from_lines(SECRET_PATTERNS)
    caches = pathspec.GitIgnoreSpec.from_lines(CACHE_PATTERNS)
    # (directory relpath, spec) pairs: nested .gitignore files apply below their directory
    git_specs: list[tuple[str, pathspec.GitIgnoreSpec]] = []
    mltf_spec = pathspec.GitIgnoreSpec.from_lines(_read_patterns(base / ".mltfignore"))
    sel = Selection(root=base)

    def ignored_by_git(rel: str, is_dir: bool) -> bool:
        verdict = False
        for prefix, spec in git_specs:
            if prefix and not rel.startswith(prefix + "/"):
                continue
            sub = rel[len(prefix) + 1 :] if prefix else rel
            result = spec.check_file(sub + ("/" if is_dir else ""))
            if result.include is not None:
                verdict = bool(result.include)
        return verdict

    def excluded_reason(rel: str, is_dir: bool) -> str | None:
        probe = rel + ("/" if is_dir else "")
        mltf = mltf_spec.check_file(probe).include
        if mltf is True:
            return ".mltfignore"
        if ignored_by_git(rel, is_dir) and mltf is not False:
            return ".gitignore"
        return None

    def walk(dir_rel: str) -> None:
        abs_dir = base / dir_rel if dir_rel else base
        gi = abs_dir / ".gitignore"
        if gi.is_file():
            git_specs.append((dir_rel, pathspec.GitIgnoreSpec.from_lines(_read_patterns(gi))))
        try:
            entries = sorted(os.scandir(abs_dir), key=lambda e: e.name)
        except OSError as exc:
            sel.excluded.append((dir_rel or ".", f"unreadable: {exc.strerror}"))
            return
        for entry in entries:
            name = entry.name
            rel = f"{dir_rel}/{name}" if dir_rel else name
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                sel.excluded.append(
                    (
                        rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace"),
                        "file name is not valid UTF-8: rename it",
                    )
                )
                continue
            if "\n" in name or "\r" in name:
                sel.excluded.append((rel.replace("\n", "\\n").replace("\r", "\\r"), "file name contains a newline"))
                continue
            if entry.is_symlink():
                target = os.path.realpath(entry.path)
                if not _inside(root_real, target) or not os.path.exists(target):
                    sel.excluded.append((rel, "symlink points outside the project (not followed)"))
                    continue
                if excluded_reason(rel, os.path.isdir(target)) or secrets.match_file(rel):
                    sel.excluded.append((rel, "ignored"))
                    continue
                sel.links.append((rel, os.readlink(entry.path)))
                continue
            if entry.is_dir(follow_symlinks=False):
                if name in DEFAULT_EXCLUDED_DIRS:
                    sel.excluded.append((rel + "/", DEFAULT_EXCLUDED_DIRS[name]))
                    continue
                if _is_venv(Path(entry.path)):
                    sel.excluded.append((rel + "/", "virtualenv"))
                    continue
                reason = excluded_reason(rel, True)
                if reason:
                    sel.excluded.append((rel + "/", reason))
                    continue
                walk(rel)
                continue
            if not entry.is_file(follow_symlinks=False):
                sel.excluded.append((rel, "not a regular file"))
                continue
            if secrets.match_file(rel):
                sel.excluded.append((rel, "looks like a secret (never shipped)"))
                continue
            if caches.match_file(rel):
                sel.excluded.append((rel, "cache file"))
                continue
            reason = excluded_reason(rel, False)
            if reason:
                sel.excluded.append((rel, reason))
                continue
            sel.files.append((rel, entry.stat(follow_symlinks=False).st_size))
        if dir_rel and git_specs and git_specs[-1][0] == dir_rel:
            git_specs.pop()

    walk("")
    return sel


def check_size(sel: Selection, limit_bytes: int) -> None:
    total = sel.total_bytes
    if total > limit_bytes:
        worst = ", ".join(f"{p} ({format_bytes(s)})" for p, s in sel.largest(3))
        raise TooLarge(
            f"the project is {format_bytes(total)}, over the {format_bytes(limit_bytes)} limit; "
            f"largest files: {worst}. "
            "Add them to .mltfignore (or .gitignore) and read data from shared storage instead"
        )


def _tarinfo(name: str, size: int, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = FIXED_MTIME
    info.mode = mode
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


class _HashingWriter(io.RawIOBase):
    def __init__(self, fh: Any) -> None:
        self._fh = fh
        self._pos = 0
        self.digest = hashlib.sha256()

    def tell(self) -> int:
        return self._pos

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.digest.update(view)
        self._fh.write(view)
        self._pos += len(view)
        return len(view)


def _selection_key(sel: Selection, extra: dict[str, bytes]) -> str:
    """A cheap fingerprint of what would be archived (paths, sizes, mtimes, modes; extra contents)."""
    digest = hashlib.sha256(b"mltf-archive-v1\0")
    for rel, _ in sel.files:
        st = (sel.root / rel).stat()
        digest.update(f"f\0{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_mode & 0o111 != 0}\0".encode())
    for rel, target in sel.links:
        digest.update(f"l\0{rel}\0{target}\0".encode())
    for rel in sorted(extra):
        digest.update(f"e\0{rel}\0".encode() + hashlib.sha256(extra[rel]).digest())
    return digest.hexdigest()


_GNU_TAR: bool | None = None


def _have_gnu_tar() -> bool:
    global _GNU_TAR
    if _GNU_TAR is None:
        try:
            out = subprocess.run(["tar", "--version"], capture_output=True, text=True, timeout=10)
            _GNU_TAR = out.returncode == 0 and "GNU tar" in out.stdout
        except (OSError, subprocess.TimeoutExpired):
            _GNU_TAR = False
    return _GNU_TAR


def _write_with_gnu_tar(sel: Selection, extra: dict[str, bytes], writer: _HashingWriter, stage: str) -> None:
    """GNU tar with normalised metadata: as deterministic as the Python writer, at the raw tool's speed."""
    for rel, data in extra.items():
        path = os.path.join(stage, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
    own = sorted([p for p, _ in sel.files if p not in extra] + [p for p, _ in sel.links])
    with open(os.path.join(stage, ".list-root"), "wb") as fh:
        fh.write(b"".join(p.encode() + b"\0" for p in own))
    with open(os.path.join(stage, ".list-extra"), "wb") as fh:
        fh.write(b"".join(p.encode() + b"\0" for p in sorted(extra)))
    common = [
        "--format=gnu",
        f"--mtime=@{FIXED_MTIME}",
        "--owner=0",
        "--group=0",
        "--numeric-owner",
        "--mode=u+rw,go-w,a+rX",
        "--no-recursion",
        "--null",
        "--verbatim-files-from",
    ]
    argv = ["tar", "-cf", "-", *common, "-C", str(sel.root), "-T", os.path.join(stage, ".list-root")]
    if extra:
        argv += ["-C", stage, "-T", os.path.join(stage, ".list-extra")]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    while True:
        chunk = proc.stdout.read(1 << 20)
        if not chunk:
            break
        writer.write(chunk)
    err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
    if proc.wait() != 0:
        raise ProjectError(
            f"could not pack the project: {err.strip().splitlines()[-1] if err.strip() else 'tar failed'}"
        )


def _write_with_tarfile(sel: Selection, extra: dict[str, bytes], writer: _HashingWriter) -> None:
    with tarfile.open(fileobj=writer, mode="w", format=tarfile.GNU_FORMAT) as tar:  # type: ignore[call-overload]
        members: list[tuple[str, str]] = [(p, "file") for p, _ in sel.files if p not in extra]
        members += [(p, "link") for p, _ in sel.links]
        members += [(p, "extra") for p in extra]
        links = dict(sel.links)
        for rel, kind in sorted(members):
            if kind == "extra":
                data = extra[rel]
                tar.addfile(_tarinfo(rel, len(data), 0o644), io.BytesIO(data))
            elif kind == "link":
                info = _tarinfo(rel, 0, 0o777)
                info.type = tarfile.SYMTYPE
                info.linkname = links[rel]
                tar.addfile(info)
            else:
                path = sel.root / rel
                st = path.stat()
                mode = 0o755 if st.st_mode & stat.S_IXUSR else 0o644
                with open(path, "rb") as fh:
                    tar.addfile(_tarinfo(rel, st.st_size, mode), fh)


def build_archive(
    sel: Selection, archive_dir: str | os.PathLike[str], extra: dict[str, bytes] | None = None
) -> tuple[str, str]:
    """Write the deterministic tar into ``archive_dir``; returns (path, sha256).

    Content-addressed: an identical project reuses its archive, and an unchanged directory (same paths,
    sizes, mtimes) is recognised from a small manifest without reading or writing the files again.
    ``extra`` adds generated files (a proposed MLproject, a cell's script) under their names.
    """
    out_dir = Path(archive_dir)
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(out_dir, 0o700)
    extra = dict(extra or {})
    manifest = out_dir / f"manifest-{_selection_key(sel, extra)[:40]}"
    try:
        digest = manifest.read_text(encoding="ascii").strip()
        if (out_dir / f"{digest}.tar").exists():
            return str(out_dir / f"{digest}.tar"), digest
    except OSError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=".archive-", suffix=".tar", dir=out_dir)
    try:
        with os.fdopen(fd, "wb") as raw:
            writer = _HashingWriter(raw)
            if _have_gnu_tar():
                with tempfile.TemporaryDirectory(prefix=".stage-", dir=out_dir) as stage:
                    _write_with_gnu_tar(sel, extra, writer, stage)
            else:
                _write_with_tarfile(sel, extra, writer)
            digest = writer.digest.hexdigest()
        final = out_dir / f"{digest}.tar"
        if final.exists():
            os.unlink(tmp)
        else:
            os.chmod(tmp, 0o600)
            os.replace(tmp, final)
        manifest.write_text(digest, encoding="ascii")
        return str(final), digest
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def extract_archive(archive: str, dest: str) -> None:
    """Unpack on the node, refusing members that would land (or link) outside ``dest``."""
    dest_real = os.path.realpath(dest)
    with tarfile.open(archive, "r") as tar:
        members = tar.getmembers()
        for member in members:
            target = os.path.realpath(os.path.join(dest_real, member.name))
            if not _inside(dest_real, target):
                raise ProjectError(f"archive member {member.name!r} would land outside the job directory")
            if member.issym():
                link = os.path.realpath(os.path.join(os.path.dirname(target), member.linkname))
                if not _inside(dest_real, link):
                    raise ProjectError(f"archive link {member.name!r} points outside the job directory")
            elif not (member.isfile() or member.isdir()):
                raise ProjectError(f"archive member {member.name!r} is not a file, directory or link")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest_real, members=members, filter="data")
        else:  # Python < 3.11.4: the checks above do what the data filter does
            tar.extractall(dest_real, members=members)
