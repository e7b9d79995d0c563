"""The package's layout is its architecture: the node package imports nothing server-side, the server never
imports the node package (but for two entry-command shims), and module-level imports have no circles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "jupyter_mltf"
NODE = "jupyter_mltf.node"
#: what the node may import besides itself: the model, the contract, errors, and helpers with no server state
NODE_MAY_IMPORT = {
    "jupyter_mltf.contract": "the typed spec and job-dir paths the server writes",
    "jupyter_mltf.models": "the model types",
    "jupyter_mltf.errors": "the error types",
    "jupyter_mltf.formatting": "redaction of the runner's own log lines",
    "jupyter_mltf.procs": "the one subprocess helper (scontrol for the rendezvous host)",
    "jupyter_mltf.entrypoints": "pure: a sweep trial's parameters are checked and its command rendered as at submit",
    "jupyter_mltf.envspec": "pure: an environment file's requirements, read the same way at submit and on the node",
    "jupyter_mltf.envbuild": "pure: a project env built and cached the same way at submit and, where the site "
    "builds there, on the node (under the same lock)",
    "jupyter_mltf.pythons": "pure: the interpreter that answers a declared Python version, the same at submit and "
    "on the node",
    "jupyter_mltf.yamlsafe": "pure: the bounded YAML reader envspec reads environment files with",
    "jupyter_mltf.resources": "pure: the bounded number parsers entrypoints and yamlsafe use",
    "jupyter_mltf.study": "pure: a sweep's Optuna study, opened by every array task and by the watcher's summary",
}
#: ``python -m jupyter_mltf.runner`` (queued jobs' scripts) and ``python -m jupyter_mltf.nbexec`` (users'
#: MLproject files) must keep working: these two stay, as shims that only call the node package
SHIMS = {"jupyter_mltf.runner", "jupyter_mltf.nbexec"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _package_of(name: str) -> str:
    return name if MODULES[name].name == "__init__.py" else name.rsplit(".", 1)[0]


def _targets(name: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The jupyter_mltf modules one import statement loads (``from .x import y``: y when it is a module)."""
    if isinstance(node, ast.Import):
        bases = [alias.name for alias in node.names]
        return [b for b in bases if b.split(".")[0] == "jupyter_mltf"]
    base = node.module or ""
    if node.level:
        package = _package_of(name)
        for _ in range(node.level - 1):
            package = package.rsplit(".", 1)[0]
        base = f"{package}.{base}" if base else package
    if base.split(".")[0] != "jupyter_mltf":
        return []
    subs = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES]
    return subs or [base]


def _imports(name: str, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update(_targets(name, node))
    return found


def _is_node(name: str) -> bool:
    return name == NODE or name.startswith(NODE + ".")


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _is_node(n)))
def test_node_imports_nothing_server_side(name: str) -> None:
    bad = sorted(t for t in _imports(name) if not _is_node(t) and t not in NODE_MAY_IMPORT)
    assert not bad, f"{name} imports server-side modules {bad}: the node may import {sorted(NODE_MAY_IMPORT)}"


@pytest.mark.parametrize("name", sorted(NODE_MAY_IMPORT))
def test_what_the_node_imports_stays_pure(name: str) -> None:
    """The closure counts: a helper the node may import imports only what the node may import."""
    bad = sorted(t for t in _imports(name) if t not in NODE_MAY_IMPORT)
    assert not bad, f"{name} (imported by the node) imports {bad}"


def test_the_server_never_imports_the_node() -> None:
    bad = {n: sorted(t for t in _imports(n) if _is_node(t)) for n in MODULES if not _is_node(n) and n not in SHIMS}
    assert not {n: t for n, t in bad.items() if t}


@pytest.mark.parametrize("name", sorted(SHIMS))
def test_entry_command_shims_stay_thin(name: str) -> None:
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"{name} says why it stays"
    assert len(tree.body) == 3 and all(_is_node(t) for t in _imports(name)), f"{name}: docstring, import, main"


def test_no_import_circles() -> None:
    graph = {name: _imports(name, top_level_only=True) & MODULES.keys() for name in MODULES}
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                circles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not circles, f"module-level import circles: {circles}"


def test_job_dir_file_names_come_from_the_contract() -> None:
    """No job-dir file name is spelled outside contract.py in the node package or sweep.py (docstrings aside)."""
    names = (
        "spec.json",
        "job.log",
        "result.json",
        "job.json",
        "tracking-token",
        "tracking-password",
        "params.json",
        "optuna.journal",
    )
    spelled = []
    for name in [n for n in MODULES if _is_node(n)] + ["jupyter_mltf.sweep", "jupyter_mltf.study"]:
        tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
        docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                spelled += [(name, file) for file in names if file in node.value]
    assert not spelled
