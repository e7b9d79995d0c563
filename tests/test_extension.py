"""The server extension: auto-enabled on install, configured through traitlets, one manager per server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

from jupyter_mltf.extension import ROUTES, MLTFExtension

REPO = Path(__file__).resolve().parent.parent


def test_auto_enable_config_is_shipped() -> None:
    data = json.loads((REPO / "jupyter-config" / "server-config" / "jupyter_mltf.json").read_text())
    assert data == {"ServerApp": {"jpserver_extensions": {"jupyter_mltf": True}}}
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"jupyter-config/server-config" = "etc/jupyter/jupyter_server_config.d"' in pyproject


def test_extension_point() -> None:
    import jupyter_mltf

    (point,) = jupyter_mltf._jupyter_server_extension_points()
    assert point == {"module": "jupyter_mltf", "app": MLTFExtension}
    assert MLTFExtension.name == "jupyter_mltf"


def test_every_trait_has_help() -> None:
    for name, trait in MLTFExtension.class_own_traits(config=True).items():
        assert trait.help, name


def test_routes_are_under_the_api_prefix() -> None:
    assert all(pattern.startswith("/mltf/api/") for pattern, _ in ROUTES)
    assert len({pattern for pattern, _ in ROUTES}) == len(ROUTES)


@pytest.fixture
def jp_server_config(jp_server_config: Any, tmp_path: Path) -> Config:
    state = tmp_path / "state"
    return Config(
        {
            "ServerApp": {"jpserver_extensions": {"jupyter_mltf": True}},
            "MLTFExtension": {"watch": True},
            "MLTFManager": {
                "backend": "local",
                "store_path": str(state / "jobs.sqlite"),
                "jobs_dir": str(state / "jobs"),
                "archives_dir": str(state / "archives"),
                "poll_interval": 3.5,
                "max_project_bytes": 12345678,
            },
        }
    )


async def test_one_manager_configured_from_the_server_config(jp_serverapp: Any, jp_root_dir: Path) -> None:
    ext = jp_serverapp.extension_manager.extensions["jupyter_mltf"].extension_points["jupyter_mltf"].app
    manager = jp_serverapp.web_app.settings["mltf_manager"]
    assert ext.manager is manager
    assert manager.backend_name == "local"  # c.MLTFManager.backend
    assert manager.poll_interval == 3.5 and manager.max_project_bytes == 12345678
    assert Path(manager.root_dir).resolve() == jp_root_dir.resolve()
    assert manager.parent is ext


async def test_config_endpoint_reflects_the_traits(jp_fetch: Any) -> None:
    response = await jp_fetch("mltf", "api", "config")
    cfg = json.loads(response.body)
    assert cfg["backend"] == "local"
    assert cfg["limits"]["max_project_bytes"] == 12345678
    assert cfg["poll_interval"] == 3.5


def test_unknown_backend_names_the_installed_ones(tmp_path: Path) -> None:
    from jupyter_mltf.core import MLTFManager
    from jupyter_mltf.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match=r"installed backends are .*local.*slurm"):
        MLTFManager(backend="nope", store_path=str(tmp_path / "jobs.sqlite"))
