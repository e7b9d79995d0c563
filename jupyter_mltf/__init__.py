"""jupyter-mltf: submit notebook directories to the MLTF Slurm GPU cluster as tracked MLflow projects.

Surfaces: the JupyterLab "Submit to MLTF" button (server extension + labextension), the ipywidgets
:class:`SubmitPanel`, the ``%mltf_submit`` magics (``%load_ext jupyter_mltf``) and ``jupyter mltf``.
All of them call one core, :class:`jupyter_mltf.core.MLTFManager` (or its sync facade
:class:`jupyter_mltf.api.Client`).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .extension import MLTFExtension

    return [{"module": "jupyter_mltf", "app": MLTFExtension}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-mltf"}]


def load_ipython_extension(ipython: Any) -> None:
    from .magics import load_ipython_extension as _load

    _load(ipython)


def __getattr__(name: str) -> Any:
    # lazy: importing the package must stay cheap (the runner and CLI import it on every job)
    if name == "SubmitPanel":
        from .widgets import SubmitPanel

        return SubmitPanel
    if name == "Client":
        from .api import Client

        return Client
    raise AttributeError(name)
