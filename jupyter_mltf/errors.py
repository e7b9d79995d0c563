"""One error taxonomy for every surface.

Each error carries a user-facing ``message`` that says what to do next, and an optional
``log_message`` with detail for the server log. The REST handlers map the class to a status code
in one place (:data:`HTTP_STATUS`); the CLI and magics print ``message`` on one line; the widget shows
it in red.
"""

from __future__ import annotations


class MLTFError(Exception):
    """Base class: ``message`` is safe to show to the user (never contains secrets).

    ``field`` names the request field the error is about (``gpus``, ``time``, ``params.lr``, ``entry_point``...)
    so that every surface can mark that field instead of guessing it from the English text.
    """

    reason = "error"

    def __init__(self, message: str, *, log_message: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.log_message = log_message or message
        self.field = field

    def about(self, field: str) -> MLTFError:
        """Name the field this error is about, unless a more precise one was named where it was raised."""
        if self.field is None:
            self.field = field
        return self

    def to_dict(self) -> dict[str, str | None]:
        """The JSON error body of the REST API: ``{message, reason, field}``."""
        return {"message": self.message, "reason": self.reason, "field": self.field}


class InvalidRequest(MLTFError):
    """The user's input is wrong: fix it and retry (HTTP 400/422)."""

    reason = "invalid-request"


class ProjectError(InvalidRequest):
    """The project directory or its MLproject cannot be used as it is."""

    reason = "invalid-project"


class ResourceError(InvalidRequest):
    """A resource request (GPUs, time, memory, partition...) is not valid on this cluster."""

    reason = "invalid-resources"


class TooLarge(InvalidRequest):
    """The project is over the configured size limit."""

    reason = "too-large"


class JobNotFound(MLTFError):
    reason = "not-found"


class DuplicateSubmission(MLTFError):
    """A submission with the same idempotency key exists already."""

    reason = "duplicate"

    def __init__(self, message: str, *, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id


class PermissionDenied(MLTFError):
    reason = "forbidden"


class AuthenticationError(MLTFError):
    """Credentials are missing, wrong or expired: log in again."""

    reason = "unauthenticated"


class BackendUnavailable(MLTFError):
    """The cluster, the gateway or the tracking server cannot be reached right now (HTTP 503)."""

    reason = "unavailable"


class CapabilityMissing(MLTFError):
    """The backend cannot do what was asked (for example the gateway cannot tail logs by offset)."""

    reason = "not-supported"


class CommandError(BackendUnavailable):
    """A cluster command failed; keeps argv, exit code and output for the log, never for the user."""

    reason = "command-failed"

    def __init__(self, argv: list[str], returncode: int | None, stdout: str, stderr: str) -> None:
        tool = argv[0] if argv else "?"
        detail = (stderr or stdout).strip().splitlines()
        last = detail[-1] if detail else f"exit code {returncode}"
        super().__init__(
            f"{tool} failed: {last}",
            log_message=f"command {argv!r} exited {returncode}; stdout={stdout!r} stderr={stderr!r}",
        )
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


HTTP_STATUS: dict[type[MLTFError], int] = {
    TooLarge: 413,
    ResourceError: 422,
    ProjectError: 422,
    InvalidRequest: 400,
    JobNotFound: 404,
    DuplicateSubmission: 409,
    PermissionDenied: 403,
    AuthenticationError: 401,
    CapabilityMissing: 501,
    BackendUnavailable: 503,
    MLTFError: 500,
}


def http_status(error: MLTFError) -> int:
    """The status code for ``error``: the most specific class in :data:`HTTP_STATUS` wins."""
    for cls in type(error).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]  # type: ignore[index]
    return 500
