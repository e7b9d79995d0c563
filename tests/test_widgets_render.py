"""The panel's HTML never passes control or invisible characters through from user data (no cluster needed)."""

from __future__ import annotations

from jupyter_mltf.models import Job, JobState
from jupyter_mltf.widgets.render import esc, job_summary_html, pre


def test_names_and_reasons_show_invisible_characters_escaped() -> None:
    job = Job(id="ab\u202ecd", backend="slurm", native_id="1", name="run\x1b[31mred", project_dir="/p",
              state=JobState.PENDING, reason="waiting\u200b<b>")
    shown = job_summary_html(job)
    for raw in ("\u202e", "\u200b", "\x1b", "<b>"):
        assert raw not in shown
    assert "\\u202e" in shown and "\\u200b" in shown and "&lt;b&gt;" in shown


def test_log_text_keeps_its_lines_but_not_escape_sequences() -> None:
    html_text = pre("epoch 1\n\x1b[2Jepoch 2\tok")
    assert "epoch 1\n" in html_text and "\tok" in html_text and "\x1b" not in html_text
    assert esc("a\nb") != "a\nb"  # one-line fields show a newline escaped
