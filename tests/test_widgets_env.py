"""The panel's Environment dropdown: sent as ``env_manager`` with every check and submit, the check answer's
``env`` block shown as one line under it, an ``env_manager`` error marks it (a stand-in client, no cluster)."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_mltf.errors import InvalidRequest, ProjectError
from jupyter_mltf.widgets import SubmitPanel
from jupyter_mltf.widgets.render import env_html

from .test_widgets_fields import FakeClient, marked

PROJECT_ENV = {
    "policy": "auto", "used": "project", "why": "the project declares python_env.yaml (python 3.10, 2 packages)",
    "spec_file": "python_env.yaml", "python_requested": "3.10", "python_used": "3.10.13", "note": None,
    "cached": None,
}
NOTEBOOK_ENV = {
    "policy": "auto", "used": "notebook", "why": "the project declares no environment", "spec_file": None,
    "python_requested": None, "python_used": None, "note": None, "cached": None,
}


class EnvClient(FakeClient):
    """Answers a check with the ``env`` block the server would send for the policy asked."""

    def __init__(self, default_env: str | None = None, send_env: bool = True) -> None:
        super().__init__()
        self.default_env = default_env
        self.send_env = send_env

    def config(self) -> dict[str, Any]:
        config = super().config()
        if self.default_env is not None:
            config["defaults"] = {"resources": {}, "env_manager": self.default_env}
        return config

    def check(self, path: str, **options: Any) -> dict[str, Any]:
        answer = super().check(path, **options)
        if not self.send_env:
            return answer  # an older server: no env block
        env = NOTEBOOK_ENV if options.get("env_manager") == "notebook" else PROJECT_ENV
        return {**answer, "env": {**env, "policy": options.get("env_manager") or "auto"}}


def make(client: EnvClient) -> SubmitPanel:
    return SubmitPanel("/p", client=client, autostart=False)  # type: ignore[arg-type]


@pytest.fixture
def panel() -> Any:
    made = make(EnvClient())
    yield made
    made.close()


def test_the_dropdown_offers_the_three_policies_and_starts_at_auto(panel: SubmitPanel) -> None:
    assert [value for _label, value in panel.env_manager.options] == ["auto", "notebook", "project"]
    assert panel.env_manager.value == "auto"
    assert panel.marks.widget("env_manager") is panel.env_manager


def test_the_sites_default_policy_is_the_starting_value() -> None:
    made = make(EnvClient(default_env="notebook"))
    try:
        assert made.env_manager.value == "notebook"
    finally:
        made.close()


def test_the_policy_goes_with_the_check_and_its_env_is_shown(panel: SubmitPanel) -> None:
    client: EnvClient = panel.client  # type: ignore[assignment]
    assert panel.check() is None
    assert client.checked[-1]["env_manager"] == "auto"
    assert "project env: python_env.yaml, Python 3.10.13 (3.10 asked)" in panel.env_line.value
    panel.env_manager.value = "notebook"
    assert panel.check() is None
    assert client.checked[-1]["env_manager"] == "notebook"
    assert "notebook env: the project declares no environment" in panel.env_line.value


def test_a_changed_policy_is_checked_in_the_background(panel: SubmitPanel) -> None:
    client: EnvClient = panel.client  # type: ignore[assignment]
    panel.env_manager.value = "project"
    panel.check_in_background().join(10)
    assert client.checked and client.checked[-1]["env_manager"] == "project"


def test_the_policy_goes_with_the_submit(panel: SubmitPanel) -> None:
    client: EnvClient = panel.client  # type: ignore[assignment]
    panel.env_manager.value = "project"
    client.error = InvalidRequest("refused so nothing runs")
    assert panel.submit() is None
    assert client.checked[-1]["env_manager"] == "project"


def test_an_env_error_marks_the_dropdown_and_clears_the_env_line(panel: SubmitPanel) -> None:
    client: EnvClient = panel.client  # type: ignore[assignment]
    panel.check()
    assert panel.env_line.value
    client.error = ProjectError("python 3.99 is not available: 3.10.13, 3.12.4 are; change python: in "
                                "python_env.yaml", field="env_manager")
    error = panel.check()
    assert error is not None and marked(panel) == []  # marked() lists the older fields only
    assert panel.marks.marked == "env_manager" and "mltf-invalid" in panel.env_manager._dom_classes
    _widget, label = panel.marks._fields["env_manager"]
    assert "3.99 is not available" in label.value and panel.env_line.value == ""
    client.error = None
    assert panel.check() is None and panel.marks.marked is None
    assert "mltf-invalid" not in panel.env_manager._dom_classes


def test_an_older_server_without_an_env_block_shows_no_line() -> None:
    made = make(EnvClient(send_env=False))
    try:
        assert made.check() is None and made.env_line.value == ""
    finally:
        made.close()


def test_the_env_line_is_escaped_and_carries_the_note() -> None:
    html = env_html({**PROJECT_ENV, "spec_file": "<b>x</b>\u202e.yaml", "python_requested": "3.10.4",
                     "note": "3.10.4 asked, 3.10.13 used (newest 3.10.x)"})
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "\u202e" not in html and "\\u202e" in html
    assert "Python 3.10.13 (3.10.4 asked)" in html and "newest 3.10.x" in html
    assert env_html(None) == "" and env_html({"policy": "auto"}) == "" and env_html("nonsense") == ""
