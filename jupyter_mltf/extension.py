"""The jupyter-server extension: routes, settings, and the one :class:`MLTFManager` of this server.

Auto-enabled on install (``etc/jupyter/jupyter_server_config.d/jupyter_mltf.json``) and configured only
through traitlets, in ``jupyter_server_config.py`` or on the command line::

    c.MLTFExtension.manager_class = "jupyter_mltf.core.MLTFManager"
    c.MLTFManager.backend = "slurm"            # backend, tracking URI, limits... are the manager's traits
    c.MLTFExtension.watch = True               # keep job states fresh in the background

The REST API is documented in ``jupyter_mltf/openapi.yaml``.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Type

from . import handlers

API = "mltf/api"

#: the route table: (pattern under the server's base_url, handler)
ROUTES: list[tuple[str, type[handlers.MLTFAPIHandler]]] = [
    (rf"/{API}/health", handlers.HealthHandler),
    (rf"/{API}/config", handlers.ConfigHandler),
    (rf"/{API}/preview", handlers.PreviewHandler),
    (rf"/{API}/check", handlers.CheckHandler),
    (rf"/{API}/jobs", handlers.JobsHandler),
    (rf"/{API}/jobs/(?P<job_id>[A-Za-z0-9_.\-]+)", handlers.JobHandler),
    (rf"/{API}/jobs/(?P<job_id>[A-Za-z0-9_.\-]+)/log", handlers.JobLogHandler),
    (rf"/{API}/jobs/(?P<job_id>[A-Za-z0-9_.\-]+)/trials", handlers.JobTrialsHandler),
]


class MLTFExtension(ExtensionApp):
    """Submit notebook directories to the MLTF cluster as MLflow projects, over REST."""

    name = "jupyter_mltf"
    description = __doc__
    load_other_extensions = True

    manager_class = Type(
        default_value="jupyter_mltf.core.MLTFManager",
        klass="jupyter_mltf.core.MLTFManager",
        help="""The core that submits, tracks and cancels jobs (a subclass of jupyter_mltf.core.MLTFManager).
        Its own settings (backend by entry-point name, tracking URI, GPU template, partitions and limits,
        size limit, poll interval) are configured as c.MLTFManager.<trait>.""",
    ).tag(config=True)

    watch = Bool(
        True,
        help="""Run the manager's status watcher while the server runs, so job states, pending reasons and
        MLflow run states stay fresh without a request asking for them.""",
    ).tag(config=True)

    def initialize_settings(self) -> None:
        """Create this server's one manager, rooted at the server's root dir, and start its watcher."""
        root_dir = self.serverapp.root_dir if self.serverapp is not None else None
        self.manager: Any = self.manager_class(parent=self, root_dir=root_dir)
        if self.watch:
            self.manager.start_watcher()
        self.settings.update({"mltf_manager": self.manager, "server_root_dir": root_dir})
        self.log.info("jupyter-mltf: serving /%s/ (root dir %s)", API, root_dir)

    def initialize_handlers(self) -> None:
        self.handlers.extend(ROUTES)

    async def stop_extension(self) -> None:
        """Stop the watcher and release the backend's connections."""
        manager = getattr(self, "manager", None)
        if manager is not None:
            await manager.close()
