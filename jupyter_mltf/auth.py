"""``jupyter mltf login``: OAuth 2.0 device login with the MLTF gateway's identity provider.

The gateway tells where its identity provider is (``GET {gateway}/api/config``: ``oauth_issuer``,
``well_known_url``, ``oauth_config.client_id``/``token_url``, ``device_authorization_endpoint``). We
then read the provider's own OIDC discovery document and prefer *its* device endpoint:
mltf-gateway 0.6.3 advertises ``<issuer>/protocol/openid-connect/device``, while
Keycloak serves the flow at ``.../auth/device``.

The token is kept in ``~/.config/jupyter_mltf/gateway-token.json`` (``$XDG_CONFIG_HOME`` is honoured), created
with mode 600 in a mode-700 directory, keyed by gateway URL. Tokens are never printed or logged.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .errors import AuthenticationError, BackendUnavailable, InvalidRequest

log = logging.getLogger(__name__)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEFAULT_SCOPES = ("openid", "email", "profile")


def default_token_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "jupyter_mltf" / "gateway-token.json"


def normalise_url(url: str) -> str:
    return url.strip().rstrip("/")


@dataclass
class LoginResult:
    """What :func:`login` tells the caller (no token in it)."""

    gateway: str
    path: str
    expires_at: float | None
    subject: str | None


@dataclass
class Endpoints:
    issuer: str | None
    client_id: str
    scopes: list[str]
    device_authorization_endpoint: str
    token_endpoint: str


def _unreachable(url: str, exc: Exception) -> BackendUnavailable:
    return BackendUnavailable(
        f"The MLTF gateway at {url} cannot be reached ({type(exc).__name__}): check the address "
        "(MLTF_GATEWAY_URI) and your network, then try again."
    )


def discover_endpoints(url: str, client: httpx.Client, *, client_id: str | None = None) -> Endpoints:
    """The gateway's identity provider: device and token endpoints, client id and scopes."""
    url = normalise_url(url)
    try:
        resp = client.get(f"{url}/api/config")
    except httpx.HTTPError as exc:
        raise _unreachable(url, exc) from exc
    if resp.status_code != 200:
        raise BackendUnavailable(
            f"The MLTF gateway at {url} did not describe its login ({resp.status_code} on /api/config): "
            "is MLTF_GATEWAY_URI the gateway's address?"
        )
    try:
        config: dict[str, Any] = resp.json()
    except ValueError:
        raise BackendUnavailable(f"{url}/api/config did not answer JSON: is this an MLTF gateway?") from None
    oauth: dict[str, Any] = config.get("oauth_config") or {}
    issuer = config.get("oauth_issuer") or oauth.get("issuer")
    well_known = config.get("well_known_url") or (f"{issuer}/.well-known/openid-configuration" if issuer else None)
    discovered: dict[str, Any] = {}
    if well_known:
        try:
            answer = client.get(well_known)
            if answer.status_code == 200:
                discovered = answer.json()
            else:
                log.warning("OIDC discovery at %s answered %s", well_known, answer.status_code)
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("OIDC discovery at %s failed: %s", well_known, exc)
    device = (
        os.environ.get("MLTF_DEVICE_AUTHORIZATION_ENDPOINT")
        or discovered.get("device_authorization_endpoint")
        or config.get("device_authorization_endpoint")
    )
    token = os.environ.get("MLTF_TOKEN_URL") or discovered.get("token_endpoint") or oauth.get("token_url")
    if not device or not token:
        raise BackendUnavailable(
            f"The MLTF gateway at {url} does not advertise a device login (no device or token endpoint): "
            "set MLTF_GATEWAY_TOKEN to a token from the facility's token page instead."
        )
    scopes = oauth.get("scopes") or list(DEFAULT_SCOPES)
    return Endpoints(
        issuer=discovered.get("issuer") or issuer,
        client_id=client_id or os.environ.get("MLTF_CLIENT_ID") or oauth.get("client_id") or "mlflow",
        scopes=[str(s) for s in scopes],
        device_authorization_endpoint=str(device),
        token_endpoint=str(token),
    )


def _read_store(path: Path) -> dict[str, Any]:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return {}
    if mode & 0o077:
        try:
            os.chmod(path, 0o600)
            log.warning("%s was readable by others; made it private (mode 600)", path)
        except OSError:
            log.warning("%s is readable by others and could not be made private", path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        log.warning("ignoring unreadable token file %s", path)
        return {}
    return data if isinstance(data, dict) else {}


def _write_store(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, json.dumps(data, indent=1, sort_keys=True).encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def load_token(url: str | None = None, path: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The stored login record for gateway ``url`` (or the only one when ``url`` is None), else None.

    The record has ``access_token``, ``refresh_token`` (may be None), ``expires_at`` (epoch seconds or None),
    ``token_endpoint``, ``client_id``, ``gateway``.
    """
    store = _read_store(Path(path) if path else default_token_path())
    gateways: dict[str, Any] = store.get("gateways") or {}
    if url is not None:
        record = gateways.get(normalise_url(url))
    elif len(gateways) == 1:
        record = next(iter(gateways.values()))
    else:
        record = None
    if not isinstance(record, dict) or not record.get("access_token"):
        return None
    return record


def save_token(record: dict[str, Any], path: str | os.PathLike[str] | None = None) -> Path:
    target = Path(path) if path else default_token_path()
    store = _read_store(target)
    gateways = store.setdefault("gateways", {})
    gateways[normalise_url(str(record["gateway"]))] = record
    _write_store(target, store)
    return target


def forget_token(url: str, path: str | os.PathLike[str] | None = None) -> bool:
    """Remove the stored login for ``url`` (``jupyter mltf logout``); True when there was one."""
    target = Path(path) if path else default_token_path()
    store = _read_store(target)
    gateways = store.get("gateways") or {}
    if gateways.pop(normalise_url(url), None) is None:
        return False
    _write_store(target, store)
    return True


def _record(gateway: str, endpoints: Endpoints, answer: dict[str, Any]) -> dict[str, Any]:
    expires_in = answer.get("expires_in")
    return {
        "gateway": normalise_url(gateway),
        "access_token": answer["access_token"],
        "refresh_token": answer.get("refresh_token"),
        "expires_at": time.time() + float(expires_in) if expires_in else None,
        "token_endpoint": endpoints.token_endpoint,
        "client_id": endpoints.client_id,
        "issuer": endpoints.issuer,
        "saved_at": time.time(),
    }


def _error_of(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return f"HTTP {resp.status_code}"
    if isinstance(body, dict):
        return str(body.get("error") or f"HTTP {resp.status_code}")
    return f"HTTP {resp.status_code}"


def login(
    url: str | None = None,
    *,
    client_id: str | None = None,
    scopes: list[str] | None = None,
    token_path: str | os.PathLike[str] | None = None,
    timeout: float = 600.0,
    http_timeout: float = 30.0,
    verify: bool | str = True,
    open_browser: bool = False,
    echo: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
    transport: httpx.BaseTransport | None = None,
) -> LoginResult:
    """Log in to the gateway at ``url`` with the OAuth device flow and store the token (mode 600).

    ``echo`` receives the one instruction line for the user (URL and code); ``timeout`` bounds the wait for
    the user. Raises :class:`AuthenticationError` when the user denies or the code expires, and
    :class:`BackendUnavailable` when the gateway or its identity provider cannot be reached.
    """
    url = normalise_url(url or os.environ.get("MLTF_GATEWAY_URI", ""))
    if not url:
        raise InvalidRequest("Which gateway? Pass --url https://... or set MLTF_GATEWAY_URI.")
    if not url.startswith(("http://", "https://")):
        raise InvalidRequest(f"{url!r} is not a gateway address: use https://..., or set MLTF_GATEWAY_URI")
    with httpx.Client(timeout=http_timeout, verify=verify, transport=transport, follow_redirects=True) as client:
        endpoints = discover_endpoints(url, client, client_id=client_id)
        if scopes:
            endpoints.scopes = list(scopes)
        device = _start_device_login(client, endpoints, echo, open_browser)
        record = _await_approval(client, endpoints, device, url, timeout, sleep)
    path = save_token(record, token_path)
    subject = jwt_claims(record["access_token"]).get("sub")
    expires_at = record["expires_at"]
    until = time.strftime(" until %Y-%m-%d %H:%M UTC", time.gmtime(expires_at)) if expires_at else ""
    echo(f"Logged in to {url}{' as ' + str(subject) if subject else ''}; token saved in {path} (valid{until}).")
    return LoginResult(gateway=url, path=str(path), expires_at=expires_at, subject=subject)


def _start_device_login(
    client: httpx.Client, endpoints: Endpoints, echo: Callable[[str], None], open_browser: bool
) -> dict[str, Any]:
    """Ask the identity provider for a device code and tell the user where to enter it."""
    try:
        resp = client.post(
            endpoints.device_authorization_endpoint,
            data={"client_id": endpoints.client_id, "scope": " ".join(endpoints.scopes)},
        )
    except httpx.HTTPError as exc:
        raise _unreachable(endpoints.device_authorization_endpoint, exc) from exc
    if resp.status_code != 200:
        raise AuthenticationError(
            f"The identity provider refused to start a device login ({_error_of(resp)}) at "
            f"{endpoints.device_authorization_endpoint}: check the client id ({endpoints.client_id}) "
            "or set MLTF_DEVICE_AUTHORIZATION_ENDPOINT."
        )
    device: dict[str, Any] = resp.json()
    verification = device.get("verification_uri_complete") or device.get("verification_uri")
    echo(f"To log in to the MLTF gateway, open {verification} and enter the code {device.get('user_code')}")
    if open_browser and verification:
        import webbrowser

        webbrowser.open(str(verification))
    return device


def _await_approval(
    client: httpx.Client,
    endpoints: Endpoints,
    device: dict[str, Any],
    url: str,
    timeout: float,
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    """Poll the token endpoint (at the provider's pace) until the user approves, denies or the code expires."""
    interval = float(device.get("interval", 5))
    deadline = time.monotonic() + min(timeout, float(device.get("expires_in", timeout)))
    while True:
        try:
            answer = client.post(
                endpoints.token_endpoint,
                data={
                    "grant_type": DEVICE_GRANT,
                    "device_code": device["device_code"],
                    "client_id": endpoints.client_id,
                },
            )
        except httpx.HTTPError as exc:
            raise _unreachable(endpoints.token_endpoint, exc) from exc
        if answer.status_code == 200:
            return _record(url, endpoints, answer.json())
        error = _error_of(answer)
        if error == "slow_down":
            interval += 5
        elif error != "authorization_pending":
            raise AuthenticationError(f"Login failed ({error}): run `jupyter mltf login` again.")
        if time.monotonic() + interval > deadline:
            raise AuthenticationError("The login code expired before it was approved: run `jupyter mltf login` again.")
        sleep(interval)


def refresh(
    record: dict[str, Any],
    *,
    token_path: str | os.PathLike[str] | None = None,
    http_timeout: float = 30.0,
    verify: bool | str = True,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any] | None:
    """Exchange the record's refresh token for a new access token and store it; None when impossible."""
    if not record.get("refresh_token") or not record.get("token_endpoint"):
        return None
    try:
        with httpx.Client(timeout=http_timeout, verify=verify, transport=transport) as client:
            resp = client.post(
                str(record["token_endpoint"]),
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": record["refresh_token"],
                    "client_id": record.get("client_id") or "mlflow",
                },
            )
    except httpx.HTTPError as exc:
        log.warning("token refresh failed: %s", type(exc).__name__)
        return None
    if resp.status_code != 200:
        log.warning("token refresh refused: %s", _error_of(resp))
        return None
    answer = resp.json()
    new = dict(record)
    new["access_token"] = answer["access_token"]
    new["refresh_token"] = answer.get("refresh_token") or record.get("refresh_token")
    expires_in = answer.get("expires_in")
    new["expires_at"] = time.time() + float(expires_in) if expires_in else None
    new["saved_at"] = time.time()
    save_token(new, token_path)
    return new


def jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, read without checking the signature (for ``exp``/``sub``); {} otherwise."""
    import base64

    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        return {}
    return claims if isinstance(claims, dict) else {}
