"""Entry points and their parameters: typed values checked, commands rendered with every value shell-quoted.

Pure (no server state): submit checks parameters and renders the job's command with it; a sweep task on
the node renders each trial's command with the same code (jupyter_mltf/node/sweep_task.py).
"""

from __future__ import annotations

import math
import re
import shlex
import string
from dataclasses import dataclass, field
from typing import Any

from .errors import MLTFError, ProjectError
from .resources import MAX_NUMBER_CHARS, parse_float, parse_int, shown

PARAM_NAME = _PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
#: a command template field: a parameter name, nothing else (no attribute access, indexing, conversion or format
#: spec: ``str.format`` would run those on the value, or fail with AttributeError/IndexError)
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")


@dataclass
class Parameter:
    name: str
    type: str = "string"
    default: Any = None

    @property
    def required(self) -> bool:
        return self.default is None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "default": self.default, "required": self.required}


@dataclass
class EntryPoint:
    name: str
    command: str
    parameters: dict[str, Parameter] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "command": self.command,
            "parameters": [p.to_dict() for p in self.parameters.values()],
        }


# ---------------------------------------------------------------------------------------------------------
# parameters


def coerce_param(param: Parameter, value: Any, *, source: str = "parameter") -> Any:
    """Check ``value`` against the parameter's type; returns the typed value.

    Numbers go through the bounded parsers of :mod:`.resources`: a float is finite, an int fits 64 bits,
    and text is length-checked before int()/float() sees it.
    """
    what = f"{source} {param.name!r}"
    if isinstance(value, str) and "\x00" in value:
        raise ProjectError(f"{what} contains a NUL byte")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ProjectError(f"{what} is not valid UTF-8 text: use UTF-8") from None
    if param.type == "float":
        return parse_float(what, value, error=ProjectError, expected=f"float ({FLOAT_WORDS})")
    if param.type == "int":
        return parse_int(
            what,
            value,
            -INT_PARAM_MAX,
            INT_PARAM_MAX,
            error=ProjectError,
            expected=f"int ({INT_WORDS})",
            bounds=f"int ({INT_WORDS})",
        )
    if param.type == "bool":
        text = value.strip().lower() if isinstance(value, str) else value
        if text in (True, 1, "1", "true", "yes", "on") and not isinstance(text, float):
            return True
        if text in (False, 0, "0", "false", "no", "off") and not isinstance(text, float):
            return False
        raise ProjectError(f"{what} must be bool (true or false), not {shown(value)}")
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or isinstance(value, int) and abs(value) <= INT_PARAM_MAX:
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(value)
    raise ProjectError(
        f"{what} must be a {param.type} (text, or a number of at most {MAX_NUMBER_CHARS} digits), not {shown(value)}"
    )


FLOAT_WORDS = "a finite decimal number such as 0.01, 3 or 1e-3"
#: int parameters: any whole number a script's argparse can take, up to MAX_NUMBER_CHARS digits (bounded so
#: that no int() ever sees thousands of digits); jobs that need 64 bits check that themselves
INT_PARAM_MAX = 10**MAX_NUMBER_CHARS - 1
INT_WORDS = f"a whole number of at most {MAX_NUMBER_CHARS} digits"


def validate_params(entry: EntryPoint, given: dict[str, Any] | None) -> dict[str, str]:
    """Validate user parameters against an entry point: unknown names and ill-typed values are errors,
    each naming its field (``params.<name>``) so that a form can mark it."""
    if given is not None and not isinstance(given, dict):
        raise ProjectError("params must be an object of name -> value", field="params")
    given = dict(given or {})
    if entry.parameters:
        unknown = sorted(str(name) for name in set(given) - set(entry.parameters))
        if unknown:
            raise ProjectError(
                f"unknown parameter(s) {', '.join(map(shown, unknown[:10]))} for entry point {entry.name!r}: "
                f"valid ones are {', '.join(entry.parameters)}",
                field=f"params.{unknown[0]}" if len(unknown) == 1 else "params",
            )
    out: dict[str, str] = {}
    for name, param in entry.parameters.items():
        if name in given:
            value = _coerce_field(param, given.pop(name))
        elif param.default is not None:
            value = param.default
        else:
            raise ProjectError(
                f"parameter {name!r} of entry point {entry.name!r} is required: give -P {name}=VALUE",
                field=f"params.{name}",
            )
        out[name] = _fmt(value)
    # entry points that are plain scripts take any --name value pairs, as MLflow does
    for name, value in given.items():
        if not isinstance(name, str) or not _PARAM_NAME.fullmatch(name):
            raise ProjectError(
                f"parameter name {shown(name)} is not valid: use letters, digits and '_'", field="params"
            )
        out[name] = _fmt(_coerce_field(Parameter(name), value))
    return out


def _coerce_field(param: Parameter, value: Any) -> Any:
    try:
        return coerce_param(param, value)
    except MLTFError as exc:
        raise exc.about(f"params.{param.name}") from None


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return repr(value)
    return str(value)


# ---------------------------------------------------------------------------------------------------------
# command templates: plain {name} fields only, rendered without str.format


def _literal(text: str) -> str:
    """``text`` as a template that renders to itself (file names may contain braces)."""
    return text.replace("{", "{{").replace("}", "}}")


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def template_parts(entry_name: str, command: str) -> list[tuple[str, str | None]]:
    """The command as (literal text, field name or None) pieces; a ProjectError naming the entry point and
    the field for anything but ``{name}`` (``{{``/``}}`` are literal braces, as in MLflow)."""
    try:
        parsed = list(string.Formatter().parse(command))
    except ValueError as exc:
        raise ProjectError(
            f"entry point {entry_name!r} has a malformed command template ({exc}): use {{name}} for a parameter "
            "and {{ or }} for a literal brace"
        ) from None
    parts: list[tuple[str, str | None]] = []
    for literal, field_name, spec, conversion in parsed:
        parts.append((literal, None))
        if field_name is None:
            continue
        if conversion is not None or spec or not _FIELD.fullmatch(field_name):
            text = "{" + field_name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise ProjectError(
                f"entry point {entry_name!r} uses {_clip(text)} in its command: only plain {{name}} fields of "
                "parameters are allowed (no attribute access, indexing, positions, conversions or format specs); "
                "write {{ and }} for literal braces"
            )
        parts.append(("", field_name))
    return parts


def check_template(entry_name: str, command: str) -> None:
    """Refuse a command template with anything but plain ``{name}`` fields (at load, so preview shows it)."""
    template_parts(entry_name, command)


def render_command(entry: EntryPoint, params: dict[str, str]) -> str:
    """The entry point's shell command with every parameter value shell-quoted (as MLflow does)."""
    quoted = {k: shlex.quote(v) for k, v in params.items()}
    pieces: list[str] = []
    for literal, field_name in template_parts(entry.name, entry.command):
        if field_name is None:
            pieces.append(literal)
        elif field_name in quoted:
            pieces.append(quoted[field_name])
        else:
            raise ProjectError(f"entry point {entry.name!r} uses {{{field_name}}} but has no such parameter")
    extra = [f"--{k} {v}" for k, v in quoted.items() if k not in entry.parameters]
    return " ".join(["".join(pieces), *extra])
