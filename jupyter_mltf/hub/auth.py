"""``DemoPasswordAuthenticator``: one password per user, each in its own file, for demos and tests only.

JupyterHub's DummyAuthenticator has one shared password, so whoever knows it logs in as anyone. Here every
allowed user has a file ``<password_dir>/<username>`` that only that user (and root, which runs the hub) can
read; a login succeeds only with that user's own password. ``scripts/hub/up.sh`` writes the files (random
passwords, the directory owned by root, each file owned by its user, mode 0600). A real site uses PAM
(``MLTF_HUB_AUTH=pam``, the default of ``hub_config/jupyterhub_config.py``).
"""

from __future__ import annotations

import errno
import hmac
import os
import re
import stat
from typing import Any

from jupyterhub.auth import Authenticator
from traitlets import Unicode

#: a user name that is safe as a file name (no '/', no '..', no leading '-' or '.')
USERNAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
MAX_PASSWORD_BYTES = 1024


def read_password(password_dir: str, username: str) -> str | None:
    """The password in ``password_dir/username``; None when there is none (no file, a link, not a regular file,
    empty, too big). Opened without following links, so a link planted there is never read."""
    if not USERNAME.fullmatch(username):
        return None
    try:
        fd = os.open(os.path.join(password_dir, username), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ELOOP, errno.EACCES):
            raise
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_PASSWORD_BYTES:
            return None
        text = os.read(fd, MAX_PASSWORD_BYTES).decode("utf-8", "replace").strip()
    finally:
        os.close(fd)
    return text or None


class DemoPasswordAuthenticator(Authenticator):  # type: ignore[misc]
    """Log in with the password in ``password_dir/<username>`` (per user; demo and test hubs only)."""

    password_dir = Unicode(
        help="Directory with one file per user, named as the user and holding that user's password "
        "(readable by that user and root only). A user without a file cannot log in."
    ).tag(config=True)

    async def authenticate(self, handler: Any, data: dict[str, Any]) -> str | None:
        username = str(data.get("username") or "")
        given = str(data.get("password") or "")
        if not self.password_dir or not given:
            return None
        expected = read_password(self.password_dir, username)
        if expected is None:
            self.log.warning("Demo login refused for %.40r: no password file for this user", username)
            return None
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return None
        return username
