"""MLflow projects: read an existing ``MLproject`` or propose one, validate parameters, render commands.

An existing MLproject is used as it is: its entry points, typed parameters and defaults are honoured.
A directory without one gets a proposal: a ``train.py``/``main.py``/single script (its argparse options
become typed parameters) or a notebook (its ``parameters`` cell becomes typed parameters).

(Over 400 lines on purpose: reading and proposing an MLproject share the safety checks on every path and
template they write; entry points and parameters live in entrypoints.py.)
"""

from __future__ import annotations

import ast
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# entry points and bounded YAML live in pure modules of their own (the node uses them too); re-exported here
from .entrypoints import _FIELD, _literal
from .entrypoints import _PARAM_NAME as _PARAM_NAME
from .entrypoints import FLOAT_WORDS as FLOAT_WORDS
from .entrypoints import INT_PARAM_MAX as INT_PARAM_MAX
from .entrypoints import INT_WORDS as INT_WORDS
from .entrypoints import PARAM_NAME as PARAM_NAME
from .entrypoints import EntryPoint as EntryPoint
from .entrypoints import Parameter as Parameter
from .entrypoints import check_template as check_template
from .entrypoints import coerce_param as coerce_param
from .entrypoints import render_command as render_command
from .entrypoints import template_parts as template_parts
from .entrypoints import validate_params as validate_params
from .errors import ProjectError
from .resources import shown
from .yamlsafe import load_yaml as load_yaml

MLPROJECT_NAMES = ("MLproject", "mlproject", "MLProject")
PARAM_TYPES = ("string", "str", "float", "int", "integer", "bool", "path", "uri")
MAX_MLPROJECT_BYTES = 256 * 1024
_ENTRY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-/]{0,127}$")


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
        if name.endswith((".py", ".sh")) and _inside(self.directory, script) and _is_file(script):
            runner = "python" if name.endswith(".py") else "bash"
            return EntryPoint(name=name, command=f"{runner} {_literal(shlex.quote(name))}")
        choices = ", ".join(sorted(self.entry_points)) or "none"
        raise ProjectError(
            f"entry point {name!r} is not in the MLproject: choose one of {choices}, or a .py/.sh file of the project",
            field="entry_point",
        )

    def check_env(self) -> None:
        """Refuse an environment file the node could not build (bad requirement lines...).

        A python_env/conda_env the MLproject declares is checked when it is loaded; a detected
        requirements.txt/python_env.yaml only matters with env_manager 'project', so submit calls this then.
        """
        if self.env_spec:
            from .envspec import check_spec

            check_spec(self.directory / self.env_spec)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "generated": self.generated,
            "mlproject": self.mlproject_text,
            "entry_points": [e.to_dict() for e in self.entry_points.values()],
            "env_spec": self.env_spec,
            "notes": list(self.notes),
        }


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long, a NUL byte: not a usable file either way
        return False


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
    data = load_yaml(text, path.name)
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
        check_template(ep_name, spec["command"])
        entry_points[ep_name] = EntryPoint(name=ep_name, command=spec["command"], parameters=params)
    env_spec = _declared_env(directory, path.name, data)
    launcher = data.get("launcher")
    if launcher is not None and launcher not in ("auto", "none", "torchrun", "accelerate"):
        raise ProjectError(f"{path.name}: launcher must be one of auto, none, torchrun, accelerate")
    for entry in entry_points.values():
        notebook = _nbexec_notebook(entry.command)
        if notebook is not None:
            check_notebook(directory, notebook, f"entry point {entry.name!r}")
    name = data.get("name") or directory.name
    return Project(
        directory=directory,
        name=str(name),
        entry_points=entry_points,
        mlproject_text=text,
        env_spec=env_spec or _find_env_spec(directory),
        launcher=launcher,
    )


def _declared_env(directory: Path, mlproject: str, data: dict[str, Any]) -> str | None:
    """The MLproject's python_env/conda_env: a file inside the project whose requirements are valid.

    Checked here, at submit, because the node would otherwise fail on it (or read a file outside the
    project's copy) after the job has queued.
    """
    key = "python_env" if "python_env" in data else "conda_env"
    env_spec = data.get(key)
    if env_spec is None:
        return None
    if not isinstance(env_spec, str) or not env_spec.strip():
        raise ProjectError(f"{mlproject}: {key} must be a file name in the project, like python_env.yaml")
    target = directory / env_spec
    if (
        "\x00" in env_spec
        or len(env_spec) > 1024
        or os.path.isabs(env_spec)
        or ".." in Path(env_spec).parts
        or not _inside(directory, target)
    ):
        raise ProjectError(
            f"{mlproject}: {key} {shown(env_spec)} points outside the project: name a file inside it "
            "(a relative path without '..'), like python_env.yaml"
        )
    if not _is_file(target):
        raise ProjectError(
            f"{mlproject}: {key} {shown(env_spec)} does not exist in the project: add it or remove {key}"
        )
    from .envspec import check_spec

    check_spec(target)
    return env_spec


_NBEXEC = "python -m jupyter_mltf.nbexec "


def _nbexec_notebook(command: str) -> str | None:
    """The notebook a ``python -m jupyter_mltf.nbexec NB.ipynb ...`` command runs, if it is one."""
    if not command.startswith(_NBEXEC):
        return None
    try:
        words = shlex.split(command[len(_NBEXEC) :])
    except ValueError:
        return None
    return words[0].replace("{{", "{").replace("}}", "}") if words and words[0].endswith(".ipynb") else None


def check_notebook(directory: Path, notebook: str, what: str) -> dict[str, Any]:
    """The notebook an entry point runs, read as the node will read it (nbformat, version 4); a
    ProjectError naming ``what`` when it cannot run there (missing, not JSON, not a notebook)."""
    import nbformat

    path = directory / notebook
    if "\x00" in notebook or not _inside(directory, path) or not _is_file(path):
        raise ProjectError(f"{what} runs notebook {shown(notebook)}, which is not a file in the project")
    try:
        text = path.read_text(encoding="utf-8")
        raw = nbformat.reader.parse_json(text)  # type: ignore[no-untyped-call]
        version = raw.get("nbformat") if isinstance(raw, dict) else None
        if version not in (3, 4) or isinstance(version, bool):
            raise ValueError("it has no nbformat version 3 or 4")
        cells = raw.get("cells") if version == 4 else []
        if not isinstance(cells, list) or not all(
            isinstance(c, dict) and c.get("cell_type") in ("code", "markdown", "raw") and "source" in c for c in cells
        ):
            raise ValueError("its cells are not notebook cells")
        # read again as the node reads it (nbformat.read): what fails here would fail there
        nb = nbformat.convert(nbformat.reader.reads(text), 4)  # type: ignore[no-untyped-call]
    except RecursionError:
        raise ProjectError(
            f"{what} runs notebook {shown(notebook)}, which is nested too deeply to be a notebook"
        ) from None
    except Exception as exc:  # nbformat raises many types (NotJSONError, NBFormatError, KeyError...)
        detail = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise ProjectError(
            f"{what} runs notebook {shown(notebook)}, which cannot be read as a Jupyter notebook ({detail}): "
            "open and save it in Jupyter, or fix its JSON"
        ) from None
    return dict(nb)


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
    tree = _parse_python(source)
    if tree is None:
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
            default = _literal_value(kw["default"])
            if default is _NOT_LITERAL:
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
        proposed = _proposed(longs[0][2:], ptype, default)
        if proposed is not None:
            params[proposed.name] = proposed
    return params


_NOT_LITERAL = object()


def _parse_python(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # huge literals, deep nesting
        return None


def _literal_value(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        return _NOT_LITERAL


def _proposed(name: str, ptype: str, default: Any) -> Parameter | None:
    """A proposed parameter, or None when its name cannot be a {name} field or its default is not valid."""
    if not _FIELD.fullmatch(name):
        return None
    param = Parameter(name=name, type=ptype)
    if default is not None:
        try:
            param.default = coerce_param(param, default, source="default of")
        except ProjectError:
            return None
    return param


def _notebook_parameters(nb: dict[str, Any]) -> dict[str, Parameter]:
    """Typed parameters from simple assignments in a cell tagged ``parameters`` (papermill's convention)."""
    params: dict[str, Parameter] = {}
    for cell in nb.get("cells", []):
        tags = (cell.get("metadata") or {}).get("tags")
        if cell.get("cell_type") != "code" or not isinstance(tags, list) or "parameters" not in tags:
            continue
        src = cell.get("source", "")
        src = "".join(map(str, src)) if isinstance(src, list) else str(src)
        tree = _parse_python(src)
        if tree is None:
            return {}
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                value = _literal_value(stmt.value)
                if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                    continue
                ptype = "float" if isinstance(value, float) else "int" if isinstance(value, int) else "string"
                proposed = _proposed(stmt.targets[0].id, ptype, value)
                if proposed is not None:
                    params[proposed.name] = proposed
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
        if nb_path.suffix == ".py" and _is_file(nb_path) and _inside(root, nb_path):
            target = nb_path
        elif nb_path.suffix == ".ipynb" and _is_file(nb_path) and _inside(root, nb_path):
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
        params = _notebook_parameters(check_notebook(root, rel, "the proposed entry point"))
        parts = [f"-p {n}={{{n}}}" for n in params]
        command = " ".join(["python -m jupyter_mltf.nbexec", _literal(shlex.quote(rel)), *parts])
        notes.append(f"no MLproject: runs notebook {rel} top to bottom (cells tagged 'parameters' become parameters)")
    else:
        params = _argparse_parameters(target.read_text(encoding="utf-8", errors="replace"))
        parts = [f"--{n} {{{n}}}" for n in params]
        command = " ".join(["python", _literal(shlex.quote(rel)), *parts])
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
