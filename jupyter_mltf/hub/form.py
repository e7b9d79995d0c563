"""The spawn form of a hub session: presets plus an advanced choice, bounded by the cluster's partitions.

Pure functions (no Slurm, no JupyterHub) so that the spawner and the tests share them:
:func:`options_from_formdata` turns the posted form into ``user_options``, :func:`resolve_options` validates
``user_options`` (from the form or the REST API) against the partitions, :func:`render_form` writes the HTML.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import ResourceError
from ..models import Partition, Resources
from ..resources import check_against_partitions, format_mem, parse_resources, parse_time, shown

#: the fields of the advanced form, in the order they are shown
FIELDS = ("partition", "gpu_type", "gpus", "cpus", "mem", "time")
CUSTOM = "custom"
FALLBACK_TIME = "01:00:00"
#: fields given as whole numbers; the others are text (a time or memory size may also be a whole number)
INT_FIELDS = ("gpus", "cpus")
#: the longest text a session option may have (names are at most 64, times and sizes far less)
MAX_OPTION_CHARS = 64
#: what each option looks like, for the messages
EXAMPLES = {
    "preset": "gpu1",
    "partition": "gpu",
    "gpu_type": "a100",
    "gpus": "1",
    "cpus": "4",
    "mem": "8G",
    "time": "04:00:00",
}

#: the presets without ``MLTFSlurmSpawner.presets`` configured; no partition = the cluster's choice
DEFAULT_PRESETS: list[dict[str, Any]] = [
    {
        "key": "gpu1",
        "label": "1 GPU, 4 h",
        "resources": {"gpus": 1, "cpus": 2, "mem": "8G", "time": "04:00:00"},
    },
    {
        "key": "gpu2",
        "label": "2 GPUs, 8 h",
        "resources": {"gpus": 2, "cpus": 4, "mem": "12G", "time": "08:00:00"},
    },
    {
        "key": "cpu",
        "label": "CPU only, 4 h",
        "resources": {"gpus": 0, "cpus": 2, "mem": "4G", "time": "04:00:00"},
    },
]

# Slurm's pending reasons, said in words (the code is shown as well)
PENDING_REASONS = {
    "Resources": "waiting for GPUs/CPUs/memory to become free",
    "Priority": "other jobs are ahead of it in the queue",
    "None": "the scheduler has not looked at it yet",
    "BeginTime": "its start time has not come yet",
    "Dependency": "waiting for another job to finish",
    "ReqNodeNotAvail": "the nodes it needs are not available (down, drained or reserved)",
    "PartitionDown": "the partition is down",
    "PartitionInactive": "the partition is inactive",
    "PartitionTimeLimit": "the time asked for is over the partition's limit",
    "JobHeldUser": "held by you (scontrol release <id>)",
    "JobHeldAdmin": "held by an administrator",
    "QOSMaxGRESPerUser": "you already use as many GPUs as your QOS allows",
    "QOSMaxJobsPerUserLimit": "you already run as many jobs as your QOS allows",
    "AssocGrpGRES": "your account's GPU quota is in use",
    "AssocMaxJobsLimit": "your account already runs as many jobs as allowed",
}


def explain_reason(reason: str | None) -> str:
    """Slurm's pending reason in words: 'waiting for ... (Resources)'."""
    if not reason:
        return "no reason given yet"
    words = PENDING_REASONS.get(reason)
    if words is None and reason.startswith(("QOS", "Assoc")):
        words = "a limit of your account or QOS is reached"
    return f"{words} ({reason})" if words else reason


def check_presets(presets: Sequence[Mapping[str, Any]]) -> None:
    """Raise ValueError for a malformed preset list (a site's config mistake, not a user's)."""
    keys = set()
    for preset in presets:
        if not isinstance(preset.get("key"), str) or not preset["key"] or preset["key"] == CUSTOM:
            raise ValueError(f"preset {preset!r} needs a 'key' (a non-empty string other than {CUSTOM!r})")
        if preset["key"] in keys:
            raise ValueError(f"preset key {preset['key']!r} is used twice")
        keys.add(preset["key"])
        parse_resources(preset.get("resources") or {})


def _first(formdata: Mapping[str, Any], key: str) -> str:
    value = formdata.get(key, "")
    if isinstance(value, (list, tuple)):
        value = value[0] if value else ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).strip()


def options_from_formdata(formdata: Mapping[str, Any], presets: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The posted form (``{name: [value]}``) as raw ``user_options``: ``{"preset": key, field: value...}``."""
    preset = _first(formdata, "preset") or (presets[0]["key"] if presets else CUSTOM)
    options: dict[str, Any] = {"preset": preset}
    if preset == CUSTOM:
        for key in FIELDS:
            value = _first(formdata, key)
            if value != "":
                options[key] = value
    return options


def _by_key(presets: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(p["key"]): p for p in presets}


def _control_character(text: str) -> str | None:
    """The first control, format (bidi, zero-width), surrogate or line/paragraph separator character."""
    for char in text:
        if unicodedata.category(char)[0] == "C" or unicodedata.category(char) in ("Zl", "Zp"):
            return f"U+{ord(char):04X}"
    return None


def _check_option(key: str, value: Any) -> None:
    """One option's type and size, before any parsing: text, a whole number (gpus, cpus, time, mem) or null;
    short; no control characters."""
    if value is None:
        return
    expected = f"a whole number such as {EXAMPLES[key]}" if key in INT_FIELDS else f"text such as {EXAMPLES[key]!r}"
    numbers_allowed = key in (*INT_FIELDS, "time", "mem")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or (isinstance(value, int) and not numbers_allowed):
        raise ResourceError(f"session option {key} must be {expected}, not {shown(value)}")
    if isinstance(value, str):
        if len(value) > MAX_OPTION_CHARS:
            raise ResourceError(
                f"session option {key} is {len(value)} characters long: use at most {MAX_OPTION_CHARS}, "
                f"like {EXAMPLES[key]!r}"
            )
        bad = _control_character(value)
        if bad:
            raise ResourceError(
                f"session option {key} {shown(value)} contains the control character {bad}: use plain text"
            )


def check_user_options(user_options: Any) -> dict[str, Any]:
    """``user_options`` as they came (form or REST JSON) -> a dict of known keys with values of sane types.

    Raises ResourceError with what to fix for anything else (not an object, unknown or non-text keys, lists,
    objects, booleans, floats, huge or control-character text), so nothing unchecked reaches the parsers.
    """
    if user_options is None:
        return {}
    if not isinstance(user_options, Mapping):
        raise ResourceError(f'session options must be an object like {{"preset": "gpu1"}}, not {shown(user_options)}')
    allowed = ("preset", *FIELDS)
    unknown = [k for k in user_options if k not in allowed]
    if unknown:
        names = ", ".join(shown(k) for k in unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise ResourceError(f"unknown session option {names}: use {', '.join(allowed)}")
    options = dict(user_options)
    for key, value in options.items():
        _check_option(key, value)
    return options


def resolve_options(
    user_options: Mapping[str, Any] | None,
    presets: Sequence[Mapping[str, Any]],
    partitions: Iterable[Partition],
) -> Resources:
    """Validate ``user_options`` (form or REST) and return the session's resources; raises ResourceError.

    ``{}`` means the first preset. A preset may be combined with explicit fields, which win
    (``{"preset": "gpu1", "time": "02:00:00"}``). Fields are the advanced form's: partition, gpu_type,
    gpus, cpus, mem, time.
    """
    options = check_user_options(user_options)
    known = _by_key(presets)
    preset = options.pop("preset", None)
    if preset in (None, ""):
        preset = next(iter(known), CUSTOM) if not options else CUSTOM
    raw: dict[str, Any] = {}
    if preset != CUSTOM:
        if preset not in known:
            raise ResourceError(
                f"unknown preset {shown(preset)}: choose one of {', '.join(known) or 'none'} or {CUSTOM}"
            )
        raw.update(known[str(preset)].get("resources") or {})
    raw.update(options)
    res = parse_resources(raw)
    if res.nodes != 1:
        raise ResourceError("a notebook session runs on one node: leave nodes at 1")
    parts = list(partitions)
    part = next((p for p in parts if p.name == res.partition), None)
    if res.time and part and part.max_time and parse_time(res.time) > parse_time(part.max_time):
        raise ResourceError(
            f"time {raw.get('time')} is over the limit of partition {part.name!r}: at most {part.max_time}"
        )
    res = check_against_partitions(res, parts)
    if res.time is None:
        part = next((p for p in parts if p.name == res.partition), None)
        res.time = (part.default_time if part else None) or FALLBACK_TIME
    return res


def resources_to_options(preset: str, res: Resources) -> dict[str, Any]:
    """The normalised ``user_options`` stored for a session (and pre-selected in the form next time)."""
    return {
        "preset": preset,
        "partition": res.partition,
        "gpu_type": res.gpu_type,
        "gpus": res.gpus,
        "cpus": res.cpus,
        "mem": res.mem,
        "time": res.time,
    }


def gres_for(res: Resources) -> str:
    """``--gres`` value for the session's GPUs ('' for none)."""
    if not res.gpus:
        return ""
    return f"gpu:{res.gpu_type}:{res.gpus}" if res.gpu_type else f"gpu:{res.gpus}"


# ------------------------------------------------------------------------------------------------ HTML


def _describe(part: Partition) -> str:
    bits = []
    if part.gpus_per_node:
        types = "/".join(part.gpu_types)
        bits.append(f"{part.gpus_per_node} GPU{'s' if part.gpus_per_node > 1 else ''}" + (f" {types}" if types else ""))
    else:
        bits.append("no GPUs")
    if part.cpus_per_node:
        bits.append(f"{part.cpus_per_node} CPUs")
    if part.mem_per_node_mb:
        bits.append(format_mem(part.mem_per_node_mb) + " memory")
    bits.append(f"max time {part.max_time or 'unlimited'}")
    if part.state and part.state != "up":
        bits.append(f"state {part.state}")
    return ", ".join(bits) + " per node"


def _preset_line(preset: Mapping[str, Any]) -> str:
    res = preset.get("resources") or {}
    bits = [f"partition {res['partition']}" if res.get("partition") else "default partition"]
    if res.get("cpus"):
        bits.append(f"{res['cpus']} CPUs")
    if res.get("mem"):
        bits.append(f"{res['mem']} memory")
    return ", ".join(bits)


def render_form(
    presets: Sequence[Mapping[str, Any]],
    partitions: Sequence[Partition],
    selected: Mapping[str, Any] | None = None,
    notice: str = "",
) -> str:
    """The options form (inside JupyterHub's own <form>; Bootstrap 5 classes, works without JavaScript)."""
    esc = html.escape
    selected = dict(selected or {})
    chosen = str(selected.get("preset") or (presets[0]["key"] if presets else CUSTOM))
    if chosen != CUSTOM and chosen not in _by_key(presets):
        chosen = str(presets[0]["key"]) if presets else CUSTOM
    out: list[str] = ['<div class="mltf-spawn-form">']
    if notice:
        out.append(f'<div class="alert alert-warning" role="status">{esc(notice)}</div>')
    out.append('<fieldset class="mb-3"><legend class="fs-5">Session</legend>')
    for preset in presets:
        key, label = esc(str(preset["key"])), esc(str(preset["label"]))
        checked = " checked" if preset["key"] == chosen else ""
        out.append(
            f'<div class="form-check"><input class="form-check-input" type="radio" name="preset" '
            f'id="mltf-preset-{key}" value="{key}"{checked}>'
            f'<label class="form-check-label" for="mltf-preset-{key}"><strong>{label}</strong> '
            f'<span class="text-muted">({esc(_preset_line(preset))})</span></label></div>'
        )
    checked = " checked" if chosen == CUSTOM else ""
    out.append(
        f'<div class="form-check"><input class="form-check-input" type="radio" name="preset" '
        f'id="mltf-preset-custom" value="{CUSTOM}"{checked}>'
        '<label class="form-check-label" for="mltf-preset-custom"><strong>Advanced</strong> '
        '<span class="text-muted">(the values below)</span></label></div></fieldset>'
    )

    max_gpus = max((p.gpus_per_node for p in partitions), default=0)
    max_cpus = max((p.cpus_per_node or 0 for p in partitions), default=0)
    gpu_types = sorted({t for p in partitions for t in p.gpu_types})
    current_part = selected.get("partition") or next((p.name for p in partitions if p.default), "")
    open_attr = " open" if chosen == CUSTOM else ""
    out.append(f'<details class="mb-3"{open_attr}><summary>Advanced: partition, GPUs, CPUs, memory, time</summary>')
    out.append('<div class="row g-2 mt-1" oninput="document.getElementById(\'mltf-preset-custom\').checked=true">')
    # partition
    opts = []
    for part in partitions:
        sel = " selected" if part.name == current_part else ""
        label = f"{part.name}{' (default)' if part.default else ''}: {_describe(part)}"
        opts.append(f'<option value="{esc(part.name)}"{sel}>{esc(label)}</option>')
    if partitions:
        field = f'<select class="form-select" name="partition" id="mltf-partition">{"".join(opts)}</select>'
    else:
        field = (
            f'<input class="form-control" name="partition" id="mltf-partition" '
            f'value="{esc(str(current_part or ""))}" placeholder="cluster default">'
        )
    out.append(f'<div class="col-12"><label class="form-label" for="mltf-partition">Partition</label>{field}</div>')
    # GPU type
    cur_type = str(selected.get("gpu_type") or "")
    type_opts = ['<option value="">any</option>'] + [
        f'<option value="{esc(t)}"{" selected" if t == cur_type else ""}>{esc(t)}</option>' for t in gpu_types
    ]
    out.append(
        '<div class="col-sm-6"><label class="form-label" for="mltf-gpu_type">GPU type</label>'
        f'<select class="form-select" name="gpu_type" id="mltf-gpu_type">{"".join(type_opts)}</select></div>'
    )

    def number(name: str, label: str, value: Any, low: int, high: int, hint: str) -> str:
        bound = f' max="{high}"' if high else ""
        return (
            f'<div class="col-sm-6"><label class="form-label" for="mltf-{name}">{label}</label>'
            f'<input class="form-control" type="number" name="{name}" id="mltf-{name}" min="{low}"{bound} '
            f'value="{esc(str(value if value not in (None, "") else ""))}">'
            f'<div class="form-text">{esc(hint)}</div></div>'
        )

    def text(name: str, label: str, value: Any, placeholder: str, hint: str) -> str:
        return (
            f'<div class="col-sm-6"><label class="form-label" for="mltf-{name}">{label}</label>'
            f'<input class="form-control" name="{name}" id="mltf-{name}" placeholder="{esc(placeholder)}" '
            f'value="{esc(str(value or ""))}"><div class="form-text">{esc(hint)}</div></div>'
        )

    out.append(number("gpus", "GPUs", selected.get("gpus", 0), 0, max_gpus, f"0 to {max_gpus} per node"))
    out.append(number("cpus", "CPUs", selected.get("cpus"), 1, max_cpus, f"at most {max_cpus}" if max_cpus else ""))
    max_mem = max((p.mem_per_node_mb or 0 for p in partitions), default=0)
    out.append(
        text(
            "mem",
            "Memory",
            selected.get("mem"),
            "8G",
            f"like 8G or 500M; at most {format_mem(max_mem)}" if max_mem else "like 8G",
        )
    )
    max_times = sorted({f"{p.name}: {p.max_time}" for p in partitions if p.max_time})
    out.append(
        text(
            "time",
            "Time limit",
            selected.get("time"),
            "04:00:00",
            "HH:MM:SS or D-HH:MM:SS" + (f"; limits {', '.join(max_times)}" if max_times else ""),
        )
    )
    out.append("</div></details></div>")
    return "\n".join(out)
