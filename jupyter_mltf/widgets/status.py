"""The one-line live status of one job that ``%mltf_submit`` displays."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..errors import MLTFError
from ..models import Job
from .polling import Poller
from .render import error_html, esc, job_summary_html

if TYPE_CHECKING:
    from ..api import JobHandle


class JobStatusLine(w.HTML):  # type: ignore[misc]
    """A one-line live status of one job (what ``%mltf_submit`` displays); stops polling when it ends."""

    def __init__(self, handle: JobHandle, *, interval: float = 2.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.handle = handle
        self.interval = interval
        self.error: str | None = None
        self._show(handle.job)
        self.poller = Poller(f"mltf-status-{handle.id}", self._tick, lambda: self.interval)
        if not handle.job.state.is_terminal:
            self.poller.start()

    def _show(self, job: Job) -> None:
        self.value = f"MLTF job {job_summary_html(job)}"

    def _tick(self) -> None:
        try:
            _ = self.handle.status  # refreshes handle.job
            job = self.handle.job
            self._show(job)
            if job.state.is_terminal:
                self.poller.stop()
        except MLTFError as exc:
            self.error = exc.message
            self.value = f"MLTF job <code>{esc(self.handle.id)}</code>: {error_html(exc.message)}"
        except Exception as exc:  # a refresh failing must not kill the poller silently
            self.error = str(exc)
            self.value = f"MLTF job <code>{esc(self.handle.id)}</code>: {error_html(str(exc))}"

    def close(self) -> None:
        self.poller.stop()
        super().close()
