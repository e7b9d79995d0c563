"""MLflow helpers used by the core (submit side) and the watcher (reconciliation). All calls are sync:
the async core runs them in a thread. Errors become :class:`BackendUnavailable` with a clear message.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from .errors import (
    AuthenticationError,
    BackendUnavailable,
    InvalidRequest,
    MLTFError,
    PermissionDenied,
    ProjectError,
)
from .formatting import redact

TERMINAL_RUN_STATUSES = {"FINISHED", "FAILED", "KILLED"}
TAG_PREFIX = "mltf."


_IMPORT_LOCK = threading.Lock()


def _client(tracking_uri: str | None) -> Any:
    # the first import of mlflow must not race between worker threads (partially initialised module)
    with _IMPORT_LOCK:
        from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return redact(text.splitlines()[0][:300] if text else type(exc).__name__)


def _unavailable(tracking_uri: str | None, exc: Exception) -> MLTFError:
    """The error to show for a failed MLflow call: what the server said when it answered (refused
    credentials, no permission, a refused value), "cannot be reached" only when it did not answer."""
    where = redact(tracking_uri or "the default location")
    code = str(getattr(exc, "error_code", "") or "")
    answered = type(exc).__name__ == "RestException"  # the server answered with an error (not a network failure)
    detail = f"mlflow error: {_first_line(exc)}"
    if answered and code in ("UNAUTHENTICATED", "UNAUTHORIZED"):
        return AuthenticationError(
            f"the MLflow tracking server at {where} refused the credentials: set MLFLOW_TRACKING_USERNAME and "
            "MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) and try again",
            log_message=detail,
        )
    if answered and code == "PERMISSION_DENIED":
        return PermissionDenied(
            f"the MLflow tracking server at {where} does not let this user do that: ask its administrator "
            "for access to the experiment, or use another experiment",
            log_message=detail,
        )
    if answered and code not in ("INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", ""):
        return InvalidRequest(f"the MLflow tracking server at {where} refused the request: {_first_line(exc)}",
                              log_message=detail)
    return BackendUnavailable(
        f"the MLflow tracking server at {where} cannot be reached: "
        "check that it is running and MLFLOW_TRACKING_URI is right",
        log_message=detail,
    )


def check_uri(tracking_uri: str | None) -> None:
    """Refuse a tracking URI with a password in it: the URI is shown in run links, job records, logs and
    the job's spec, where a password must never be. Credentials belong in the environment."""
    if tracking_uri and redact(tracking_uri) != tracking_uri:
        raise InvalidRequest(
            f"the MLflow tracking URI {redact(tracking_uri)} has a user name and password in it: set "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD instead and use the URI without them "
            "(jobs get the password in a private file, never in the URI)"
        )


def check_experiment(tracking_uri: str | None, name: str) -> None:
    """Refuse (before anything is created) an experiment name that belongs to a deleted experiment:
    MLflow keeps the name, so a run cannot be created in it until it is restored or permanently deleted."""
    try:
        exp = _client(tracking_uri).get_experiment_by_name(name)
    except Exception as exc:
        raise _unavailable(tracking_uri, exc) from None
    if exp is not None and exp.lifecycle_stage == "deleted":
        raise ProjectError(
            f"the MLflow experiment {name!r} was deleted: restore it (`mlflow experiments restore "
            f"--experiment-id {exp.experiment_id}`) or choose another experiment name (--experiment / "
            "'experiment')"
        )


def run_url(ui_url: str | None, experiment_id: str | None, run_id: str | None) -> str | None:
    if not ui_url or not run_id or not ui_url.startswith(("http://", "https://")):
        return None
    return f"{ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def ping(tracking_uri: str | None, timeout: float = 5.0) -> None:
    """Fail fast (before anything is queued) when the tracking server is down.

    An HTTP server is asked for ``/health`` once, with a short timeout: MLflow's own client would retry a
    refused connection for minutes (MLFLOW_HTTP_REQUEST_MAX_RETRIES) while the user waits.
    """
    check_uri(tracking_uri)
    if tracking_uri and tracking_uri.startswith(("http://", "https://")):
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(f"{tracking_uri.rstrip('/')}/health", timeout=timeout):
                return
        except urllib.error.HTTPError:
            return  # it answers (a proxy may not route /health): let the real calls decide
        except (OSError, ValueError) as exc:
            raise _unavailable(tracking_uri, exc) from None  # (credentials in the URI were refused before)
    try:
        _client(tracking_uri).search_experiments(max_results=1)
    except MLTFError:
        raise
    except Exception as exc:
        raise _unavailable(tracking_uri, exc) from None


def create_run(
    tracking_uri: str | None, experiment: str, run_name: str, tags: dict[str, str], params: dict[str, str]
) -> tuple[str, str]:
    """Create the run at submit time (status SCHEDULED) so its link is known at once; returns (exp id, run id)."""
    from mlflow.entities import Param

    try:
        client = _client(tracking_uri)
        exp = client.get_experiment_by_name(experiment)
        exp_id = exp.experiment_id if exp is not None else client.create_experiment(experiment)
        run = client.create_run(exp_id, run_name=run_name, tags=tags)
        run_id = run.info.run_id
        if params:
            client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])
        client.update_run(run_id, status="SCHEDULED")
        return str(exp_id), str(run_id)
    except Exception as exc:
        if "RESOURCE_ALREADY_EXISTS" in str(exc):  # another submit created the experiment just now
            try:
                return _create_in_existing(tracking_uri, experiment, run_name, tags, params)
            except Exception as again:
                raise _unavailable(tracking_uri, again) from None
        raise _unavailable(tracking_uri, exc) from None


def _create_in_existing(
    tracking_uri: str | None, experiment: str, run_name: str, tags: dict[str, str], params: dict[str, str]
) -> tuple[str, str]:
    from mlflow.entities import Param

    client = _client(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    run = client.create_run(exp.experiment_id, run_name=run_name, tags=tags)
    if params:
        client.log_batch(run.info.run_id, params=[Param(k, v) for k, v in params.items()])
    client.update_run(run.info.run_id, status="SCHEDULED")
    return str(exp.experiment_id), str(run.info.run_id)


def delete_run(tracking_uri: str | None, run_id: str) -> None:
    """Undo a run created for a submit that was then rolled back (MLflow keeps it as deleted)."""
    _client(tracking_uri).delete_run(run_id)


def set_tags(tracking_uri: str | None, run_id: str, tags: dict[str, str]) -> None:
    client = _client(tracking_uri)
    for key, value in tags.items():
        client.set_tag(run_id, key, value)


def run_status(tracking_uri: str | None, run_id: str) -> str:
    return str(_client(tracking_uri).get_run(run_id).info.status)


def terminate(tracking_uri: str | None, run_id: str, status: str) -> None:
    _client(tracking_uri).set_terminated(run_id, status=status)


def reconcile(tracking_uri: str | None, run_id: str, status: str, note: str | None = None) -> bool:
    """Close a run the job could not close itself (node failure, SIGKILL). Returns True when it changed it."""
    client = _client(tracking_uri)
    current = client.get_run(run_id).info.status
    if current in TERMINAL_RUN_STATUSES:
        return False
    if note:
        client.set_tag(run_id, TAG_PREFIX + "reconciled", note)
    client.set_terminated(run_id, status=status)
    return True


def latest_metrics(tracking_uri: str | None, run_id: str) -> dict[str, float]:
    return {k: float(v) for k, v in _client(tracking_uri).get_run(run_id).data.metrics.items()}


def metric_history(
    tracking_uri: str | None, run_id: str, keys: list[str] | None = None
) -> dict[str, list[list[float]]]:
    client = _client(tracking_uri)
    names = keys or [k for k in client.get_run(run_id).data.metrics if not k.startswith("system/")]
    out: dict[str, list[list[float]]] = {}
    for key in names:
        out[key] = [[m.step, m.value, m.timestamp] for m in client.get_metric_history(run_id, key)]
    return out


def find_runs_by_job(tracking_uri: str | None, wanted: dict[str, str | None]) -> dict[str, Any]:
    """Runs of our jobs, for rebuilding the store: {job_id: run}. ``wanted`` maps job id -> run id when the
    cluster still knows it (Slurm's job comment): those are fetched 100 at a time by run id; the rest by tag."""
    if not wanted:
        return {}
    client = _client(tracking_uri)
    exps = [e.experiment_id for e in client.search_experiments(max_results=10000)]
    found: dict[str, Any] = {}
    by_run = {run_id: job_id for job_id, run_id in wanted.items() if run_id and re.fullmatch(r"[0-9a-f]{32}", run_id)}
    ids = sorted(by_run)
    for start in range(0, len(ids), 100):
        quoted = ", ".join(f"'{r}'" for r in ids[start : start + 100])
        for run in client.search_runs(exps, filter_string=f"attributes.run_id IN ({quoted})", max_results=1000):
            found[by_run[run.info.run_id]] = run
    for job_id in wanted:
        if job_id in found or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", job_id):
            continue
        runs = client.search_runs(exps, filter_string=f"tags.`mltf.job_id` = '{job_id}'", max_results=1)
        if runs:
            found[job_id] = runs[0]
    return found
