"""The panel marks the input an error is about (``MLTFError.field``) and checks nothing itself (no cluster needed:
a fake client answers as the core would)."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_mltf.errors import InvalidRequest, MLTFError, ResourceError
from jupyter_mltf.models import Partition
from jupyter_mltf.resources import check_against_partitions, parse_resources
from jupyter_mltf.widgets import SubmitPanel
from jupyter_mltf.widgets.fields import INVALID_CLASS

PARTITIONS = [
    Partition(name="gpu", default=True, max_time="08:00:00", cpus_per_node=8, mem_per_node_mb=16000,
              gpus_per_node=2, gpu_types=["fake_a100"]),
    Partition(name="cpu", max_time="1-00:00:00", cpus_per_node=8, mem_per_node_mb=16000),
]
PROJECT = {
    "project": {"entry_points": [{"name": "main", "parameters": [
        {"name": "lr", "type": "float", "default": 0.1},
        {"name": "epochs", "type": "int", "default": 3},
    ]}]},
    "files": {"count": 2, "total_bytes": 100},
}


class FakePreview:
    def to_dict(self) -> dict[str, Any]:
        return PROJECT


class FakeClient:
    """Answers like the core: ``check``/``submit`` run the one resource check; ``error`` is raised instead."""

    def __init__(self) -> None:
        self.error: MLTFError | None = None
        self.checked: list[dict[str, Any]] = []

    def config(self) -> dict[str, Any]:
        return {"partitions": [p.to_dict() for p in PARTITIONS], "capabilities": {}, "poll_interval": 1.0}

    def preview(self, path: str, notebook: str | None = None) -> FakePreview:
        if path.endswith("missing"):
            raise InvalidRequest(f"directory {path} does not exist", field="path")
        return FakePreview()

    def check(self, path: str, **options: Any) -> dict[str, Any]:
        self.checked.append(options)
        if self.error is not None:
            raise self.error
        check_against_partitions(parse_resources(options["resources"]), PARTITIONS)
        return {"ok": True}

    def submit(self, path: str, **options: Any) -> Any:
        self.check(path, **options)
        raise AssertionError("the tests only submit what is refused")


@pytest.fixture
def panel() -> Any:
    made = SubmitPanel("/p", client=FakeClient(), autostart=False)  # type: ignore[arg-type]
    yield made
    made.close()


def marked(panel: SubmitPanel) -> list[str]:
    """The fields whose widget carries the error class."""
    fields = ["path", "entry_point", "sweep", "params.lr", "params.epochs"] + [
        f"resources.{n}" for n in ("partition", "gpus", "gpu_type", "time", "mem", "cpus", "nodes")]
    widgets = {f: panel.marks.widget(f) for f in fields}
    return [f for f, widget in widgets.items() if widget is not None and INVALID_CLASS in widget._dom_classes]


@pytest.mark.parametrize(
    ("field", "widget"),
    [
        ("path", "directory"),
        ("entry_point", "entry_point"),
        ("sweep", "sweep"),
        ("resources.partition", "partition"),
        ("resources.gpus", "gpus"),
        ("resources.gpu_type", "gpu_type"),
        ("resources.time", "time"),
        ("resources.mem", "mem"),
        ("resources.cpus", "cpus"),
        ("resources.nodes", "nodes"),
    ],
)
def test_each_field_goes_to_its_widget(panel: SubmitPanel, field: str, widget: str) -> None:
    assert panel.marks.widget(field) is getattr(panel, widget)
    panel.client.error = ResourceError("no <b>good</b>\u202e", field=field)  # type: ignore[attr-defined]
    assert panel.submit() is None
    assert marked(panel) == [field]
    _widget, label = panel.marks._fields[field]
    assert label.layout.display is None and "&lt;b&gt;good&lt;/b&gt;" in label.value  # escaped, shown
    assert "\u202e" not in label.value and "\\u202e" in label.value
    assert "no &lt;b&gt;" in panel.message.value  # the general line says it too


def test_a_parameter_error_marks_that_parameter(panel: SubmitPanel) -> None:
    assert panel.marks.widget("params.lr") is panel._param_widgets["lr"]
    panel.client.error = InvalidRequest("parameter 'lr' must be a number", field="params.lr")  # type: ignore[attr-defined]
    assert panel.submit() is None
    assert marked(panel) == ["params.lr"]


def test_a_new_error_clears_the_old_mark_and_no_field_goes_to_the_general_line(panel: SubmitPanel) -> None:
    client: FakeClient = panel.client  # type: ignore[assignment]
    client.error = ResourceError("gpus: too many", field="resources.gpus")
    panel.submit()
    client.error = InvalidRequest("experiment must be 1-250 characters", field="experiment")  # no widget for it
    panel.submit()
    assert marked(panel) == [] and "experiment must be" in panel.message.value
    client.error = MLTFError("the tracking server is down")
    panel.submit()
    assert marked(panel) == [] and panel.last_error == "the tracking server is down"


def test_limits_are_shown_not_enforced_and_the_one_check_marks_the_field(panel: SubmitPanel) -> None:
    assert panel.partition.value == "gpu" and "time at most 08:00:00" in panel.limits.value
    panel.gpus.value = 9  # no widget bound clamps it: the core's check refuses it, with its words
    assert panel.gpus.value == 9 and panel.resources()["gpus"] == 9
    error = panel.check()
    assert error is not None and error.field == "resources.gpus" and "at most 2" in error.message
    assert marked(panel) == ["resources.gpus"] and panel.last_error is None  # a check marks, it does not shout
    panel.gpus.value = 1
    panel.partition.value = "cpu"  # a partition without GPUs: still the core's words, on the GPUs input
    assert "has no GPUs" in str(panel.check()) and marked(panel) == ["resources.gpus"]
    panel.gpus.value = 0
    panel.time.value = "20:00:00"
    assert panel.check() is None  # cpu allows a day
    panel.partition.value = "gpu"
    assert panel.check() is not None and marked(panel) == ["resources.time"]
    panel.time.value = "02:00:00"
    assert panel.check() is None and marked(panel) == []


def test_a_changed_field_is_checked_in_the_background(panel: SubmitPanel) -> None:
    client: FakeClient = panel.client  # type: ignore[assignment]
    panel.mem.value = "64G"
    thread = panel.check_in_background()
    thread.join(10)
    assert client.checked and client.checked[-1]["resources"]["mem"] == "64G"
    assert marked(panel) == ["resources.mem"]


def test_a_stale_check_answer_is_dropped(panel: SubmitPanel) -> None:
    client: FakeClient = panel.client  # type: ignore[assignment]
    client.error = ResourceError("old values", field="resources.cpus")
    generation = panel._check_generation
    panel._check_generation += 1  # the user changed a field (or submitted) meanwhile
    assert panel.check(generation) is not None
    assert marked(panel) == []


def test_the_sweep_and_the_directory_errors_are_marked(panel: SubmitPanel) -> None:
    panel.sweep.value = "objective: {metric: nope: x}"
    assert panel.submit() is None and marked(panel) == ["sweep"]
    panel.load("/missing")
    assert marked(panel) == ["path"] and "does not exist" in (panel.last_error or "")
    assert panel.params_box.children == ()
