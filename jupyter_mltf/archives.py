"""The content-addressed project archives (``<digest>.tar``): written from a :class:`~.packaging.Selection`,
and pruned when no live job needs them.

An archive is an uncompressed tar with sorted members and normalised metadata (mtime, owner, mode), so the
same files give the same bytes and the same sha256 content hash; identical resubmissions reuse it. GNU tar
writes it when present (fast), Python's tarfile otherwise; both give the same content.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from .errors import ProjectError
from .packaging import Selection, check_readable, is_inside

FIXED_MTIME = 315532800  # 1980-01-01, like wheels: keeps archives reproducible

#: names a submit leaves in the archives directory besides ``<digest>.tar``
_LEFTOVER_PREFIXES = (".dry-run-", ".archive-", ".stage-", "manifest-")


def prune_archives(
    archives_dir: str, live: set[str], keep_days: float, log: logging.Logger, limit: int = 1000
) -> list[str]:
    """Delete archives (and their manifests, and leftovers of interrupted writes) older than ``keep_days``
    whose digest is not in ``live`` (the archives of jobs still running); at most ``limit`` per call.
    Returns what was removed."""
    try:
        names = sorted(os.listdir(archives_dir))
    except OSError:
        return []
    cutoff = time.time() - keep_days * 86400
    removed: list[str] = []
    for name in names:
        if len(removed) >= limit:
            break
        if not name.startswith(_LEFTOVER_PREFIXES) and not name.endswith(".tar"):
            continue
        if name.endswith(".tar") and name[: -len(".tar")] in live:
            continue
        if _remove_if_older(os.path.join(archives_dir, name), cutoff, log):
            removed.append(name)
    return removed


def _remove_if_older(path: str, cutoff: float, log: logging.Logger) -> bool:
    try:
        if os.lstat(path).st_mtime >= cutoff:
            return False
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
        return True
    except OSError as exc:
        log.info("could not prune %s: %s", path, exc)
        return False


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
    own = sorted([p for p, _ in sel.files if p not in extra] + [p for p, _ in sel.links if p not in extra])
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
        raise ProjectError(tar_failure(err))


def tar_failure(stderr: str) -> str:
    """tar's own complaint about a file ("tar: data/x.bin: Cannot open: Permission denied"), not its closing
    "Exiting with failure status" line: the message names the file and says what to do."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and "Exiting with failure status" not in ln]
    for line in lines:
        bits = [b.strip() for b in line.removeprefix("tar:").split(": ")]
        if len(bits) >= 3:  # FILE: ACTION: REASON
            return (f"cannot read {bits[0]!r} while packing the project ({bits[-1]}): make it readable, "
                    "or add it to .mltfignore")
    return f"could not pack the project: {lines[0] if lines else 'tar failed'}"


def _rewritten_links(sel: Selection) -> bool:
    """Whether a link ships with another text than it has on disk (an absolute link inside the project, made
    relative): tar archives links as they are, so the Python writer packs such a project."""
    return any(os.readlink(sel.root / rel) != text for rel, text in sel.links)


def _write_with_tarfile(sel: Selection, extra: dict[str, bytes], writer: _HashingWriter) -> None:
    with tarfile.open(fileobj=writer, mode="w", format=tarfile.GNU_FORMAT) as tar:  # type: ignore[call-overload]
        members: list[tuple[str, str]] = [(p, "file") for p, _ in sel.files if p not in extra]
        members += [(p, "link") for p, _ in sel.links if p not in extra]
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
    check_readable(sel)
    try:
        return _build_archive(sel, Path(archive_dir), dict(extra or {}))
    except OSError as exc:  # a project file removed or made unreadable since the selection: the user's to fix
        name = os.path.abspath(os.fsdecode(exc.filename)) if exc.filename else ""
        root = os.path.abspath(sel.root)
        if not name or not is_inside(root, name) or is_inside(os.path.abspath(archive_dir), name):
            raise  # the archives directory (disk full, permissions): the server's problem, not the request's
        raise ProjectError(
            f"cannot read {os.path.relpath(name, root)!r} while packing the project ({exc.strerror}): "
            "make it readable, or add it to .mltfignore"
        ) from None


def _build_archive(sel: Selection, out_dir: Path, extra: dict[str, bytes]) -> tuple[str, str]:
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(out_dir, 0o700)
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
            if _have_gnu_tar() and not _rewritten_links(sel):
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
