"""The synchronous facade over :class:`~jupyter_mltf.core.MLTFManager`, for the CLI, magics and widgets.

The core is async; this runs it on a private event loop in a background thread, so it works the same
in a plain script and inside a kernel (whose own loop is already running).
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

from .core import MLTFManager
from .models import Job, LogChunk
from .submission import CheckResult, DryRun, Preview, SubmitRequest

T = TypeVar("T")


class _LoopThread:
    """One daemon thread running an event loop; coroutines are submitted to it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="mltf-client-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except KeyboardInterrupt:
            future.cancel()
            raise


_LOOP: _LoopThread | None = None
_LOOP_LOCK = threading.Lock()


def _loop() -> _LoopThread:
    global _LOOP
    with _LOOP_LOCK:
        if _LOOP is None:
            _LOOP = _LoopThread()
        return _LOOP


CONFIG_SECTIONS = ("MLTFManager", "SlurmBackend", "LocalBackend", "GatewayBackend")


def configurable_classes() -> dict[str, Any]:
    """The class behind each settings section (imported on demand: the gateway's httpx is not always needed)."""
    from .backends.gateway import GatewayBackend
    from .backends.local import LocalBackend
    from .backends.slurm import SlurmBackend
    from .core import MLTFManager

    return {"MLTFManager": MLTFManager, "SlurmBackend": SlurmBackend, "LocalBackend": LocalBackend,
            "GatewayBackend": GatewayBackend}


def load_config() -> Any:
    """The settings a Jupyter server would use, for code outside it (CLI, kernels): the MLTF sections of
    ``jupyter_server_config.*`` and all of ``jupyter_mltf_config.*`` from the Jupyter config path."""
    import os

    from jupyter_core.paths import jupyter_config_path
    from traitlets.config import Config
    from traitlets.config.loader import JSONFileConfigLoader, PyFileConfigLoader

    config = Config()
    for directory in reversed(jupyter_config_path()):
        for stem, sections in (("jupyter_server_config", CONFIG_SECTIONS), ("jupyter_mltf_config", None)):
            for loader_cls, suffix in ((JSONFileConfigLoader, ".json"), (PyFileConfigLoader, ".py")):
                if not os.path.isfile(os.path.join(directory, stem + suffix)):
                    continue
                try:
                    loaded = loader_cls(stem + suffix, path=directory).load_config()
                except Exception:  # a broken server config must not break the CLI or a kernel
                    continue
                if sections is not None:
                    loaded = Config({k: v for k, v in loaded.items() if k in sections})
                config.merge(loaded)
    return config


class Client:
    """Synchronous access to MLTF jobs. ``Client(backend="slurm", tracking_uri=...)`` overrides settings;
    without ``config`` it reads the same settings files a Jupyter server would (see :func:`load_config`)."""

    def __init__(self, config: Any = None, **traits: Any) -> None:
        self._runner = _loop()
        if config is None:
            config = load_config()

        async def make() -> MLTFManager:
            kwargs = dict(traits)
            if config is not None:
                kwargs["config"] = config
            return MLTFManager(**kwargs)

        self.manager: MLTFManager = self._runner.run(make())

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return self._runner.run(coro, timeout)

    def config(self) -> dict[str, Any]:
        return self._run(self.manager.config_info())

    def preview(self, path: str = ".", notebook: str | None = None) -> Preview:
        return self._run(self.manager.preview(path, notebook))

    def check(self, path: str = ".", **options: Any) -> CheckResult:
        """What ``submit(path, **options)`` would run, with every check of a submit and nothing created."""
        return self._run(self.manager.check(SubmitRequest(path=path, **options)))

    def submit(self, path: str = ".", **options: Any) -> JobHandle | DryRun:
        result = self._run(self.manager.submit(SubmitRequest(path=path, **options)))
        if isinstance(result, DryRun):
            return result
        return JobHandle(self, result)

    def jobs(self, refresh: bool = True) -> list[Job]:
        return self._run(self.manager.list_jobs(refresh))

    def job(self, job_id: str, metrics: bool = False) -> Job:
        return self._run(self.manager.get_job(job_id, metrics))

    def handle(self, job_id: str) -> JobHandle:
        return JobHandle(self, self.job(job_id))

    def logs(self, job_id: str, offset: int = 0) -> LogChunk:
        return self._run(self.manager.read_log(job_id, offset))

    def follow(self, job_id: str, offset: int = 0, interval: float = 1.0) -> Iterator[str]:
        """Yield new log text until the job ends (stop iterating to stop following; the job goes on)."""
        while True:
            chunk = self.logs(job_id, offset)
            if chunk.text:
                yield chunk.text
            offset = chunk.next_offset
            if chunk.complete:
                return
            if not chunk.text:
                job = self.job(job_id)
                if job.state.is_terminal:
                    tail = self.logs(job_id, offset)
                    if tail.text:
                        yield tail.text
                    return
                time.sleep(interval)

    def cancel(self, job_id: str) -> Job:
        return self._run(self.manager.cancel(job_id))

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        return self._run(self.manager.wait(job_id, timeout))

    def metrics_history(self, job_id: str) -> dict[str, list[list[float]]]:
        return self._run(self.manager.metrics_history(job_id))

    def sweep_trials(self, job_id: str) -> list[dict[str, Any]]:
        return self._run(self.manager.sweep_trials(job_id))

    def rebuild(self) -> list[Job]:
        return self._run(self.manager.rebuild())

    def close(self) -> None:
        self._run(self.manager.close())


class JobHandle:
    """A submitted job, as the magic and the Python API return it."""

    def __init__(self, client: Client, job: Job) -> None:
        self._client = client
        self.job = job

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def run_id(self) -> str | None:
        return self.job.run_id

    @property
    def mlflow_url(self) -> str | None:
        return self.job.mlflow_url

    @property
    def native_id(self) -> str:
        return self.job.native_id

    def refresh(self) -> Job:
        self.job = self._client.job(self.job.id)
        return self.job

    @property
    def status(self) -> str:
        return self.refresh().state.value

    def logs(self, follow: bool = False, offset: int = 0) -> str:
        if not follow:
            return self._client.logs(self.id, offset).text
        seen = []
        try:
            for text in self._client.follow(self.id, offset):
                sys.stdout.write(text)
                sys.stdout.flush()
                seen.append(text)
        except KeyboardInterrupt:
            pass  # stop following; the job goes on
        return "".join(seen)

    def cancel(self) -> Job:
        self.job = self._client.cancel(self.id)
        return self.job

    def wait(self, timeout: float | None = None) -> Job:
        self.job = self._client.wait(self.id, timeout)
        return self.job

    def __repr__(self) -> str:
        return (
            f"<MLTF job {self.id} ({self.job.backend} {self.job.native_id}) {self.job.state.value} run={self.run_id}>"
        )

    def _repr_html_(self) -> str:
        import html

        link = f' · <a href="{html.escape(self.mlflow_url)}" target="_blank">MLflow run</a>' if self.mlflow_url else ""
        return (
            f"<b>MLTF job {html.escape(self.id)}</b> ({html.escape(self.job.backend)} "
            f"{html.escape(self.job.native_id)}): {html.escape(self.job.state.value)}{link}"
        )
