"""Unpacking the project archive in the job's scratch (the server builds it: jupyter_mltf/packaging.py)."""

from __future__ import annotations

import os
import tarfile

from ..errors import ProjectError


def _inside(root_real: str, target: str) -> bool:
    return target == root_real or target.startswith(root_real + os.sep)


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
