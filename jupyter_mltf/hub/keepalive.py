"""Activity keepalive: a hub session that follows running MLTF jobs is not idle.

jupyterhub-idle-culler stops servers whose last activity is older than its timeout. Watching a training job
from the widgets or the Jobs panel may cause no request for hours, so this jupyter_server extension reports
activity to the hub (``JUPYTERHUB_ACTIVITY_URL``, as jupyterhub-singleuser does) every
``MLTF_KEEPALIVE_INTERVAL`` seconds (default 300) **while the user has MLTF jobs in the Slurm queue**:
``squeue --me`` jobs whose name starts with ``mltf-`` (what the Slurm backend names them), pending or
running. When no job is active, or Slurm does not answer, nothing is reported and the culler decides as usual.

Enabled in hub sessions by ``jupyter_mltf/hub/session_config`` (the spawner puts it on
``JUPYTER_CONFIG_PATH``); outside a hub (no ``JUPYTERHUB_ACTIVITY_URL``) it does nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.ioloop import IOLoop

from ..errors import MLTFError
from ..procs import run_cmd

JOB_NAME_PREFIX = "mltf-"
DEFAULT_INTERVAL = 300.0

log = logging.getLogger("jupyter_mltf.hub.keepalive")


async def count_active_jobs(timeout: float = 20.0) -> int | None:
    """Pending/running MLTF jobs of the current user; None when Slurm cannot be asked."""
    try:
        _, out, _ = await run_cmd(["squeue", "--me", "-h", "-o", "%j|%T"], timeout=timeout)
    except MLTFError as exc:
        log.debug("keepalive: squeue failed: %s", exc.log_message)
        return None
    count = 0
    for line in out.splitlines():
        name, _, state = line.partition("|")
        if name.startswith(JOB_NAME_PREFIX) and state.strip() not in ("COMPLETED", "CANCELLED", "FAILED"):
            count += 1
    return count


class Keepalive:
    """Every ``interval`` seconds: if ``counter()`` > 0, POST now as the server's last activity."""

    def __init__(
        self,
        activity_url: str,
        api_token: str,
        server_name: str = "",
        interval: float = DEFAULT_INTERVAL,
        counter: Callable[[], Awaitable[int | None]] = count_active_jobs,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    ) -> None:
        self.activity_url = activity_url
        self.api_token = api_token
        self.server_name = server_name
        self.interval = interval
        self.counter = counter
        self.log = logger or log
        self.reports = 0
        self.last_count: int | None = None
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> bool:
        """One check; True when activity was reported."""
        count = await self.counter()
        self.last_count = count
        if not count:
            return False
        now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        body = {"servers": {self.server_name: {"last_activity": now}}, "last_activity": now}
        request = HTTPRequest(
            self.activity_url,
            method="POST",
            headers={"Authorization": f"token {self.api_token}", "Content-Type": "application/json"},
            body=json.dumps(body),
            request_timeout=30,
        )
        try:
            await AsyncHTTPClient().fetch(request)
        except Exception as exc:  # the hub may be restarting: try again next time
            self.log.warning("keepalive: could not report activity to %s: %s", self.activity_url, exc)
            return False
        self.reports += 1
        self.log.info("keepalive: %d active MLTF job(s), reported activity to the hub", count)
        return True

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # never let the loop die
                self.log.exception("keepalive: check failed")
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        """Schedule the loop on the current IOLoop (it runs once the server's loop runs)."""
        if self._task is None:
            IOLoop.current().add_callback(self._start_task)

    def _start_task(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self.run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None


def from_environ(env: dict[str, str] | None = None) -> Keepalive | None:
    """The keepalive for this server, from JupyterHub's environment; None outside a hub session."""
    env = dict(os.environ if env is None else env)
    url = env.get("JUPYTERHUB_ACTIVITY_URL", "")
    token = env.get("JUPYTERHUB_API_TOKEN", "")
    if not url or not token:
        return None
    try:
        interval = float(env.get("MLTF_KEEPALIVE_INTERVAL", "") or DEFAULT_INTERVAL)
    except ValueError:
        interval = DEFAULT_INTERVAL
    if interval <= 0:
        return None
    return Keepalive(url, token, env.get("JUPYTERHUB_SERVER_NAME", ""), max(interval, 1.0))


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": "jupyter_mltf.hub.keepalive"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    keepalive = from_environ()
    if keepalive is not None:
        keepalive.log = serverapp.log
    if keepalive is None:
        serverapp.log.debug("jupyter_mltf keepalive: not in a hub session (or disabled)")
        return
    keepalive.start()
    serverapp.web_app.settings["mltf_keepalive"] = keepalive
    serverapp.log.info(
        "jupyter_mltf keepalive: reporting activity every %.0f s while MLTF jobs are queued or running",
        keepalive.interval,
    )
