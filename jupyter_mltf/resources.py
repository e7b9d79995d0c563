"""Parse and validate resource requests (GPUs, time, memory...) from any surface.

One source of truth for resource keys: :data:`RESOURCE_KEYS`. Values from users, from a project's
``gateway_config.json`` and from config files all pass through :func:`parse_resources`, and are checked
against the cluster's partitions with :func:`check_against_partitions`. Everything that reaches a batch
script is either an integer or matches :data:`SAFE_NAME`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ResourceError
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


def parse_time(value: Any) -> int:
    """Seconds from a Slurm time ("MM", "HH:MM:SS", "D-HH[:MM[:SS]]") or "90m", "2h", "1d"."""
    text = str(value).strip().lower()
    if not text:
        raise ResourceError("time is empty: use HH:MM:SS, for example 01:30:00")
    match = re.fullmatch(r"(\d+)\s*([smhd])", text)
    if match:
        total = int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
        if not 0 < total <= MAX_TIME_S:
            raise ResourceError(f"time {value!r} must be more than zero and at most a year")
        return total
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if not match:
        raise ResourceError(f"time {value!r} is not a time limit: use HH:MM:SS (01:30:00), D-HH:MM:SS or 90m")
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
        raise ResourceError(f"time {value!r} must be more than zero")
    if total > MAX_TIME_S:
        raise ResourceError(f"time {value!r} is more than a year: ask for at most 365-00:00:00")
    return total


def format_time(seconds: int) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    hms = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{hms}" if days else hms


def parse_mem(value: Any) -> int:
    """Megabytes from "16G", "500M", "16GB", "1T" or a bare number of megabytes."""
    text = str(value).strip().upper().removesuffix("B")
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)I?", text)
    if not match:
        raise ResourceError(f"mem {value!r} is not a memory size: use a number with a unit, like 16G or 500M")
    megabytes = float(match.group(1)) * _MEM_UNITS[match.group(2) or "M"]
    if megabytes < 1:
        raise ResourceError(f"mem {value!r} is less than 1M")
    if megabytes > 64 * 1024 * 1024:
        raise ResourceError(f"mem {value!r} is more than 64T")
    return int(megabytes)


def format_mem(megabytes: int) -> str:
    if megabytes % (1024 * 1024) == 0:
        return f"{megabytes // (1024 * 1024)}T"
    if megabytes % 1024 == 0:
        return f"{megabytes // 1024}G"
    return f"{megabytes}M"


def _int(key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise ResourceError(f"{key} must be a whole number, not {value!r}")
    try:
        number = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise ResourceError(f"{key} must be a whole number, not {value!r}") from None
    if not low <= number <= high:
        raise ResourceError(f"{key} must be between {low} and {high}, not {number}")
    return number


def _name(key: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = str(value)
    if not SAFE_NAME.fullmatch(text):
        raise ResourceError(f"{key} {text!r} is not a valid name: use letters, digits, '_', '-' and '.' (at most 64)")
    return text


def _parse_gres(value: Any) -> tuple[int, str | None]:
    """ "gpu:2", "gpu:a100:2", "gpu" -> (count, type)."""
    parts = str(value).strip().split(":")
    if not parts or parts[0] != "gpu" or len(parts) > 3:
        raise ResourceError(f"gres {value!r} is not understood: use gpu:N or gpu:TYPE:N")
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
            raise ResourceError(f"resource key {key!r} must be a string")
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
                f"unknown resource {key!r}: valid resources are {', '.join(RESOURCE_KEYS)} "
                "(gateway_config.json may also use gres, cpus-per-task)"
            )
        out[canon] = value
    return out


def parse_resources(raw: Mapping[str, Any] | None, base: Resources | None = None) -> Resources:
    """Validate ``raw`` (from a form, the CLI, JSON or gateway_config.json) on top of ``base``."""
    if raw is not None and not isinstance(raw, Mapping):
        raise ResourceError("resources must be an object of name -> value")
    values = normalise_keys(raw or {})
    res = Resources(**(base.to_dict() if base else {}))
    for key, value in values.items():
        if value is None or value == "":
            if key in ("gpus",):
                res.gpus = 0
            elif key == "nodes":
                res.nodes = 1
            else:
                setattr(res, key, None)
            continue
        if key == "gpus":
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
    if res.gpu_type and not res.gpus:
        raise ResourceError(f"gpu_type {res.gpu_type!r} was given without gpus: also ask for gpus=1 or more")
    return res


def check_against_partitions(res: Resources, partitions: Iterable[Partition]) -> Resources:
    """Check a request against the cluster's partitions; fills in the default partition."""
    parts = {p.name: p for p in partitions}
    if not parts:
        return res
    if res.partition is None:
        default = next((p for p in parts.values() if p.default), None)
        if res.gpus:
            gpu_parts = [p for p in parts.values() if p.gpus_per_node]
            if default is None or not default.gpus_per_node:
                default = gpu_parts[0] if gpu_parts else default
        if default is None:
            raise ResourceError(f"choose a partition: one of {', '.join(sorted(parts))}")
        res.partition = default.name
    part = parts.get(res.partition)
    if part is None:
        raise ResourceError(f"partition {res.partition!r} does not exist: choose one of {', '.join(sorted(parts))}")
    if res.gpus:
        if not part.gpus_per_node:
            with_gpus = sorted(p.name for p in parts.values() if p.gpus_per_node)
            hint = f": use partition {' or '.join(with_gpus)}" if with_gpus else ""
            raise ResourceError(f"partition {part.name!r} has no GPUs{hint}")
        if res.gpus > part.gpus_per_node:
            raise ResourceError(
                f"gpus={res.gpus} is more than the {part.gpus_per_node} GPUs per node of partition "
                f"{part.name!r}: ask for at most {part.gpus_per_node} per node (use nodes for more)"
            )
        if res.gpu_type and part.gpu_types and res.gpu_type not in part.gpu_types:
            raise ResourceError(
                f"gpu_type {res.gpu_type!r} is not in partition {part.name!r}: "
                f"choose one of {', '.join(part.gpu_types)}"
            )
    if res.time and part.max_time and parse_time(res.time) > parse_time(part.max_time):
        raise ResourceError(f"time {res.time} is over the limit of partition {part.name!r}: at most {part.max_time}")
    if res.nodes > part.nodes:
        raise ResourceError(f"nodes={res.nodes} is more than partition {part.name!r} has ({part.nodes})")
    if part.max_nodes and res.nodes > part.max_nodes:
        raise ResourceError(f"nodes={res.nodes} is over the limit of partition {part.name!r}: {part.max_nodes}")
    if res.cpus and part.cpus_per_node and res.cpus > part.cpus_per_node:
        raise ResourceError(
            f"cpus={res.cpus} is more than the {part.cpus_per_node} CPUs per node of partition {part.name!r}"
        )
    if res.mem and part.mem_per_node_mb and parse_mem(res.mem) > part.mem_per_node_mb:
        raise ResourceError(
            f"mem={res.mem} is more than the {format_mem(part.mem_per_node_mb)} per node of partition {part.name!r}"
        )
    return res
