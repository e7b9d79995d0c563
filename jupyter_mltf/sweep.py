"""Hyperparameter sweeps as one Slurm job array, trials run by Optuna, each trial an MLflow child run.

A sweep file names a search space over the entry point's parameters, an objective metric and direction,
a number of trials and a parallelism. The job becomes an array of ``parallelism`` tasks; every task runs
trials one after another from one shared study (an Optuna journal file on the shared filesystem by
default, or any Optuna storage URL, e.g. the cluster's MariaDB) until the study has ``trials`` trials.
Each trial is an MLflow child run of the job's run; pruned and failed trials are recorded as such. The
parent run gets the best value and parameters. Cancelling the array marks the parent and the running
trials KILLED.

This module is the server side (parse and check a sweep, the watcher's summary, the trials list); an array
task on the node is jupyter_mltf/node/sweep_task.py, the study both open is jupyter_mltf/study.py.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

from .contract import JobPaths, RunnerSpec
from .entrypoints import PARAM_NAME, EntryPoint, Parameter, coerce_param
from .errors import InvalidRequest, ProjectError
from .models import Job
from .resources import INT64_MAX, INT64_MIN, parse_float, parse_int, shown
from .study import open_study, summarize, sweep_of
from .yamlsafe import load_yaml

SWEEP_KEYS = {
    "objective",
    "metric",
    "direction",
    "trials",
    "parallelism",
    "parameters",
    "sampler",
    "pruner",
    "storage",
    "seed",
}
_METRIC = re.compile(r"^[A-Za-z0-9_.\-/ ]{1,250}$")
MAX_TRIALS = 10000


MAX_CHOICES = 1000
#: numpy's and Optuna's samplers take seeds from 0 to 2**32 - 1
MAX_SEED = 2**32 - 1
MAX_SWEEP_FILE_BYTES = 1024 * 1024


def load_sweep_file(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read(MAX_SWEEP_FILE_BYTES + 1)
    except OSError as exc:
        raise InvalidRequest(f"cannot read sweep file {path!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidRequest(f"sweep file {path!r} is not UTF-8 text: save it as UTF-8") from None
    if len(text) > MAX_SWEEP_FILE_BYTES:
        raise InvalidRequest(f"sweep file {path!r} is larger than {MAX_SWEEP_FILE_BYTES // 1024} KiB")
    data = load_yaml(text, f"sweep file {path!r}", InvalidRequest)
    if not isinstance(data, dict):
        raise InvalidRequest("a sweep file is a mapping with objective, trials, parallelism and parameters")
    return data


def _number(name: str, key: str, value: Any, kind: str = "float") -> float:
    what = f"sweep parameter {name!r}: {key}"
    if kind == "int":
        return float(parse_int(what, value, INT64_MIN, INT64_MAX, error=InvalidRequest))
    return parse_float(what, value, error=InvalidRequest)


def _choices(name: str, choices: Any, param: Parameter | None) -> list[Any]:
    """Choices the trials can pass to the entry point: one kind (all text or all numbers), each valid for
    the parameter's type, so that no trial fails on the node for a value the sweep itself chose."""
    if not isinstance(choices, list) or not choices or len(choices) > MAX_CHOICES:
        raise InvalidRequest(f"sweep parameter {name!r}: choices must be a non-empty list of at most {MAX_CHOICES}")
    if not all(isinstance(c, (str, int, float)) and not isinstance(c, bool) for c in choices):
        bad = next(c for c in choices if isinstance(c, bool) or not isinstance(c, (str, int, float)))
        raise InvalidRequest(f"sweep parameter {name!r}: choices must be strings or numbers, not {shown(bad)}")
    if len({isinstance(c, str) for c in choices}) > 1:
        raise InvalidRequest(f"sweep parameter {name!r}: choices mix strings and numbers: use one kind")
    check = param or Parameter(name)
    for choice in choices:
        try:
            coerce_param(check, choice, source="sweep parameter")
        except ProjectError as exc:
            raise InvalidRequest(f"{exc.message} (in choices)") from None
    return choices


def _space(name: str, raw: Any, param: Parameter | None) -> dict[str, Any]:
    if isinstance(raw, list):
        raw = {"type": "categorical", "choices": raw}
    if not isinstance(raw, dict):
        raise InvalidRequest(f"sweep parameter {name!r} must be {{type, low, high}} or a list of choices")
    kind = raw.get("type") or (param.type if param else "float")
    if not isinstance(kind, str):
        raise InvalidRequest(f"sweep parameter {name!r}: type must be float, int or categorical")
    kind = {"integer": "int", "string": "categorical", "str": "categorical"}.get(kind, kind)
    unknown = set(map(str, raw)) - {"type", "low", "high", "log", "step", "choices"}
    if unknown:
        raise InvalidRequest(f"sweep parameter {name!r} has unknown keys {sorted(unknown)}")
    if kind == "categorical":
        return {"type": "categorical", "choices": _choices(name, raw.get("choices"), param)}
    if kind not in ("float", "int"):
        raise InvalidRequest(f"sweep parameter {name!r}: type must be float, int or categorical")
    if param is not None and (param.type == "int" and kind == "float" or param.type == "bool"):
        raise InvalidRequest(
            f"sweep parameter {name!r} is a {param.type} parameter of the entry point: "
            + ("use type int" if param.type == "int" else "use a list of choices")
        )
    low, high = _number(name, "low", raw.get("low"), kind), _number(name, "high", raw.get("high"), kind)
    if not low < high:
        raise InvalidRequest(f"sweep parameter {name!r}: low must be less than high")
    if not math.isfinite(high - low):
        raise InvalidRequest(f"sweep parameter {name!r}: the range from low to high is too large for a float")
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise InvalidRequest(f"sweep parameter {name!r}: log must be true or false")
    if log and low <= 0:
        raise InvalidRequest(f"sweep parameter {name!r}: a log scale needs low > 0")
    space: dict[str, Any] = {"type": kind, "low": low, "high": high, "log": log}
    if kind == "int":
        space["low"], space["high"] = int(low), int(high)
    if raw.get("step") is not None:
        step = _number(name, "step", raw["step"], kind)
        if step <= 0:
            raise InvalidRequest(f"sweep parameter {name!r}: step must be more than zero")
        if log and (kind == "float" or step != 1):
            raise InvalidRequest(f"sweep parameter {name!r}: a log scale cannot have a step (Optuna refuses it)")
        space["step"] = int(step) if kind == "int" else step
    return space


def _whole(what: str, value: Any, low: int, high: int) -> int:
    return parse_int(f"sweep {what}", value, low, high, error=InvalidRequest)


def parse_sweep(raw: dict[str, Any], entry: EntryPoint) -> dict[str, Any]:
    """Validate a sweep against the entry point's parameters; returns the normalised sweep.

    Everything a trial could only fail on at run time (a zero step, an empty or ill-typed choice list, a
    seed numpy refuses, a value the parameter's type refuses) is refused here, before anything is queued.
    """
    if not isinstance(raw, dict):
        raise InvalidRequest("sweep must be a mapping")
    # (nesting is bounded where the sweep is parsed: the REST body, load_sweep_file; nothing here recurses)
    unknown = set(map(str, raw)) - SWEEP_KEYS
    if unknown:
        raise InvalidRequest(f"sweep has unknown keys {sorted(unknown)}: valid keys are {sorted(SWEEP_KEYS)}")
    metric, direction = _objective(raw)
    trials = _whole("trials", raw.get("trials", 10), 1, MAX_TRIALS)
    parallelism = _whole("parallelism", raw.get("parallelism", min(4, trials)), 1, trials)
    space = _search_space(raw.get("parameters"), entry)
    sampler = raw.get("sampler", "tpe")
    if sampler not in ("tpe", "random"):
        raise InvalidRequest("sweep sampler must be tpe or random")
    pruner = raw.get("pruner", "median")
    if pruner not in ("median", "none"):
        raise InvalidRequest("sweep pruner must be median or none")
    storage = raw.get("storage")
    if storage is not None and (not isinstance(storage, str) or "\n" in storage):
        raise InvalidRequest("sweep storage must be an Optuna storage URL")
    seed = raw.get("seed")
    if seed is not None:
        seed = _whole("seed", seed, 0, MAX_SEED)
    return {
        "metric": metric,
        "direction": direction,
        "trials": trials,
        "parallelism": parallelism,
        "tasks": parallelism,
        "parameters": space,
        "sampler": sampler,
        "pruner": pruner,
        "storage": storage,
        "seed": seed,
    }


def _objective(raw: dict[str, Any]) -> tuple[str, str]:
    """The metric to optimise and the direction, from ``objective: {metric, direction}`` or the short forms."""
    objective = raw.get("objective") or {}
    if isinstance(objective, str):
        objective = {"metric": objective}
    if not isinstance(objective, dict):
        raise InvalidRequest("sweep objective must be {metric, direction}")
    metric = objective.get("metric", raw.get("metric"))
    direction = objective.get("direction", raw.get("direction", "minimize"))
    if not isinstance(metric, str) or not _METRIC.fullmatch(metric):
        raise InvalidRequest("sweep objective needs a metric name the entry point logs to MLflow, e.g. val_loss")
    if direction not in ("minimize", "maximize"):
        raise InvalidRequest("sweep direction must be minimize or maximize")
    return metric, direction


def _search_space(space_raw: Any, entry: EntryPoint) -> dict[str, Any]:
    """The searched parameters: names the entry point knows, each with a range or choices its type accepts."""
    if not isinstance(space_raw, dict) or not space_raw:
        raise InvalidRequest("sweep parameters must name at least one entry point parameter to search")
    bad_names = [n for n in space_raw if not isinstance(n, str) or not PARAM_NAME.fullmatch(n)]
    if bad_names:
        raise InvalidRequest(f"sweep parameter name {shown(bad_names[0])} is not valid: use letters, digits and '_'")
    if entry.parameters:
        unknown_params = sorted(set(space_raw) - set(entry.parameters))
        if unknown_params:
            raise InvalidRequest(
                f"sweep parameters {', '.join(unknown_params)} are not parameters of entry point {entry.name!r}: "
                f"valid ones are {', '.join(entry.parameters)}"
            )
    return {name: _space(name, spec, entry.parameters.get(name)) for name, spec in space_raw.items()}


def summarize_sweep(job: Job) -> None:
    """Watcher side: summarise a sweep whose array has ended (idempotent)."""
    if not job.sweep or not job.job_dir or not job.run_id:
        return
    spec_path = JobPaths(job.job_dir).spec
    if not os.path.exists(spec_path):
        return
    from mlflow.tracking import MlflowClient

    spec = RunnerSpec.read(spec_path)
    study = open_study(spec, job.job_dir)
    summarize(study, sweep_of(spec), MlflowClient(tracking_uri=job.tracking_uri), job.run_id)


def trials_of(tracking_uri: str | None, experiment_id: str | None, parent: str) -> list[dict[str, Any]]:
    """The child runs of a sweep, oldest first: trial number, state, params and metrics."""
    from mlflow.tracking import MlflowClient

    if not experiment_id:
        return []
    runs = MlflowClient(tracking_uri=tracking_uri).search_runs(
        [experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent}'", max_results=MAX_TRIALS
    )
    out = []
    for run in runs:
        tags = run.data.tags
        out.append(
            {
                "trial": int(tags.get("mltf.trial", "-1")),
                "run_id": run.info.run_id,
                "status": run.info.status,
                "state": tags.get("mltf.trial_state", run.info.status),
                "params": dict(run.data.params),
                "metrics": dict(run.data.metrics),
            }
        )
    return sorted(out, key=lambda t: t["trial"])
