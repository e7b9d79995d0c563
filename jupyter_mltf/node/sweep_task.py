"""One array task of a sweep on the node: run trials from the shared Optuna study until it has enough.

Each trial is an MLflow child run of the job's run, started like the job's entry point (same env manager,
same environment) with the parameters Optuna suggests; the metric the entry point logs is reported to the
study as it arrives, so the pruner can stop a hopeless trial. A stop signal kills the running trial and
marks it and the parent KILLED. The server side (parsing, the watcher's summary) is jupyter_mltf/sweep.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from typing import Any

from ..contract import RunnerSpec
from ..entrypoints import EntryPoint, Parameter, render_command, validate_params
from ..study import open_study, summarize, sweep_of
from .archive import extract_archive
from .entry import child_env, entry_point_bin_dir, for_run
from .joblog import say
from .scratch import make_scratch
from .signals import GRACE_SECONDS, STOPPED_EXIT_CODE, StopOnSignal, signal_group

#: how often a running trial's metric history is read and reported to the pruner
REPORT_SECONDS = 1.0


class TrialFailed(Exception):
    pass


def entry_of(raw: dict[str, Any]) -> EntryPoint:
    """The entry point as the spec carries it (``EntryPoint.to_dict``)."""
    params = {p["name"]: Parameter(p["name"], p["type"], p["default"]) for p in raw.get("parameters", [])}
    return EntryPoint(name=raw["name"], command=raw["command"], parameters=params)


def _suggest(trial: Any, name: str, space: dict[str, Any]) -> Any:
    if space["type"] == "categorical":
        return trial.suggest_categorical(name, space["choices"])
    if space["type"] == "int":
        return trial.suggest_int(name, space["low"], space["high"], log=space["log"], step=int(space.get("step") or 1))
    return trial.suggest_float(name, space["low"], space["high"], log=space["log"], step=space.get("step"))


@dataclass
class SweepTask:
    """What every trial of this task shares: the spec, the MLflow client, the unpacked project, the stop."""

    spec: RunnerSpec
    client: Any
    workdir: str
    bin_dir: str
    stop: StopOnSignal
    task: str

    @property
    def sweep(self) -> dict[str, Any]:
        return sweep_of(self.spec)

    def objective(self, trial: Any) -> float:
        if self.stop.stopped:
            trial.study.stop()
            raise TrialFailed("stopped")
        run_id, proc = self._start(trial)
        rc, pruned = self._follow(trial, proc, run_id)
        return self._settle(trial, run_id, rc, pruned)

    def _start(self, trial: Any) -> tuple[str, subprocess.Popen[bytes]]:
        from mlflow.entities import Param

        spec = self.spec
        entry = entry_of(spec.entry or {})
        suggested = {name: _suggest(trial, name, space) for name, space in self.sweep["parameters"].items()}
        params = validate_params(entry, {**spec.params, **suggested})
        command = render_command(entry, params)
        tags = {"mlflow.parentRunId": spec.run_id or "", "mltf.trial": str(trial.number), "mltf.job_id": spec.job_id}
        child = self.client.create_run(
            spec.experiment_id, run_name=f"trial-{trial.number}", tags={**tags, "mltf.array_task": self.task}
        )
        run_id: str = child.info.run_id
        self.client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])
        trial.set_user_attr("mlflow_run_id", run_id)
        env = child_env(for_run(spec, run_id), self.bin_dir, os.environ.get("MLFLOW_TRACKING_TOKEN"))
        env["MLTF_TRIAL"] = str(trial.number)
        say(f"trial {trial.number} (task {self.task}): {command}")
        proc = subprocess.Popen(["bash", "-c", command], cwd=self.workdir, env=env, start_new_session=True)
        self.stop.watch(proc)
        return run_id, proc

    def _follow(self, trial: Any, proc: subprocess.Popen[bytes], run_id: str) -> tuple[int, bool]:
        """(exit code, pruned): the metric is reported as it arrives; a hopeless trial is stopped."""
        reported = -1
        while (rc := self.stop.poll_child(proc, REPORT_SECONDS)) is None:
            try:
                history = self.client.get_metric_history(run_id, self.sweep["metric"])
            except Exception:
                history = []
            for m in sorted(history, key=lambda m: m.step):
                if m.step > reported:
                    trial.report(m.value, m.step)
                    reported = m.step
            if reported >= 0 and trial.should_prune():
                signal_group(proc, signal.SIGTERM)
                rc = self.stop.wait_child(proc)
                self.stop.watch(None)
                return rc, True
        self.stop.watch(None)
        return rc, False

    def _settle(self, trial: Any, run_id: str, rc: int, pruned: bool) -> float:
        import optuna

        metric = self.sweep["metric"]
        if self.stop.stopped:
            self._end(run_id, "KILLED", "KILLED")
            trial.study.stop()
            raise TrialFailed("cancelled")
        if pruned:
            self._end(run_id, "PRUNED", "KILLED")
            raise optuna.TrialPruned()
        if rc != 0:
            self._end(run_id, "FAIL", "FAILED")
            raise TrialFailed(f"exit code {rc}")
        values = self.client.get_run(run_id).data.metrics
        if metric not in values:
            self._end(run_id, "FAIL", "FAILED")
            raise TrialFailed(f"the entry point did not log metric {metric!r}")
        self._end(run_id, "COMPLETE", "FINISHED")
        return float(values[metric])

    def _end(self, run_id: str, trial_state: str, status: str) -> None:
        self.client.set_tag(run_id, "mltf.trial_state", trial_state)
        self.client.set_terminated(run_id, status=status)


def run_sweep_task(spec: RunnerSpec, job_dir: str) -> int:
    import optuna
    from mlflow.tracking import MlflowClient
    from optuna.study import MaxTrialsCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sweep, parent = sweep_of(spec), spec.run_id or ""
    task = os.environ.get("SLURM_ARRAY_TASK_ID", "0")
    client = MlflowClient(tracking_uri=spec.tracking_uri)
    stop = StopOnSignal(spec.stop_grace or GRACE_SECONDS).install()
    try:
        client.update_run(parent, status="RUNNING")
        client.set_tag(parent, "mltf.sweep", "parent")
    except Exception as exc:
        say(f"warning: MLflow: {exc}")
    scratch, workdir = make_scratch(job_dir, kind="sweep-")
    try:
        extract_archive(spec.archive, workdir)
        bin_dir = entry_point_bin_dir(spec, workdir)  # trials honour env_manager like any job
        study = open_study(spec, job_dir)
        runner = SweepTask(spec, client, workdir, bin_dir, stop, task)
        study.optimize(
            runner.objective, callbacks=[MaxTrialsCallback(sweep["trials"], states=None)], catch=(TrialFailed,)
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if stop.stopped:
        try:
            client.set_terminated(parent, status="KILLED")
        except Exception:
            pass
        say(f"sweep task {task} stopped by signal {stop.signum}")
        return STOPPED_EXIT_CODE
    summarize(study, sweep, client, parent)
    return 0
