import pytest
from hypothesis import given
from hypothesis import strategies as st

from jupyter_mltf.errors import ResourceError
from jupyter_mltf.models import Partition, Resources
from jupyter_mltf.resources import (
    RESOURCE_KEYS,
    SAFE_NAME,
    check_against_partitions,
    format_mem,
    format_time,
    parse_mem,
    parse_resources,
    parse_time,
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
