"""Run a notebook top to bottom as a job's entry point: ``python -m jupyter_mltf.nbexec NB.ipynb -p name=value``.

Parameters are injected after the cell tagged ``parameters`` (papermill's convention), typed like the
values in that cell. Cell outputs stream to the job log; the executed notebook is saved next to it and
logged to the MLflow run as an artifact.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from typing import Any


def _typed(value: str, like: Any) -> Any:
    if isinstance(like, bool):
        return value.lower() in ("1", "true", "yes", "on")
    if isinstance(like, int):
        return int(value)
    if isinstance(like, float):
        return float(value)
    return value


def _defaults(source: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return found
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            try:
                found[stmt.targets[0].id] = ast.literal_eval(stmt.value)
            except ValueError:
                pass
    return found


def main(argv: list[str] | None = None) -> int:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    parser = argparse.ArgumentParser(prog="python -m jupyter_mltf.nbexec")
    parser.add_argument("notebook")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--kernel", default="python3")
    parser.add_argument("--timeout", type=int, default=-1, help="seconds per cell (-1: no limit)")
    args = parser.parse_args(argv)
    nb = nbformat.read(args.notebook, as_version=4)  # type: ignore[no-untyped-call]
    params = dict(item.split("=", 1) for item in args.param)
    if params:
        index = next((i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])), -1)
        defaults = _defaults(nb.cells[index].source) if index >= 0 else {}
        lines = [f"{name} = {_typed(value, defaults.get(name, value))!r}" for name, value in params.items()]
        source = "# parameters injected by jupyter-mltf\n" + "\n".join(lines)
        cell = nbformat.v4.new_code_cell(source)  # type: ignore[no-untyped-call]
        cell.metadata["tags"] = ["injected-parameters"]
        nb.cells.insert(index + 1, cell)

    def on_cell_executed(cell: Any, cell_index: int, execute_reply: Any) -> None:
        # each cell's output reaches the job log as soon as the cell finishes
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                sys.stdout.write(output.get("text", ""))
            elif output.get("output_type") in ("execute_result", "display_data"):
                text = output.get("data", {}).get("text/plain")
                if text:
                    sys.stdout.write(text + "\n")
        sys.stdout.flush()

    client = NotebookClient(
        nb,
        kernel_name=args.kernel,
        timeout=args.timeout,
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(args.notebook))}},
        on_cell_executed=on_cell_executed,
    )
    status = 0
    try:
        client.execute()
    except CellExecutionError as exc:
        print(str(exc).splitlines()[-1] if str(exc) else "a cell failed", file=sys.stderr)
        status = 1
    out = "executed-" + os.path.basename(args.notebook)
    nbformat.write(nb, out)  # type: ignore[no-untyped-call]
    if os.environ.get("MLFLOW_RUN_ID"):
        try:
            import mlflow

            with mlflow.start_run(run_id=os.environ["MLFLOW_RUN_ID"]):
                mlflow.log_artifact(out, "notebook")
        except Exception as exc:
            print(f"[mltf] warning: could not log the executed notebook: {exc}", file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
