"""The notebook's submit panel: the form built from the project, the live jobs table, log tail and metrics.

Everything that may wait on the cluster (submit, cancel, check, the periodic refresh) runs on a background
thread, so the kernel stays free to run cells while the panel polls; widget values are only ever set, never read
back by the front end, so setting them from that thread is safe.

The panel checks nothing itself: the partitions' limits are shown as hints, and every value goes through the
core's own checks (``Client.check`` when a field changes, ``Client.submit``); the error's ``field`` says which
input to mark (:mod:`.fields`).

Over 400 lines because one widget holds both halves that share its state (the selected job, the client, the
lock): the form (with its checks) and the jobs table with log and metrics; the pure parts live in ``render``,
``fields`` and ``polling``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..errors import MLTFError
from ..formatting import format_bytes as fmt_bytes
from ..formatting import printable
from ..models import Job
from .fields import STYLE, FieldMarks, row_label
from .polling import Poller, in_background
from .render import (
    COLUMNS,
    ENV_OPTIONS,
    env_html,
    error_html,
    esc,
    fmt_duration,
    job_summary_html,
    metrics_svg,
    pre,
    run_link,
    state_html,
    trials_html,
)

if TYPE_CHECKING:
    from ..api import Client, JobHandle

_LOG_KEEP = 64 * 1024  # characters of log text the panel keeps
_MAX_ROWS = 25


class _JobRow:
    """The widgets of one jobs-table row, updated in place on each refresh."""

    def __init__(self, panel: SubmitPanel, job: Job) -> None:
        self.job_id = job.id
        widths = [w.Layout(width=width) for _title, width in COLUMNS]
        self.select = w.Button(description=job.id, tooltip="show this job's log and metrics", layout=widths[0])
        self.name = w.Label(layout=widths[1])
        self.state = w.HTML(layout=widths[2])
        self.reason = w.Label(layout=widths[3])
        self.elapsed = w.Label(layout=widths[4])
        self.link = w.HTML(layout=widths[5])
        self.cancel = w.Button(description="Cancel", button_style="warning", layout=widths[6])
        if not panel.capability("cancel"):
            self.cancel.layout.visibility = "hidden"  # the backend cannot cancel: hide, don't fail
        self.select.on_click(lambda _b: panel.select_job(self.job_id))
        self.cancel.on_click(lambda _b: panel.cancel_in_background(self.job_id))
        self.box = w.HBox(self._cells())
        self.update(job)

    def update(self, job: Job) -> None:
        name = printable(job.name)
        self.name.value = f"{name} (sweep: {job.sweep['trials']} trials)" if job.sweep else name
        self.state.value = state_html(job.state)
        self.state_value = job.state.value
        self.reason.value = (job.reason or "") if not job.state.is_terminal else (
            f"exit {job.exit_code}" if job.exit_code not in (None, 0) else ""
        )
        if job.elapsed is not None:
            self.elapsed.value = fmt_duration(job.elapsed)
        elif not job.state.is_terminal:
            self.elapsed.value = "queued " + fmt_duration(time.time() - job.submitted_at)
        self.link.value = run_link(job)
        self.cancel.disabled = job.state.is_terminal

    def close(self) -> None:
        self.box.close()
        for child in self._cells():
            child.close()

    def _cells(self) -> list[Any]:
        return [self.select, self.name, self.state, self.reason, self.elapsed, self.link, self.cancel]


class SubmitPanel(w.VBox):  # type: ignore[misc]
    """Submit a directory to MLTF and watch its jobs, in the notebook.

    ``SubmitPanel()`` (or ``%mltf_panel``) builds the form from the directory's MLproject (existing or
    proposed) and the partitions the cluster reports; the jobs table, the log of the selected job and its
    MLflow metrics refresh by themselves on a background thread. ``panel.stop()`` stops that thread.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        client: Client | None = None,
        poll_interval: float | None = None,
        autostart: bool = True,
        **kwargs: Any,
    ) -> None:
        if client is None:
            from ..api import Client

            client = Client()
        self.client = client
        self._lock = threading.RLock()
        self._config: dict[str, Any] = {}
        self._preview: dict[str, Any] = {}
        self._partitions: dict[str, dict[str, Any]] = {}
        self._param_widgets: dict[str, Any] = {}
        self.marks = FieldMarks()
        self._check_generation = 0
        self.rows: dict[str, _JobRow] = {}
        self.jobs: list[Job] = []
        self.selected: str | None = None
        self._log_offset = 0
        self._log_text = ""
        self._metrics_final: str | None = None
        self.last_job: Job | None = None
        self.last_error: str | None = None

        self._build_form()
        self._build_job_views()
        super().__init__(children=self._layout(), **kwargs)
        self.poll_interval = poll_interval or 2.0
        self._read_config(follow_interval=poll_interval is None)
        self.load(os.fspath(path) if path is not None else os.getcwd())
        self.poller = Poller("mltf-panel", self.refresh, self._next_interval)
        self._watch_fields()
        if autostart:
            self.poller.start()

    def _build_form(self) -> None:
        self.directory = w.Text(description="Directory", layout=w.Layout(width="520px"))
        self.load_button = w.Button(description="Load", tooltip="read the directory's MLproject and files")
        self.entry_point = w.Dropdown(description="Entry point", options=[])
        self.params_box = w.VBox()
        self.env_manager = w.Dropdown(
            description="Environment",
            options=[(label, value) for value, label in ENV_OPTIONS],
            value="auto",
            tooltip="which Python environment the job runs in",
            style={"description_width": "initial"},
            layout=w.Layout(width="520px"),
        )
        self.env_line = w.HTML()  # which env the check says will be used, and why
        self.partition = w.Dropdown(description="Partition", options=[])

        def narrow() -> w.Layout:
            return w.Layout(width="180px")

        def wide() -> w.Layout:
            return w.Layout(width="240px")

        # no partition's limit bounds an input: the core checks them and the error marks the input
        self.gpus = w.IntText(description="GPUs", value=0, layout=narrow())
        self.gpu_type = w.Dropdown(description="GPU type", options=[("any", "")], layout=wide())
        self.time = w.Text(description="Time", placeholder="HH:MM:SS", layout=wide(), continuous_update=False)
        self.mem = w.Text(description="Memory", placeholder="e.g. 4G", layout=wide(), continuous_update=False)
        self.cpus = w.IntText(description="CPUs", value=0, layout=narrow(), tooltip="0: the partition's default")
        self.nodes = w.IntText(description="Nodes", value=1, layout=narrow())
        self.limits = w.HTML()
        self.sweep = w.Textarea(
            placeholder="optional: a sweep as YAML, e.g.\nobjective: {metric: val_loss, direction: minimize}\n"
            "trials: 12\nparallelism: 4\nparameters:\n  lr: {type: float, low: 0.0001, high: 0.1, log: true}",
            layout=w.Layout(width="620px", height="110px"),
            continuous_update=False,
        )
        self._row_labels = [row_label() for _ in range(6)]
        self.sweep_box = w.Accordion(children=[w.VBox([self.sweep, self._row_labels[4]])],
                                     titles=("Sweep (hyperparameter search)",), selected_index=None)
        self._register_marks()
        self.preview_html = w.HTML()
        self.submit_button = w.Button(description="Submit", button_style="primary", icon="rocket")
        self.message = w.HTML()
        self.load_button.on_click(lambda _b: self.load(self.directory.value))
        self.entry_point.observe(lambda _c: self._show_params(), names="value")
        self.partition.observe(lambda _c: self._apply_partition(), names="value")
        self.submit_button.on_click(lambda _b: self.submit_in_background())

    def _register_marks(self) -> None:
        """Which widget, and which row's label, each error field of the core goes to."""
        directory, entry, row1, row2, sweep, env = self._row_labels
        self.marks.add("path", self.directory, directory)
        self.marks.add("entry_point", self.entry_point, entry)
        self.marks.add("env_manager", self.env_manager, env)
        for name in ("partition", "gpus", "gpu_type"):
            self.marks.add(f"resources.{name}", getattr(self, name), row1)
        for name in ("time", "mem", "cpus", "nodes"):
            self.marks.add(f"resources.{name}", getattr(self, name), row2)
        self.marks.add("sweep", self.sweep, sweep)

    def _build_job_views(self) -> None:
        self.jobs_box = w.VBox()
        self.log_title = w.HTML("<b>Log</b>: select a job")
        self.log_view = w.HTML()
        self.metrics_view = w.HTML()
        self.trials_view = w.HTML()

    def _layout(self) -> list[Any]:
        directory, entry, row1, row2, _sweep, env = self._row_labels
        resources = w.VBox([
            w.HBox([self.partition, self.gpus, self.gpu_type]),
            row1,
            w.HBox([self.time, self.mem, self.cpus, self.nodes]),
            row2,
            self.limits,
        ])
        jobs_header = w.VBox([
            w.HTML("<b>Jobs</b> <span style='color:#6d6d6d'>(refresh by themselves; click an id for its log)</span>"),
            w.HBox([w.HTML(f"<b>{title}</b>", layout=w.Layout(width=width)) for title, width in COLUMNS]),
        ])
        return [
            w.HTML("<h4 style='margin:4px 0'>Submit to MLTF</h4>" + STYLE),
            w.HBox([self.directory, self.load_button]),
            directory,
            self.entry_point,
            entry,
            self.params_box,
            w.VBox([self.env_manager, self.env_line, env]),
            resources,
            self.sweep_box,
            self.preview_html,
            w.HBox([self.submit_button]),
            self.message,
            jobs_header,
            self.jobs_box,
            self.log_title,
            self.log_view,
            self.metrics_view,
            self.trials_view,
        ]

    def _read_config(self, follow_interval: bool) -> None:
        """The backend's settings: partitions, poll interval, and which parts of the panel it supports."""
        try:
            self._config = self.client.config()
            if follow_interval:
                self.poll_interval = float(self._config.get("poll_interval") or 2.0)
            self._set_partitions(self._config)
            default_env = (self._config.get("defaults") or {}).get("env_manager")
            if default_env in dict(ENV_OPTIONS):  # the site's default policy, when it is not auto
                self.env_manager.value = default_env
            for name, fields in (("gpus", (self.gpus, self.gpu_type)), ("partitions", (self.partition,)),
                                 ("logs", (self.log_title, self.log_view))):
                if not self.capability(name):
                    for field in fields:
                        field.layout.display = "none"
        except MLTFError as exc:
            self.show_error(f"cannot read the cluster's configuration: {exc.message}")

    def capability(self, name: str) -> bool:
        """Whether the backend can do ``name`` (cancel, gpus, partitions, logs...); unknown means yes."""
        return bool((self._config.get("capabilities") or {}).get(name, True))

    # -- messages --------------------------------------------------------------------------------------------

    def show_error(self, message: str, field: str | None = None) -> None:
        """The message by the Submit button; ``field``'s input (an ``MLTFError.field``) is marked too."""
        self.last_error = message
        self.message.value = error_html(message)
        if field is not None:
            self.marks.mark(field, message)

    def show_env(self, env: Any) -> None:
        """The line under the Environment dropdown: which env the submit will use and why (the ``env`` block of
        a check or preview answer; empty when the server sends none)."""
        self.env_line.value = env_html(env)

    def show_info(self, text_html: str) -> None:
        self.last_error = None
        self.message.value = text_html

    # -- the form --------------------------------------------------------------------------------------------

    def _set_partitions(self, config: dict[str, Any]) -> None:
        parts = config.get("partitions") or []
        self._partitions = {p["name"]: p for p in parts}
        defaults = (config.get("defaults") or {}).get("resources") or {}
        self.partition.options = [(f"{p['name']} (default)" if p.get("default") else p["name"], p["name"])
                                  for p in parts]
        default = defaults.get("partition") or next((p["name"] for p in parts if p.get("default")), None)
        if default in self._partitions:
            self.partition.value = default
        self._apply_partition()
        if defaults.get("time"):
            self.time.value = str(defaults["time"])
        if defaults.get("mem"):
            self.mem.value = str(defaults["mem"])
        if defaults.get("gpus"):
            self.gpus.value = int(defaults["gpus"])

    def _apply_partition(self) -> None:
        """Show what the chosen partition has (hints and its GPU types); the core checks the values."""
        part = self._partitions.get(self.partition.value or "")
        if part is None:
            return
        gpus = int(part.get("gpus_per_node") or 0)
        self.gpu_type.options = [("any", "")] + [(t, t) for t in part.get("gpu_types") or []]
        cpus = part.get("cpus_per_node") or "any number of"
        nodes = int(part.get("max_nodes") or part.get("nodes") or 1)
        nodes = min(nodes, int(part.get("nodes") or nodes))
        if part.get("default_time"):
            self.time.placeholder = f"default {part['default_time']}"
        facts = [f"{gpus} GPU(s)/node" + (f" ({', '.join(part.get('gpu_types') or [])})" if gpus else "")]
        if part.get("max_time"):
            facts.append(f"time at most {part['max_time']}")
        if part.get("mem_per_node_mb"):
            facts.append(f"memory at most {fmt_bytes(int(part['mem_per_node_mb']) * 1024 * 1024)}/node")
        facts.append(f"{cpus} CPUs/node, {nodes} node(s)")
        self.limits.value = f"<span style='color:#6d6d6d'>partition {esc(part['name'])}: " + \
            esc(", ".join(facts)) + "</span>"

    def load(self, path: str) -> None:
        """Read ``path``'s MLproject (or the proposed one) and its files into the form."""
        self.directory.value = path
        self.marks.clear()
        try:
            preview = self.client.preview(path)
        except MLTFError as exc:
            self._preview = {}
            self.entry_point.options = []
            self._show_params()
            self.preview_html.value = ""
            self.show_error(exc.message, exc.field or "path")
            return
        data = preview.to_dict()
        self._preview = data
        project = data.get("project") or {}
        names = [e["name"] for e in project.get("entry_points") or []]
        self.entry_point.options = names
        if names:
            self.entry_point.value = "main" if "main" in names else names[0]
        self._show_params()
        self.preview_html.value = self._preview_html(data)
        self.show_env(data.get("env"))
        self.show_info("")

    def _entry(self) -> dict[str, Any]:
        for entry in (self._preview.get("project") or {}).get("entry_points") or []:
            if entry["name"] == self.entry_point.value:
                return dict(entry)
        return {"name": self.entry_point.value, "parameters": []}

    def _show_params(self) -> None:
        """One typed field per parameter of the chosen entry point, each with its own error line."""
        old = list(self.params_box.children)
        self.marks.remove("params.")
        self._param_widgets = {}
        rows = []
        for param in (self._entry().get("parameters") or []) if self._preview else []:
            widget, label = _param_widget(param), row_label()
            self._param_widgets[param["name"]] = widget
            self.marks.add(f"params.{param['name']}", widget, label)
            widget.observe(lambda _c: self.check_in_background(), names="value")
            rows.append(w.VBox([widget, label]))
        self.params_box.children = rows
        for box in old:
            for child in box.children:
                child.close()
            box.close()

    @staticmethod
    def _preview_html(data: dict[str, Any]) -> str:
        files = data.get("files") or {}
        project = data.get("project") or {}
        lines = [
            f"<b>{files.get('count', 0)} files, {fmt_bytes(files.get('total_bytes', 0))}</b>"
            + (f" (limit {fmt_bytes(files['limit_bytes'])})" if files.get("limit_bytes") else "")
        ]
        largest = files.get("largest") or []
        if largest:
            lines.append("largest: " + ", ".join(
                f"{esc(f['path'])} ({fmt_bytes(f['size'])})" for f in largest[:5]))
        excluded = files.get("excluded") or []
        if excluded:
            shown = ", ".join(f"{esc(e['path'])} ({esc(e['reason'])})" for e in excluded[:5])
            more = f" and {len(excluded) - 5} more" if len(excluded) > 5 else ""
            lines.append(f"excluded: {shown}{more}")
        for note in project.get("notes") or []:
            lines.append(f"<i>{esc(note)}</i>")
        for warning in data.get("warnings") or []:
            lines.append(error_html(warning))
        if files.get("over_limit"):
            lines.append(error_html("the project is over the size limit: exclude files with .mltfignore"))
        return "<div style='font-size:90%'>" + "<br>".join(lines) + "</div>"

    def params(self) -> dict[str, Any]:
        """The parameter values the form holds (empty fields left out: the MLproject default applies)."""
        out: dict[str, Any] = {}
        for name, widget in self._param_widgets.items():
            value = widget.value
            if isinstance(value, str) and not value.strip():
                continue
            out[name] = value
        return out

    def resources(self) -> dict[str, Any]:
        """The resource request the form holds (empty fields left out: the cluster's defaults apply)."""
        res: dict[str, Any] = {"partition": self.partition.value or None, "gpus": self.gpus.value,
                               "nodes": self.nodes.value}
        if self.gpus.value and self.gpu_type.value:
            res["gpu_type"] = self.gpu_type.value
        if self.cpus.value:
            res["cpus"] = self.cpus.value
        for key, field in (("time", self.time), ("mem", self.mem)):
            if field.value.strip():
                res[key] = field.value.strip()
        return {k: v for k, v in res.items() if v is not None}

    def sweep_spec(self) -> dict[str, Any] | None:
        """The sweep the form holds (YAML), or None; a malformed one is a clear error."""
        text = self.sweep.value.strip()
        if not text:
            return None
        import yaml

        from ..errors import InvalidRequest

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            message = "the sweep is not valid YAML: check its indentation and colons"
            raise InvalidRequest(message, field="sweep") from None
        if not isinstance(data, dict):
            raise InvalidRequest(
                "the sweep must be a mapping with objective, trials, parallelism, parameters", field="sweep"
            )
        return data

    def submit(self) -> JobHandle | None:
        """Submit what the form holds; errors show in the panel (and return None)."""
        self.submit_button.disabled = True
        with self._lock:
            self._check_generation += 1  # a check still running answers for older values: it is dropped
        self.marks.clear()
        self.show_info("<i>submitting&hellip;</i>")
        try:
            sweep = self.sweep_spec()
            handle = self.client.submit(
                self.directory.value,
                entry_point=self.entry_point.value or None,
                params=self.params(),
                resources=self.resources(),
                sweep=sweep,
                env_manager=self.env_manager.value or None,
            )
        except MLTFError as exc:
            self.show_error(exc.message, exc.field)
            return None
        except Exception as exc:  # shown, not swallowed: the panel is the user's only window here
            self.show_error(f"submission failed unexpectedly: {exc}")
            return None
        finally:
            self.submit_button.disabled = False
        job: Job = handle.job  # type: ignore[union-attr]
        self.last_job = job
        self.show_info(f"submitted: {job_summary_html(job)}")
        self.select_job(job.id)
        return handle  # type: ignore[return-value]

    # -- checks while the user edits -------------------------------------------------------------------------

    def _watch_fields(self) -> None:
        """Check the form whenever a value the user gives changes (the parameters watch themselves)."""
        for widget in (self.partition, self.gpus, self.gpu_type, self.time, self.mem, self.cpus, self.nodes,
                       self.sweep, self.env_manager):
            widget.observe(lambda _c: self.check_in_background(), names="value")

    def check(self, generation: int | None = None) -> MLTFError | None:
        """Every check of a submit of what the form holds, nothing created (``Client.check``): the input the
        error is about is marked, the other marks cleared; an error of no input here goes by the Submit button.
        An answer for values changed meanwhile (``generation`` is old) is dropped."""
        if not self._preview:
            return None  # nothing loaded: the load's own error is shown
        error: MLTFError | None = None
        answer: Any = None
        try:
            answer = self.client.check(self.directory.value, entry_point=self.entry_point.value or None,
                                       params=self.params(), resources=self.resources(),
                                       sweep=self.sweep_spec(), env_manager=self.env_manager.value or None)
        except MLTFError as exc:
            error = exc
        with self._lock:  # a submit starting now makes this answer old: compare and show in one step
            if generation is not None and generation != self._check_generation:
                return error
            if error is None:
                self.show_env(_answer_dict(answer).get("env"))
                self.marks.clear()
                if self.last_error is not None:
                    self.show_info("")
            else:
                if error.field == "env_manager":
                    self.show_env(None)  # the env it named cannot be used: no line about it
                if not self.marks.mark(error.field, error.message):
                    self.show_error(error.message)
        return error

    def check_in_background(self) -> threading.Thread:
        """What a changed field does: check on a thread, so typing never waits for the cluster."""
        with self._lock:
            self._check_generation += 1
            generation = self._check_generation

        def run() -> None:
            try:
                self.check(generation)
            except Exception as exc:  # a check failing unexpectedly must not pass in silence
                self.show_error(f"cannot check the form: {exc}")

        return in_background(run, "mltf-check")

    def submit_in_background(self) -> threading.Thread:
        """What the Submit button does: submit on a thread, so the kernel stays responsive."""

        def run() -> None:
            self.submit()

        return in_background(run, "mltf-submit")

    # -- the jobs --------------------------------------------------------------------------------------------

    def cancel(self, job_id: str) -> Job | None:
        try:
            job = self.client.cancel(job_id)
        except MLTFError as exc:
            self.show_error(f"cannot cancel {job_id}: {exc.message}")
            return None
        self.show_info(f"cancel requested: {job_summary_html(job)}")
        self.poller.wake()
        return job

    def cancel_in_background(self, job_id: str) -> threading.Thread:
        """What a row's Cancel button does: cancel on a thread."""

        def run() -> None:
            self.cancel(job_id)

        return in_background(run, "mltf-cancel")

    def select_job(self, job_id: str) -> None:
        """Show ``job_id``'s log (tailed) and metrics below the table."""
        with self._lock:
            if self.selected != job_id:
                self.selected = job_id
                self._log_offset = 0
                self._log_text = ""
                self._metrics_final = None
                self.log_title.value = f"<b>Log of <code>{esc(job_id)}</code></b>"
                self.log_view.value = pre("")
                self.metrics_view.value = ""
                self.trials_view.value = ""
        self.poller.wake()

    def _next_interval(self) -> float:
        """Poll at the interval while a job is active; five times slower while nothing can change."""
        active = any(not j.state.is_terminal for j in self.jobs)
        return self.poll_interval if active else self.poll_interval * 5

    def refresh(self) -> None:
        """One refresh of the table, the selected job's log and its metrics (the poller's thread calls this).

        No lock is held during cluster or MLflow calls, so the kernel's thread (a click on a row, a Submit)
        never waits for a slow poll.
        """
        try:
            self.jobs = list(self.client.jobs())[:_MAX_ROWS]
            self._update_rows(self.jobs)
            self._refresh_selected()
            if self.last_error and self.last_error.startswith("cannot refresh"):
                self.show_info("")
        except MLTFError as exc:
            self.show_error(f"cannot refresh the jobs: {exc.message}")
        except Exception as exc:
            self.show_error(f"cannot refresh the jobs: {exc}")

    def _update_rows(self, jobs: Iterable[Job]) -> None:
        seen = []
        for job in jobs:
            row = self.rows.get(job.id)
            if row is None:
                row = self.rows[job.id] = _JobRow(self, job)
            else:
                row.update(job)
            seen.append(row)
        for job_id in set(self.rows) - {r.job_id for r in seen}:
            self.rows.pop(job_id).close()
        boxes = [r.box for r in seen]
        if list(self.jobs_box.children) != boxes:
            self.jobs_box.children = boxes

    def _refresh_selected(self) -> None:
        with self._lock:
            job_id, offset, final = self.selected, self._log_offset, self._metrics_final
        if job_id is None:
            return
        job = next((j for j in self.jobs if j.id == job_id), None) or self.client.job(job_id)
        # the log, from where we stopped (at most 8 chunks per tick)
        new_text = ""
        for _ in range(8):
            chunk = self.client.logs(job_id, offset)
            new_text += chunk.text
            moved, offset = chunk.next_offset != offset, chunk.next_offset
            if not moved or chunk.complete:
                break
        # the metrics: while it runs, and once more after it ended
        history = None
        trials = None
        if job.run_id and final != job_id:
            history = self.client.metrics_history(job_id)
            if job.sweep:
                trials = self.client.sweep_trials(job_id)
        with self._lock:
            if self.selected != job_id:
                return  # another job was selected meanwhile: this tick's answers are stale
            self._log_offset = offset
            if new_text or not self.log_view.value:
                self._log_text = (self._log_text + new_text)[-_LOG_KEEP:]
                self.log_view.value = pre(self._log_text)
            if trials is not None and job.sweep:
                self.trials_view.value = trials_html(trials, job.sweep)
            if history is not None:
                self.metrics_view.value = metrics_svg(history)
                if job.state.is_terminal:
                    self._metrics_final = job_id

    # -- lifecycle -------------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the background refresh."""
        self.poller.stop()

    def close(self) -> None:
        self.stop()
        for row in self.rows.values():
            row.close()
        super().close()


def _answer_dict(answer: Any) -> dict[str, Any]:
    """A check answer as its REST body (a ``CheckResult``, or a mapping from a stand-in client)."""
    if hasattr(answer, "to_dict"):
        answer = answer.to_dict()
    return dict(answer) if isinstance(answer, dict) else {}


def _param_widget(param: dict[str, Any]) -> Any:
    """A typed input for one MLproject parameter; required ones without a default are text fields."""
    name, ptype, default = param["name"], param.get("type", "string"), param.get("default")
    desc = f"{name} ({ptype})"
    style = {"description_width": "initial"}
    done = {"continuous_update": False}  # a value counts (and is checked) once typed, not at each key
    if default is None:
        return w.Text(description=desc, placeholder="required", style=style, **done)
    if ptype == "int":
        return w.IntText(description=desc, value=int(default), style=style, **done)
    if ptype == "float":
        return w.FloatText(description=desc, value=float(default), style=style, **done)
    if ptype == "bool":
        checked = str(default).lower() in ("1", "true", "yes", "on")
        return w.Checkbox(description=desc, value=checked, style=style)
    return w.Text(description=desc, value=str(default), style=style, **done)
