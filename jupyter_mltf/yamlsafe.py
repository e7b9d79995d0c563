"""YAML read safely and bounded: safe tags only, numbers length-checked before int(), nesting limited.

Pure (no server state): MLproject files, sweep files and environment files (on the node too) are read with it.
"""

from __future__ import annotations

from typing import Any

import yaml

from .errors import InvalidRequest, ProjectError
from .resources import MAX_NESTING, MAX_NUMBER_CHARS, nesting_path


class _NumberTooLong(yaml.constructor.ConstructorError):
    pass


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, except that an int of thousands of digits is an error instead of a ValueError
    from CPython's int-digit limit (which escapes yaml.YAMLError handlers)."""


def _construct_bounded_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    digits = str(node.value).replace("_", "")
    if len(digits) > MAX_NUMBER_CHARS:
        raise _NumberTooLong(
            None, None, f"a number of {len(digits)} characters (at most {MAX_NUMBER_CHARS})", node.start_mark
        )
    return loader.construct_yaml_int(node)


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _construct_bounded_int)


def load_yaml(text: str, what: str, error: type[InvalidRequest] = ProjectError) -> Any:
    """Parse YAML ``text`` (safe tags only); ``error`` names ``what`` and the line for every malformed part."""
    try:
        data = yaml.load(text, Loader=_BoundedLoader)  # a SafeLoader: safe tags only
    except RecursionError:
        raise error(f"{what} is nested too deeply: at most {MAX_NESTING} levels") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        if isinstance(exc, _NumberTooLong):
            raise error(f"{what} has {exc.problem}{where}: use a shorter number") from None
        raise error(f"{what} is not valid YAML{where}: fix the syntax") from None
    deep = nesting_path(data)
    if deep is not None:
        raise error(f"{what} is nested too deeply at {deep}: at most {MAX_NESTING} levels")
    return data
