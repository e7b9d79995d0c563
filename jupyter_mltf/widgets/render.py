"""What the widgets show, as HTML and SVG strings: pure functions of the job model, unit-tested alone."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from ..formatting import format_duration, printable
from ..models import Job, JobState

_RED = "#b00020"
_STATE_COLOURS = {
    JobState.SUBMITTING: "#6d6d6d",
    JobState.PENDING: "#b26a00",
    JobState.CONFIGURING: "#b26a00",
    JobState.REQUEUED: "#b26a00",
    JobState.SUSPENDED: "#b26a00",
    JobState.RUNNING: "#1565c0",
    JobState.COMPLETING: "#1565c0",
    JobState.COMPLETED: "#2e7d32",
    JobState.CANCELLED: "#6d6d6d",
    JobState.UNKNOWN: "#6d6d6d",
}
_PAD = 8  # pixels around a metrics chart
# the jobs table's columns: (title, width)
COLUMNS = (("Job", "110px"), ("Name", "150px"), ("State", "120px"), ("Reason", "170px"), ("Elapsed", "70px"),
            ("MLflow", "90px"), ("", "70px"))


def esc(value: object) -> str:
    """User data (names, paths, reasons) for HTML: control and invisible characters shown escaped, then quoted."""
    return html.escape(printable(value))


def state_html(state: JobState | str) -> str:
    """The state as a coloured badge (red for every failure state)."""
    st = state if isinstance(state, JobState) else JobState(state)
    colour = _STATE_COLOURS.get(st, _RED if st.is_terminal else "#6d6d6d")
    return f'<b style="color:{colour}">{html.escape(st.value)}</b>'


def error_html(message: str) -> str:
    return f'<span style="color:{_RED}">&#9888; {esc(message)}</span>'


def fmt_duration(seconds: float | None) -> str:
    return "" if seconds is None else format_duration(seconds)


def run_link(job: Job) -> str:
    if not job.mlflow_url:
        return ""
    return f'<a href="{html.escape(job.mlflow_url, quote=True)}" target="_blank">MLflow run</a>'


def job_summary_html(job: Job) -> str:
    """One line: id, state, pending reason, elapsed, MLflow link."""
    parts = [f"<code>{esc(job.id)}</code>", state_html(job.state)]
    if job.reason and not job.state.is_terminal:
        parts.append(f"<i>{esc(job.reason)}</i>")
    if job.exit_code not in (None, 0) and job.state.is_terminal:
        parts.append(f"exit code {job.exit_code}")
    if job.elapsed is not None:
        parts.append(fmt_duration(job.elapsed))
    link = run_link(job)
    if link:
        parts.append(link)
    return " &middot; ".join(parts)


def metrics_svg(
    history: Mapping[str, Sequence[Sequence[float]]], *, width: int = 260, height: int = 120
) -> str:
    """Small line charts (one per metric, at most four) as inline SVG: no plotting library needed."""
    charts = []
    for name in sorted(history)[:4]:
        points = [(float(p[0]), float(p[1])) for p in history[name] if len(p) >= 2]
        if not points:
            continue
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)

        def sx(x: float, x0: float = x0, x1: float = x1) -> float:
            return _PAD + (x - x0) / ((x1 - x0) or 1) * (width - 2 * _PAD)

        def sy(y: float, y0: float = y0, y1: float = y1) -> float:
            return height - _PAD - (y - y0) / ((y1 - y0) or 1) * (height - 2 * _PAD - 14)

        line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
        dot = f'<circle cx="{sx(xs[-1]):.1f}" cy="{sy(ys[-1]):.1f}" r="2.5" fill="#1565c0"/>'
        charts.append(
            f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg" '
            f'style="border:1px solid #ddd;margin:2px">'
            f'<text x="{_PAD}" y="12" font-size="11" font-family="sans-serif">{esc(name)}: '
            f"{ys[-1]:.4g} (step {xs[-1]:.0f})</text>"
            f'<polyline fill="none" stroke="#1565c0" stroke-width="1.5" points="{line}"/>{dot}</svg>'
        )
    return "".join(charts) or "<i>no metrics yet</i>"


def trials_html(trials: Sequence[Mapping[str, Any]], sweep: Mapping[str, Any]) -> str:
    """A sweep's trials: the objective across trials (SVG) and a table, best trial in bold."""
    metric = str(sweep.get("metric", ""))
    maximize = sweep.get("direction") == "maximize"
    done = [(int(t["trial"]), float(t["metrics"][metric])) for t in trials if metric in (t.get("metrics") or {})
            and t.get("state") == "COMPLETE"]
    best = (max if maximize else min)(done, key=lambda p: p[1]) if done else None
    chart = metrics_svg({f"{metric} by trial": [[n, v] for n, v in sorted(done)]}, width=420) if done else ""
    rows = []
    for t in trials:
        value = (t.get("metrics") or {}).get(metric)
        style = " style='font-weight:bold'" if best and int(t["trial"]) == best[0] else ""
        params = ", ".join(f"{k}={v}" for k, v in sorted((t.get("params") or {}).items())
                           if k in (sweep.get("parameters") or {}))
        rows.append(f"<tr{style}><td>{int(t['trial'])}</td><td>{html.escape(str(t.get('state', '')))}</td>"
                    f"<td>{'' if value is None else f'{float(value):.4g}'}</td><td>{esc(params)}</td></tr>")
    summary = (f"{len(trials)} of {sweep.get('trials')} trials started, {len(done)} complete"
               + (f"; best {metric} = {best[1]:.4g} (trial {best[0]})" if best else ""))
    return (f"<b>Sweep</b>: {html.escape(summary)}<br>{chart}"
            "<table style='font-size:90%'><tr><th>trial</th><th>state</th>"
            f"<th>{esc(metric)}</th><th>parameters</th></tr>{''.join(rows)}</table>")


def pre(text: str) -> str:
    return (
        "<pre style='max-height:260px;overflow:auto;background:#f7f7f7;padding:4px;margin:0;"
        f"font-size:85%'>{html.escape(printable(text, multiline=True))}</pre>"
    )


#: the Environment dropdown: (value sent as ``env_manager``, label)
ENV_OPTIONS = (
    ("auto", "auto: the project's env if it declares one, else the notebook's"),
    ("notebook", "notebook: this notebook's own env"),
    ("project", "project: the env the project declares"),
)


def env_html(env: Any) -> str:
    """The one line under the Environment dropdown (``project env: python_env.yaml, Python 3.10.13 (3.10
    asked)``), with the server's note on the Python used; empty when the answer has no ``env`` block."""
    from ..cli import env_summary

    line = env_summary(env if isinstance(env, Mapping) else None)
    if line is None:
        return ""
    note = env.get("note") if isinstance(env, Mapping) else None
    extra = f" <i>({esc(note)})</i>" if note else ""
    return f"<span style='font-size:90%;color:#444'>{esc(line)}{extra}</span>"
