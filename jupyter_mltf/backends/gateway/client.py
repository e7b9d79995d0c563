"""The gateway's HTTP client: the bearer token on every request, retries with back-off for what is safe to
repeat, and the gateway's error answers turned into ours (never with a token in them)."""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from ...errors import AuthenticationError, BackendUnavailable, InvalidRequest, JobNotFound, MLTFError, TooLarge
from .credentials import TokenChain

_RETRY_STATUS = frozenset({502, 503, 504})


def redact(text: str, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, "<token>")
    return text


def tls_verify(value: str) -> bool | str:
    """httpx's ``verify`` from the trait: true, false or a CA bundle's path."""
    value = value.strip()
    if value.lower() in ("", "true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    return value


@dataclass
class Timeouts:
    connect: float
    read: float
    upload: float
    log: float

    def of(self, seconds: float) -> httpx.Timeout:
        return httpx.Timeout(seconds, connect=self.connect)


@dataclass
class GatewayClient:
    url: str
    tokens: TokenChain
    timeouts: Timeouts
    retries: int
    backoff: float
    max_concurrency: int
    transport: Any
    log: logging.Logger | logging.LoggerAdapter[logging.Logger]
    _client: httpx.AsyncClient | None = field(default=None, init=False)
    _client_loop: asyncio.AbstractEventLoop | None = field(default=None, init=False)
    semaphore: asyncio.Semaphore | None = field(default=None, init=False)

    def http(self) -> httpx.AsyncClient:
        """One client (and one concurrency limit) per event loop."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop or self._client.is_closed:
            self._client = httpx.AsyncClient(
                base_url=self.url,
                timeout=self.timeouts.of(self.timeouts.read),
                verify=self.tokens.verify,
                limits=httpx.Limits(max_connections=self.max_concurrency + 2),
                transport=self.transport,
                headers={"Accept": "application/json", "User-Agent": "jupyter-mltf"},
            )
            self._client_loop = loop
            self.semaphore = asyncio.Semaphore(self.max_concurrency)
        return self._client

    def unreachable(self, exc: Exception, what: str) -> BackendUnavailable:
        return BackendUnavailable(
            f"The MLTF gateway at {self.url} cannot be reached while {what} ({type(exc).__name__}): "
            "check MLTF_GATEWAY_URI and that the gateway is up, then try again.",
            log_message=f"gateway {self.url}: {what}: {type(exc).__name__}: {exc}",
        )

    async def _delay(self, attempt: int) -> None:
        await asyncio.sleep(self.backoff * (2**attempt) * (0.75 + random.random() / 2))

    async def send(
        self,
        method: str,
        path: str,
        what: str,
        *,
        idempotent: bool,
        retry_read_errors: bool = True,
        timeout: httpx.Timeout | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One request with the bearer token; idempotent ones are retried with back-off on network errors and
        502/503/504. A non-idempotent one is only retried when the connection was never made."""
        token, _source = await self.tokens.get()
        client = self.http()
        headers = {"Authorization": f"Bearer {token}"}
        attempts = 1 + max(0, self.retries)
        for attempt in range(attempts):
            last = attempt + 1 >= attempts
            try:
                resp = await client.request(
                    method,
                    path,
                    headers=headers,
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                    **kwargs,
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # nothing reached the server: safe to try again even for a submission
                if last:
                    raise self.unreachable(exc, what) from None
            except httpx.TransportError as exc:
                if not idempotent or not retry_read_errors or last:
                    raise self.unreachable(exc, what) from exc
            else:
                if resp.status_code in _RETRY_STATUS and idempotent and not last:
                    self.log.info("gateway answered %s while %s; retrying", resp.status_code, what)
                else:
                    return resp
            await self._delay(attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def error(self, resp: httpx.Response, what: str) -> MLTFError:
        """The error for a non-2xx answer; the gateway's own text is shown (without any token)."""
        sent = _sent_token(resp)
        detail = _detail(resp)
        for secret in (sent, self.tokens.token, os.environ.get("MLTF_GATEWAY_TOKEN")):
            detail = redact(detail, secret)
        detail = detail.removeprefix("401 Unauthorized: ").removeprefix("403 Forbidden: ")[:300]
        status = resp.status_code
        if status in (401, 403):
            why = f" ({detail})" if detail else ""
            return AuthenticationError(
                f"The MLTF gateway refused your token{why}: log in again with `jupyter mltf login` "
                "(or set MLTF_GATEWAY_TOKEN to a new token).",
                log_message=f"gateway {self.url}: {what}: HTTP {status} {detail}",
            )
        if status == 404:
            return JobNotFound(f"The MLTF gateway does not know this job ({detail or 'not found'}) while {what}.")
        if status == 413:
            return TooLarge("The MLTF gateway refused the project archive as too large: make the project smaller.")
        if 400 <= status < 500:
            return InvalidRequest(f"The MLTF gateway rejected the request while {what}: {detail or status}")
        return BackendUnavailable(
            f"The MLTF gateway failed while {what} (HTTP {status}){': ' + detail if detail else ''}.",
            log_message=f"gateway {self.url}: {what}: HTTP {status}: {redact(resp.text[:2000], sent)!r}",
        )

    def json(self, resp: httpx.Response, what: str) -> Any:
        try:
            return resp.json()
        except ValueError:
            raise BackendUnavailable(
                f"The MLTF gateway answered something that is not JSON while {what} "
                f"(HTTP {resp.status_code}): "
                "is MLTF_GATEWAY_URI the gateway's API address?"
            ) from None

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            try:
                await client.aclose()
            except RuntimeError:  # its loop is gone
                pass


def _detail(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return ""
    if isinstance(body, Mapping):
        return str(body.get("error") or body.get("message") or body.get("description") or "")
    return ""


def _sent_token(resp: httpx.Response) -> str:
    try:
        return str(resp.request.headers.get("Authorization", "")).removeprefix("Bearer ").strip()
    except RuntimeError:  # a response built without a request
        return ""
