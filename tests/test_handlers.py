"""The REST API under /mltf/api/, driven with pytest-jupyter's ``jp_fetch`` against the real stack.

Run with the pytest-jupyter plugin: ``scripts/test.sh -p pytest_jupyter.jupyter_server tests/test_handlers.py``.
The extension is configured through the same traitlets config operators use (``jp_server_config``).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import shutil
import time
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from jupyter_mltf.extension import ROUTES

from .conftest import server_config

EXAMPLES = Path(__file__).resolve().parent.parent / "notebooks"
SPEC = yaml.safe_load(resources.files("jupyter_mltf").joinpath("openapi.yaml").read_text(encoding="utf-8"))

pytestmark = [pytest.mark.slurm]


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "mltf-state"


@pytest.fixture
def jp_server_config(jp_server_config: Any, state_dir: Path) -> dict[str, Any]:
    return server_config(state_dir, "slurm", poll_interval=1.0)


@pytest.fixture
def iris(jp_root_dir: Path) -> str:
    """The sklearn example copied under the server root; returns its path relative to the root."""
    shutil.copytree(EXAMPLES / "sklearn-iris", jp_root_dir / "projects" / "iris")
    return "projects/iris"


@pytest.fixture
def sleeper(jp_root_dir: Path) -> str:
    """A project that runs long enough to be cancelled."""
    target = jp_root_dir / "sleeper"
    target.mkdir()
    (target / "sleep.py").write_text("import time\nprint('sleeping', flush=True)\ntime.sleep(300)\n")
    return "sleeper"


def check_documented(parts: tuple[str, ...], method: str, code: int, body: Any) -> None:
    """Every answer is one that openapi.yaml documents for this route, method and status, in its shape."""
    url = "/mltf/api/" + "/".join(parts)
    (template,) = [re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", p) for p, _ in ROUTES if re.fullmatch(p, url)]
    responses = SPEC["paths"][template][method.lower()]["responses"]
    response = responses.get(str(code)) or responses["default"]
    if "$ref" in response:
        response = SPEC["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema = {**response["content"]["application/json"]["schema"], "components": SPEC["components"]}
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(body)]
    assert not errors, f"{method} {template} -> {code} does not match openapi.yaml: {errors[:3]}"


async def call(jp_fetch: Any, *parts: str, method: str = "GET", body: Any = None, **kwargs: Any) -> tuple[int, Any]:
    """(status, parsed JSON) of a request, checked against openapi.yaml; errors are answers, not exceptions."""
    if body is not None and not isinstance(body, (str, bytes)):
        body = json.dumps(body)
    # 60 s, not jp_fetch's 20: the first listing on a fresh store rebuilds it from every job of the user on
    # the shared test cluster (2-3 s with ~300 jobs, but over 20 s while the load tests flood it)
    kwargs.setdefault("request_timeout", 60)
    response = await jp_fetch("mltf", "api", *parts, method=method, body=body, raise_error=False, **kwargs)
    text = response.body.decode() if response.body else ""
    data = json.loads(text) if text else None
    assert response.headers.get("Content-Type", "").startswith("application/json")
    check_documented(parts, method, response.code, data)
    return response.code, data


async def wait_state(jp_fetch: Any, job_id: str, states: set[str], timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        code, job = await call(jp_fetch, "jobs", job_id)
        assert code == 200, job
        if job["state"] in states:
            return job  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"job {job_id} stayed {job['state']} ({job.get('reason')})"
        await asyncio.sleep(1)


# -- reading -----------------------------------------------------------------------------------------------


async def test_health(jp_fetch: Any, jp_serverapp: Any) -> None:
    code, body = await call(jp_fetch, "health")
    assert code == 200
    assert body["status"] == "ok" and body["backend"] == "slurm"
    assert "jupyter_mltf" in jp_serverapp.extension_manager.extensions


async def test_config_reads_partitions_from_the_cluster(jp_fetch: Any) -> None:
    code, cfg = await call(jp_fetch, "config")
    assert code == 200, cfg
    parts = {p["name"]: p for p in cfg["partitions"]}
    assert parts["gpu"]["default"] is True
    assert parts["gpu"]["gpus_per_node"] == 2 and parts["gpu"]["gpu_types"] == ["fake_a100"]
    assert parts["gpu"]["max_time"] == "08:00:00"
    assert "cpu" in parts
    assert cfg["backend"] == "slurm" and "slurm" in cfg["backends"]
    assert cfg["capabilities"]["cancel"] is True
    assert cfg["mlflow_ui_url"].startswith("http://127.0.0.1:5000")
    assert cfg["poll_interval"] == 1.0  # c.MLTFManager.poll_interval reached the manager


async def test_preview_lists_typed_parameters_and_files(jp_fetch: Any, iris: str) -> None:
    code, preview = await call(jp_fetch, "preview", method="POST", body={"path": iris})
    assert code == 200, preview
    (main,) = preview["project"]["entry_points"]
    params = {p["name"]: p for p in main["parameters"]}
    assert params["C"]["type"] == "float" and params["C"]["default"] == 1.0
    assert params["max_iter"]["type"] == "int"
    assert preview["project"]["generated"] is False
    paths = {f["path"] for f in preview["files"]["files"]}
    assert {"MLproject", "train.py"} <= paths
    assert preview["files"]["total_bytes"] > 0


async def test_preview_proposes_an_mlproject(jp_fetch: Any, sleeper: str) -> None:
    code, preview = await call(jp_fetch, "preview", method="POST", body={"path": sleeper})
    assert code == 200, preview
    assert preview["project"]["generated"] is True
    assert "sleep.py" in preview["project"]["mlproject"]


async def test_dry_run_shows_the_batch_script(jp_fetch: Any, iris: str, jp_root_dir: Path) -> None:
    code, dry = await call(
        jp_fetch, "jobs", method="POST",
        body={"path": iris, "params": {"C": 0.5}, "resources": {"gpus": 1, "time": "00:10:00"}, "dry_run": True},
    )
    assert code == 200, dry
    assert "#SBATCH" in dry["script"]
    assert "--C 0.5" in dry["command"]
    assert "train.py" in dry["files"]
    code, listing = await call(jp_fetch, "jobs")
    assert code == 200
    here = str((jp_root_dir / iris).resolve())
    assert not [j for j in listing["jobs"] if j["project_dir"] == here]  # nothing was submitted


# -- the job lifecycle -------------------------------------------------------------------------------------


async def test_submit_list_status_logs(jp_fetch: Any, iris: str) -> None:
    code, job = await call(
        jp_fetch, "jobs", method="POST",
        body={"path": iris, "params": {"C": 0.5, "max_iter": 300}, "resources": {"time": "00:10:00"},
              "name": "iris-rest"},
    )
    assert code == 201, job
    assert job["state"] in {"PENDING", "RUNNING", "CONFIGURING", "COMPLETED"}
    assert job["params"]["C"] == "0.5" and job["name"] == "iris-rest"
    assert job["run_id"] and job["mlflow_url"].startswith("http://127.0.0.1:5000")

    code, listing = await call(jp_fetch, "jobs")
    assert code == 200 and listing["jobs"][0]["id"] == job["id"]

    done = await wait_state(jp_fetch, job["id"], {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"})
    assert done["state"] == "COMPLETED", done
    assert done["terminal"] is True
    assert done["exit_code"] == 0
    assert 0.5 < done["metrics"]["accuracy"] <= 1.0  # from MLflow
    assert done["mlflow_url"].endswith(done["run_id"])

    # the log, incrementally: everything, then nothing new from next_offset, then a tail from the middle
    code, full = await call(jp_fetch, "jobs", job["id"], "log", params={"offset": "0"})
    assert code == 200, full
    assert "accuracy=" in full["text"] and full["offset"] == 0
    end = full["next_offset"]
    assert end == len(full["text"].encode())
    code, rest = await call(jp_fetch, "jobs", job["id"], "log", params={"offset": str(end)})
    assert code == 200 and rest["text"] == "" and rest["next_offset"] == end and rest["complete"] is True
    middle = end // 2
    code, tail = await call(jp_fetch, "jobs", job["id"], "log", params={"offset": str(middle)})
    assert code == 200 and tail["offset"] == middle and tail["next_offset"] == end
    assert full["text"].encode()[middle:] == tail["text"].encode()


async def test_cancel_and_duplicate(jp_fetch: Any, sleeper: str) -> None:
    body = {"path": sleeper, "entry_point": "sleep.py", "resources": {"partition": "cpu", "time": "00:10:00"},
            "idempotency_key": f"test-{os.getpid()}-{time.time_ns()}"}
    code, job = await call(jp_fetch, "jobs", method="POST", body=body)
    assert code == 201, job
    code, dup = await call(jp_fetch, "jobs", method="POST", body=body)
    assert code == 409, dup
    assert dup["reason"] == "duplicate" and dup["job_id"] == job["id"]
    assert job["id"] in dup["message"]

    await wait_state(jp_fetch, job["id"], {"RUNNING"}, timeout=120)
    code, cancelled = await call(jp_fetch, "jobs", job["id"], method="DELETE")
    assert code == 200, cancelled
    final = await wait_state(jp_fetch, job["id"], {"CANCELLED", "COMPLETED", "FAILED"}, timeout=120)
    assert final["state"] == "CANCELLED"
    code, again = await call(jp_fetch, "jobs", job["id"], method="DELETE")  # cancelling twice is harmless
    assert code == 200 and again["state"] == "CANCELLED"


# -- refusals ----------------------------------------------------------------------------------------------


def _says(body: Any, *words: str) -> None:
    assert set(body) >= {"message", "reason"}, body
    text = body["message"].lower()
    assert "traceback" not in text
    for word in words:
        assert word.lower() in text, (word, body["message"])


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/etc", 403, ["relative to the jupyter root"]),
        ("../outside", 403, ["'..'"]),
        ("projects/../../outside", 403, ["'..'"]),
        ("does-not-exist", 400, ["does not exist"]),
        ("", 400, ["path"]),
    ],
)
async def test_paths_outside_the_root_are_refused(
    jp_fetch: Any, iris: str, path: str, status: int, words: list[str]
) -> None:
    for endpoint in ("preview", "jobs"):
        code, body = await call(jp_fetch, endpoint, method="POST", body={"path": path})
        assert code == status, (endpoint, body)
        _says(body, *words)


async def test_symlink_out_of_the_root_is_refused(jp_fetch: Any, jp_root_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "train.py").write_text("print('no')\n")
    os.symlink(outside, jp_root_dir / "escape")
    code, body = await call(jp_fetch, "preview", method="POST", body={"path": "escape"})
    assert code == 403
    _says(body, "outside")


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("{not json", ["not valid json", "json object"]),
        ("[1, 2]", ["json object"]),
        ("", ["empty"]),
    ],
)
async def test_malformed_json_is_a_400(jp_fetch: Any, raw: str, words: list[str]) -> None:
    for endpoint in ("preview", "jobs"):
        code, body = await call(jp_fetch, endpoint, method="POST", body=raw or b" ", allow_nonstandard_methods=True)
        assert code == 400, body
        _says(body, *words)


async def test_unknown_and_mistyped_fields_are_a_400(jp_fetch: Any, iris: str) -> None:
    code, body = await call(jp_fetch, "jobs", method="POST", body={"path": iris, "gpus": 1})
    assert code == 400 and body["field"] == "gpus"
    _says(body, "gpus", "valid fields")
    code, body = await call(jp_fetch, "jobs", method="POST", body={"path": iris, "params": [1]})
    assert code == 400 and body["field"] == "params"
    _says(body, "params")


async def test_unknown_entry_point(jp_fetch: Any, iris: str) -> None:
    code, body = await call(jp_fetch, "jobs", method="POST", body={"path": iris, "entry_point": "nope"})
    assert code == 422 and body["reason"] == "invalid-project" and body["field"] == "entry_point"
    _says(body, "nope", "main")


async def test_bad_parameter_type(jp_fetch: Any, iris: str) -> None:
    code, body = await call(jp_fetch, "jobs", method="POST", body={"path": iris, "params": {"C": "lots"}})
    assert code == 422 and body["field"] == "params.C"
    _says(body, "'C'", "float")
    code, body = await call(jp_fetch, "jobs", method="POST", body={"path": iris, "params": {"nope": 1}})
    assert code == 422 and body["field"] == "params.nope"
    _says(body, "nope", "valid ones are")


@pytest.mark.parametrize(
    ("resources", "words"),
    [
        ({"gpus": 9}, ["gpus=9", "at most 2"]),
        ({"time": "99:00:00"}, ["time", "at most 08:00:00"]),
        ({"gpus": 1, "gpu_type": "h100"}, ["h100", "fake_a100"]),
        ({"partition": "nope"}, ["nope", "gpu"]),
        ({"mem": "lots"}, ["memory size"]),
        ({"shoes": 2}, ["shoes", "valid resources"]),
    ],
)
@pytest.mark.parametrize("route", ["jobs", "check"])
async def test_resources_beyond_the_partition(jp_fetch: Any, iris: str, resources: dict[str, Any],
                                              words: list[str], route: str) -> None:
    """Refused the same way by submit and by check, naming the field a form should mark."""
    code, body = await call(jp_fetch, route, method="POST", body={"path": iris, "resources": resources})
    assert code == 422, body
    assert body["reason"] == "invalid-resources"
    key = next(iter(resources)) if len(resources) == 1 else "gpu_type"
    assert body["field"] == ("resources" if key == "shoes" else f"resources.{key}"), body
    _says(body, *words)


async def test_check_says_what_would_run_and_creates_nothing(jp_fetch: Any, iris: str, state_dir: Path) -> None:
    request = {"path": iris, "params": {"C": 0.5}, "resources": {"gpus": 1, "time": "00:10:00"}}
    code, body = await call(jp_fetch, "check", method="POST", body=request)
    assert code == 200, body
    assert body["ok"] is True and "0.5" in body["command"] and body["params"]["C"] == "0.5"
    assert body["resources"]["partition"] == "gpu" and body["resources"]["gpus"] == 1
    assert not (state_dir / "jobs").exists(), "check made a job directory"
    assert not (state_dir / "archives").exists() or not any((state_dir / "archives").glob("*.tar"))


async def test_unknown_job_and_bad_offset(jp_fetch: Any) -> None:
    for parts, method in ((("jobs", "abc123"), "GET"), (("jobs", "abc123"), "DELETE"),
                          (("jobs", "abc123", "log"), "GET"), (("jobs", "abc123", "trials"), "GET")):
        code, body = await call(jp_fetch, *parts, method=method)
        assert code == 404, (parts, body)
        _says(body, "abc123")
    code, body = await call(jp_fetch, "jobs", "abc123", "log", params={"offset": "-4"})
    assert code == 400
    _says(body, "offset")


async def test_unauthenticated_is_refused(jp_fetch: Any, iris: str) -> None:
    for parts, method, body in ((("config",), "GET", None), (("jobs",), "POST", {"path": iris})):
        code, reply = await call(jp_fetch, *parts, method=method, body=body, headers={"Authorization": ""})
        assert code in (401, 403), reply
        _says(reply, "token")


async def test_cookie_auth_needs_the_xsrf_token(jp_fetch: Any, jp_serverapp: Any, iris: str) -> None:
    token = jp_serverapp.identity_provider.token
    # a token request logs the browser in: keep its login cookie, drop the token
    response = await jp_fetch("mltf", "api", "health", params={"token": token}, headers={"Authorization": ""})
    login = [c.split(";")[0] for c in response.headers.get_list("Set-Cookie") if c.startswith("username-")]
    assert login, response.headers
    cookie = {"Authorization": "", "Cookie": login[0]}
    code, reply = await call(jp_fetch, "config", headers=cookie)
    assert code == 200, reply  # reads work with the cookie alone

    code, reply = await call(jp_fetch, "preview", method="POST", body={"path": iris}, headers=cookie)
    assert code == 403, reply
    _says(reply, "X-XSRFToken")

    with_xsrf = {**cookie, "Cookie": f"{login[0]}; _xsrf=abc123", "X-XSRFToken": "abc123"}
    code, reply = await call(jp_fetch, "preview", method="POST", body={"path": iris}, headers=with_xsrf)
    assert code == 200, reply


async def test_unexpected_errors_are_a_generic_500(jp_fetch: Any, jp_serverapp: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    manager = jp_serverapp.web_app.settings["mltf_manager"]

    async def broken() -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(manager, "config_info", broken)
    code, body = await call(jp_fetch, "config")
    assert code == 500
    assert body == {"message": "internal error in jupyter-mltf: the server log has the details",
                    "reason": "internal-error", "field": None}


# -- issue 12: bodies nested deeply or with numbers of thousands of digits: a 400 that says so, never a 500 ----
def _nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (_nested(100_000), ["nested too deeply"]),  # was RecursionError
        ('{"a": ' * 100_000 + "1" + "}" * 100_000, ["nested too deeply"]),
        ('{"path": "x", "params": {"lr": ' + _nested(100_000) + "}}", ["nested too deeply"]),
        ('{"path": "x", "params": {"lr": ' + _nested(40) + "}}", ["nested too deeply at params.lr[0]"]),
        ('{"path": "x", "notebook": ' + _nested(20) + "}", ["nested too deeply at notebook[0]"]),
        ('{"path": "x", "params": {"lr": ' + "9" * 5000 + "}}", ["5000 digits"]),
        ('{"path": "x", "params": {"lr": -' + "9" * 4301 + "}}", ["4301 digits"]),
    ],
    ids=["arrays", "objects", "in-params", "40-in-params", "20-in-notebook", "5000-digits", "4301-digits"],
)
async def test_deep_and_long_bodies_are_a_400(jp_fetch: Any, raw: str, words: list[str]) -> None:
    for endpoint in ("preview", "jobs"):
        code, body = await call(jp_fetch, endpoint, method="POST", body=raw)
        assert code == 400, body
        _says(body, *words)


async def test_huge_numbers_are_a_422_naming_the_field(jp_fetch: Any, iris: str) -> None:
    for params, words in (({"C": 10**400}, ["'C'", "float"]), ({"C": "NaN"}, ["'C'", "finite"])):
        code, body = await call(jp_fetch, "jobs", method="POST", body={"path": iris, "params": params})
        assert code == 422, body
        _says(body, *words)
    code, body = await call(jp_fetch, "jobs", method="POST", body=json.dumps({"path": iris, "params": {"C": math.nan}}))
    assert code == 422, body
    for asked, words in (({"time": "9" * 5000}, ["time", "HH:MM:SS"]), ({"gpus": 10**400}, ["gpus"])):
        code, body = await call(jp_fetch, "jobs", method="POST", body={"path": iris, "resources": asked})
        assert code == 422, body
        _says(body, *words)
