"""A sweep's Optuna study: opened by every array task on the node and by the watcher, which summarises it.

Pure (no server state): jupyter_mltf/node/sweep_task.py and jupyter_mltf/sweep.py both use it, so the
node package and the server side never import each other. Optuna and MLflow are imported when used.
"""

from __future__ import annotations

from typing import Any

from .contract import JobPaths, RunnerSpec


def _storage(sweep: dict[str, Any], job_dir: str) -> Any:
    import optuna

    url = sweep.get("storage")
    if url and not url.startswith("journal:"):
        return url
    path = url[len("journal:") :] if url else JobPaths(job_dir).sweep_study
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    return optuna.storages.JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))


def sweep_of(spec: RunnerSpec) -> dict[str, Any]:
    if spec.sweep is None:
        raise ValueError(f"job {spec.job_id} is not a sweep")
    return spec.sweep


def open_study(spec: RunnerSpec, job_dir: str) -> Any:
    import optuna

    sweep = sweep_of(spec)
    sampler = (
        optuna.samplers.RandomSampler(seed=sweep.get("seed"))
        if sweep["sampler"] == "random"
        else optuna.samplers.TPESampler(seed=sweep.get("seed"))
    )
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=2) if sweep["pruner"] == "median" else optuna.pruners.NopPruner()
    )
    return optuna.create_study(
        study_name=f"mltf-{spec.job_id}",
        storage=_storage(sweep, job_dir),
        direction=sweep["direction"],
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )


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
            _log_best(study, sweep, client, parent)
        status = "FINISHED" if counts["complete"] else "FAILED"
        client.set_terminated(parent, status=status)
    except Exception as exc:
        print(f"[mltf] warning: could not summarise the sweep: {exc}", flush=True)
        return False
    return True


def _log_best(study: Any, sweep: dict[str, Any], client: Any, parent: str) -> None:
    from mlflow.entities import Param

    best = study.best_trial
    client.log_metric(parent, f"best_{sweep['metric']}", float(best.value))
    params = [Param(f"best.{k}", str(v)) for k, v in best.params.items()]
    try:
        client.log_batch(parent, params=params)
    except Exception:
        pass  # another task logged the same summary first
    client.set_tag(parent, "mltf.best_trial", str(best.number))
    client.set_tag(parent, "mltf.best_run_id", str(best.user_attrs.get("mlflow_run_id", "")))
