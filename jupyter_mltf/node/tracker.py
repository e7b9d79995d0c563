"""The runner's MLflow calls: they warn instead of failing the job (the watcher reconciles the run later)."""

from __future__ import annotations

import os
import threading
from typing import Any

from .joblog import say


class Tracker:
    """MLflow calls that warn instead of failing the job.

    Importing MLflow takes seconds on a busy node, so the entry point starts first and the run is
    tagged and marked RUNNING from a background thread (:meth:`start`); :meth:`join` waits for it
    before the terminal status is set.
    """

    def __init__(self, tracking_uri: str | None, run_id: str | None) -> None:
        self.tracking_uri = tracking_uri
        self.run_id = run_id
        self.client: Any = None
        self.monitor: Any = None
        self._failed = False
        self._thread: threading.Thread | None = None

    def _ensure(self) -> bool:
        if self.client is None and self.run_id and not self._failed:
            try:
                from mlflow.tracking import MlflowClient

                self.client = MlflowClient(tracking_uri=self.tracking_uri)
            except Exception as exc:
                self._failed = True
                say(f"warning: MLflow client unavailable ({exc}); the run is reconciled later")
        return self.client is not None

    def call(self, method: str, *args: Any, **kwargs: Any) -> None:
        if self._failed or not self._ensure():
            return
        try:
            getattr(self.client, method)(self.run_id, *args, **kwargs)
        except Exception as exc:
            say(f"warning: MLflow {method} failed: {str(exc).splitlines()[0] if str(exc) else exc}")

    def start(self, tags: dict[str, str] | None, monitor_node: str | None, metrics: bool) -> None:
        def work() -> None:
            if not self._ensure():
                return
            if tags is not None:
                from mlflow.entities import RunTag

                self.call("log_batch", tags=[RunTag(k, v) for k, v in tags.items()])
                self.call("update_run", status="RUNNING")
            if metrics:
                self._start_monitor(monitor_node)

        self._thread = threading.Thread(target=work, name="mltf-tracking", daemon=True)
        self._thread.start()

    def _start_monitor(self, monitor_node: str | None) -> None:
        try:
            from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

            self.monitor = SystemMetricsMonitor(  # type: ignore[no-untyped-call]
                self.run_id,
                sampling_interval=float(os.environ.get("MLTF_SYSTEM_METRICS_INTERVAL", "5")),
                node_id=monitor_node,
                tracking_uri=self.tracking_uri,
                resume_logging=True,
            )
            self.monitor.start()
        except Exception as exc:
            say(f"warning: system metrics unavailable: {exc}")

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the background thread (at most ``timeout`` s); False when it is still busy."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._failed = True  # a stopped job has no time left for it: the watcher closes the run
                return False
        if self.monitor is not None:
            try:
                self.monitor.finish()
            except Exception:
                pass
            self.monitor = None
        return True
