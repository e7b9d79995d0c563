"""Where the gateway's bearer token comes from, in order, and whether it is still valid.

The chain: the configured token, ``$MLTF_GATEWAY_TOKEN``, the keyring entry of the official ``mltf login``, the
file ``jupyter mltf login`` writes (refreshed when it is about to expire). A token never reaches a log line.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from ... import auth
from ...errors import AuthenticationError


@dataclass
class TokenChain:
    url: str
    token: str
    token_file: str
    use_keyring: bool
    keyring_timeout: float
    verify: bool | str
    log: logging.Logger | logging.LoggerAdapter[logging.Logger]
    _keyring_checked: bool = field(default=False, init=False)
    _keyring_token: str | None = field(default=None, init=False)

    async def get(self) -> tuple[str, str]:
        """``(token, where it came from)``; AuthenticationError when none or expired."""
        configured = (
            (self.token, "c.GatewayBackend.token"),
            (os.environ.get("MLTF_GATEWAY_TOKEN"), "MLTF_GATEWAY_TOKEN"),
        )
        for value, source in configured:
            if value:
                return fresh(value.strip(), source), source
        keyring_token = await self._keyring()
        if keyring_token:
            return fresh(keyring_token, "the keyring of `mltf login`"), "the keyring of `mltf login`"
        record = await asyncio.to_thread(auth.load_token, self.url, self.token_file)
        if record:
            source = f"`jupyter mltf login` ({self.token_file})"
            record = await self._renewed(record)
            return fresh(str(record["access_token"]), source), source
        raise AuthenticationError(
            f"No token for the MLTF gateway at {self.url}: log in with `jupyter mltf login` "
            "(or set MLTF_GATEWAY_TOKEN)."
        )

    async def _renewed(self, record: dict[str, Any]) -> dict[str, Any]:
        """The stored record, refreshed first when it expires within 30 s and has a refresh token."""
        claims_exp = auth.jwt_claims(str(record["access_token"])).get("exp")
        exp = claims_exp if isinstance(claims_exp, (int, float)) else record.get("expires_at")
        if isinstance(exp, (int, float)) and exp <= time.time() + 30 and record.get("refresh_token"):
            renewed = await asyncio.to_thread(auth.refresh, record, token_path=self.token_file, verify=self.verify)
            if renewed:
                return renewed
        return record

    async def _keyring(self) -> str | None:
        if not self.use_keyring:
            return None
        if not self._keyring_checked:
            self._keyring_checked = True
            try:
                self._keyring_token = await asyncio.wait_for(
                    asyncio.to_thread(keyring_lookup, self.log), timeout=self.keyring_timeout
                )
            except asyncio.TimeoutError:
                self.log.warning("the keyring did not answer in %ss; going on without it", self.keyring_timeout)
                self._keyring_token = None
        return self._keyring_token


def keyring_lookup(log: logging.Logger | logging.LoggerAdapter[logging.Logger]) -> str | None:
    """The access token the official ``mltf login`` stored; None when keyring is missing or fails."""
    try:
        import keyring

        backend = keyring.get_keyring()
        if "cryptfile" in type(backend).__module__.lower() and not (
            os.environ.get("KEYRING_CRYPTFILE_PASSWORD") or os.environ.get("MLTF_KEYRING_PASSWORD")
        ):
            # the encrypted-file keyring would prompt for its password on the terminal: never in a server
            return None
        if os.environ.get("MLTF_KEYRING_PASSWORD") and hasattr(backend, "keyring_key"):
            backend.keyring_key = os.environ["MLTF_KEYRING_PASSWORD"]
        value = keyring.get_password("mltf_gateway", "access_token")
    except Exception as exc:  # keyring absent, no backend, locked, D-Bus down...: "no token"
        log.debug("no gateway token from the keyring (%s)", type(exc).__name__)
        return None
    return value or None


def fresh(token: str, source: str) -> str:
    """The token, or AuthenticationError saying when it expired."""
    exp = auth.jwt_claims(token).get("exp")
    if isinstance(exp, (int, float)) and exp <= time.time():
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(exp))
        raise AuthenticationError(
            f"Your MLTF gateway token (from {source}) expired at {when}: log in again with "
            "`jupyter mltf login` (or set MLTF_GATEWAY_TOKEN to a new token)."
        )
    return token
