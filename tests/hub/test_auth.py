"""The demo hub's per-user passwords (jupyter_mltf.hub.auth) and the session log filter (hub.logfilter)."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest

pytest.importorskip("jupyterhub")

from jupyter_mltf.hub import logfilter
from jupyter_mltf.hub.auth import DemoPasswordAuthenticator, read_password


@pytest.fixture
def auth(tmp_path: Path) -> DemoPasswordAuthenticator:
    (tmp_path / "alice").write_text("alice-secret\n")
    (tmp_path / "bob").write_text("bob-secret\n")
    return DemoPasswordAuthenticator(password_dir=str(tmp_path))


def login(auth: DemoPasswordAuthenticator, user: str, password: str) -> str | None:
    return asyncio.run(auth.authenticate(None, {"username": user, "password": password}))


def test_each_user_logs_in_with_their_own_password_only(auth: DemoPasswordAuthenticator) -> None:
    assert login(auth, "alice", "alice-secret") == "alice"
    assert login(auth, "bob", "bob-secret") == "bob"
    assert login(auth, "bob", "alice-secret") is None  # alice's password is not bob's
    assert login(auth, "alice", "") is None and login(auth, "alice", "alice") is None


@pytest.mark.parametrize("user", ["carol", "../alice", "alice/..", ".", "-x", "", "a" * 100, "al\x00ice"])
def test_no_file_no_login(auth: DemoPasswordAuthenticator, user: str) -> None:
    assert login(auth, user, "alice-secret") is None


def test_links_and_odd_files_are_never_read(tmp_path: Path) -> None:
    (tmp_path / "target").write_text("known\n")
    os.symlink(tmp_path / "target", tmp_path / "carol")
    (tmp_path / "dave").mkdir()
    (tmp_path / "erin").write_text("x" * 5000)
    (tmp_path / "frank").write_text("  \n")
    for user in ("carol", "dave", "erin", "frank"):
        assert read_password(str(tmp_path), user) is None, user


def test_the_session_log_filter_drops_the_xsrf_cookie_and_masks_tokens() -> None:
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("mltf-test-session-log")
    logger.propagate = False
    handler = Keep()
    logger.addHandler(handler)
    logfilter.install([logger])
    logger.warning("Setting new xsrf cookie for %r %r", "id-123", {"path": "/user/alice/"})
    logger.warning("302 GET /user/alice/oauth_callback?code=abc&state=def (alice@127.0.0.1)")
    logger.warning("GET /api/x?token=t0k3n&_xsrf=2|aa|bb")
    logger.warning("job state: %s", "RUNNING")
    assert records == [
        "302 GET /user/alice/oauth_callback?code=[secret]&state=[secret] (alice@127.0.0.1)",
        "GET /api/x?token=[secret]&_xsrf=[secret]",
        "job state: RUNNING",
    ]
