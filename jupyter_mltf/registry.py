"""The backend registry: backends are found by entry point (group ``jupyter_mltf.backends``) or import path,
made once per process and shared by the core, the watcher and the rebuild."""

from __future__ import annotations

import shutil
from importlib.metadata import entry_points

from traitlets.config import Configurable
from traitlets.utils.importstring import import_item

from .backends.base import Backend
from .errors import InvalidRequest

BACKEND_GROUP = "jupyter_mltf.backends"


def installed_backends() -> dict[str, str]:
    """Backend entry-point names -> import paths."""
    return {ep.name: ep.value.replace(":", ".") for ep in entry_points(group=BACKEND_GROUP)}


def resolve_backend_name(name: str) -> str:
    """'auto' is slurm where sbatch is on PATH, else the local backend."""
    if name == "auto":
        return "slurm" if shutil.which("sbatch") else "local"
    return name


class BackendRegistry:
    """One instance per backend name, configured from ``parent``'s config (``c.SlurmBackend...``)."""

    def __init__(self, parent: Configurable) -> None:
        self._parent = parent
        self._made: dict[str, Backend] = {}

    def get(self, name: str) -> Backend:
        if name in self._made:
            return self._made[name]
        choices = installed_backends()
        target = choices.get(name, name if "." in name else None)
        if target is None:
            raise InvalidRequest(
                f"unknown backend {name!r}: installed backends are {', '.join(sorted(choices))}", field="backend"
            )
        cls = import_item(target)
        if not (isinstance(cls, type) and issubclass(cls, Backend)):
            raise InvalidRequest(f"{target} is not a jupyter_mltf Backend", field="backend")
        instance = cls(parent=self._parent)
        self._made[name] = instance
        return instance

    async def close(self) -> None:
        for backend in self._made.values():
            await backend.close()
