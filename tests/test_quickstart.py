"""The quickstart notebook runs top to bottom with ``jupyter nbconvert --execute`` against the stack."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def test_quickstart_executes(tmp_path: Path) -> None:
    work = Path(shutil.copytree(NOTEBOOKS, tmp_path / "notebooks"))
    env = dict(os.environ)
    env["XDG_DATA_HOME"] = str(tmp_path / "data")  # a job store of its own
    argv = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
            "--ExecutePreprocessor.timeout=600", "--output", "executed.ipynb", "quickstart.ipynb"]
    proc = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]

    nb = json.loads((work / "executed.ipynb").read_text())
    code_cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] for c in code_cells)
    text = ""
    for cell in code_cells:
        for out in cell["outputs"]:
            assert out["output_type"] != "error", out
            text += "".join(out.get("text", "")) + json.dumps(out.get("data", {}))
    assert "accuracy=" in text  # the followed log
    assert "COMPLETED" in text and "http://127.0.0.1:5000/#/experiments/" in text  # status + run link
    assert "trained with numpy-cpu" in text or "trained with torch" in text  # the GPU example ran
    assert "#SBATCH" in text  # the dry run
    assert "MLTF error: gpus=9" in text  # a refusal is one readable line
    assert "application/vnd.jupyter.widget-view+json" in text  # the status line and the panel
