"""Hostile inputs of issue 12 beyond the corpus table (no Slurm needed: the local backend, nothing submitted).

* A project file alone must never break preview: a 5000-digit ``time`` in gateway_config.json, a command
  template with ``{word.nope}``, a broken notebook or an env file outside the project answer 200 with the problem
  in the preview's warnings (and a 4xx at submit: the corpus rows in corpus_inputs.py).
* Sweep files (the CLI's and the magic's ``--sweep``) with 5000-digit numbers, 100,000 levels of nesting or
  values Optuna refuses: one error line, exit status 2, no traceback.
* Refusing a body nested 100,000 deep, or a 16 MB number, costs milliseconds, not seconds on the server's loop.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_mltf.errors import InvalidRequest
from jupyter_mltf.handlers import parse_json_body

from ..conftest import server_config
from .case import Case
from .corpus import build_projects
from .corpus_inputs import BIG, CASES, DEEP

# the rows whose problem is in a project file: preview shows it as a warning instead of refusing
PROJECT_ROWS = [c for c in CASES if isinstance(c.body, dict) and not c.body and c.project != "tiny"]


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def jp_server_config(jp_server_config: Any, state: Path) -> dict[str, Any]:
    return server_config(state, "local")


@pytest.fixture
def projects(jp_root_dir: Path, tmp_path: Path) -> Path:
    build_projects(jp_root_dir, tmp_path / "outside", mlflow=False)  # no stack needed here
    return jp_root_dir


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in PROJECT_ROWS])
async def test_preview_shows_project_file_problems(jp_fetch: Any, projects: Path, state: Path, case: Case) -> None:
    response = await jp_fetch("mltf", "api", "preview", method="POST", body=json.dumps({"path": case.project}),
                              raise_error=False, request_timeout=60)  # fmt: skip
    assert response.code == 200, (case.id, response.body[:500])
    preview = json.loads(response.body)
    text = " ".join(preview["warnings"] + [preview.get("project_error") or ""]).lower()
    assert "traceback" not in text
    for word in case.words:
        assert word.lower() in text, (case.id, word, text)
    assert not (state / "jobs").exists() or not os.listdir(state / "jobs")


async def test_a_body_with_a_utf8_bom_is_read(jp_fetch: Any, projects: Path) -> None:
    """Some Windows clients start JSON with a byte order mark; RFC 8259 lets a parser ignore it."""
    body = b"\xef\xbb\xbf" + json.dumps({"path": "tiny"}).encode()
    response = await jp_fetch("mltf", "api", "preview", method="POST", body=body, raise_error=False,
                              request_timeout=60)  # fmt: skip
    assert response.code == 200, response.body[:500]


SWEEP_FILES: dict[str, tuple[bytes, list[str]]] = {
    "sweep-file-5000-digit-trials": (b"trials: " + BIG.encode() + b"\n", ["sweep file", "5000 characters"]),
    "sweep-file-nested-100000": (b"parameters: " + b"[" * DEEP + b"]" * DEEP + b"\n", ["nested too deeply"]),
    "sweep-file-nested-40": (b"parameters: {lr: " + b"[" * 40 + b"1" + b"]" * 40 + b"}\n", ["nested too deeply"]),
    "sweep-file-alias-cycle": (b"parameters: &a {lr: *a}\n", ["contains itself"]),
    "sweep-file-not-utf8": (b"trials: 2\n# caf\xe9\n", ["utf-8"]),
    "sweep-file-step-zero": (b"objective: loss\nparameters: {lr: {low: 0.1, high: 1, step: 0}}\n", ["step"]),
    "sweep-file-seed-huge": (b"objective: loss\nseed: 4294967296\nparameters: {lr: [0.1]}\n", ["seed"]),
    "sweep-file-choices-mixed": (b"objective: loss\nparameters: {word: [a, 1]}\n", ["mix"]),
    "sweep-file-choices-nan": (b"objective: loss\nparameters: {lr: [.nan]}\n", ["finite"]),
}


@pytest.fixture
def local_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    build_projects(root, tmp_path / "outside", mlflow=False)  # no stack needed here
    return root


@pytest.fixture
def cli_env(tmp_path: Path, state: Path) -> dict[str, str]:
    cfg = tmp_path / "jupyter-config"
    cfg.mkdir()
    traits = {"backend": "local", "store_path": str(state / "jobs.sqlite"), "jobs_dir": str(state / "jobs"),
              "archives_dir": str(state / "archives"), "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    (cfg / "jupyter_mltf_config.json").write_text(json.dumps({"MLTFManager": traits}))
    return {**os.environ, "JUPYTER_CONFIG_DIR": str(cfg)}


@pytest.mark.parametrize("name", list(SWEEP_FILES))
def test_cli_hostile_sweep_files(local_root: Path, state: Path, cli_env: dict[str, str], tmp_path: Path,
                                 name: str) -> None:
    content, words = SWEEP_FILES[name]
    sweep = tmp_path / "sweep.yaml"
    sweep.write_bytes(content)
    out = subprocess.run(
        [sys.executable, "-m", "jupyter_mltf.cli", "submit", str(local_root / "tiny"), "--sweep", str(sweep)],
        capture_output=True, text=True, errors="replace", env=cli_env, timeout=180,
    )  # fmt: skip
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, (name, out.returncode, out.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr[-2000:]
    for word in words:
        assert word in lines[0].lower(), (word, lines[0])
    assert not (state / "jobs").exists() or not os.listdir(state / "jobs")


@pytest.fixture
def shell(state: Path, tmp_path: Path) -> Iterator[Any]:
    from IPython.core.interactiveshell import InteractiveShell

    from jupyter_mltf.api import Client
    from jupyter_mltf.magics import MLTFMagics

    client = Client(backend="local", store_path=str(state / "jobs.sqlite"), jobs_dir=str(state / "jobs"),
                    archives_dir=str(state / "archives"), tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    sh = InteractiveShell.instance()
    sh.register_magics(MLTFMagics(sh, client=client))
    yield sh
    InteractiveShell.clear_instance()
    client.close()


@pytest.mark.parametrize("name", ["sweep-file-5000-digit-trials", "sweep-file-nested-100000", "sweep-file-step-zero"])
def test_magic_hostile_sweep_files(shell: Any, local_root: Path, state: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str], name: str) -> None:
    content, words = SWEEP_FILES[name]
    sweep = tmp_path / "sweep.yaml"
    sweep.write_bytes(content)
    assert shell.run_line_magic("mltf_submit", f"{local_root / 'tiny'} --sweep {sweep}") is None
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("MLTF error: "), err
    for word in words:
        assert word in err[0].lower(), (word, err[0])


# Costs are this thread's CPU time (time.thread_time), not wall time: on a loaded 2-core machine the OS may not
# run the test for a while, which says nothing about what the code costs.
def _refusal_time(raw: bytes) -> float:
    started = time.thread_time()
    with pytest.raises(InvalidRequest):
        parse_json_body(raw)
    return time.thread_time() - started


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * (15 << 20),  # 15 MB of '[': json's scanner stops at the recursion limit
        b'{"a": ' * (2 << 20) + b"1" + b"}" * (2 << 20),
        b'{"path": "x", "params": {"lr": ' + b"9" * (15 << 20) + b"}}",  # one 15 MB number
    ],
    ids=["arrays", "objects", "one-number"],
)
def test_refusing_hostile_bodies_is_cheap(raw: bytes) -> None:
    """Refusing these must take milliseconds of CPU (a worker thread parses bodies, the loop stays free)."""
    assert _refusal_time(raw) < 0.5


def test_the_depth_check_costs_less_than_parsing() -> None:
    """Depth is measured on the text at C speed, not by walking millions of parsed containers in Python."""
    group = "[" * 14 + "]" * 14 + ","  # 16 levels with the body and x: the most allowed
    text = '{"x": [' + group * ((12 << 20) // len(group)) + "1]}"
    started = time.thread_time()
    json.loads(text)
    parse = time.thread_time() - started
    started = time.thread_time()
    body = parse_json_body(text.encode())
    checked = time.thread_time() - started
    assert len(body["x"]) > 1000
    assert checked < parse * 1.5 + 0.5, (checked, parse)
