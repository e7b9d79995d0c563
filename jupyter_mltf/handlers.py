"""REST handlers under ``/mltf/api/``: thin HTTP adapters over the one core, :class:`MLTFManager`.

Every handler is authenticated (``@web.authenticated``) and authorized against the ``mltf`` resource
(``@authorized``); writes keep Jupyter's XSRF check. Errors are JSON ``{"message", "reason", "field"}``: domain
errors (:class:`~jupyter_mltf.errors.MLTFError`) become status codes in one place,
:meth:`MLTFAPIHandler.send_error`, through :func:`~jupyter_mltf.errors.http_status`; anything unexpected is
logged with its traceback and answered with a generic 500. The route table lives in
:mod:`jupyter_mltf.extension`; the shapes are documented in ``jupyter_mltf/openapi.yaml``.
"""

from __future__ import annotations

import asyncio
import json
import re
from http.client import responses
from types import TracebackType
from typing import TYPE_CHECKING, Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from . import __version__
from .errors import DuplicateSubmission, InvalidRequest, MLTFError, TooLarge, http_status
from .resources import MAX_NESTING

if TYPE_CHECKING:
    from .core import MLTFManager

AUTH_RESOURCE = "mltf"
#: the largest JSON body a handler parses (a cell's script, a sweep, params); projects travel as files, not bodies
MAX_BODY_BYTES = 16 * 1024 * 1024
#: the longest whole number a body may spell out (CPython's json refuses more than 4300 digits with a message
#: about sys.set_int_max_str_digits); shorter but still huge ones reach the field's check, whose 422 names it
MAX_JSON_INT_CHARS = 4300

_STATUS_REASONS = {
    400: "invalid-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "duplicate",
    413: "too-large",
    422: "invalid-request",
    501: "not-supported",
    503: "unavailable",
}


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object, or a 400/413 that says what is wrong with it."""
    if len(raw) > MAX_BODY_BYTES:
        raise TooLarge(
            f"the request body is {len(raw) / 2**20:.0f} MB, too large: at most {MAX_BODY_BYTES // 2**20} MB "
            "(put data in the project's files, not in the request)"
        )
    if not raw.strip():
        raise InvalidRequest("the request body is empty: send a JSON object")
    try:
        text = raw.decode("utf-8-sig")  # JSON travels as UTF-8 (RFC 8259; a BOM is allowed): no UTF-16/32
    except UnicodeDecodeError:
        raise InvalidRequest(
            "the request body is not valid JSON (it is not UTF-8 text): send a JSON object"
        ) from None
    try:
        body = json.loads(text)
    except RecursionError:  # json's scanner stops cleanly at the recursion limit
        raise InvalidRequest(
            f"the request body is nested too deeply: at most {MAX_NESTING} levels of objects and arrays"
        ) from None
    except ValueError as exc:
        _refuse_long_numbers(text)  # CPython's int-digit limit is a ValueError too: say it in our words
        raise InvalidRequest(f"the request body is not valid JSON ({exc}): send a JSON object") from None
    if not isinstance(body, dict):
        raise InvalidRequest(f"the request body must be a JSON object, not {type(body).__name__}")
    if _nests_deeper(text, MAX_NESTING):
        where = _deep_path(body, MAX_NESTING)
        raise InvalidRequest(
            f"the request body is nested too deeply{f' at {where}' if where else ''}: at most {MAX_NESTING} "
            "levels of objects and arrays"
        )
    return body


class MLTFAPIHandler(APIHandler):
    """Base class: the manager, JSON bodies, root-dir paths, and the one error mapping."""

    auth_resource = AUTH_RESOURCE

    @property
    def manager(self) -> MLTFManager:
        manager: MLTFManager = self.settings["mltf_manager"]
        return manager

    @property
    def root_dir(self) -> str:
        return str(self.settings["server_root_dir"])

    @staticmethod
    def require_path(path: Any) -> str:
        """``path`` must name a directory relative to the server root; the manager checks where it leads."""
        if not isinstance(path, str) or not path.strip():
            raise InvalidRequest("'path' is missing: give the project directory relative to the server root")
        return path

    async def json_body(self) -> dict[str, Any]:
        """The request body as a JSON object (parsed off the event loop: 16 MB of JSON take seconds)."""
        return await asyncio.to_thread(parse_json_body, self.request.body or b"")

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data))

    # -- errors: the one place where exceptions become HTTP answers ------------------------------------

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, MLTFError):
            status_code = http_status(exc)
        super().send_error(status_code, **kwargs)

    def log_exception(
        self, typ: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(value, MLTFError):
            # expected: the user gets the message; the log gets the detail, no traceback
            self.log.warning(
                "mltf: %d %s: %s", http_status(value), self._request_summary(), value.log_message
            )
            return
        super().log_exception(typ, value, tb)  # unexpected: the traceback goes to the server log only

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        reply: dict[str, Any]
        if isinstance(exc, MLTFError):
            reply = exc.to_dict()
            if isinstance(exc, DuplicateSubmission):
                reply["job_id"] = exc.job_id
        elif isinstance(exc, web.HTTPError) or exc is None:
            message = self._http_message(status_code, exc)
            reply = {"message": message, "reason": _STATUS_REASONS.get(status_code), "field": None}
        else:
            reply = {
                "message": "internal error in jupyter-mltf: the server log has the details",
                "reason": "internal-error",
                "field": None,
            }
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(reply))

    def _http_message(self, status_code: int, exc: web.HTTPError | None) -> str:
        message = ""
        if exc is not None and exc.log_message:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        if status_code == 403 and "xsrf" in message.lower():
            return (
                f"{message}: a cookie-authenticated write needs the XSRF token; send the '_xsrf' cookie's "
                "value in the X-XSRFToken header (JupyterLab's ServerConnection does this), or use token auth"
            )
        if status_code == 403 and not message:
            return (
                "not authenticated or not allowed: send 'Authorization: token <server token>' or log in to "
                "Jupyter as a user allowed to use mltf"
            )
        if status_code == 405:
            method, path = self.request.method, self.request.path
            return f"{method} is not supported on {path}: see jupyter_mltf/openapi.yaml"
        return message or responses.get(status_code, "error")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_JSON_INT_CHARS:
        raise InvalidRequest(
            f"the request body has a number of {len(text.lstrip('-'))} digits: no parameter, resource or sweep "
            "value takes more than a few dozen; send it as text if it is not a number"
        )
    return int(text)


def _refuse_long_numbers(text: str) -> None:
    """Called after json.loads failed: an InvalidRequest naming a too-long number, if that was the reason.
    (Parsing again with a hook only on this path keeps the hook's cost off good requests.)"""
    try:
        json.loads(text, parse_int=_bounded_int)
    except (ValueError, RecursionError):
        pass


# nesting is measured on the text, at C speed: a 16 MB body can hold millions of containers, too many to
# walk in Python on the event loop
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _nests_deeper(text: str, limit: int) -> bool:
    """Whether valid JSON ``text`` nests more than ``limit`` objects/arrays: with strings and scalars gone and
    ``{}`` written as ``[]``, each pass of ``replace("[]", "")`` removes exactly the innermost level, so what is
    left after ``limit`` passes is deeper than that."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)).replace("{", "[").replace("}", "]")
    for _ in range(limit):
        if not brackets:
            return False
        brackets = brackets.replace("[]", "")
    return bool(brackets)


def _deep_path(body: Any, limit: int, budget: int = 200_000) -> str | None:
    """The path where ``body`` goes deeper than ``limit`` (``params.word[0]...``), looking at no more than
    ``budget`` values; None when the budget runs out first (the message then names no path)."""
    stack: list[tuple[Any, int, str]] = [(body, 1, "")]
    while stack and budget > 0:
        node, depth, path = stack.pop()
        if depth > limit:
            return path.lstrip(".")
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            budget -= 1
            if isinstance(child, (dict, list)):
                step = f".{str(key)[:30]}" if isinstance(node, dict) else f"[{key}]"
                stack.append((child, depth + 1, path + step))
    return None


class HealthHandler(MLTFAPIHandler):
    """``GET health``: the extension is loaded and its status watcher runs (asks nothing of the cluster)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(
            {
                "status": "ok",
                "version": __version__,
                "backend": self.manager.backend_name,
                "root_dir": self.root_dir,
            }
        )


class ConfigHandler(MLTFAPIHandler):
    """``GET config``: backend, capabilities, partitions and limits, defaults, MLflow UI URL."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(await self.manager.config_info())


class PreviewHandler(MLTFAPIHandler):
    """``POST preview``: what would be submitted from a directory (MLproject, entry points, files)."""

    @web.authenticated
    @authorized(action="read")
    async def post(self) -> None:
        body = await self.json_body()
        unknown = sorted(set(body) - {"path", "notebook"})
        if unknown:
            raise InvalidRequest(f"unknown field(s) {', '.join(unknown)}: preview takes path and notebook")
        notebook = body.get("notebook")
        if notebook is not None and not isinstance(notebook, str):
            raise InvalidRequest("'notebook' must be a string: the notebook's file name in the directory")
        preview = await self.manager.preview(self.require_path(body.get("path")), notebook=notebook)
        self.write_json(preview.to_dict())


class CheckHandler(MLTFAPIHandler):
    """``POST check``: the body of a submit, checked as a submit checks it; creates nothing. Answers what
    would run (command, parameters, resources with the partition filled in), or the error with its field."""

    @web.authenticated
    @authorized(action="read")
    async def post(self) -> None:
        from .submission import SubmitRequest

        request = SubmitRequest.from_dict(await self.json_body())
        self.require_path(request.path)
        result = await self.manager.check(request)
        self.write_json(result.to_dict())


class JobsHandler(MLTFAPIHandler):
    """``GET jobs`` (newest first) and ``POST jobs`` (submit; 201, or 200 with the dry run)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        # serialised off the event loop, once per change for all the clients polling it
        body = await self.manager.list_jobs_json()
        self.set_status(200)
        self.finish(body)

    @web.authenticated
    @authorized(action="execute")
    async def post(self) -> None:
        from .submission import DryRun, SubmitRequest

        request = SubmitRequest.from_dict(await self.json_body())
        self.require_path(request.path)
        result = await self.manager.submit(request)
        if isinstance(result, DryRun):
            self.write_json(result.to_dict(), status=200)
        else:
            self.write_json(result.to_dict(), status=201)


class JobHandler(MLTFAPIHandler):
    """``GET jobs/{id}`` (with the latest MLflow metrics) and ``DELETE jobs/{id}`` (cancel)."""

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        job = await self.manager.get_job(job_id, metrics=True)
        self.write_json(job.to_dict())

    @web.authenticated
    @authorized
    async def delete(self, job_id: str) -> None:
        job = await self.manager.cancel(job_id)
        self.write_json(job.to_dict())


class JobLogHandler(MLTFAPIHandler):
    """``GET jobs/{id}/log?offset=N``: the log from byte N; ask again from ``next_offset``."""

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        raw = self.get_query_argument("offset", "0")
        try:
            offset = int(raw)
        except ValueError:
            offset = -1
        if offset < 0:
            raise InvalidRequest(f"offset {raw!r} must be a whole number >= 0 (next_offset)")
        chunk = await self.manager.read_log(job_id, offset=offset)
        self.write_json(chunk.to_dict())


class JobTrialsHandler(MLTFAPIHandler):
    """``GET jobs/{id}/trials``: a sweep's trials (MLflow child runs), oldest first."""

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        self.write_json({"trials": await self.manager.sweep_trials(job_id)})
