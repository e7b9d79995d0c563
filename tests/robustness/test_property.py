"""Property-based tests of the parameter parser and renderer (and the resource parser's batch-script output).

Rendered commands must ``shlex.split`` back to exactly the values given, whatever the values; invalid input
must only ever raise the documented error class with a message (never TypeError, KeyError...).
"""

from __future__ import annotations

import math
import re
import shlex
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from jupyter_mltf.backends.base import JobSpec
from jupyter_mltf.backends.slurm import SlurmBackend
from jupyter_mltf.errors import ProjectError, ResourceError
from jupyter_mltf.models import Partition, Resources
from jupyter_mltf.project import _PARAM_NAME, EntryPoint, Parameter, coerce_param, render_command, validate_params
from jupyter_mltf.resources import RESOURCE_KEYS, check_against_partitions, parse_resources

# any text a user could type (no NUL, no lone surrogates: those are refused, see below)
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60)
NAMES = st.from_regex(_PARAM_NAME, fullmatch=True)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@given(st.dictionaries(NAMES, TEXT, max_size=6))
def test_script_entry_point_passes_values_literally(params: dict[str, str]) -> None:
    """A plain-script entry point takes any --name value pairs: each value comes back exactly."""
    entry = EntryPoint(name="train.py", command="python train.py")
    validated = validate_params(entry, params)
    assert validated == params
    argv = shlex.split(render_command(entry, validated))
    expected = ["python", "train.py"]
    for key, value in params.items():
        expected += [f"--{key}", value]
    assert argv == expected


@given(st.lists(TEXT, min_size=1, max_size=5))
def test_template_placeholders_are_quoted(values: list[str]) -> None:
    names = [f"p{i}" for i in range(len(values))]
    entry = EntryPoint(
        name="main",
        command="python run.py " + " ".join(f"{{{n}}}" for n in names),
        parameters={n: Parameter(n, "string") for n in names},
    )
    rendered = render_command(entry, validate_params(entry, dict(zip(names, values, strict=True))))
    assert shlex.split(rendered) == ["python", "run.py", *values]


@given(st.integers(min_value=-(10**30), max_value=10**30))
def test_int_roundtrip(value: int) -> None:
    entry = EntryPoint("main", "run {n}", {"n": Parameter("n", "int")})
    for given_as in (value, str(value), f"  {value} "):
        out = validate_params(entry, {"n": given_as})["n"]
        assert int(out) == value
        assert shlex.split(render_command(entry, {"n": out})) == ["run", str(value)]


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_roundtrip(value: float) -> None:
    entry = EntryPoint("main", "run {x}", {"x": Parameter("x", "float")})
    out = validate_params(entry, {"x": value})["x"]
    assert float(out) == value
    assert float(validate_params(entry, {"x": repr(value)})["x"]) == value


@given(st.sampled_from(["1", "true", "Yes", "ON", "0", "false", "No", "off", True, False]))
def test_bool_values(value: Any) -> None:
    entry = EntryPoint("main", "run {b}", {"b": Parameter("b", "bool")})
    out = validate_params(entry, {"b": value})["b"]
    assert out in ("true", "false")
    assert (out == "true") == (str(value).lower() in ("1", "true", "yes", "on"))


@given(st.sampled_from(["string", "int", "float", "bool", "path", "uri"]), JSONISH)
def test_coerce_never_crashes(ptype: str, value: Any) -> None:
    try:
        out = coerce_param(Parameter("p", ptype), value)
    except ProjectError as exc:
        assert exc.message and "'p'" in exc.message
        return
    assert isinstance(out, (str, int, float, bool))
    if isinstance(out, float):
        assert math.isfinite(out)


@given(TEXT, TEXT)
def test_nul_is_always_refused(before: str, after: str) -> None:
    entry = EntryPoint("main", "run {w}", {"w": Parameter("w", "string")})
    with pytest.raises(ProjectError, match="NUL"):
        validate_params(entry, {"w": before + "\x00" + after})


@given(st.text(max_size=20))
def test_bad_parameter_names_are_refused(name: str) -> None:
    assume(not _PARAM_NAME.fullmatch(name))
    entry = EntryPoint(name="train.py", command="python train.py")
    with pytest.raises(ProjectError, match="not valid"):
        validate_params(entry, {name: "1"})


@given(TEXT, st.integers(0xDC80, 0xDCFF))
def test_lone_surrogates_are_refused(text: str, code: int) -> None:
    """A non-UTF-8 byte (as Python decodes file names and argv) cannot reach MLflow or the batch script."""
    entry = EntryPoint("main", "run {w}", {"w": Parameter("w", "string")})
    with pytest.raises(ProjectError, match="UTF-8"):
        validate_params(entry, {"w": text + chr(code)})


# ------------------------------------------------------------------------------------------ resources -> script
PARTS = [
    Partition(name="gpu", default=True, max_time="08:00:00", cpus_per_node=8, mem_per_node_mb=16000, gpus_per_node=2,
              gpu_types=["fake_a100"]),
    Partition(name="cpu", max_time="1-00:00:00", cpus_per_node=8, mem_per_node_mb=16000),
]
DIRECTIVE = re.compile(r"^#SBATCH --[a-z\-]+=[A-Za-z0-9_.:%\-/]+$")


@given(st.dictionaries(st.sampled_from((*RESOURCE_KEYS, "gres", "memory", "walltime", "bogus")), JSONISH, max_size=6))
def test_resources_never_crash_and_script_lines_are_safe(raw: dict[str, Any]) -> None:
    try:
        res = check_against_partitions(parse_resources(raw), PARTS)
    except ResourceError as exc:
        assert exc.message
        return
    assert isinstance(res, Resources)
    spec = JobSpec(
        job_id="abc123", name="n", project_name="p", project_dir="/p", archive_path="/a.tar", content_hash="h",
        entry_point="main", params={}, command="true", resources=res, job_dir="/home/u/.mltf/jobs/abc123",
        run_id="r1", experiment_id="1", tracking_uri="http://x", python="/usr/bin/python3",
    )  # fmt: skip
    script = SlurmBackend().job_script(spec)
    header = script.split("\n\n", 1)[0].splitlines()[1:]
    assert header and all(DIRECTIVE.fullmatch(line) for line in header), header
    assert sum(line.startswith("#SBATCH") for line in script.splitlines()) == len(header)


def test_job_script_directives_for_a_known_request() -> None:
    res = check_against_partitions(parse_resources({"gpus": 2, "gpu_type": "fake_a100", "time": "90m"}), PARTS)
    assert (res.partition, res.time) == ("gpu", "01:30:00")
