"""Keep secrets out of a hub session's log: a jupyter_server extension that filters the server's log handlers.

The session log (``~/.local/state/jupyter-mltf/hub/``, mode 600) is the user's own, but it is read when
something goes wrong and gets pasted into tickets. JupyterHub logs the XSRF cookie's id at INFO each time it sets
the cookie ("Setting new xsrf cookie for ..."); that line is dropped, and any ``token=``, ``_xsrf=``, ``password=`` (and
OAuth's ``?code=``, ``&state=``) value left in a message is replaced by ``[secret]``. Enabled in hub sessions by
``jupyter_mltf/hub/session_config``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

DROPPED = ("Setting new xsrf cookie",)
SECRET_VALUE = re.compile(
    r"(?i)(\b(?:_xsrf|xsrf|token|access_token|api_token|password)|[?&](?:code|state))([=:]\s*)([^\s&'\",;}]+)"
)


class SecretFilter(logging.Filter):
    """Drops the log records that carry a cookie, and masks secret-looking ``key=value`` pairs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith(DROPPED):
            return False
        try:
            message = record.getMessage()
        except Exception:  # a broken record is logging's problem, not ours
            return True
        masked = SECRET_VALUE.sub(r"\1\2[secret]", message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


def install(loggers: list[logging.Logger]) -> SecretFilter:
    """Put one filter on every handler of ``loggers`` (records of child loggers pass through them)."""
    secret_filter = SecretFilter()
    for logger in loggers:
        logger.addFilter(secret_filter)
        for handler in logger.handlers:
            handler.addFilter(secret_filter)
    return secret_filter


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": "jupyter_mltf.hub.logfilter"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    install([serverapp.log, logging.getLogger(), logging.getLogger("tornado.application")])
    serverapp.log.debug("jupyter_mltf: secrets are kept out of this session's log")
