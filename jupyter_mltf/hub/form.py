"""The spawn form of a hub session: presets plus an advanced choice, bounded by the cluster's partitions.

Pure functions (no Slurm, no JupyterHub) so that the spawner and the tests share them:
:func:`options_from_formdata` turns the posted form into ``user_options``, :func:`resolve_options` validates
``user_options`` (from the form or the REST API) against the partitions, :func:`render_form` writes the HTML.
(Just over 400 lines: parsing the posted form and rendering it back, marked, share the field table.)
Every limit is checked by :func:`jupyter_mltf.resources.check_against_partitions` alone; the form only shows
the limits as hints. A refused option names its form input in ``ResourceError.field`` (``gpus``, ``time``,
``preset``...), and :func:`render_form` marks that input when the form is shown again.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import MLTFError, ResourceError
from ..models import Partition, Resources
from ..resources import check_against_partitions, format_mem, parse_resources, shown

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
        raise ResourceError(f"session option {key} must be {expected}, not {shown(value)}", field=key)
    if isinstance(value, str):
        if len(value) > MAX_OPTION_CHARS:
            raise ResourceError(
                f"session option {key} is {len(value)} characters long: use at most {MAX_OPTION_CHARS}, "
                f"like {EXAMPLES[key]!r}",
                field=key,
            )
        bad = _control_character(value)
        if bad:
            raise ResourceError(
                f"session option {key} {shown(value)} contains the control character {bad}: use plain text",
                field=key,
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
    """Validate ``user_options`` (form or REST) and return the session's resources; raises ResourceError
    whose ``field`` is the form input to mark (``gpus``, ``time``, ``preset``...) or None.

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
                f"unknown preset {shown(preset)}: choose one of {', '.join(known) or 'none'} or {CUSTOM}",
                field="preset",
            )
        raw.update(known[str(preset)].get("resources") or {})
    raw.update(options)
    parts = list(partitions)
    try:
        res = parse_resources(raw)
        if res.nodes != 1:
            raise ResourceError("a notebook session runs on one node: leave nodes at 1", field="resources.nodes")
        res = check_against_partitions(res, parts)
    except MLTFError as exc:
        exc.field = _form_field(exc.field, given=options, from_preset=preset != CUSTOM)
        raise
    if res.time is None:
        part = next((p for p in parts if p.name == res.partition), None)
        res.time = (part.default_time if part else None) or FALLBACK_TIME
    return res


def _form_field(field: str | None, *, given: Mapping[str, Any], from_preset: bool) -> str | None:
    """The form input an error of :mod:`jupyter_mltf.resources` is about (``resources.gpus`` -> ``gpus``);
    a value the chosen preset gave (not the user) is the preset's fault."""
    key = field.removeprefix("resources.") if field and field.startswith("resources.") else None
    if key in given or (key in FIELDS and not from_preset):
        return key
    return "preset" if from_preset else None


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

esc = html.escape


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


class _Marks:
    """What marks the one input a refusal is about: Bootstrap's ``is-invalid``, ``aria-invalid`` and the
    message right below the input (JupyterHub shows it above the form as well)."""

    def __init__(self, invalid: tuple[str, str] | None) -> None:
        self.field, self.message = invalid if invalid else ("", "")

    def css(self, name: str) -> str:
        return " is-invalid" if name == self.field else ""

    def aria(self, name: str) -> str:
        return f' aria-invalid="true" aria-describedby="mltf-{name}-error"' if name == self.field else ""

    def feedback(self, name: str) -> str:
        if name != self.field:
            return ""
        return f'<div class="invalid-feedback d-block" id="mltf-{name}-error">{esc(self.message)}</div>'


def _presets_html(presets: Sequence[Mapping[str, Any]], chosen: str, marks: _Marks) -> str:
    out = ['<fieldset class="mb-3"><legend class="fs-5">Session</legend>']
    css, aria = marks.css("preset"), marks.aria("preset")
    for preset in presets:
        key, label = esc(str(preset["key"])), esc(str(preset["label"]))
        checked = " checked" if preset["key"] == chosen else ""
        out.append(
            f'<div class="form-check"><input class="form-check-input{css}" type="radio" name="preset" '
            f'id="mltf-preset-{key}" value="{key}"{checked}{aria}>'
            f'<label class="form-check-label" for="mltf-preset-{key}"><strong>{label}</strong> '
            f'<span class="text-muted">({esc(_preset_line(preset))})</span></label></div>'
        )
    checked = " checked" if chosen == CUSTOM else ""
    out.append(
        f'<div class="form-check"><input class="form-check-input{css}" type="radio" name="preset" '
        f'id="mltf-preset-custom" value="{CUSTOM}"{checked}{aria}>'
        '<label class="form-check-label" for="mltf-preset-custom"><strong>Advanced</strong> '
        '<span class="text-muted">(the values below)</span></label></div>'
    )
    out.append(marks.feedback("preset") + "</fieldset>")
    return "".join(out)


def _partition_html(partitions: Sequence[Partition], current: str, marks: _Marks) -> str:
    css, aria = marks.css("partition"), marks.aria("partition")
    if partitions:
        opts = []
        for part in partitions:
            sel = " selected" if part.name == current else ""
            label = f"{part.name}{' (default)' if part.default else ''}: {_describe(part)}"
            opts.append(f'<option value="{esc(part.name)}"{sel}>{esc(label)}</option>')
        field = (
            f'<select class="form-select{css}" name="partition" id="mltf-partition"{aria}>{"".join(opts)}</select>'
        )
    else:
        field = (
            f'<input class="form-control{css}" name="partition" id="mltf-partition" '
            f'value="{esc(current)}" placeholder="cluster default"{aria}>'
        )
    return (
        '<div class="col-12"><label class="form-label" for="mltf-partition">Partition</label>'
        f"{field}{marks.feedback('partition')}</div>"
    )


def _gpu_type_html(partitions: Sequence[Partition], current: str, marks: _Marks) -> str:
    gpu_types = sorted({t for p in partitions for t in p.gpu_types})
    if current and current not in gpu_types:
        gpu_types.append(current)  # a refused type stays visible, marked, so the user sees what was wrong
    opts = ['<option value="">any</option>'] + [
        f'<option value="{esc(t)}"{" selected" if t == current else ""}>{esc(t)}</option>' for t in gpu_types
    ]
    return (
        '<div class="col-sm-6"><label class="form-label" for="mltf-gpu_type">GPU type</label>'
        f'<select class="form-select{marks.css("gpu_type")}" name="gpu_type" id="mltf-gpu_type"'
        f'{marks.aria("gpu_type")}>{"".join(opts)}</select>{marks.feedback("gpu_type")}</div>'
    )


def _input_html(name: str, label: str, value: Any, hint: str, marks: _Marks, kind: str) -> str:
    """One advanced input; ``kind`` holds its type/min/placeholder attributes. No partition's maximum is an
    attribute: the browser would refuse on its own terms what the server explains (the hint shows it)."""
    shown_value = "" if value is None else str(value)
    return (
        f'<div class="col-sm-6"><label class="form-label" for="mltf-{name}">{label}</label>'
        f'<input class="form-control{marks.css(name)}" {kind}name="{name}" id="mltf-{name}" '
        f'value="{esc(shown_value)}"{marks.aria(name)}>{marks.feedback(name)}'
        f'<div class="form-text">{esc(hint)}</div></div>'
    )


def _limit_hints(partitions: Sequence[Partition]) -> dict[str, str]:
    """The partitions' limits in words, under each input (hints only: the server checks them)."""
    max_gpus = max((p.gpus_per_node for p in partitions), default=0)
    max_cpus = max((p.cpus_per_node or 0 for p in partitions), default=0)
    max_mem = max((p.mem_per_node_mb or 0 for p in partitions), default=0)
    max_times = sorted({f"{p.name}: {p.max_time}" for p in partitions if p.max_time})
    return {
        "gpus": f"0 to {max_gpus} per node",
        "cpus": f"at most {max_cpus}" if max_cpus else "",
        "mem": f"like 8G or 500M; at most {format_mem(max_mem)}" if max_mem else "like 8G",
        "time": "HH:MM:SS or D-HH:MM:SS" + (f"; limits {', '.join(max_times)}" if max_times else ""),
    }


def render_form(
    presets: Sequence[Mapping[str, Any]],
    partitions: Sequence[Partition],
    selected: Mapping[str, Any] | None = None,
    notice: str = "",
    invalid: tuple[str, str] | None = None,
) -> str:
    """The options form (inside JupyterHub's own <form>; Bootstrap 5 classes, works without JavaScript).

    ``selected`` pre-fills the inputs (the last choice, or the values just refused); ``invalid`` is
    ``(input name, message)`` of a refusal, shown on that input.
    """
    selected = dict(selected or {})
    marks = _Marks(invalid)
    chosen = str(selected.get("preset") or (presets[0]["key"] if presets else CUSTOM))
    if chosen != CUSTOM and chosen not in _by_key(presets):
        chosen = str(presets[0]["key"]) if presets else CUSTOM
    out: list[str] = ['<div class="mltf-spawn-form">']
    if notice:
        out.append(f'<div class="alert alert-warning" role="status">{esc(notice)}</div>')
    out.append(_presets_html(presets, chosen, marks))
    open_attr = " open" if chosen == CUSTOM or marks.field in FIELDS else ""
    out.append(f'<details class="mb-3"{open_attr}><summary>Advanced: partition, GPUs, CPUs, memory, time</summary>')
    out.append('<div class="row g-2 mt-1" oninput="document.getElementById(\'mltf-preset-custom\').checked=true">')
    current_part = str(selected.get("partition") or next((p.name for p in partitions if p.default), ""))
    out.append(_partition_html(partitions, current_part, marks))
    out.append(_gpu_type_html(partitions, str(selected.get("gpu_type") or ""), marks))
    hints = _limit_hints(partitions)
    out.append(_input_html("gpus", "GPUs", selected.get("gpus", 0), hints["gpus"], marks, 'type="number" min="0" '))
    out.append(_input_html("cpus", "CPUs", selected.get("cpus"), hints["cpus"], marks, 'type="number" min="1" '))
    out.append(_input_html("mem", "Memory", selected.get("mem"), hints["mem"], marks, 'placeholder="8G" '))
    out.append(_input_html("time", "Time limit", selected.get("time"), hints["time"], marks, 'placeholder="04:00:00" '))
    out.append("</div></details></div>")
    return "\n".join(out)
