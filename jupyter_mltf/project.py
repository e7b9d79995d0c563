"""MLflow projects: read an existing ``MLproject`` or propose one, validate parameters, render commands.

An existing MLproject is used as it is: its entry points, typed parameters and defaults are honoured.
A directory without one gets a proposal: a ``train.py``/``main.py``/single script (its argparse options
become typed parameters) or a notebook (its ``parameters`` cell becomes typed parameters).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ProjectError

MLPROJECT_NAMES = ("MLproject", "mlproject", "MLProject")
PARAM_TYPES = ("string", "str", "float", "int", "integer", "bool", "path", "uri")
MAX_MLPROJECT_BYTES = 256 * 1024
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
_ENTRY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-/]{0,127}$")


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


@dataclass
class Project:
    """A project directory's MLproject, existing or proposed."""

    directory: Path
    name: str
    entry_points: dict[str, EntryPoint]
    generated: bool = False
    mlproject_text: str = ""
    env_spec: str | None = None  # python_env.yaml / conda.yaml / requirements.txt, if any
    notes: list[str] = field(default_factory=list)
    launcher: str | None = None  # jupyter-mltf extension key: auto, none, torchrun, accelerate

    def entry_point(self, name: str | None) -> EntryPoint:
        name = name or "main"
        if name in self.entry_points:
            return self.entry_points[name]
        script = self.directory / name
        if name.endswith((".py", ".sh")) and _inside(self.directory, script) and script.is_file():
            runner = "python" if name.endswith(".py") else "bash"
            return EntryPoint(name=name, command=f"{runner} {shlex.quote(name)}")
        choices = ", ".join(sorted(self.entry_points)) or "none"
        raise ProjectError(
            f"entry point {name!r} is not in the MLproject: choose one of {choices}, or a .py/.sh file of the project"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "generated": self.generated,
            "mlproject": self.mlproject_text,
            "entry_points": [e.to_dict() for e in self.entry_points.values()],
            "env_spec": self.env_spec,
            "notes": list(self.notes),
        }


def _inside(root: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def _canon_type(name: str) -> str:
    return {"str": "string", "integer": "int"}.get(name, name)


def _parse_parameter(name: str, spec: Any) -> Parameter:
    if not isinstance(name, str) or not _PARAM_NAME.fullmatch(name):
        raise ProjectError(f"MLproject parameter name {name!r} is not valid: use letters, digits and '_'")
    if spec is None or isinstance(spec, str):
        ptype, default = (spec or "string"), None
    elif isinstance(spec, dict):
        unknown = set(spec) - {"type", "default"}
        if unknown:
            raise ProjectError(f"MLproject parameter {name!r} has unknown keys {sorted(unknown)}: use type and default")
        ptype, default = spec.get("type", "string"), spec.get("default")
    else:
        raise ProjectError(f"MLproject parameter {name!r} must be a type name or {{type, default}}")
    if not isinstance(ptype, str) or ptype not in PARAM_TYPES:
        raise ProjectError(f"MLproject parameter {name!r} has type {ptype!r}: use one of {', '.join(PARAM_TYPES)}")
    param = Parameter(name=name, type=_canon_type(ptype), default=None)
    if default is not None:
        param.default = coerce_param(param, default, source="MLproject default")
    return param


def load_mlproject(directory: Path, path: Path) -> Project:
    """Parse an existing MLproject file with clear errors for every malformed part."""
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise ProjectError(f"cannot read {path.name}: {exc.strerror}") from None
    if len(raw_bytes) > MAX_MLPROJECT_BYTES:
        raise ProjectError(f"{path.name} is larger than {MAX_MLPROJECT_BYTES // 1024} KiB: is it really an MLproject?")
    if b"\x00" in raw_bytes:
        raise ProjectError(f"{path.name} is a binary file, not YAML: replace it with an MLproject YAML file")
    try:
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise ProjectError(f"{path.name} is not UTF-8 text: save it as UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ProjectError(f"{path.name} is not valid YAML{where}: fix the syntax") from None
    if not isinstance(data, dict):
        raise ProjectError(f"{path.name} must be a YAML mapping with 'name' and 'entry_points'")
    known = {"name", "entry_points", "python_env", "conda_env", "docker_env", "launcher"}
    unknown = set(data) - known
    if unknown:
        raise ProjectError(f"{path.name} has unknown keys {sorted(map(str, unknown))}: valid keys are {sorted(known)}")
    if "docker_env" in data:
        raise ProjectError(
            f"{path.name} asks for docker_env: MLTF runs projects without Docker; use python_env instead"
        )
    raw_eps = data.get("entry_points") or {}
    if not isinstance(raw_eps, dict):
        raise ProjectError(f"{path.name}: entry_points must be a mapping of name -> {{command, parameters}}")
    entry_points: dict[str, EntryPoint] = {}
    for ep_name, spec in raw_eps.items():
        ep_name = str(ep_name)
        if not _ENTRY_NAME.fullmatch(ep_name):
            raise ProjectError(f"{path.name}: entry point name {ep_name!r} is not valid")
        if not isinstance(spec, dict) or not isinstance(spec.get("command"), str):
            raise ProjectError(f"{path.name}: entry point {ep_name!r} needs a 'command' string")
        params_raw = spec.get("parameters") or {}
        if not isinstance(params_raw, dict):
            raise ProjectError(f"{path.name}: parameters of entry point {ep_name!r} must be a mapping")
        params = {str(k): _parse_parameter(str(k), v) for k, v in params_raw.items()}
        entry_points[ep_name] = EntryPoint(name=ep_name, command=spec["command"], parameters=params)
    env_spec = data.get("python_env") or data.get("conda_env")
    if env_spec is not None and not isinstance(env_spec, str):
        raise ProjectError(f"{path.name}: python_env/conda_env must be a file name")
    launcher = data.get("launcher")
    if launcher is not None and launcher not in ("auto", "none", "torchrun", "accelerate"):
        raise ProjectError(f"{path.name}: launcher must be one of auto, none, torchrun, accelerate")
    name = data.get("name") or directory.name
    return Project(
        directory=directory,
        name=str(name),
        entry_points=entry_points,
        mlproject_text=text,
        env_spec=env_spec or _find_env_spec(directory),
        launcher=launcher,
    )


def _find_env_spec(directory: Path) -> str | None:
    for candidate in ("python_env.yaml", "conda.yaml", "requirements.txt"):
        if (directory / candidate).is_file():
            return candidate
    return None


def find_mlproject(directory: Path) -> Path | None:
    for name in MLPROJECT_NAMES:
        if (directory / name).is_file():
            return directory / name
    return None


def load_project(directory: str | os.PathLike[str], *, notebook: str | None = None) -> Project:
    """The project in ``directory``: its MLproject, or a proposal when it has none."""
    root = Path(directory)
    if not root.is_dir():
        raise ProjectError(f"{str(directory)!r} is not a directory")
    found = find_mlproject(root)
    if found is not None:
        return load_mlproject(root, found)
    return propose_project(root, notebook=notebook)


# ---------------------------------------------------------------------------------------------------------
# proposals for directories without an MLproject


def _argparse_parameters(source: str) -> dict[str, Parameter]:
    """Typed parameters from ``parser.add_argument("--name", type=..., default=...)`` calls."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    params: dict[str, Parameter] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr != "add_argument" or not node.args:
            continue
        flags = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        longs = [f for f in flags if f.startswith("--")]
        if not longs:
            continue
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        if "action" in kw or "nargs" in kw:
            continue  # flags and lists have no single typed value
        default: Any = None
        if "default" in kw:
            try:
                default = ast.literal_eval(kw["default"])
            except ValueError:
                continue
        ptype = "string"
        type_node = kw.get("type")
        if isinstance(type_node, ast.Name):
            ptype = {"float": "float", "int": "int", "str": "string"}.get(type_node.id, "string")
        elif isinstance(default, bool):
            continue
        elif isinstance(default, float):
            ptype = "float"
        elif isinstance(default, int):
            ptype = "int"
        required_node = kw.get("required")
        required = isinstance(required_node, ast.Constant) and required_node.value is True
        if default is None and not required:
            continue
        name = longs[0][2:]
        if not _PARAM_NAME.fullmatch(name):
            continue
        params[name] = Parameter(name=name, type=ptype, default=default)
    return params


def _notebook_parameters(path: Path) -> dict[str, Parameter]:
    """Typed parameters from simple assignments in a cell tagged ``parameters`` (papermill's convention)."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    params: dict[str, Parameter] = {}
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code" or "parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else str(src)
        try:
            tree = ast.parse(src)
        except SyntaxError:
            return {}
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                try:
                    value = ast.literal_eval(stmt.value)
                except ValueError:
                    continue
                if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                    continue
                ptype = "float" if isinstance(value, float) else "int" if isinstance(value, int) else "string"
                params[stmt.targets[0].id] = Parameter(stmt.targets[0].id, ptype, value)
        break
    return params


def _pick_script(root: Path) -> Path | None:
    for name in ("train.py", "main.py", "run.py"):
        if (root / name).is_file():
            return root / name
    scripts = sorted(p for p in root.glob("*.py") if not p.name.startswith(("test_", "setup", "conftest", "_")))
    return scripts[0] if len(scripts) == 1 else None


def _safe_project_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.\-]+", "-", name).strip("-.")
    return cleaned[:64] or "project"


def propose_project(root: Path, *, notebook: str | None = None) -> Project:
    """Propose an MLproject for a directory that has none; ``notes`` say what was chosen and why."""
    notes: list[str] = []
    target: Path | None = None
    if notebook:
        nb_path = root / notebook
        if nb_path.suffix == ".py" and nb_path.is_file() and _inside(root, nb_path):
            target = nb_path
        elif nb_path.suffix == ".ipynb" and nb_path.is_file() and _inside(root, nb_path):
            target = nb_path
        else:
            raise ProjectError(
                f"notebook {notebook!r} is not a .ipynb or .py file inside the project directory: "
                "name one that exists there, or leave it out"
            )
    if target is None:
        target = _pick_script(root)
    if target is None:
        notebooks = sorted(p for p in root.glob("*.ipynb"))
        if len(notebooks) == 1:
            target = notebooks[0]
    if target is None:
        candidates = sorted(p.name for p in root.glob("*.py")) + sorted(p.name for p in root.glob("*.ipynb"))
        hint = f" (found {', '.join(candidates[:6])})" if candidates else ""
        raise ProjectError(
            "cannot tell what to run: add an MLproject, or a train.py/main.py, or name the script or notebook "
            f"to run{hint}"
        )
    rel = target.relative_to(root).as_posix()
    if target.suffix == ".ipynb":
        params = _notebook_parameters(target)
        parts = [f"-p {n}={{{n}}}" for n in params]
        command = " ".join(["python -m jupyter_mltf.nbexec", shlex.quote(rel), *parts])
        notes.append(f"no MLproject: runs notebook {rel} top to bottom (cells tagged 'parameters' become parameters)")
    else:
        params = _argparse_parameters(target.read_text(encoding="utf-8", errors="replace"))
        parts = [f"--{n} {{{n}}}" for n in params]
        command = " ".join(["python", shlex.quote(rel), *parts])
        how = f" with its argparse options {', '.join(params)} as parameters" if params else ""
        notes.append(f"no MLproject: runs {rel}{how}")
    name = _safe_project_name(root.resolve().name)
    entry = EntryPoint(name="main", command=command, parameters=params)
    text = render_mlproject(name, entry, _find_env_spec(root))
    return Project(
        directory=root,
        name=name,
        entry_points={"main": entry},
        generated=True,
        mlproject_text=text,
        env_spec=_find_env_spec(root),
        notes=notes,
    )


def render_mlproject(name: str, entry: EntryPoint, env_spec: str | None) -> str:
    doc: dict[str, Any] = {"name": name}
    if env_spec == "python_env.yaml":
        doc["python_env"] = env_spec
    elif env_spec == "conda.yaml":
        doc["conda_env"] = env_spec
    spec: dict[str, Any] = {}
    if entry.parameters:
        spec["parameters"] = {
            p.name: ({"type": p.type, "default": p.default} if p.default is not None else {"type": p.type})
            for p in entry.parameters.values()
        }
    spec["command"] = entry.command
    doc["entry_points"] = {entry.name: spec}
    header = "# Generated by jupyter-mltf: edit freely; it is used as it is from now on.\n"
    return header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


# ---------------------------------------------------------------------------------------------------------
# parameters


def coerce_param(param: Parameter, value: Any, *, source: str = "parameter") -> Any:
    """Check ``value`` against the parameter's type; returns the typed value."""
    if isinstance(value, str) and "\x00" in value:
        raise ProjectError(f"{source} {param.name!r} contains a NUL byte")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ProjectError(f"{source} {param.name!r} is not valid UTF-8 text: use UTF-8") from None
    try:
        if param.type == "float":
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
            if number != number or number in (float("inf"), float("-inf")):
                raise ValueError
            return number
        if param.type == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(str(value).strip()) if isinstance(value, str) else int(value)
        if param.type == "bool":
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError
    except (TypeError, ValueError):
        raise ProjectError(f"{source} {param.name!r} must be {param.type}, not {value!r}") from None
    if not isinstance(value, (str, int, float)):
        raise ProjectError(f"{source} {param.name!r} must be a {param.type}, not {type(value).__name__}")
    return str(value)


def validate_params(entry: EntryPoint, given: dict[str, Any] | None) -> dict[str, str]:
    """Validate user parameters against an entry point: unknown names and ill-typed values are errors."""
    given = dict(given or {})
    if not isinstance(given, dict):
        raise ProjectError("params must be an object of name -> value")
    if entry.parameters:
        unknown = sorted(set(given) - set(entry.parameters))
        if unknown:
            raise ProjectError(
                f"unknown parameter(s) {', '.join(map(repr, unknown))} for entry point {entry.name!r}: "
                f"valid ones are {', '.join(entry.parameters)}"
            )
    out: dict[str, str] = {}
    for name, param in entry.parameters.items():
        if name in given:
            value = coerce_param(param, given.pop(name))
        elif param.default is not None:
            value = param.default
        else:
            raise ProjectError(f"parameter {name!r} of entry point {entry.name!r} is required: give -P {name}=VALUE")
        out[name] = _fmt(value)
    # entry points that are plain scripts take any --name value pairs, as MLflow does
    for name, value in given.items():
        if not isinstance(name, str) or not _PARAM_NAME.fullmatch(name):
            raise ProjectError(f"parameter name {name!r} is not valid: use letters, digits and '_'")
        out[name] = _fmt(coerce_param(Parameter(name), value))
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return repr(value)
    return str(value)


def render_command(entry: EntryPoint, params: dict[str, str]) -> str:
    """The entry point's shell command with every parameter value shell-quoted (as MLflow does)."""
    quoted = {k: shlex.quote(v) for k, v in params.items()}
    try:
        command = entry.command.format(**quoted)
    except KeyError as exc:
        raise ProjectError(f"entry point {entry.name!r} uses {{{exc.args[0]}}} but has no such parameter") from None
    except (IndexError, ValueError):
        raise ProjectError(f"entry point {entry.name!r} has a malformed command template: check its braces") from None
    extra = [f"--{k} {v}" for k, v in quoted.items() if k not in entry.parameters]
    return " ".join([command, *extra])
