"""The demo hub gives no user admin powers (issue 12): run as alice against the hub of scripts/hub/up.sh.

* the admin service token file is root's alone (mode 600): alice cannot read it, nor get it through sudo;
* every user has their own password, readable by that user only: alice cannot read bob's, and her own does
  not log in as bob; the shared password file of older versions is gone;
* alice's own token (what her password gets her) cannot read ``/hub/api/users/bob`` nor act on bob's server;
* grant.sh, the one sudo door the tests have, does named things only and never prints the admin token.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess

import pytest
import requests

from ..conftest import missing
from .hubclient import API, GRANT, HUB, HUB_DIR, can_grant, grant, granted_token, hub_up, own_token, password_file

pytestmark = [pytest.mark.hub]
ME = pwd.getpwuid(os.getuid()).pw_name
OTHER = "bob" if ME != "bob" else "alice"


@pytest.fixture(autouse=True)
def _hub_is_up() -> None:
    if not hub_up():
        missing(f"JupyterHub is not up at {HUB} (scripts/hub/up.sh)")


def _unreadable(path: os.PathLike[str] | str) -> None:
    with pytest.raises(PermissionError):
        open(path).read()


def test_the_admin_token_is_root_only() -> None:
    token = HUB_DIR / "ci-token"
    info = token.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (0, 0o600), (info.st_uid, oct(info.st_mode))
    _unreadable(token)
    assert subprocess_rc(["sudo", "-n", "cat", str(token)]) != 0


def test_each_user_has_a_password_only_they_can_read() -> None:
    assert not (HUB_DIR / "password").exists(), "the shared demo password file is still there"
    folder = password_file(ME).parent.stat()
    assert folder.st_uid == 0 and not folder.st_mode & 0o022, "users must not be able to add or swap files"
    mine = password_file(ME).stat()
    assert (mine.st_uid, stat.S_IMODE(mine.st_mode)) == (os.getuid(), 0o600)
    theirs = password_file(OTHER).stat()
    assert (theirs.st_uid, stat.S_IMODE(theirs.st_mode)) == (pwd.getpwnam(OTHER).pw_uid, 0o600)
    _unreadable(password_file(OTHER))


def login(user: str, password: str) -> requests.Response:
    s = requests.Session()
    s.get(f"{HUB}/hub/login", timeout=30)
    data = {"username": user, "password": password, "_xsrf": s.cookies.get("_xsrf", "")}
    return s.post(f"{HUB}/hub/login", data=data, allow_redirects=False, timeout=30)


def test_my_password_logs_in_as_me_only() -> None:
    mine = password_file(ME).read_text().strip()
    assert login(ME, mine).status_code == 302
    assert login(OTHER, mine).status_code == 403
    assert requests.post(f"{API}/users/{OTHER}/tokens", json={"auth": {"username": OTHER, "password": mine}},
                         timeout=30).status_code == 403  # fmt: skip


def test_my_token_cannot_see_or_act_on_another_users_server() -> None:
    token = own_token(ME)
    assert token, "no token from my own password"
    h = {"Authorization": f"token {token}"}
    assert requests.get(f"{API}/users/{ME}", headers=h, timeout=30).status_code == 200
    for method, path in [("GET", f"/users/{OTHER}"), ("GET", f"/users/{OTHER}/server/progress"),
                         ("POST", f"/users/{OTHER}/server"), ("DELETE", f"/users/{OTHER}/server"),
                         ("POST", f"/users/{OTHER}/tokens"), ("POST", "/shutdown"), ("GET", "/users")]:  # fmt: skip
        reply = requests.request(method, f"{API}{path}", headers=h, timeout=30)
        if (method, path) == ("GET", "/users"):  # the list answers, with me only
            assert reply.status_code == 403 or [u["name"] for u in reply.json()] == [ME], reply.text[:300]
            continue
        assert reply.status_code in (403, 404), (method, path, reply.status_code, reply.text[:300])
    through_proxy = requests.get(f"{HUB}/user/{OTHER}/api/status", headers=h, allow_redirects=False, timeout=30)
    assert through_proxy.status_code in (302, 403, 404, 424, 503), through_proxy.status_code


def test_the_sudo_door_does_named_things_only() -> None:
    if not can_grant():
        missing(f"no sudo rule for {GRANT} (scripts/setup.sh installs it)")
    for args in (["token", "root"], ["token", "../bob"], ["token"], ["cat"], ["restart-hub", "now"], []):
        done = grant(*args)
        assert done.returncode == 2 and "usage" in done.stderr, (args, done.returncode, done.stderr)
    # a granted token is one user's, for that user's server only
    h = {"Authorization": f"token {granted_token(OTHER)}"}
    assert requests.get(f"{API}/users/{OTHER}", headers=h, timeout=30).status_code == 200
    assert requests.get(f"{API}/users/{ME}", headers=h, timeout=30).status_code in (403, 404)
    assert requests.post(f"{API}/shutdown", headers=h, timeout=30).status_code == 403
    model = requests.get(f"{API}/user", headers=h, timeout=30).json()  # who am I, with which scopes
    assert model["name"] == OTHER, model
    assert model["scopes"] and all(s.endswith(f"!user={OTHER}") for s in model["scopes"]), model
    assert not any(s.startswith(("admin", "tokens", "shutdown", "users")) for s in model["scopes"]), model


def subprocess_rc(argv: list[str]) -> int:
    return subprocess.run(argv, capture_output=True, timeout=30).returncode
