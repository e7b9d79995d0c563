"""hub_config/ loads with traitlets' own loader, and every setting names a real configurable trait.

A typo (``c.MLTFSlurmSpawner.req_partiton``, ``c.JupyterHub.cleanup_server``) only gives a warning when the
hub starts; here it fails CI.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from unittest import mock

import pytest
from traitlets.config import Config, PyFileConfigLoader
from traitlets.utils.importstring import import_item

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

HUB_CONFIG = Path(__file__).resolve().parents[2] / "hub_config"

# config section -> the class that owns it
SECTIONS = {
    "JupyterHub": "jupyterhub.app.JupyterHub",
    "ConfigurableHTTPProxy": "jupyterhub.proxy.ConfigurableHTTPProxy",
    "Authenticator": "jupyterhub.auth.Authenticator",
    "DummyAuthenticator": "jupyterhub.auth.DummyAuthenticator",
    "PAMAuthenticator": "jupyterhub.auth.PAMAuthenticator",
    "DemoPasswordAuthenticator": "jupyter_mltf.hub.auth.DemoPasswordAuthenticator",
    "Spawner": "jupyterhub.spawner.Spawner",
    "LocalProcessSpawner": "jupyterhub.spawner.LocalProcessSpawner",
    "SlurmSpawner": "batchspawner.SlurmSpawner",
    "MLTFSlurmSpawner": "jupyter_mltf.hub.spawner.MLTFSlurmSpawner",
    "WrapSpawner": "wrapspawner.WrapSpawner",
    "ProfilesSpawner": "wrapspawner.ProfilesSpawner",
}


def load(path: Path, tmp_path: Path, **env: str) -> Config:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    base = {"MLTF_HUB_PASSWORD_DIR": str(tmp_path), "MLTF_HUB_CI_TOKEN_FILE": str(secret)}
    with mock.patch.dict(os.environ, {**base, **env}):
        return PyFileConfigLoader(path.name, path=str(path.parent)).load_config()


def config_files() -> list[Path]:
    return [Path(p) for p in sorted(glob.glob(str(HUB_CONFIG / "*.py")))]


def test_there_is_a_hub_config() -> None:
    assert HUB_CONFIG / "jupyterhub_config.py" in config_files()


@pytest.mark.parametrize("path", config_files(), ids=lambda p: p.name)
@pytest.mark.parametrize("auth", ["demo", "pam"])
def test_every_setting_is_a_real_trait(path: Path, auth: str, tmp_path: Path) -> None:
    cfg = load(path, tmp_path, MLTF_HUB_AUTH=auth)
    assert cfg, f"{path.name} set nothing"
    for section, values in cfg.items():
        assert section in SECTIONS, f"{path.name}: unknown config section c.{section}"
        cls = import_item(SECTIONS[section])
        traits = cls.class_traits(config=True)
        for key in values:
            assert key in traits, f"{path.name}: c.{section}.{key} is not a setting of {cls.__name__}"


def test_the_main_config_is_what_the_hub_needs(tmp_path: Path) -> None:
    cfg = load(HUB_CONFIG / "jupyterhub_config.py", tmp_path, MLTF_HUB_AUTH="demo", MLTF_VENV="/v")
    hub = cfg.JupyterHub
    assert hub.cleanup_servers is False  # a hub restart keeps the sessions
    assert (hub.ip, hub.port, hub.hub_port) == ("127.0.0.1", 8000, 8081)
    # one password per user, in files of their own: no shared password anyone could log in with as anyone
    assert hub.authenticator_class == "jupyter_mltf.hub.auth.DemoPasswordAuthenticator"
    assert cfg.DemoPasswordAuthenticator.password_dir == str(tmp_path)
    assert cfg.Authenticator.allowed_users == {"alice", "bob"}
    services = {s["name"]: s for s in hub.services}
    assert "jupyterhub_idle_culler" in services["idle-culler"]["command"]
    assert services["ci-driver"]["api_token"] == "s3cret"
    assert cfg.Spawner.cmd == ["/v/bin/jupyterhub-singleuser"]
    spawner_cls = import_item(hub.spawner_class)
    user = mock.Mock()
    user.name = "alice"
    spawner = spawner_cls(config=cfg, user=user)  # presets are checked on construction
    assert [p["key"] for p in spawner.presets] == ["gpu1", "gpu2", "cpu"]
    assert spawner.listen_ip == "127.0.0.1" and spawner.state_exechost_exp == "127.0.0.1"
    assert spawner.req_keepvars_extra == "PATH" and spawner.req_prologue == "export PATH=/v/bin:$PATH"


def test_ports_and_site_values_come_from_the_environment(tmp_path: Path) -> None:
    cfg = load(
        HUB_CONFIG / "jupyterhub_config.py",
        tmp_path,
        MLTF_HUB_PORT="9000",
        MLTF_HUB_API_PORT="9081",
        MLTF_HUB_PROXY_API_PORT="9001",
        MLTF_HUB_SINGLE_HOST="0",
        MLTF_HUB_USERS="carol",
        MLTF_HUB_AUTH="pam",
    )
    assert (cfg.JupyterHub.port, cfg.JupyterHub.hub_port) == (9000, 9081)
    assert cfg.ConfigurableHTTPProxy.api_url == "http://127.0.0.1:9001"
    assert "listen_ip" not in cfg.MLTFSlurmSpawner
    assert cfg.JupyterHub.authenticator_class == "pam" and cfg.Authenticator.allowed_users == {"carol"}


def test_the_shared_password_login_is_gone(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one password file per user"):
        load(HUB_CONFIG / "jupyterhub_config.py", tmp_path, MLTF_HUB_AUTH="dummy")
