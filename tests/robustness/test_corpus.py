"""The bad-input corpus (corpus.py) against the REST API (and so the dialog), the magics, `jupyter mltf` and
the hub spawn form: a clear 4xx / one error line that says what to fix, nothing run on the cluster, the job
store and MLflow untouched. Then the legal-but-dangerous values: accepted and passed literally.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from ..conftest import state_traits
from .corpus import LIMIT_BYTES, Case, build_projects, by_surface, oversized_body
from .corpus_envs import BUILT_AT_SUBMIT
from .helpers import TRACKING_URI, mlflow_runs_under, scancel, slurm_jobs_under, store_rows, write_tiny

pytestmark = [pytest.mark.slurm]


def _params(cases: list[Case]) -> list[Any]:
    out = []
    for case in cases:
        out.append(pytest.param(case, id=case.id))
    return out


def _says(message: str, words: list[str]) -> None:
    text = message.lower()
    assert "traceback" not in text, message
    for word in words:
        assert word.lower() in text, (word, message)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def traits(state: Path) -> dict[str, Any]:
    return state_traits(
        state, "slurm", tracking_uri=TRACKING_URI, max_project_bytes=LIMIT_BYTES, poll_interval=1.0
    )


def assert_nothing_happened(state: Path, project_root: Path) -> None:
    assert slurm_jobs_under(str(state)) == set(), "a Slurm job was submitted"
    assert mlflow_runs_under(str(project_root)) == set(), "an MLflow run was created"
    assert store_rows(str(state / "jobs.sqlite")) == 0, "the job store changed"
    jobs_dir = state / "jobs"
    assert not jobs_dir.exists() or not os.listdir(jobs_dir), "a job directory was made"


# ------------------------------------------------------------------------------------------ REST (and dialog)
@pytest.fixture
def jp_server_config(jp_server_config: Any, traits: dict[str, Any]) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mltf": True}}, "MLTFManager": traits}


@pytest.fixture
def projects(jp_root_dir: Path, tmp_path: Path) -> Path:
    build_projects(jp_root_dir, tmp_path / "outside")
    return jp_root_dir


async def _post(jp_fetch: Any, endpoint: str, body: dict[str, Any] | bytes) -> tuple[int, dict[str, Any]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = await jp_fetch("mltf", "api", endpoint, method="POST", body=raw, raise_error=False,
                              request_timeout=120)
    text = response.body.decode() if response.body else ""
    try:
        return response.code, json.loads(text)
    except ValueError:
        return response.code, {"message": text, "reason": None}


@pytest.mark.parametrize("case", _params(by_surface("rest")))
async def test_rest(jp_fetch: Any, projects: Path, state: Path, case: Case) -> None:
    body = oversized_body() if case.id == "body-oversized" else case.rest_body
    code, reply = await _post(jp_fetch, case.endpoint, body)
    assert code == case.status, (case.id, code, reply)
    assert set(reply) >= {"message", "reason", "field"}, reply
    _says(reply["message"], case.words)
    assert_nothing_happened(state, projects)


@pytest.mark.parametrize(
    "case", _params([c for c in by_surface("rest") if c.endpoint == "jobs" and c.id not in BUILT_AT_SUBMIT])
)
async def test_rest_check(jp_fetch: Any, projects: Path, state: Path, case: Case) -> None:
    """The check endpoint (what the Lab dialog asks while the user types) refuses what submit refuses,
    the same way, and creates nothing either."""
    body = oversized_body() if case.id == "body-oversized" else case.rest_body
    code, reply = await _post(jp_fetch, "check", body)
    assert code == case.status, (case.id, code, reply)
    _says(reply["message"], case.words)
    assert_nothing_happened(state, projects)


@pytest.mark.parametrize("case", _params(by_surface("preview")))
async def test_rest_preview(jp_fetch: Any, projects: Path, state: Path, case: Case) -> None:
    body = case.rest_body
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k in ("path", "notebook", "gpus")}
    code, reply = await _post(jp_fetch, "preview", body)
    assert code == case.status, (case.id, code, reply)
    _says(reply["message"], case.words)
    assert_nothing_happened(state, projects)


async def test_unknown_job_routes(jp_fetch: Any, projects: Path, state: Path) -> None:
    """Job ids and log offsets: 404/400 with a message, never a 500."""
    for parts, method, params, status in [
        (("jobs", "a" * 80), "GET", None, 404),
        (("jobs", "deadbeef00"), "DELETE", None, 404),
        (("jobs", "x.y"), "GET", None, 404),
        (("jobs", "deadbeef00", "log"), "GET", {"offset": "-1"}, 400),
        (("jobs", "deadbeef00", "log"), "GET", {"offset": "abc"}, 400),
        (("jobs", "deadbeef00", "log"), "GET", {"offset": "9" * 40}, 404),
    ]:
        response = await jp_fetch("mltf", "api", *parts, method=method, params=params, raise_error=False)
        assert response.code == status, (parts, params, response.body)
        reply = json.loads(response.body)
        assert reply["message"] and "traceback" not in reply["message"].lower()
    # (an unknown id makes a fresh store read the user's jobs back from Slurm: by design, so no row count here)
    assert slurm_jobs_under(str(state)) == set() and mlflow_runs_under(str(projects)) == set()


# ------------------------------------------------------------------------------------------ CLI and magics
def _argv(case: Case, root: Path) -> list[str]:
    assert isinstance(case.body, dict)
    body = case.body
    args = [str(root / body.get("path", case.project))]
    if body.get("entry_point") is not None:
        args += ["-e", body["entry_point"]]
    for key, value in (body.get("params") or {}).items():
        args += ["-P", f"{key}={value}"]
    for key, value in (body.get("resources") or {}).items():
        args.append(f"--{key.replace('_', '-')}={value}")  # '=': a value may start with '-'

    for key in ("name", "experiment", "notebook"):
        if body.get(key) is not None:
            args += [f"--{key}", body[key]]
    return args


@pytest.fixture
def local_projects(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    build_projects(root, tmp_path / "outside")
    return root


@pytest.mark.parametrize("case", _params(by_surface("cli")))
def test_cli(local_projects: Path, state: Path, traits: dict[str, Any], tmp_path: Path, case: Case) -> None:
    cfg = tmp_path / "jupyter-config"
    cfg.mkdir()
    (cfg / "jupyter_mltf_config.json").write_text(json.dumps({"MLTFManager": traits}))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(cfg), "MLFLOW_TRACKING_URI": TRACKING_URI}
    out = subprocess.run(
        [sys.executable, "-m", "jupyter_mltf.cli", "submit", *_argv(case, local_projects)],
        capture_output=True, text=True, errors="replace", env=env, timeout=180,
    )  # fmt: skip
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, (case.id, out.returncode, out.stdout, out.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    _says(lines[0], case.words)
    assert out.stdout == ""
    assert_nothing_happened(state, local_projects)


@pytest.fixture
def shell(traits: dict[str, Any]) -> Iterator[Any]:
    from IPython.core.interactiveshell import InteractiveShell

    from jupyter_mltf.api import Client
    from jupyter_mltf.magics import MLTFMagics

    client = Client(**traits)
    sh = InteractiveShell.instance()
    sh.register_magics(MLTFMagics(sh, client=client))
    yield sh
    InteractiveShell.clear_instance()
    client.close()


@pytest.mark.parametrize("case", _params(by_surface("magic")))
def test_magic(shell: Any, local_projects: Path, state: Path, capsys: pytest.CaptureFixture[str], case: Case) -> None:
    from IPython.core.error import UsageError

    line = shlex.join(_argv(case, local_projects))
    try:
        result = shell.run_line_magic("mltf_submit", line)
    except UsageError as exc:  # argparse's own refusals (e.g. --gpus two): one line, no kernel exit
        message = str(exc)
    else:
        assert result is None, (case.id, result)
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("MLTF error: "), err
        message = err[0]
    _says(message, [w for w in case.words if not message.startswith("%mltf_submit")] or ["mltf_submit"])
    assert_nothing_happened(state, local_projects)


# ------------------------------------------------------------------------------------------ the hub form
FORM_CASES = [c for c in by_surface("rest") if c.form is not None]


@pytest.fixture
def spawner() -> Iterator[Any]:
    pytest.importorskip("batchspawner")
    from jupyter_mltf.hub import spawner as mod

    user = mock.Mock()
    user.name = "alice"
    sp = mod.MLTFSlurmSpawner(user=user, req_keepvars="PATH", req_homedir="/home/alice")
    yield sp


@pytest.mark.filterwarnings("ignore::DeprecationWarning:jupyterhub.*")
@pytest.mark.filterwarnings("ignore::DeprecationWarning:batchspawner.*")
@pytest.mark.parametrize("case", _params(FORM_CASES))
def test_hub_form(stack: str, spawner: Any, case: Case) -> None:
    import asyncio

    assert case.form is not None
    formdata = {"preset": ["custom"], **{k: [v] for k, v in case.form.items()}}
    before = subprocess.run(["squeue", "--me", "-h", "-n", "jupyterhub-session", "-o", "%i"],
                            capture_output=True, text=True, timeout=60).stdout.split()
    with pytest.raises(Exception) as info:
        asyncio.run(spawner.run_options_from_form(formdata))
    message = getattr(info.value, "message", None) or str(info.value)
    if "session option" in message:
        # refused by the hub's own first check (type, size, control characters): it names the field and the fix
        assert any(f"session option {name}" in message for name in case.form), message
        _says(message, ["use"])
    else:
        _says(message, case.words)
    after = subprocess.run(["squeue", "--me", "-h", "-n", "jupyterhub-session", "-o", "%i"],
                           capture_output=True, text=True, timeout=60).stdout.split()
    assert set(after) - set(before) == set()


# ------------------------------------------------------------------------------------------ legal but dangerous
DANGEROUS = {
    "subst": "$(touch {marker}-subst)",
    "backtick": "`touch {marker}-tick`",
    "chain": "x; touch {marker}-chain && echo y | cat",
    "sbatch": "a\n#SBATCH --gres=gpu:8\nb",
    "quote": "it's \"quoted\" \\ and {{braces}}",
}


async def test_dangerous_values_pass_literally(jp_fetch: Any, jp_root_dir: Path, state: Path,
                                               tmp_path: Path) -> None:
    """Shell metacharacters in params and the run name are legal: the job gets them as literal strings."""
    marker = f"/tmp/mltf-robust-{uuid.uuid4().hex[:8]}"
    root = jp_root_dir / "danger"
    write_tiny(root)
    (root / "MLproject").write_text(
        "name: danger\nentry_points:\n  main:\n    parameters:\n"
        + "".join(f"      {k}: {{type: string}}\n" for k in DANGEROUS)
        + "    command: \"python echo.py " + " ".join(f"{{{k}}}" for k in DANGEROUS) + "\"\n"
    )
    values = {k: v.format(marker=marker) for k, v in DANGEROUS.items()}
    name = f"run; touch {marker}-name $(touch {marker}-name2)"
    body = {"path": "danger", "params": values, "name": name, "resources": {"partition": "cpu", "time": "00:05:00"}}
    code, dry = await _post(jp_fetch, "jobs", {**body, "dry_run": True})
    assert code == 200, dry
    assert shlex.split(dry["command"]) == ["python", "echo.py", *values.values()]
    assert "gres=gpu:8" not in dry["script"] and marker not in dry["script"]
    code, job = await _post(jp_fetch, "jobs", body)
    assert code == 201, job
    try:
        deadline = time.monotonic() + 240
        while True:
            response = await jp_fetch("mltf", "api", "jobs", job["id"], raise_error=False)
            current = json.loads(response.body)
            if current["terminal"]:
                break
            assert time.monotonic() < deadline, current
            time.sleep(1)
        assert current["state"] == "COMPLETED", current
        assert current["name"] == name
        log = (await jp_fetch("mltf", "api", "jobs", job["id"], "log", raise_error=False)).body.decode()
        text = json.loads(log)["text"]
        assert "ARGV=" + repr(list(values.values())) in text, text
        from mlflow.tracking import MlflowClient

        run = MlflowClient(tracking_uri=TRACKING_URI).get_run(job["run_id"])
        assert run.data.params == values and run.info.run_name == name
    finally:
        scancel(slurm_jobs_under(str(state)))
    leftovers = [p for p in os.listdir("/tmp") if p.startswith(os.path.basename(marker))]
    assert leftovers == [], "a shell ran a parameter"
