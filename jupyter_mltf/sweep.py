"""Hyperparameter sweeps as one Slurm job array, trials run by Optuna, each trial an MLflow child run.

A sweep file names a search space over the entry point's parameters, an objective metric and direction,
a number of trials and a parallelism. The job becomes an array of ``parallelism`` tasks; every task runs
trials one after another from one shared study (an Optuna journal file on the shared filesystem by
default, or any Optuna storage URL, e.g. the cluster's MariaDB) until the study has ``trials`` trials.
Each trial is an MLflow child run of the job's run; pruned and failed trials are recorded as such. The
parent run gets the best value and parameters. Cancelling the array marks the parent and the running
trials KILLED.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .errors import InvalidRequest, ProjectError
from .models import Job
from .project import PARAM_NAME, EntryPoint, Parameter, coerce_param, load_yaml, render_command, validate_params
from .resources import INT64_MAX, INT64_MIN, parse_float, parse_int, shown

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
    trials = _whole("trials", raw.get("trials", 10), 1, MAX_TRIALS)
    parallelism = _whole("parallelism", raw.get("parallelism", min(4, trials)), 1, trials)
    space_raw = raw.get("parameters")
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
    space = {name: _space(name, spec, entry.parameters.get(name)) for name, spec in space_raw.items()}
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


# ----------------------------------------------------------------------------------------------------------
# on the node: one array task


class TrialFailed(Exception):
    pass


def _storage(sweep: dict[str, Any], job_dir: str) -> Any:
    import optuna

    url = sweep.get("storage")
    if url and not url.startswith("journal:"):
        return url
    path = url[len("journal:") :] if url else os.path.join(job_dir, "optuna.journal")
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    return optuna.storages.JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))


def open_study(spec: dict[str, Any], job_dir: str) -> Any:
    import optuna

    sweep = spec["sweep"]
    sampler = (
        optuna.samplers.RandomSampler(seed=sweep.get("seed"))
        if sweep["sampler"] == "random"
        else optuna.samplers.TPESampler(seed=sweep.get("seed"))
    )
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=2) if sweep["pruner"] == "median" else optuna.pruners.NopPruner()
    )
    return optuna.create_study(
        study_name=f"mltf-{spec['job_id']}",
        storage=_storage(sweep, job_dir),
        direction=sweep["direction"],
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )


def _suggest(trial: Any, name: str, space: dict[str, Any]) -> Any:
    if space["type"] == "categorical":
        return trial.suggest_categorical(name, space["choices"])
    if space["type"] == "int":
        return trial.suggest_int(name, space["low"], space["high"], log=space["log"], step=int(space.get("step") or 1))
    return trial.suggest_float(name, space["low"], space["high"], log=space["log"], step=space.get("step"))


def run_sweep_task(spec: dict[str, Any], job_dir: str) -> int:
    import optuna
    from mlflow.tracking import MlflowClient

    from .packaging import extract_archive

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sweep = spec["sweep"]
    task = os.environ.get("SLURM_ARRAY_TASK_ID", "0")
    client = MlflowClient(tracking_uri=spec.get("tracking_uri"))
    parent = spec["run_id"]
    entry_raw = spec["entry"]
    entry = EntryPoint(
        name=entry_raw["name"],
        command=entry_raw["command"],
        parameters={p["name"]: Parameter(p["name"], p["type"], p["default"]) for p in entry_raw.get("parameters", [])},
    )
    stop = {"signal": 0}
    current: dict[str, Any] = {}

    def on_signal(signum: int, _frame: Any) -> None:
        stop["signal"] = signum
        proc = current.get("proc")
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
        signal.signal(sig, on_signal)
    try:
        client.update_run(parent, status="RUNNING")
        client.set_tag(parent, "mltf.sweep", "parent")
    except Exception as exc:
        print(f"[mltf] warning: MLflow: {exc}", flush=True)
    workdir = tempfile.mkdtemp(prefix=f"mltf-sweep-{task}-", dir=os.environ.get("TMPDIR") or job_dir)
    extract_archive(spec["archive"], workdir)
    from .runner import child_env, entry_point_bin_dir

    bin_dir = entry_point_bin_dir(spec, workdir)  # trials honour env_manager like any job
    study = open_study(spec, job_dir)
    metric = sweep["metric"]

    def objective(trial: Any) -> float:
        if stop["signal"]:
            trial.study.stop()
            raise TrialFailed("stopped")
        suggested = {name: _suggest(trial, name, space) for name, space in sweep["parameters"].items()}
        params = validate_params(entry, {**spec.get("params", {}), **suggested})
        command = render_command(entry, params)
        child = client.create_run(
            spec["experiment_id"],
            run_name=f"trial-{trial.number}",
            tags={
                "mlflow.parentRunId": parent,
                "mltf.trial": str(trial.number),
                "mltf.job_id": spec["job_id"],
                "mltf.array_task": task,
            },
        )
        run_id = child.info.run_id
        from mlflow.entities import Param

        client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])
        trial.set_user_attr("mlflow_run_id", run_id)
        env = child_env({**spec, "run_id": run_id}, bin_dir, os.environ.get("MLFLOW_TRACKING_TOKEN"))
        env["MLTF_TRIAL"] = str(trial.number)
        print(f"[mltf] trial {trial.number} (task {task}): {command}", flush=True)
        proc = subprocess.Popen(["bash", "-c", command], cwd=workdir, env=env, start_new_session=True)
        current["proc"] = proc
        reported = -1
        pruned = False
        while proc.poll() is None:
            time.sleep(1.0)
            try:
                history = client.get_metric_history(run_id, metric)
            except Exception:
                history = []
            for m in sorted(history, key=lambda m: m.step):
                if m.step > reported:
                    trial.report(m.value, m.step)
                    reported = m.step
            if reported >= 0 and trial.should_prune():
                pruned = True
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait()
        rc = proc.wait()
        current.pop("proc", None)
        if stop["signal"]:
            client.set_tag(run_id, "mltf.trial_state", "KILLED")
            client.set_terminated(run_id, status="KILLED")
            trial.study.stop()
            raise TrialFailed("cancelled")
        if pruned:
            client.set_tag(run_id, "mltf.trial_state", "PRUNED")
            client.set_terminated(run_id, status="KILLED")
            raise optuna.TrialPruned()
        if rc != 0:
            client.set_tag(run_id, "mltf.trial_state", "FAIL")
            client.set_terminated(run_id, status="FAILED")
            raise TrialFailed(f"exit code {rc}")
        values = client.get_run(run_id).data.metrics
        if metric not in values:
            client.set_tag(run_id, "mltf.trial_state", "FAIL")
            client.set_terminated(run_id, status="FAILED")
            raise TrialFailed(f"the entry point did not log metric {metric!r}")
        client.set_tag(run_id, "mltf.trial_state", "COMPLETE")
        client.set_terminated(run_id, status="FINISHED")
        return float(values[metric])

    from optuna.study import MaxTrialsCallback

    try:
        study.optimize(objective, callbacks=[MaxTrialsCallback(sweep["trials"], states=None)], catch=(TrialFailed,))
    finally:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    if stop["signal"]:
        try:
            client.set_terminated(parent, status="KILLED")
        except Exception:
            pass
        print(f"[mltf] sweep task {task} stopped by signal {stop['signal']}", flush=True)
        return 143
    summarize(study, sweep, client, parent)
    return 0


def summarize(study: Any, sweep: dict[str, Any], client: Any, parent: str) -> bool:
    """Log the best value and parameters on the parent once every trial has ended; True when done."""
    import optuna

    TS = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    ended = [t for t in trials if t.state in (TS.COMPLETE, TS.PRUNED, TS.FAIL)]
    if len(ended) < sweep["trials"] or any(t.state is TS.RUNNING for t in trials):
        return False
    counts = {s.name.lower(): sum(1 for t in trials if t.state is s) for s in (TS.COMPLETE, TS.PRUNED, TS.FAIL)}
    try:
        if client.get_run(parent).info.status == "KILLED":
            return True  # the sweep was cancelled: keep it KILLED
        for key, value in counts.items():
            client.set_tag(parent, f"mltf.trials_{key}", str(value))
        if counts["complete"]:
            best = study.best_trial
            client.log_metric(parent, f"best_{sweep['metric']}", float(best.value))
            from mlflow.entities import Param

            params = [Param(f"best.{k}", str(v)) for k, v in best.params.items()]
            try:
                client.log_batch(parent, params=params)
            except Exception:
                pass  # another task logged the same summary first
            client.set_tag(parent, "mltf.best_trial", str(best.number))
            client.set_tag(parent, "mltf.best_run_id", str(best.user_attrs.get("mlflow_run_id", "")))
        status = "FINISHED" if counts["complete"] else "FAILED"
        client.set_terminated(parent, status=status)
    except Exception as exc:
        print(f"[mltf] warning: could not summarise the sweep: {exc}", flush=True)
        return False
    return True


def summarize_sweep(job: Job) -> None:
    """Watcher side: summarise a sweep whose array has ended (idempotent)."""
    if not job.sweep or not job.job_dir or not job.run_id:
        return
    spec_path = Path(job.job_dir) / "spec.json"
    if not spec_path.exists():
        return
    from mlflow.tracking import MlflowClient

    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    study = open_study(spec, job.job_dir)
    summarize(study, spec["sweep"], MlflowClient(tracking_uri=job.tracking_uri), job.run_id)


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
