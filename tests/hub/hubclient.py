"""How the hub tests (run as the cluster user, alice) reach the demo hub of scripts/hub/up.sh, with no admin
power: alice's own token from her own password file, and what needs more (a one-user token of bob's, a hub
restart) through the sudo rule for scripts/hub/grant.sh, which never hands out the admin token itself."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import requests

MLTF_HOME = os.environ.get("MLTF_HOME", "/opt/mltf")
HUB_DIR = Path(MLTF_HOME) / "lab" / "hub"
HUB = os.environ.get("MLTF_HUB_URL", "http://127.0.0.1:" + os.environ.get("MLTF_HUB_PORT", "8000"))
API = f"{HUB}/hub/api"
GRANT = f"{MLTF_HOME}/src/scripts/hub/grant.sh"
SESSION_LOG_DIR = Path.home() / ".local" / "state" / "jupyter-mltf" / "hub"


def password_file(user: str) -> Path:
    return HUB_DIR / "passwords" / user


def own_password(user: str) -> str | None:
    try:
        return password_file(user).read_text().strip() or None
    except OSError:
        return None


def hub_up(timeout: float = 20) -> bool:
    """The hub answers. The default timeout is long: a precondition check must not call a hub that is busy
    (spawning a session on a loaded 2-core machine) "down" and fail CI; a hub that is down refuses at once."""
    try:
        return requests.get(f"{API}/", timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def token_from_password(user: str, password: str, expires_in: int = 3600) -> requests.Response:
    """``POST /hub/api/users/USER/tokens`` authenticated by username and password (no cookie, no admin)."""
    body = {"auth": {"username": user, "password": password}, "expires_in": expires_in, "note": "mltf tests"}
    return requests.post(f"{API}/users/{user}/tokens", json=body, timeout=60)


def own_token(user: str) -> str | None:
    """A token of ``user``'s own (their usual scopes), from their own password file; None if unreadable."""
    password = own_password(user)
    if password is None or not hub_up():
        return None
    reply = token_from_password(user, password)
    return str(reply.json()["token"]) if reply.status_code in (200, 201) else None


def grant(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sudo", "-n", GRANT, *args], capture_output=True, text=True, timeout=120)


def can_grant() -> bool:
    return os.path.exists(GRANT) and subprocess.run(["sudo", "-n", "-l", GRANT], capture_output=True,
                                                    timeout=30).returncode == 0  # fmt: skip


def granted_token(user: str) -> str:
    """A 30-minute token that can only start, stop, read and use ``user``'s own server (grant.sh)."""
    done = grant("token", user)
    assert done.returncode == 0, f"grant.sh token {user} failed: {done.stderr.strip()}"
    return done.stdout.strip()
