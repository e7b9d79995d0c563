"""Parse and validate resource requests (GPUs, time, memory...) from any surface.

One source of truth for resource keys: :data:`RESOURCE_KEYS`. Values from users, from a project's
``gateway_config.json`` and from config files all pass through :func:`parse_resources`, and are checked
against the cluster's partitions with :func:`check_against_partitions`. Everything that reaches a batch
script is either an integer or matches :data:`SAFE_NAME`.

(Over 400 lines on purpose: the bounded parsers, the resource keys and the partition checks are the one
place every surface's limits live; the brief asks for exactly one.)
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import InvalidRequest, MLTFError, ProjectError, ResourceError
from .models import Partition, Resources

RESOURCE_KEYS = ("gpus", "gpu_type", "partition", "time", "mem", "cpus", "nodes", "account", "qos")

# other spellings seen in MLTF projects (gateway_config.json) and mlflow-slurm configs
ALIASES = {
    "cpus-per-task": "cpus",
    "cpus_per_task": "cpus",
    "gpus-per-node": "gpus",
    "gpus_per_node": "gpus",
    "gpu-type": "gpu_type",
    "gputype": "gpu_type",
    "memory": "mem",
    "walltime": "time",
    "time_limit": "time",
}
# keys of gateway_config.json that are not resources and are dropped silently
IGNORED_KEYS = frozenset({"job_name", "url", "auth_token", "job-name", "debug"})

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
MAX_GPUS = 64
MAX_NODES = 1024
MAX_CPUS = 4096
MAX_TIME_S = 365 * 86400
_MEM_UNITS = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}

# -- the one bounded parser for numbers and times --------------------------------------------------------
# Every number or time a user, a project file or a config gives goes through parse_int / parse_float /
# parse_time / parse_mem. Text is length-checked before int() or float() sees it: CPython refuses int() of
# more than 4300 digits with a ValueError, float() of a huge int raises OverflowError, and both cost time.

#: the longest text a number may have: a 64-bit int has 20 characters, a float's repr at most 24
MAX_NUMBER_CHARS = 40
#: the longest text a time limit or memory size may have ("365-00:00:00" has 12)
MAX_TIME_CHARS = 32
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_WHOLE = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_FLOAT_INT_LIMIT = 2**1023  # ints at or beyond it do not fit a float
FLOAT_EXPECTED = "a finite decimal number such as 0.01, 3 or 1e-3"


def shown(value: Any) -> str:
    """``value`` as a message may show it: short, and never a conversion that can fail or recurse."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        if abs(value) <= 10**MAX_NUMBER_CHARS:
            return str(value)
        digits = int(abs(value).bit_length() * 0.30102999566398120) + 1
        if abs(value) < 10 ** (digits - 1):
            digits -= 1
        return f"a number of {digits} digits"
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else f"{value[:20]!r}... ({len(value)} characters)"
    return f"a {type(value).__name__}"  # containers are never printed: they may be nested 100,000 deep


def _as_text(value: Any, max_chars: int) -> str | None:
    """A scalar as stripped text of at most ``max_chars``, or None (wrong type, huge, too long)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if abs(value) <= INT64_MAX else None
    if isinstance(value, float):
        text = repr(value) if math.isfinite(value) else ""
    elif isinstance(value, str):
        text = value.strip()
    else:
        return None
    return text if text and len(text) <= max_chars else None


def parse_int(
    what: str,
    value: Any,
    low: int,
    high: int,
    *,
    error: type[InvalidRequest] = ResourceError,
    expected: str = "a whole number",
    bounds: str | None = None,
) -> int:
    """A whole number in ``[low, high]`` from an int, an integral float or decimal text; ``error`` otherwise.

    ``what`` names the field in the message ("gpus", "parameter 'n'"); ``bounds`` says the range in words
    where "between low and high" would not read well.
    """
    out_of_range = error(f"{what} must be {bounds or f'between {low} and {high}'}, not {shown(value)}")
    if isinstance(value, bool):
        raise error(f"{what} must be {expected}, not {shown(value)}")
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        text = value.strip()
        if len(text.lstrip("+-")) > MAX_NUMBER_CHARS:
            raise out_of_range
        value = int(text)
    if not isinstance(value, int) or isinstance(value, bool):
        raise error(f"{what} must be {expected}, not {shown(value)}")
    if not low <= value <= high:
        raise out_of_range
    return value


def parse_float(
    what: str,
    value: Any,
    *,
    error: type[InvalidRequest] = ResourceError,
    expected: str = FLOAT_EXPECTED,
) -> float:
    """A finite float from a number or decimal text (no NaN, no infinity, no huge ints); ``error`` otherwise."""
    bad = error(f"{what} must be {expected}, not {shown(value)}")
    if isinstance(value, bool):
        raise bad
    if isinstance(value, int):
        if abs(value) >= _FLOAT_INT_LIMIT:
            raise bad
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_NUMBER_CHARS or not _DECIMAL.fullmatch(text):
            raise bad
        value = float(text)
    if not isinstance(value, float) or not math.isfinite(value):
        raise bad
    return value


def parse_time(value: Any) -> int:
    """Seconds from a Slurm time ("MM", "HH:MM:SS", "D-HH[:MM[:SS]]") or "90m", "2h", "1d"."""
    if isinstance(value, str) and not value.strip():
        raise ResourceError("time is empty: use HH:MM:SS, for example 01:30:00")
    raw = _as_text(value, MAX_TIME_CHARS)
    if raw is None:
        raise ResourceError(
            f"time {shown(value)} is not a time limit: use HH:MM:SS (01:30:00), D-HH:MM:SS or 90m, at most a year"
        )
    text = raw.lower()
    match = re.fullmatch(r"(\d+)\s*([smhd])", text, re.ASCII)
    if match:
        total = int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
        if not 0 < total <= MAX_TIME_S:
            raise ResourceError(f"time {shown(value)} must be more than zero and at most a year")
        return total
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text, re.ASCII)
    if not match:
        raise ResourceError(f"time {shown(value)} is not a time limit: use HH:MM:SS (01:30:00), D-HH:MM:SS or 90m")
    days, a, b, c = match.groups()
    nums = [int(x) for x in (a, b, c) if x is not None]
    if days is not None:
        # D-HH, D-HH:MM, D-HH:MM:SS
        hours, minutes, seconds = (nums + [0, 0])[:3]
        total = int(days) * 86400 + hours * 3600 + minutes * 60 + seconds
    elif len(nums) == 1:
        total = nums[0] * 60  # Slurm: a bare number is minutes
    elif len(nums) == 2:
        total = nums[0] * 60 + nums[1]
    else:
        total = nums[0] * 3600 + nums[1] * 60 + nums[2]
    if total <= 0:
        raise ResourceError(f"time {shown(value)} must be more than zero")
    if total > MAX_TIME_S:
        raise ResourceError(f"time {shown(value)} is more than a year: ask for at most 365-00:00:00")
    return total


def format_time(seconds: int) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    hms = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{hms}" if days else hms


def parse_mem(value: Any) -> int:
    """Megabytes from "16G", "500M", "16GB", "1T" or a bare number of megabytes."""
    raw = _as_text(value, MAX_TIME_CHARS)
    text = raw.upper().removesuffix("B") if raw is not None else ""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)I?", text, re.ASCII)
    if not match:
        raise ResourceError(f"mem {shown(value)} is not a memory size: use a number with a unit, like 16G or 500M")
    megabytes = float(match.group(1)) * _MEM_UNITS[match.group(2) or "M"]
    if megabytes < 1:
        raise ResourceError(f"mem {shown(value)} is less than 1M")
    if megabytes > 64 * 1024 * 1024:
        raise ResourceError(f"mem {shown(value)} is more than 64T")
    return int(megabytes)


def format_mem(megabytes: int) -> str:
    if megabytes % (1024 * 1024) == 0:
        return f"{megabytes // (1024 * 1024)}T"
    if megabytes % 1024 == 0:
        return f"{megabytes // 1024}G"
    return f"{megabytes}M"


def _int(key: str, value: Any, low: int, high: int) -> int:
    return parse_int(key, value, low, high)


def _name(key: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    # names are taken as given (no stripping): " gpu" is refused, not silently corrected
    text = value if isinstance(value, str) else _as_text(value, 64) if isinstance(value, int) else None
    if text is None or not SAFE_NAME.fullmatch(text):
        raise ResourceError(
            f"{key} {shown(value)} is not a valid name: use letters, digits, '_', '-' and '.' (at most 64)"
        )
    return text


def _parse_gres(value: Any) -> tuple[int, str | None]:
    """ "gpu:2", "gpu:a100:2", "gpu" -> (count, type)."""
    text = _as_text(value, 200)
    parts = text.split(":") if text is not None else []
    if not parts or parts[0] != "gpu" or len(parts) > 3:
        raise ResourceError(f"gres {shown(value)} is not understood: use gpu:N or gpu:TYPE:N")
    if len(parts) == 1:
        return 1, None
    if len(parts) == 2:
        if parts[1].isdigit():
            return _int("gres", parts[1], 0, MAX_GPUS), None
        return 1, _name("gpu_type", parts[1])
    return _int("gres", parts[2], 0, MAX_GPUS), _name("gpu_type", parts[1])


def normalise_keys(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Map aliases to canonical keys; reject unknown keys with the list of valid ones."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            raise ResourceError(f"resource key {shown(key)} must be a string")
        canon = ALIASES.get(key, key)
        if canon in IGNORED_KEYS:
            continue
        if canon == "gres":
            if value not in (None, ""):
                count, gpu_type = _parse_gres(value)
                out["gpus"] = count
                if gpu_type:
                    out["gpu_type"] = gpu_type
            continue
        if canon not in RESOURCE_KEYS:
            raise ResourceError(
                f"unknown resource {shown(key)}: valid resources are {', '.join(RESOURCE_KEYS)} "
                "(gateway_config.json may also use gres, cpus-per-task)"
            )
        out[canon] = value
    return out


def parse_resources(raw: Mapping[str, Any] | None, base: Resources | None = None) -> Resources:
    """Validate ``raw`` (from a form, the CLI, JSON or gateway_config.json) on top of ``base``."""
    if raw is not None and not isinstance(raw, Mapping):
        raise ResourceError("resources must be an object of name -> value")
    try:
        values = normalise_keys(raw or {})
    except MLTFError as exc:
        raise exc.about("resources") from None
    res = Resources(**(base.to_dict() if base else {}))
    for key, value in values.items():
        try:
            _set_resource(res, key, value)
        except MLTFError as exc:
            raise exc.about(f"resources.{key}") from None
    if res.gpu_type and not res.gpus:
        raise ResourceError(
            f"gpu_type {res.gpu_type!r} was given without gpus: also ask for gpus=1 or more", field="resources.gpus"
        )
    return res


def _set_resource(res: Resources, key: str, value: Any) -> None:
    """One validated resource value into ``res``; empty means the default again."""
    empty = {"gpus": 0, "nodes": 1}
    if value is None or value == "":
        setattr(res, key, empty.get(key))
    elif key == "gpus":
        res.gpus = _int("gpus", value, 0, MAX_GPUS)
    elif key == "nodes":
        res.nodes = _int("nodes", value, 1, MAX_NODES)
    elif key == "cpus":
        res.cpus = _int("cpus", value, 1, MAX_CPUS)
    elif key == "time":
        res.time = format_time(parse_time(value))
    elif key == "mem":
        res.mem = format_mem(parse_mem(value))
    else:
        setattr(res, key, _name(key, value))


def check_against_partitions(res: Resources, partitions: Iterable[Partition]) -> Resources:
    """Check a request against the cluster's partitions; fills in the default partition. The one place
    partition limits are checked: the REST check endpoint, the Lab dialog, the widget and the hub form use it."""
    parts = {p.name: p for p in partitions}
    if not parts:
        return res
    if res.partition is None:
        res.partition = _default_partition(res, parts).name
    part = parts.get(res.partition)
    if part is None:
        raise ResourceError(
            f"partition {res.partition!r} does not exist: choose one of {', '.join(sorted(parts))}",
            field="resources.partition",
        )
    if res.gpus:
        _check_gpus(res, part, parts)
    _check_limits(res, part)
    return res


def _default_partition(res: Resources, parts: dict[str, Partition]) -> Partition:
    """The cluster's default partition, or the first GPU partition when GPUs are asked for and it has none."""
    default = next((p for p in parts.values() if p.default), None)
    if res.gpus and (default is None or not default.gpus_per_node):
        default = next((p for p in parts.values() if p.gpus_per_node), default)
    if default is None:
        raise ResourceError(f"choose a partition: one of {', '.join(sorted(parts))}", field="resources.partition")
    return default


def _check_gpus(res: Resources, part: Partition, parts: dict[str, Partition]) -> None:
    if not part.gpus_per_node:
        with_gpus = sorted(p.name for p in parts.values() if p.gpus_per_node)
        hint = f": use partition {' or '.join(with_gpus)}" if with_gpus else ""
        raise ResourceError(f"partition {part.name!r} has no GPUs{hint}", field="resources.gpus")
    if res.gpus > part.gpus_per_node:
        raise ResourceError(
            f"gpus={res.gpus} is more than the {part.gpus_per_node} GPUs per node of partition "
            f"{part.name!r}: ask for at most {part.gpus_per_node} per node (use nodes for more)",
            field="resources.gpus",
        )
    if res.gpu_type and part.gpu_types and res.gpu_type not in part.gpu_types:
        raise ResourceError(
            f"gpu_type {res.gpu_type!r} is not in partition {part.name!r}: choose one of {', '.join(part.gpu_types)}",
            field="resources.gpu_type",
        )


def _check_limits(res: Resources, part: Partition) -> None:
    """Time, nodes, CPUs and memory against the partition's limits."""
    where = f"partition {part.name!r}"
    if res.time and part.max_time and parse_time(res.time) > parse_time(part.max_time):
        raise ResourceError(
            f"time {res.time} is over the limit of {where}: at most {part.max_time}", field="resources.time"
        )
    if res.nodes > part.nodes:
        raise ResourceError(f"nodes={res.nodes} is more than {where} has ({part.nodes})", field="resources.nodes")
    if part.max_nodes and res.nodes > part.max_nodes:
        raise ResourceError(
            f"nodes={res.nodes} is over the limit of {where}: {part.max_nodes}", field="resources.nodes"
        )
    if res.cpus and part.cpus_per_node and res.cpus > part.cpus_per_node:
        raise ResourceError(
            f"cpus={res.cpus} is more than the {part.cpus_per_node} CPUs per node of {where}", field="resources.cpus"
        )
    if res.mem and part.mem_per_node_mb and parse_mem(res.mem) > part.mem_per_node_mb:
        raise ResourceError(
            f"mem={res.mem} is more than the {format_mem(part.mem_per_node_mb)} per node of {where}",
            field="resources.mem",
        )


# -- nesting: JSON bodies and YAML files are walked without recursion ---------------------------------------

#: the deepest nesting of objects/arrays a request body or project file may have (a sweep needs 5)
MAX_NESTING = 16


_CONTAINERS = (dict, list, tuple)


def _child_containers(node: Any) -> list[Any]:
    values = node.values() if isinstance(node, dict) else node
    return [child for child in values if isinstance(child, _CONTAINERS)]


def _steps(node: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(node, dict):
        return ((f".{str(key)[:30]}", child) for key, child in node.items())
    return ((f"[{index}]", child) for index, child in enumerate(node))


def nesting_path(value: Any, limit: int = MAX_NESTING) -> str | None:
    """Where ``value`` nests more than ``limit`` objects/arrays deep (a path like ``params.word[0]``), or None.

    Iterative, linear in the number of distinct containers even when YAML aliases share them (a file of
    anchors can stand for 2**40 paths); a YAML value that contains itself counts as too deep.
    """
    heights: dict[int, int] = {}
    open_ids: set[int] = set()
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        node, children_done = stack.pop()
        if not isinstance(node, _CONTAINERS):
            continue
        key = id(node)
        if children_done:
            open_ids.discard(key)
            heights[key] = 1 + max((heights[id(child)] for child in _child_containers(node)), default=0)
            continue
        if key in heights:
            continue
        if key in open_ids:
            return "a value that contains itself"
        open_ids.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _child_containers(node))
    if heights.get(id(value), 0) <= limit:
        return None
    path, node = "", value
    for _ in range(limit):  # follow the deepest branch down to the first level over the limit
        step, node = max(
            ((step, child) for step, child in _steps(node) if isinstance(child, _CONTAINERS)),
            key=lambda item: heights[id(item[1])],
        )
        path += step
    return path.lstrip(".") or "the top level"


#: a gateway_config.json larger than this is not a handful of resource settings
MAX_GATEWAY_CONFIG_BYTES = 64 * 1024


def read_gateway_config(path: Path) -> dict[str, Any]:
    """A project's gateway_config.json as a dict, bounded (size, nesting, numbers) and with a ProjectError
    that names the file for anything malformed; parse_resources then checks each value."""
    name = path.name
    try:
        raw = path.read_bytes()[: MAX_GATEWAY_CONFIG_BYTES + 1]
    except OSError as exc:
        raise ProjectError(f"cannot read {name}: {exc.strerror}") from None
    if len(raw) > MAX_GATEWAY_CONFIG_BYTES:
        raise ProjectError(f"{name} is larger than {MAX_GATEWAY_CONFIG_BYTES // 1024} KiB: is it a gateway config?")
    try:
        data = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ProjectError(f"{name} is nested too deeply: at most {MAX_NESTING} levels") from None
    except (UnicodeDecodeError, ValueError):  # ValueError: also CPython's 4300-digit int() limit
        raise ProjectError(f"{name} is not valid JSON: fix it or remove it") from None
    if not isinstance(data, dict):
        raise ProjectError(f"{name} must be a JSON object of resource -> value")
    deep = nesting_path(data)
    if deep is not None:
        raise ProjectError(f"{name} is nested too deeply at {deep}: at most {MAX_NESTING} levels")
    return data
