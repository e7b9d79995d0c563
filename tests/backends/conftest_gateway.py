"""Fixtures for the real mltf-gateway tests: a local identity provider and the gateway server itself.

Not a ``conftest.py`` (so it never clashes with one the other parts add): test modules import the fixtures
from here. Nothing in it is faked on the gateway's side:

- :class:`LocalIdP` is a tiny OIDC provider (a thread serving HTTP on loopback) laid out like Keycloak
  (``/realms/<realm>/...``), with a real RSA key, a JWKS, OIDC discovery, a device-authorization endpoint and
  a token endpoint. Tokens are RS256 JWTs the tests sign, so the gateway's own validation
  (``mltf_gateway.server.jwt_decoder``: ``PyJWKClient`` + ``jwt.decode``, audience and issuer) runs.
- :func:`gateway_server` starts the published ``mltf-gateway`` package's own ``mltf server`` command from its
  isolated venv (``scripts/gateway/setup-venv.sh``), with its **local executor** (``MLTF_EXECUTOR=local``) and
  ``MLTF_DEBUG_NO_CONTAINER=true`` (its documented no-container path in ``outside.sh``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

REPO = Path(__file__).resolve().parents[2]
SETUP_SCRIPT = REPO / "scripts" / "gateway" / "setup-venv.sh"
REALM = "mltf-test"
CLIENT_ID = "mlflow"


T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a private loop (leaves whatever loop pytest-jupyter set alone)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class LocalIdP:
    """A Keycloak-shaped OIDC provider on loopback, with keys and tokens the tests control."""

    realm: str = REALM
    client_id: str = CLIENT_ID
    kid: str = "test-key-1"
    port: int = 0
    #: device codes handed out -> number of polls before the user "approves"
    pending_polls: int = 1
    requests: list[tuple[str, str]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _devices: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    # --- addresses -------------------------------------------------------------------------------
    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.base}/realms/{self.realm}"

    @property
    def oidc(self) -> str:
        return f"{self.issuer}/protocol/openid-connect"

    # --- tokens ----------------------------------------------------------------------------------
    def token(
        self,
        sub: str = "alice-sub",
        *,
        expires_in: int = 3600,
        audience: str | None = None,
        issuer: str | None = None,
        wrong_key: bool = False,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload = {
            "sub": sub,
            "iss": issuer or self.issuer,
            "aud": audience or self.client_id,
            "azp": self.client_id,
            "iat": now - 5,
            "exp": now + expires_in,
            "email": f"{sub}@example.org",
            "name": sub,
            "preferred_username": sub,
            **claims,
        }
        key = self.other_key if wrong_key else self.key
        return jwt.encode(payload, key, algorithm="RS256", headers={"kid": self.kid})

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "kid": self.kid,
                    "use": "sig",
                    "alg": "RS256",
                    "n": _b64(numbers.n),
                    "e": _b64(numbers.e),
                }
            ]
        }

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{self.oidc}/certs",
            "token_endpoint": f"{self.oidc}/token",
            "authorization_endpoint": f"{self.oidc}/auth",
            "userinfo_endpoint": f"{self.oidc}/userinfo",
            # Keycloak's real path; the gateway 0.6.3 advertises ".../openid-connect/device" instead
            "device_authorization_endpoint": f"{self.oidc}/auth/device",
            "grant_types_supported": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
        }

    # --- HTTP ------------------------------------------------------------------------------------
    def _handle(self, method: str, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.requests.append((method, path))
        if method == "GET" and path == f"/realms/{self.realm}/.well-known/openid-configuration":
            return 200, self.discovery()
        if method == "GET" and path == f"/realms/{self.realm}/protocol/openid-connect/certs":
            return 200, self.jwks()
        if method == "POST" and path == f"/realms/{self.realm}/protocol/openid-connect/auth/device":
            if form.get("client_id") != self.client_id:
                return 401, {"error": "invalid_client"}
            code = uuid.uuid4().hex
            self._devices[code] = self.pending_polls
            return 200, {
                "device_code": code,
                "user_code": "ABCD-EFGH",
                "verification_uri": f"{self.oidc}/device",
                "verification_uri_complete": f"{self.oidc}/device?user_code=ABCD-EFGH",
                "expires_in": 60,
                "interval": 0,
            }
        if method == "POST" and path == f"/realms/{self.realm}/protocol/openid-connect/token":
            grant = form.get("grant_type", "")
            if grant == "urn:ietf:params:oauth:grant-type:device_code":
                code = form.get("device_code", "")
                if code not in self._devices:
                    return 400, {"error": "expired_token"}
                if self._devices[code] > 0:
                    self._devices[code] -= 1
                    return 400, {"error": "authorization_pending"}
                del self._devices[code]
                return 200, self._token_response()
            if grant == "refresh_token" and form.get("refresh_token", "").startswith("refresh-"):
                return 200, self._token_response()
            return 400, {"error": "invalid_grant"}
        return 404, {"error": "not found"}

    def _token_response(self) -> dict[str, Any]:
        return {
            "access_token": self.token(),
            "refresh_token": f"refresh-{uuid.uuid4().hex}",
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_expires_in": 86400,
            "scope": "openid email profile",
        }

    def start(self) -> LocalIdP:
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._reply(*idp._handle("GET", self.path.split("?")[0], {}))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                form = {k: v[0] for k, v in parse_qs(raw).items()}
                self._reply(*idp._handle("POST", self.path.split("?")[0], form))

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, name="local-idp", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


# --- the gateway venv and server ----------------------------------------------------------------


def _usable(venv: Path) -> bool:
    """Installed, and owned by us: the gateway's outside.sh runs `chmod +x` on the package's own inside.sh."""
    found = list(venv.glob("lib/python3*/site-packages/mltf_gateway/resources/inside.sh"))
    return (venv / "bin" / "mltf").exists() and bool(found) and found[0].stat().st_uid == os.getuid()


def gateway_venv() -> Path:
    """The isolated venv with the published package (scripts/gateway/setup-venv.sh, run as root by
    scripts/test.sh); made in the user's cache on first use when that one is missing or not ours."""
    configured = os.environ.get("MLTF_GATEWAY_VENV")
    candidates = [Path(configured)] if configured else []
    candidates.append(Path(os.environ.get("MLTF_HOME", "/opt/mltf")) / "gateway-venv")
    for venv in candidates:
        if _usable(venv):
            return venv
    target = Path.home() / ".cache" / "jupyter-mltf" / "gateway-venv"
    if not _usable(target):
        proc = subprocess.run(
            ["bash", str(SETUP_SCRIPT), str(target)], capture_output=True, text=True, timeout=900, check=False
        )
        if proc.returncode != 0:
            message = f"could not install mltf-gateway into {target}: {proc.stderr[-2000:]}"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
    return target


@dataclass
class GatewayServer:
    url: str
    workdir: Path
    log_path: Path
    proc: subprocess.Popen[bytes]
    idp: LocalIdP
    tracking_uri: str
    python: str

    def server_log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _wait_up(url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mltf server exited {proc.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/api/config", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"mltf server did not answer in {timeout}s:\n{log_path.read_text(errors='replace')}")


def _stop_tree(pid: int) -> None:
    """Stop the server and every job its local executor started (they run in their own sessions)."""
    import psutil

    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    procs = [*parent.children(recursive=True), parent]
    for proc in procs:
        try:
            proc.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=10)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass


@pytest.fixture(scope="session")
def local_idp() -> Iterator[LocalIdP]:
    idp = LocalIdP().start()
    yield idp
    idp.stop()


@pytest.fixture(scope="session")
def gateway_server(local_idp: LocalIdP, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    venv = gateway_venv()
    workdir = tmp_path_factory.mktemp("gateway")
    port = free_port()
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI") or "http://127.0.0.1:5000"
    env = {
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", str(workdir)),
        "LANG": "C.UTF-8",
        "TMPDIR": str(workdir),
        "MLTF_EXECUTOR": "local",
        "MLTF_DEBUG_NO_CONTAINER": "true",
        "KEYCLOAK_URL": local_idp.base,
        "REALM": local_idp.realm,
        "CLIENT_ID": local_idp.client_id,
        "DATABASE_URL": f"sqlite:///{workdir / 'gateway.db'}",
        "SECRET_KEY": uuid.uuid4().hex,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "PYTHONUNBUFFERED": "1",
    }
    log_path = workdir / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(venv / "bin" / "mltf"), "server", "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, proc, log_path)
        yield GatewayServer(url, workdir, log_path, proc, local_idp, tracking_uri, str(venv / "bin" / "python3"))
    finally:
        _stop_tree(proc.pid)


# --- projects -----------------------------------------------------------------------------------


def make_project(root: Path, name: str, script: str, extra: dict[str, str] | None = None) -> Path:
    """A small MLflow project directory (MLproject + train.py + optional files)."""
    project = root / name
    project.mkdir(parents=True, exist_ok=True)
    (project / "MLproject").write_text(f'name: {name}\n\nentry_points:\n  main:\n    command: "python train.py"\n')
    (project / "train.py").write_text(script)
    for rel, text in (extra or {}).items():
        (project / rel).write_text(text)
    return project


def make_archive(project: Path, dest: Path) -> Path:
    """An uncompressed tar of ``project`` with members relative to the project root (as the core packs it)."""
    with tarfile.open(dest, "w") as tar:
        for path in sorted(project.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(project)), recursive=False)
    return dest


def gateway_venv_python() -> str:
    return str(gateway_venv() / "bin" / "python")


def which(tool: str) -> bool:
    return shutil.which(tool) is not None


# --- the offline stand-in for the internet a compute node would have ---------------------------------------------

PYENV_ROOT = Path("/tmp/pyenv")  # hard-coded in the gateway's inside.sh


@pytest.fixture(scope="session")
def pyenv_cache(gateway_server: GatewayServer) -> str:
    """Lay pyenv (scripts only) at /tmp/pyenv with the gateway venv's Python as its one installed version, so
    that inside.sh skips its ``git clone`` and ``mlflow run``'s ``pyenv install --skip-existing`` has nothing to
    download. Returns that Python version; skips when no pyenv copy is available here."""
    python = gateway_server.python
    version = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    target = PYENV_ROOT / "versions" / version / "bin" / "python"
    if target.exists():
        return version
    seed = Path(os.environ.get("MLTF_HOME", "/opt/mltf")) / "pyenv-seed"
    if PYENV_ROOT.exists() and not os.access(PYENV_ROOT, os.W_OK):
        pytest.skip(f"{PYENV_ROOT} exists and is not ours: the end-to-end job cannot get its Python")
    if not PYENV_ROOT.exists():
        if not (seed / "bin" / "pyenv").exists():
            pytest.skip(f"no pyenv copy at {seed} (scripts/gateway/setup-venv.sh makes it from the machine's pyenv)")
        # copied aside, then renamed into place: a copy cut short (a timeout) never leaves a half pyenv that
        # every later run would take for a whole one
        partial = PYENV_ROOT.with_name(f".{PYENV_ROOT.name}-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(seed, partial, symlinks=True)
        try:
            partial.rename(PYENV_ROOT)
        except OSError:  # another run put it there first
            shutil.rmtree(partial, ignore_errors=True)
    real = Path(os.path.realpath(python))
    target.parent.mkdir(parents=True, exist_ok=True)
    for name in ("python", "python3"):
        link = target.parent / name
        if not link.exists():
            link.symlink_to(real)
    return version
