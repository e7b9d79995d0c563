"""ensure_env for real (no Slurm): uv builds a Python 3.10 env from /opt/mltf/pythons (scripts/setup.sh) with one
small package from the index, caches it, builds it once for concurrent callers, refuses an unsatisfiable
requirement with the resolver's words and rebuilds an env whose build was killed. One uv cache, kept between
runs, keeps the second run warm."""

from __future__ import annotations

import glob
import os
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest

from jupyter_mltf import envbuild
from jupyter_mltf.envbuild import (
    LOCK_FILE,
    READY_FILE,
    EnvBuildError,
    default_uv_cache_dir,
    ensure_env,
    env_key,
    pip_index_settings,
)
from jupyter_mltf.envspec import EnvRequest
from jupyter_mltf.pythons import PythonFound, find_python
from tests.conftest import missing

SITE_PYTHONS = "/opt/mltf/pythons/*/bin/python3"
SIX = EnvRequest("python_env.yaml", "3.10", ("six==1.16.0",))


@pytest.fixture(scope="module")
def py310() -> PythonFound:
    if not glob.glob("/opt/mltf/pythons/3.10.*/bin/python3"):
        missing("no Python 3.10 under /opt/mltf/pythons: run scripts/setup.sh")
    if envbuild.uv_command() is None:
        missing("uv is not installed in this environment: pip install uv (a dependency)")
    return find_python("3.10", [SITE_PYTHONS], sys.executable)


@pytest.fixture(scope="module")
def uv_cache() -> str:
    """Shared by the tests and kept between runs (per user): the second run resolves from it."""
    return os.path.join(tempfile.gettempdir(), f"mltf-test-uv-cache-{os.getuid()}")


def _envs(tmp_path: Path) -> str:
    return str(tmp_path / "state" / "envs")


def _dirs(envs: str) -> list[str]:
    return sorted(n for n in os.listdir(envs) if os.path.isdir(os.path.join(envs, n)))


def _in_env(built: envbuild.BuiltEnv, code: str) -> str:
    out = subprocess.run([os.path.join(built.bin_dir, "python"), "-c", code], capture_output=True, text=True)
    return (out.stdout + out.stderr).strip()


def test_build_then_cache_hit(tmp_path, py310, uv_cache):
    envs = _envs(tmp_path)
    said: list[str] = []
    built = ensure_env(SIX, py310, envs, uv_cache_dir=uv_cache, say=said.append)
    assert built.built_now and built.tool == "uv" and built.python_version.startswith("3.10.")
    assert built.path == os.path.join(envs, built.key) == os.path.dirname(built.bin_dir)
    code = "import sys, six; print('%d.%d.%d' % sys.version_info[:3], six.__version__)"
    assert _in_env(built, code) == f"{built.python_version} 1.16.0"
    assert "six==1.16.0" in Path(built.lock_file).read_text().splitlines()
    assert any("six==1.16.0" in line for line in said)  # the build's own lines reach the caller's log
    assert "ModuleNotFoundError" in _in_env(built, "import yaml")  # isolated: the notebook env's packages are not seen
    assert stat.S_IMODE(os.stat(envs).st_mode) == 0o700
    t0 = time.monotonic()
    again = ensure_env(SIX, py310, envs, uv_cache_dir=uv_cache)
    assert time.monotonic() - t0 < 0.5
    assert (again.built_now, again.path, again.key) == (False, built.path, built.key)


def test_key_is_stable_and_says_what_the_env_holds():
    python = PythonFound("/x/python3", "3.10.13")
    a = env_key(EnvRequest("requirements.txt", None, ("Six==1.16.0", "numpy>=1.2,<2")), python)
    assert a == env_key(EnvRequest("python_env.yaml", "3.10", ("numpy<2,>=1.2", "six == 1.16.0")), python)
    assert a == env_key(EnvRequest("requirements.txt", None, ("six==1.16.0", "numpy>=1.2,<2", "six==1.16.0")), python)
    assert len(a) == 32 and int(a, 16) >= 0
    others = {
        env_key(EnvRequest("r", None, ("six==1.16.0",)), python),
        env_key(EnvRequest("r", None, ("six==1.16.0", "numpy>=1.2,<2")), PythonFound("/x/python3", "3.10.12")),
        env_key(EnvRequest("r", None, ("six==1.16.0", "numpy>=1.2,<3")), python),
        env_key(EnvRequest("r", None, ("six==1.16.0", "numpy>=1.2,<2"), ("--index-url=https://m/simple",)), python),
    }
    assert a not in others and len(others) == 4
    assert env_key(EnvRequest("r", None, ("six==1.16.0",)), python, ("numpy>=1.2,<2",)) == a  # extras count as such


def test_concurrent_callers_build_once(tmp_path, py310, uv_cache):
    envs = _envs(tmp_path)
    request = EnvRequest("requirements.txt", "3.10", ("six==1.15.0",))
    results: list[envbuild.BuiltEnv | BaseException] = []

    def build() -> None:
        try:
            results.append(ensure_env(request, py310, envs, uv_cache_dir=uv_cache))
        except BaseException as exc:
            results.append(exc)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(isinstance(r, envbuild.BuiltEnv) for r in results), results
    assert sorted(r.built_now for r in results) == [False, False, True]  # type: ignore[union-attr]
    assert len({r.path for r in results}) == 1 and len(_dirs(envs)) == 1  # type: ignore[union-attr]


def test_unsatisfiable_requirement_says_why_and_leaves_nothing(tmp_path, py310, uv_cache):
    envs = _envs(tmp_path)
    with pytest.raises(EnvBuildError) as caught:
        ensure_env(EnvRequest("requirements.txt", None, ("six==99.0",)), py310, envs, uv_cache_dir=uv_cache)
    error = caught.value
    assert error.field == "env_manager" and error.reason == "env-build-failed"
    assert "no version of six==99.0" in error.message and "unsatisfiable" in error.message
    assert "\n" not in error.message and "six==99.0" in error.log_message
    assert _dirs(envs) == []


def test_credentials_in_the_output_are_redacted(tmp_path, py310, uv_cache, monkeypatch):
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")  # a refused connection: fail at once
    request = EnvRequest(
        "requirements.txt", None, ("pkg @ https://alice:hunter2@127.0.0.1:9/pkg-1.0-py3-none-any.whl",)
    )
    with pytest.raises(EnvBuildError) as caught:
        ensure_env(request, py310, _envs(tmp_path), uv_cache_dir=uv_cache)
    assert "hunter2" not in caught.value.message and "hunter2" not in caught.value.log_message


def _hanging_index() -> socket.socket:
    """A listener that never answers: uv connects and waits for the index until it is killed."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    return server


def _uv_installing(timeout: float = 30) -> psutil.Process:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in psutil.Process().children(recursive=True):
            try:
                if "install" in child.cmdline():
                    return child
            except psutil.Error:
                continue
        time.sleep(0.05)
    raise AssertionError("uv pip install never started")


def test_a_build_killed_half_way_is_rebuilt(tmp_path, py310, uv_cache, monkeypatch):
    envs = _envs(tmp_path)
    request = EnvRequest("requirements.txt", "3.10", ("six==1.14.0",))
    with _hanging_index() as server:
        monkeypatch.setenv("UV_INDEX_URL", f"http://127.0.0.1:{server.getsockname()[1]}/simple")
        errors: list[BaseException] = []

        def build() -> None:
            try:
                ensure_env(request, py310, envs, uv_cache_dir=uv_cache)
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=build)
        thread.start()
        _uv_installing().kill()
        thread.join(60)
    assert len(errors) == 1 and isinstance(errors[0], EnvBuildError)
    assert "killed by SIGKILL" in errors[0].message and "submit again" in errors[0].message
    assert _dirs(envs) == []
    monkeypatch.delenv("UV_INDEX_URL")
    built = ensure_env(request, py310, envs, uv_cache_dir=uv_cache)
    assert built.built_now and _in_env(built, "import six; print(six.__version__)") == "1.14.0"


def test_a_half_built_env_is_never_used(tmp_path, py310, uv_cache):
    """What a builder killed outright leaves (no ready marker) is removed and built again."""
    envs = _envs(tmp_path)
    os.makedirs(envs, mode=0o700)
    half = Path(envs) / env_key(SIX, py310)
    (half / "bin").mkdir(parents=True)
    (half / "bin" / "python").symlink_to(py310.path)
    (half / "junk").write_text("from a build that died")
    built = ensure_env(SIX, py310, envs, uv_cache_dir=uv_cache)
    assert built.built_now and built.path == str(half) and not (half / "junk").exists()
    assert (half / READY_FILE).is_file() and (half / LOCK_FILE).is_file()


def test_fallback_without_uv(tmp_path, py310, monkeypatch):
    monkeypatch.setattr(envbuild, "uv_command", lambda: None)
    said: list[str] = []
    built = ensure_env(SIX, py310, _envs(tmp_path), say=said.append)
    assert built.tool == "pip" and any("uv is not available" in line for line in said)
    assert _in_env(built, "import six; print(six.__version__)") == "1.16.0"
    assert "six==1.16.0" in Path(built.lock_file).read_text()


def test_default_uv_cache_is_beside_the_envs():
    assert default_uv_cache_dir("/home/a/.mltf/envs/") == "/home/a/.mltf/uv-cache"


def test_pip_settings_reach_uv(tmp_path, monkeypatch):
    conf = tmp_path / "pip.conf"
    conf.write_text(
        "[global]\nextra-index-url = https://a.example/simple https://b.example/simple\n"
        "find-links = /w1 /w2\n[install]\nindex-url = https://mirror.example/simple\n"
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PIP_CONFIG_FILE": str(conf)}
    got = pip_index_settings(env)
    assert got["UV_INDEX_URL"] == "https://mirror.example/simple"
    assert got["UV_EXTRA_INDEX_URL"] == "https://a.example/simple https://b.example/simple"
    assert got["UV_FIND_LINKS"] == "/w1,/w2" and got["UV_INDEX_STRATEGY"] == "unsafe-best-match"
    env |= {"PIP_INDEX_URL": "https://env.example/simple", "UV_EXTRA_INDEX_URL": "https://uv.example/simple"}
    got = pip_index_settings(env)
    assert got["UV_INDEX_URL"] == "https://env.example/simple"  # PIP_* variables over pip.conf
    assert "UV_EXTRA_INDEX_URL" not in got  # UV_* set: uv's own settings win
    assert pip_index_settings(
        {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PIP_CONFIG_FILE": os.devnull}
    ).keys() <= {"SSL_CERT_FILE"}


def test_an_envs_dir_that_cannot_be_made_is_a_clear_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    python = PythonFound(sys.executable, "")
    with pytest.raises(EnvBuildError, match="could not be built in .*envs_dir"):
        ensure_env(SIX, python, str(locked / "envs"))
