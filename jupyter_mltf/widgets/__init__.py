"""The ipywidgets surface: :class:`SubmitPanel` (form + live jobs table + log tail + metrics plot) and
:class:`JobStatusLine` (the one-line live status ``%mltf_submit`` shows).

Both talk to the core through the sync :class:`jupyter_mltf.api.Client`. ``render`` holds the pure HTML/SVG
renderers, ``polling`` the background threads, ``panel`` and ``status`` the widgets.
"""

from .panel import SubmitPanel
from .render import fmt_duration, job_summary_html, metrics_svg, state_html, trials_html
from .status import JobStatusLine

__all__ = [
    "JobStatusLine",
    "SubmitPanel",
    "fmt_duration",
    "job_summary_html",
    "metrics_svg",
    "state_html",
    "trials_html",
]
