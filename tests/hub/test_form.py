"""The spawn form: presets, advanced values, bounds from the partitions, pre-selection (no Slurm needed)."""

from __future__ import annotations

import pytest

from jupyter_mltf.errors import ResourceError
from jupyter_mltf.formatting import format_duration
from jupyter_mltf.hub import form
from jupyter_mltf.models import Partition

PARTS = [
    Partition(
        name="gpu",
        default=True,
        max_time="08:00:00",
        default_time="01:00:00",
        cpus_per_node=8,
        mem_per_node_mb=16000,
        gpus_per_node=2,
        gpu_types=["fake_a100"],
    ),
    Partition(name="cpu", max_time="1-00:00:00", default_time="00:30:00", cpus_per_node=8, mem_per_node_mb=16000),
]
PRESETS = [
    {"key": "gpu1", "label": "1 GPU, 4 h", "resources": {"partition": "gpu", "gpus": 1, "time": "04:00:00"}},
    {"key": "cpu", "label": "CPU only, 4 h", "resources": {"partition": "cpu", "gpus": 0, "time": "4h"}},
]


def test_empty_options_mean_the_first_preset() -> None:
    res = form.resolve_options({}, PRESETS, PARTS)
    assert (res.partition, res.gpus, res.time) == ("gpu", 1, "04:00:00")
    assert form.gres_for(res) == "gpu:1"


def test_preset_with_an_override_and_typed_gpu() -> None:
    res = form.resolve_options({"preset": "gpu1", "gpus": "2", "gpu_type": "fake_a100"}, PRESETS, PARTS)
    assert form.gres_for(res) == "gpu:fake_a100:2"
    res = form.resolve_options({"preset": "cpu"}, PRESETS, PARTS)
    assert (res.partition, res.gpus, form.gres_for(res)) == ("cpu", 0, "")


def test_custom_values_from_the_posted_form_are_normalised() -> None:
    posted = {
        "preset": ["custom"],
        "partition": ["gpu"],
        "gpus": ["1"],
        "cpus": ["4"],
        "mem": ["6g"],
        "time": ["90m"],
        "gpu_type": [""],
    }
    raw = form.options_from_formdata(posted, PRESETS)
    res = form.resolve_options(raw, PRESETS, PARTS)
    assert form.resources_to_options("custom", res) == {
        "preset": "custom",
        "partition": "gpu",
        "gpu_type": None,
        "gpus": 1,
        "cpus": 4,
        "mem": "6G",
        "time": "01:30:00",
    }


def test_advanced_fields_are_ignored_unless_advanced_is_chosen() -> None:
    raw = form.options_from_formdata({"preset": ["cpu"], "gpus": ["9"]}, PRESETS)
    assert raw == {"preset": "cpu"}


def test_time_defaults_to_the_partitions_default_time() -> None:
    res = form.resolve_options({"preset": "custom", "partition": "cpu"}, PRESETS, PARTS)
    assert res.time == "00:30:00"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"preset": "custom", "partition": "gpu", "gpus": "9"}, "more than the 2 GPUs per node"),
        ({"preset": "custom", "partition": "nope"}, "partition 'nope' does not exist: choose one of cpu"),
        (
            {"preset": "custom", "partition": "gpu", "time": "99:00:00"},
            "time 4-03:00:00 is over the limit of partition 'gpu': at most 08:00:00",  # resources.py's words
        ),
        ({"preset": "custom", "partition": "gpu", "mem": "64G"}, "mem=64G is more than"),
        ({"preset": "custom", "partition": "gpu", "cpus": "0"}, "cpus must be between"),
        ({"preset": "custom", "partition": "gpu", "time": "soon"}, "is not a time limit"),
        ({"preset": "custom", "gpu_type": "h100", "gpus": 1}, "gpu_type 'h100' is not in"),
        ({"preset": "huge"}, "unknown preset 'huge'"),
        ({"preset": "gpu1", "options": "--wrap=evil"}, "unknown session option 'options'"),
        ({"preset": "custom", "partition": "gpu; rm -rf ~"}, "is not a valid name"),
    ],
)
def test_out_of_bounds_values_are_refused_with_a_message(options: dict[str, str], message: str) -> None:
    with pytest.raises(ResourceError) as info:
        form.resolve_options(options, PRESETS, PARTS)
    assert message in info.value.message


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"preset": "custom", "partition": "gpu", "gpus": "9"}, "gpus"),
        ({"preset": "custom", "partition": "nope"}, "partition"),
        ({"preset": "custom", "partition": "gpu", "time": "99:00:00"}, "time"),
        ({"preset": "custom", "partition": "gpu", "mem": "64G"}, "mem"),
        ({"preset": "custom", "partition": "gpu", "cpus": "0"}, "cpus"),
        ({"preset": "custom", "cpus": "9"}, "cpus"),
        ({"preset": "custom", "gpu_type": "h100", "gpus": 1}, "gpu_type"),
        ({"preset": "custom", "gpu_type": "fake_a100"}, "gpus"),  # a type without GPUs: ask for GPUs
        ({"preset": "custom", "partition": "gpu; rm -rf ~"}, "partition"),
        ({"preset": "custom", "time": "x" * 65}, "time"),  # the hub's own first check
        ({"preset": "custom", "mem": "8\u202eG"}, "mem"),
        ({"preset": "gpu1", "time": "99:00:00"}, "time"),  # the user's own value, on top of a preset
        ({"preset": "huge"}, "preset"),
        ({"preset": "big"}, "preset"),  # the preset's own values do not fit: the preset is at fault
        ({"preset": "gpu1", "options": "--wrap=evil"}, None),  # no such input
        (["gpu1"], None),
    ],
)
def test_a_refusal_names_the_form_input(options: object, field: str | None) -> None:
    presets = [*PRESETS, {"key": "big", "label": "3 GPUs", "resources": {"partition": "gpu", "gpus": 3}}]
    with pytest.raises(ResourceError) as info:
        form.resolve_options(options, presets, PARTS)  # type: ignore[arg-type]
    assert info.value.field == field, info.value.message


def test_the_refused_input_is_marked_with_the_message_escaped() -> None:
    html = form.render_form(
        PRESETS, PARTS, selected={"preset": "custom", "gpus": "9"}, invalid=("gpus", "gpus=9 is <more>")
    )
    assert 'class="form-control is-invalid" type="number" min="0" name="gpus" id="mltf-gpus" value="9" ' \
        'aria-invalid="true" aria-describedby="mltf-gpus-error">' in html
    assert '<div class="invalid-feedback d-block" id="mltf-gpus-error">gpus=9 is &lt;more&gt;</div>' in html
    assert html.count("is-invalid") == 1 and html.count("invalid-feedback") == 1
    # a preset's refusal marks the choice of presets; an advanced input's opens the advanced part
    html = form.render_form(PRESETS, PARTS, selected={"preset": "gpu1"}, invalid=("preset", "no"))
    assert html.count('class="form-check-input is-invalid"') == len(PRESETS) + 1
    assert 'id="mltf-preset-error">no</div></fieldset>' in html and '<details class="mb-3">' in html
    html = form.render_form(PRESETS, PARTS, selected={"preset": "gpu1"}, invalid=("time", "no"))
    assert '<details class="mb-3" open>' in html
    # a refused GPU type stays shown (selected, marked) though no partition has it
    html = form.render_form(PRESETS, PARTS, selected={"preset": "custom", "gpu_type": "h100"},
                            invalid=("gpu_type", "no"))
    assert '<option value="h100" selected>' in html and 'class="form-select is-invalid" name="gpu_type"' in html


def test_presets_are_checked() -> None:
    form.check_presets(form.DEFAULT_PRESETS)
    with pytest.raises(ValueError, match="used twice"):
        form.check_presets([{"key": "a", "label": "A"}, {"key": "a", "label": "B"}])
    with pytest.raises(ValueError, match="needs a 'key'"):
        form.check_presets([{"key": "custom", "label": "x"}])
    with pytest.raises(ResourceError):
        form.check_presets([{"key": "a", "label": "A", "resources": {"gpus": "many"}}])


def test_form_shows_presets_bounds_and_preselects_the_last_choice() -> None:
    html = form.render_form(
        PRESETS, PARTS, selected={"preset": "custom", "partition": "cpu", "gpus": 0, "time": "02:00:00"}
    )
    assert 'value="custom" checked' in html and 'value="gpu1" checked' not in html
    assert '<option value="cpu" selected>' in html
    # the limits are hints; no partition's maximum is an attribute (the server checks, the form marks)
    assert 'type="number" min="0" name="gpus" id="mltf-gpus"' in html and 'max="' not in html
    assert "0 to 2 per node" in html and "at most 8" in html and "at most 16000M" in html
    assert "fake_a100" in html and "gpu: 08:00:00" in html and 'value="02:00:00"' in html
    assert '<details class="mb-3" open>' in html
    html = form.render_form(PRESETS, PARTS, selected={"preset": "cpu"})
    assert 'value="cpu" checked' in html and '<details class="mb-3">' in html


def test_form_escapes_and_works_without_partitions() -> None:
    presets = [{"key": "x", "label": "<b>x</b>", "resources": {}}]
    html = form.render_form(presets, [], notice="sinfo <failed>")
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "sinfo &lt;failed&gt;" in html
    assert 'name="partition"' in html


def test_pending_reasons_and_durations_in_words() -> None:
    assert form.explain_reason("Resources") == "waiting for GPUs/CPUs/memory to become free (Resources)"
    assert "QOS" in form.explain_reason("QOSGrpCpuLimit")
    assert form.explain_reason("Weird") == "Weird"
    assert form.explain_reason(None) == "no reason given yet"
    assert format_duration(42) == "42 s"
    assert format_duration(125) == "2 min 05 s"
    assert format_duration(3720) == "1 h 02 min"
