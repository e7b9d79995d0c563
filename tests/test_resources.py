import pytest
from hypothesis import given
from hypothesis import strategies as st

from jupyter_mltf.errors import ProjectError, ResourceError
from jupyter_mltf.models import Partition, Resources
from jupyter_mltf.resources import (
    MAX_NESTING,
    RESOURCE_KEYS,
    SAFE_NAME,
    check_against_partitions,
    format_mem,
    format_time,
    nesting_path,
    parse_float,
    parse_int,
    parse_mem,
    parse_resources,
    parse_time,
    read_gateway_config,
    shown,
)

GPU = Partition(
    name="gpu",
    default=True,
    max_time="08:00:00",
    nodes=1,
    cpus_per_node=8,
    mem_per_node_mb=16000,
    gpus_per_node=2,
    gpu_types=["fake_a100"],
)
CPU = Partition(name="cpu", nodes=1, cpus_per_node=8, mem_per_node_mb=16000)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 1800),
        ("01:30", 90),
        ("01:30:00", 5400),
        ("1-00", 86400),
        ("2-03:04:05", 183845),
        ("90m", 5400),
        ("2h", 7200),
        ("1d", 86400),
        (45, 2700),
    ],
)
def test_parse_time(text, seconds):
    assert parse_time(text) == seconds


@pytest.mark.parametrize("bad", ["", "abc", "1:2:3:4", "-5", "0", "00:00:00", "400d", "1h30", "12:00:00; rm -rf /"])
def test_parse_time_rejects(bad):
    with pytest.raises(ResourceError):
        parse_time(bad)


@pytest.mark.parametrize(
    ("text", "mb"), [("16G", 16384), ("500M", 500), ("16GB", 16384), ("1T", 1048576), ("1024", 1024), ("1.5G", 1536)]
)
def test_parse_mem(text, mb):
    assert parse_mem(text) == mb


@pytest.mark.parametrize("bad", ["", "lots", "-1G", "16X", "0", "100T", "16G\n#SBATCH --x"])
def test_parse_mem_rejects(bad):
    with pytest.raises(ResourceError):
        parse_mem(bad)


def test_unknown_key_lists_valid_ones():
    with pytest.raises(ResourceError) as err:
        parse_resources({"gpuz": 1})
    for key in RESOURCE_KEYS:
        assert key in err.value.message


def test_gateway_config_spellings():
    res = parse_resources(
        {
            "nodes": 1,
            "cpus-per-task": 4,
            "mem": "8G",
            "time": "00:30:00",
            "partition": "gpu",
            "gres": "gpu:fake_a100:2",
            "job_name": "ignored",
        }
    )
    assert (res.cpus, res.mem, res.time, res.gpus, res.gpu_type) == (4, "8G", "00:30:00", 2, "fake_a100")


@pytest.mark.parametrize(
    "raw",
    [
        {"gpus": -1},
        {"gpus": 100},
        {"gpus": "two"},
        {"gpus": True},
        {"nodes": 0},
        {"cpus": 0},
        {"partition": "gpu;id"},
        {"account": "a b"},
        {"qos": "x\n#SBATCH --uid=0"},
        {"gpu_type": "a100"},
        {"partition": "$(id)"},
    ],
)
def test_bad_values(raw):
    with pytest.raises(ResourceError):
        parse_resources(raw)


def test_partition_checks():
    res = check_against_partitions(parse_resources({"gpus": 2}), [GPU, CPU])
    assert res.partition == "gpu"
    for raw, words in [
        ({"gpus": 3}, "at most 2"),
        ({"partition": "nope"}, "does not exist"),
        ({"time": "99:00:00"}, "08:00:00"),
        ({"gpus": 1, "gpu_type": "h100"}, "fake_a100"),
        ({"cpus": 64}, "CPUs"),
        ({"mem": "64G"}, "per node"),
        ({"nodes": 2}, "nodes=2"),
        ({"gpus": 1, "partition": "cpu"}, "no GPUs"),
    ]:
        with pytest.raises(ResourceError, match=words):
            check_against_partitions(parse_resources(raw), [GPU, CPU])


@given(st.integers(min_value=1, max_value=365 * 86400))
def test_time_roundtrip(seconds):
    assert parse_time(format_time(seconds)) == seconds


@given(st.integers(min_value=1, max_value=64 * 1024 * 1024))
def test_mem_roundtrip(mb):
    assert parse_mem(format_mem(mb)) == mb


@given(
    st.dictionaries(
        st.sampled_from(RESOURCE_KEYS + ("gres", "bogus")), st.one_of(st.text(max_size=20), st.integers(-5, 200))
    )
)
def test_parser_never_crashes_and_output_is_safe(raw):
    try:
        res = parse_resources(raw)
    except ResourceError as exc:
        assert exc.message
        return
    assert isinstance(res, Resources)
    for value in (res.partition, res.gpu_type, res.account, res.qos):
        assert value is None or SAFE_NAME.fullmatch(value)
    for value in (res.time, res.mem):
        assert value is None or "\n" not in value and " " not in value


# -- the one bounded parser (issue 12): lengths are checked before int()/float() -----------------------------
BIG = "9" * 5000  # beyond CPython's 4300-digit int() limit (a ValueError that used to escape as a 500)


def _id(value: object) -> str:
    """A test id pytest can make without str() of a 5000-digit int."""
    if isinstance(value, dict):
        return ",".join(f"{k}={_id(v)}" for k, v in value.items())
    return shown(value)[:32]


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"time": BIG}, ["time", "HH:MM:SS", "5000 characters"]),
        ({"time": BIG + "h"}, ["time", "HH:MM:SS"]),
        ({"time": "1-" + BIG}, ["time", "HH:MM:SS"]),
        ({"time": 10**400}, ["time", "401 digits"]),
        ({"time": 10**5000}, ["time", "5001 digits"]),  # an int no str() could print
        ({"time": "9" * 30}, ["more than a year"]),
        ({"time": "\u0661:00:00"}, ["not a time limit"]),  # Arabic-Indic digits: int() takes them, Slurm does not
        ({"time": float("inf")}, ["time"]),
        ({"time": [[1]]}, ["time", "a list"]),
        ({"gpus": BIG}, ["gpus", "between 0 and 64"]),
        ({"gpus": 10**400}, ["gpus", "401 digits"]),
        ({"gpus": float("nan")}, ["gpus", "whole number"]),
        ({"gpus": 1e300}, ["gpus", "between 0 and 64"]),
        ({"cpus": -(10**400)}, ["cpus", "between 1"]),
        ({"nodes": BIG}, ["nodes", "between 1"]),
        ({"mem": BIG + "G"}, ["mem", "memory size"]),
        ({"mem": 10**400}, ["mem", "memory size"]),
        ({"mem": "1." + BIG}, ["mem", "memory size"]),
        ({"partition": 10**400}, ["partition", "not a valid name"]),
        ({"account": {"a": 1}}, ["account", "a dict"]),
        ({"gres": "gpu:" + BIG}, ["gres"]),
        ({"cpus-per-task": float("nan")}, ["cpus", "whole number"]),
    ],
    ids=lambda v: _id(v),
)
def test_huge_and_odd_numbers_are_resource_errors(raw, words):
    with pytest.raises(ResourceError) as err:
        parse_resources(raw)
    for word in words:
        assert word in err.value.message
    assert len(err.value.message) < 300 and "\n" not in err.value.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3), ("3", 3), (" 3 ", 3), ("+3", 3), (2.0, 2), ("0064", 64)],
)
def test_parse_int_accepts(value, expected):
    assert parse_int("gpus", value, 0, 64) == expected


@pytest.mark.parametrize(
    "value",
    [True, "2.0", "0x10", "1_0", "\u0663", "nan", float("inf"), 2.5, None, [1], BIG, 10**400, "9" * 41],
    ids=lambda v: _id(v),
)
def test_parse_int_refuses(value):
    with pytest.raises(ResourceError, match="gpus must be"):
        parse_int("gpus", value, 0, 10**50)


@pytest.mark.parametrize(
    ("value", "expected"), [(0.5, 0.5), ("0.01", 0.01), ("1e-3", 0.001), (".5", 0.5), (3, 3.0), ("-2", -2.0)]
)
def test_parse_float_accepts(value, expected):
    assert parse_float("lr", value) == expected


@pytest.mark.parametrize(
    "value",
    [True, "nan", "NaN", "inf", "-Infinity", float("nan"), float("-inf"), "1e400", 10**400, 2**1024, BIG,
     "0." + BIG, "1_000", "\u0661", "", None, {"a": 1}],
    ids=lambda v: _id(v),
)  # fmt: skip
def test_parse_float_refuses(value):
    with pytest.raises(ResourceError, match="lr must be a finite decimal number"):
        parse_float("lr", value)


def test_parse_float_error_class_is_the_callers():
    with pytest.raises(ProjectError, match="finite"):
        parse_float("parameter 'lr'", 10**400, error=ProjectError)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (10**400, "a number of 401 digits"),
        (-(10**4999), "a number of 5000 digits"),
        (10**40, str(10**40)),
        ("x" * 5000, "'xxxxxxxxxxxxxxxxxxxx'... (5000 characters)"),
        ([[[]]], "a list"),
        (1.5, "1.5"),
    ],
    ids=lambda v: _id(v),
)
def test_shown_never_prints_huge_or_deep_values(value, text):
    assert shown(value) == text


def test_parsers_are_linear_on_huge_text():
    import time

    # this thread's CPU time, not wall time: a loaded 2-core machine may not run the test for a while
    started = time.thread_time()
    for _ in range(3):
        for parse in (parse_time, parse_mem, lambda v: parse_int("x", v, 0, 1), lambda v: parse_float("x", v)):
            with pytest.raises(ResourceError):
                parse("9" * (16 << 20))
    assert time.thread_time() - started < 5


def test_nesting_path_names_where_it_goes_too_deep():
    deep = 1
    for _ in range(MAX_NESTING + 3):
        deep = [deep]
    assert nesting_path({"params": {"word": deep}}) == "params.word" + "[0]" * (MAX_NESTING - 2)
    assert nesting_path({"a": [[1]], "b": {"c": 2}}) is None
    cycle: list = []
    cycle.append(cycle)
    assert nesting_path(cycle) == "a value that contains itself"


def test_nesting_path_is_linear_on_shared_values():
    """YAML aliases share values: 40 levels that each hold the one below twice are 2**40 paths, one walk."""
    node: list = [1]
    for _ in range(40):
        node = [node, node]
    assert nesting_path(node, limit=50) is None
    assert nesting_path(node, limit=10) == "[0]" * 10


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"time": ' + "[" * 30_000 + "]" * 30_000 + "}", "nested too deeply"),  # RecursionError in json
        ('{"time": ' + "[" * 40 + "]" * 40 + "}", "nested too deeply at time"),
        ('{"time": ' + BIG + "}", "not valid JSON"),  # CPython's int-digit limit
        ("[1]", "JSON object"),
        ("{" + " " * (64 * 1024) + "}", "larger than"),
    ],
    ids=["deep", "deep-40", "big-int", "array", "huge"],
)
def test_read_gateway_config_is_bounded(tmp_path, text, words):
    path = tmp_path / "gateway_config.json"
    path.write_text(text)
    with pytest.raises(ProjectError, match=words):
        read_gateway_config(path)


def test_read_gateway_config_values_go_through_the_parser(tmp_path):
    path = tmp_path / "gateway_config.json"
    path.write_text('{"time": "' + BIG + '", "nodes": 1}')
    with pytest.raises(ResourceError, match="time '9999"):
        parse_resources(read_gateway_config(path))
