"""The gateway backend against the real ``mltf-gateway`` server (PyPI, isolated venv, local executor) and a
local identity provider whose RS256 tokens the server validates for real. See ``conftest_gateway.py``.

Jobs run through the gateway's own ``outside.sh``/``inside.sh`` (``MLTF_DEBUG_NO_CONTAINER=true``): they unpack
our archive, build their venv from PyPI and start ``mlflow run --run-id <ours> .``. The one stand-in is
``pyenv_cache``: pyenv laid at ``/tmp/pyenv`` (where inside.sh puts its GitHub clone) with Debian's Python as
its only version, since neither GitHub nor python.org can be reached here. With it the project itself runs and
logs to MLflow; without it the end-to-end test cannot show that, so it is a missing prerequisite (``missing()``:
a skip on a developer's machine, a failure in CI), never a pass.
"""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from jupyter_mltf import auth
from jupyter_mltf.backends.base import JobSpec
from jupyter_mltf.backends.gateway import GatewayBackend
from jupyter_mltf.errors import AuthenticationError, BackendUnavailable, CapabilityMissing, http_status
from jupyter_mltf.models import Job, JobState, Resources

from ..conftest import missing
from .conftest_gateway import (
    GatewayServer,
    LocalIdP,
    gateway_server,
    local_idp,
    make_archive,
    make_project,
    pyenv_cache,
    run,
)

__all__ = ["gateway_server", "local_idp", "pyenv_cache"]  # fixtures used by name

TRAIN = "import sys\nprint('HELLO-FROM-THE-PROJECT', flush=True)\nsys.exit(0)\n"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends


def mlflow_run(tracking_uri: str) -> tuple[str, str]:
    """A real MLflow run (the core creates it before upload), or a made-up id when no server answers."""
    try:
        import mlflow

        client = mlflow.MlflowClient(tracking_uri)
        exp = client.get_experiment_by_name("gateway-tests")
        exp_id = exp.experiment_id if exp else client.create_experiment("gateway-tests")
        return client.create_run(exp_id).info.run_id, str(exp_id)
    except Exception:
        return uuid.uuid4().hex, "0"


def make_spec(tmp: Path, tracking_uri: str, *, script: str = TRAIN, **overrides: Any) -> JobSpec:
    project = make_project(tmp, f"proj{uuid.uuid4().hex[:6]}", script, {"gateway_config.json": '{"nodes": 1}'})
    archive = make_archive(project, tmp / f"{project.name}.tar")
    run_id, exp_id = mlflow_run(tracking_uri)
    values: dict[str, Any] = {
        "job_id": uuid.uuid4().hex[:12],
        "name": project.name,
        "project_name": project.name,
        "project_dir": str(project),
        "archive_path": str(archive),
        "content_hash": "0" * 64,
        "entry_point": "main",
        "params": {},
        "command": "python train.py",
        "resources": Resources(nodes=1, time="00:10:00", mem="1G", cpus=1),
        "job_dir": str(tmp / "job"),
        "run_id": run_id,
        "experiment_id": exp_id,
        "tracking_uri": tracking_uri,
        "python": "python3",
        "backend_config": {"nodes": 1, "debug": True},
    }
    values.update(overrides)
    return JobSpec(**values)


def job_of(spec: JobSpec, native_id: str) -> Job:
    return Job(
        id=spec.job_id,
        backend="gateway",
        native_id=native_id,
        name=spec.name,
        project_dir=spec.project_dir,
        run_id=spec.run_id,
        state=JobState.PENDING,
    )


def backend_for(gw_url: str, token: str | None, tmp: Path, **traits: Any) -> GatewayBackend:
    return GatewayBackend(
        url=gw_url,
        token=token or "",
        use_keyring=False,
        token_file=str(tmp / "no-token.json"),
        backoff=0.05,
        reconcile_wait=0.1,
        **traits,
    )


async def wait_terminal(backend: GatewayBackend, job: Job, timeout: float = 240) -> JobState:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = (await backend.statuses([job]))[job.native_id]
        job.apply(info)
        if job.state.is_terminal:
            return job.state
        await asyncio.sleep(1)
    raise AssertionError(f"job {job.native_id} still {job.state} after {timeout}s")


@pytest.fixture(autouse=True)
def _no_ambient_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLTF_GATEWAY_TOKEN", raising=False)
    monkeypatch.delenv("MLTF_GATEWAY_URI", raising=False)


@pytest.mark.gateway
def test_submit_list_status_log_cancel(gateway_server: GatewayServer, tmp_path: Path) -> None:
    gw = gateway_server
    token = gw.idp.token(sub="alice-sub")
    # a job that stays up long enough to be cancelled: the gateway's scripts build a venv first
    spec = make_spec(tmp_path, gw.tracking_uri, script="import time\ntime.sleep(120)\n")

    async def scenario() -> None:
        backend = backend_for(gw.url, token, tmp_path)
        try:
            native_id = await backend.submit(spec)
            assert uuid.UUID(native_id)  # the gateway's uuid1
            job = job_of(spec, native_id)

            listed = {d.native_id: d for d in await backend.discover()}
            assert native_id in listed
            assert listed[native_id].run_id == spec.run_id
            assert listed[native_id].name == spec.name

            info = (await backend.statuses([job]))[native_id]
            assert info.state in (JobState.PENDING, JobState.RUNNING), info

            # bob cannot see alice's jobs in the list (the gateway keys the list on the token's subject)
            other = backend_for(gw.url, gw.idp.token(sub="bob-sub"), tmp_path)
            try:
                assert native_id not in {d.native_id for d in await other.discover()}
            finally:
                await other.close()

            await backend.cancel(job)
            state = await wait_terminal(backend, job, timeout=60)
            # the gateway reports the killed process as FAILED; the client knows it cancelled it
            assert state is JobState.CANCELLED

            first = await backend.read_log(job, 0, 200)
            assert first.offset == 0 and 0 < first.next_offset <= 200
            rest = await backend.read_log(job, first.next_offset)  # the gateway now answers 500: served from cache
            full = first.text + rest.text
            assert rest.complete
            assert "MLTF: Entering outer.sh" in full
            assert "Running debug no container" in full
            assert token not in full
        finally:
            await backend.close()

    run(scenario())


FULL_TRAIN = """\
import mlflow
print("HELLO-FROM-THE-PROJECT", flush=True)
mlflow.log_metric("accuracy", 0.93)
"""


@pytest.mark.gateway
def test_job_runs_the_project_to_the_end(
    gateway_server: GatewayServer, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A job through the gateway's own scripts: our archive is unpacked, ``mlflow run`` resumes our run id, and
    (with pyenv laid out where inside.sh expects it, see ``pyenv_cache``) the project runs and logs to MLflow.

    Also shows two gateway defects: it drops the entry point and parameters (sent here on purpose), and its
    outside.sh fails the finished job (bare ``curl -X``), which the client corrects from the MLflow run."""
    import mlflow

    gw = gateway_server
    # the project can only run with the pyenv stand-in; without it the test cannot show that it ran, so a
    # missing seed is a missing prerequisite (a failure in CI), never a pass on a job that FAILED early
    try:
        version: str = request.getfixturevalue("pyenv_cache")
    except pytest.skip.Exception as exc:
        missing(f"the end-to-end gateway job needs pyenv: {exc}")
        return
    env = f'python: "{version}"\nbuild_dependencies:\n  - pip\ndependencies:\n'
    # psutil: the gateway exports MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING=true, so mlflow.start_run needs it
    env += f"  - mlflow-skinny=={mlflow.__version__}\n  - psutil\n"
    spec = make_spec(tmp_path, gw.tracking_uri, script=FULL_TRAIN, entry_point="other", params={"alpha": "0.5"})
    Path(spec.project_dir, "python_env.yaml").write_text(env)
    make_archive(Path(spec.project_dir), Path(spec.archive_path))

    async def scenario() -> tuple[JobState, str | None, str]:
        # server_runs_entry_point=True: send them anyway, to show what the server does with them
        backend = backend_for(gw.url, gw.idp.token(), tmp_path, server_runs_entry_point=True, log_timeout=300)
        try:
            job = job_of(spec, await backend.submit(spec))
            job.tracking_uri = spec.tracking_uri
            state = await wait_terminal(backend, job, timeout=270)
            chunk = await backend.read_log(job)
            assert chunk.complete
            return state, job.reason, chunk.text
        finally:
            await backend.close()

    state, reason, log = run(scenario())
    assert "Unpacking" in log and "train.py" in log and "gateway_config.json" in log  # our archive arrived
    assert f"mlflow run --run-id {spec.run_id} ." in log  # no -e other, no -P alpha=0.5: dropped by the server
    assert "-P alpha" not in log
    # the project really ran: its output in the job log and its metric in our MLflow run
    assert "HELLO-FROM-THE-PROJECT" in log, log[-4000:]
    run_info = mlflow.MlflowClient(gw.tracking_uri).get_run(spec.run_id)
    assert run_info.info.status == "FINISHED", log[-4000:]
    assert run_info.data.metrics["accuracy"] == 0.93
    assert "curl -X" in log  # outside.sh's last line fails the job after the project succeeded...
    assert state is JobState.COMPLETED, (state, reason)  # ...and the client trusts the MLflow run instead
    assert reason and "MLflow run FINISHED" in reason


@pytest.mark.gateway
@pytest.mark.parametrize(
    "kind",
    ["expired", "wrong-key", "wrong-audience", "garbage"],
)
def test_bad_token_gives_log_in_again(gateway_server: GatewayServer, tmp_path: Path, kind: str) -> None:
    idp: LocalIdP = gateway_server.idp
    token = {
        "expired": idp.token(expires_in=-120),
        "wrong-key": idp.token(wrong_key=True),
        "wrong-audience": idp.token(audience="someone-else"),
        "garbage": "not-a-jwt",
    }[kind]
    backend = backend_for(gateway_server.url, token, tmp_path)

    async def scenario() -> None:
        try:
            await backend.discover()
        finally:
            await backend.close()

    with pytest.raises(AuthenticationError) as info:
        run(scenario())
    assert "jupyter mltf login" in info.value.message
    assert "log in again" in info.value.message
    assert token not in info.value.message and token not in info.value.log_message
    assert http_status(info.value) == 401


@pytest.mark.gateway
def test_login_device_flow_then_use_and_refresh(gateway_server: GatewayServer, tmp_path: Path) -> None:
    gw = gateway_server
    token_file = tmp_path / "cfg" / "gateway-token.json"
    said: list[str] = []
    result = auth.login(gw.url, token_path=token_file, echo=said.append, sleep=lambda s: None)
    assert result.subject == "alice-sub"
    assert "enter the code ABCD-EFGH" in said[0]
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
    # the gateway advertises <issuer>/protocol/openid-connect/device; discovery's Keycloak path was used
    posted = [p for m, p in gw.idp.requests if m == "POST"]
    assert any(p.endswith("/auth/device") for p in posted)
    assert not any(p.endswith("/openid-connect/device") for p in posted)
    record = auth.load_token(gw.url, token_file)
    assert record and record["refresh_token"]

    async def use(backend: GatewayBackend) -> None:
        try:
            await backend.discover()
        finally:
            await backend.close()

    backend = GatewayBackend(url=gw.url, use_keyring=False, token_file=str(token_file))
    run(use(backend))

    # an expired access token with a refresh token is renewed instead of failing
    record["access_token"] = gw.idp.token(expires_in=-60)
    auth.save_token(record, token_file)
    backend = GatewayBackend(url=gw.url, use_keyring=False, token_file=str(token_file))
    run(use(backend))
    renewed = auth.load_token(gw.url, token_file)
    assert renewed and renewed["access_token"] != record["access_token"]
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600

    # and without a refresh token: "log in again"
    renewed["access_token"] = gw.idp.token(expires_in=-60)
    renewed["refresh_token"] = None
    auth.save_token(renewed, token_file)
    backend = GatewayBackend(url=gw.url, use_keyring=False, token_file=str(token_file))
    with pytest.raises(AuthenticationError, match="log in again"):
        run(use(backend))


@pytest.mark.gateway
def test_entry_point_and_params_refused_by_default(gateway_server: GatewayServer, tmp_path: Path) -> None:
    spec = make_spec(tmp_path, gateway_server.tracking_uri, entry_point="train", params={"lr": "0.1"})
    backend = backend_for(gateway_server.url, gateway_server.idp.token(), tmp_path)

    async def scenario() -> None:
        try:
            await backend.submit(spec)
        finally:
            await backend.close()

    with pytest.raises(CapabilityMissing, match="`main` entry point"):
        run(scenario())
    assert any("ignores the entry point" in note for note in backend.capabilities().notes)


def test_unreachable_gateway_is_503_with_a_message(tmp_path: Path) -> None:
    port = closed_port()
    url = f"http://127.0.0.1:{port}"
    backend = backend_for(url, "header.eyJzdWIiOiJ4In0.sig", tmp_path, retries=1)
    spec = make_spec(tmp_path, "http://127.0.0.1:5000")
    job = job_of(spec, str(uuid.uuid1()))

    async def scenario() -> None:
        try:
            infos = await backend.statuses([job])
            assert infos[job.native_id].state is JobState.UNKNOWN  # never "failed" because we could not ask
            await backend.submit(spec)
        finally:
            await backend.close()

    with pytest.raises(BackendUnavailable) as info:
        run(scenario())
    assert http_status(info.value) == 503
    assert url in info.value.message and "MLTF_GATEWAY_URI" in info.value.message


@pytest.fixture
def jp_server_config(tmp_path: Path) -> dict[str, Any]:
    """Used only when pytest-jupyter's server plugin is loaded: the extension on the gateway backend, with the
    gateway on a closed port."""
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_mltf": True}},
        "MLTFManager": {"backend": "gateway"},
        "GatewayBackend": {
            "url": f"http://127.0.0.1:{closed_port()}",
            "token": "header.eyJzdWIiOiJ4In0.sig",
            "retries": 0,
            "use_keyring": False,
            "token_file": str(tmp_path / "none.json"),
        },
    }


def test_rest_api_503_when_gateway_unreachable(request: pytest.FixtureRequest) -> None:
    """Through the server extension (once it exists): POST /mltf/api/jobs with the gateway backend on a closed
    port answers 503 with a message."""
    pytest.importorskip("jupyter_mltf.handlers")
    try:
        jp_fetch = request.getfixturevalue("jp_fetch")
        root = request.getfixturevalue("jp_root_dir")
        loop = request.getfixturevalue("jp_asyncio_loop")
    except pytest.FixtureLookupError:
        pytest.skip("needs pytest-jupyter's server fixtures (-p pytest_jupyter.jupyter_server)")
    make_project(Path(root), "gwproj", TRAIN)

    async def scenario() -> Any:
        from tornado.httpclient import HTTPClientError

        try:
            return await jp_fetch("mltf", "api", "jobs", method="POST", body='{"path": "gwproj"}')
        except HTTPClientError as exc:
            return exc.response

    resp = loop.run_until_complete(scenario())
    assert resp.code == 503, resp.body
    body = resp.body.decode()
    assert "MLTF gateway" in body and "cannot be reached" in body and "header.eyJ" not in body


def test_token_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "c" / "t.json"
    auth.save_token({"gateway": "https://gw.example/", "access_token": "x", "refresh_token": None}, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    os.chmod(path, 0o644)
    assert auth.load_token("https://gw.example", path) is not None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # made private again on read
    assert auth.forget_token("https://gw.example", path)
    assert auth.load_token("https://gw.example", path) is None


def _client(tmp_path: Path, **gateway: Any) -> Any:
    from traitlets.config import Config

    from jupyter_mltf.api import Client

    config = Config()
    for key, value in {"use_keyring": False, "token_file": str(tmp_path / "none.json"), **gateway}.items():
        setattr(config.GatewayBackend, key, value)
    state = tmp_path / "state"
    return Client(
        config=config,
        backend="gateway",
        store_path=str(state / "jobs.sqlite"),
        jobs_dir=str(state / "jobs"),
        archives_dir=str(state / "archives"),
        poll_interval=1.0,
    )


@pytest.mark.gateway
def test_core_client_submits_through_the_real_gateway(gateway_server: GatewayServer, tmp_path: Path) -> None:
    """The same path the Lab button, the panel, the magics and the CLI take: core -> gateway backend."""
    project = make_project(tmp_path, "viacore", "import time\ntime.sleep(120)\n")
    client = _client(tmp_path, url=gateway_server.url, token=gateway_server.idp.token())
    try:
        handle = client.submit(str(project))
        job = handle.job
        assert job.backend == "gateway" and job.run_id and uuid.UUID(job.native_id)
        assert job.id in {j.id for j in client.jobs()}
        assert handle.status in ("PENDING", "RUNNING")
        cancelled = client.cancel(job.id)
        assert cancelled.id == job.id
        deadline = time.monotonic() + 60
        while client.job(job.id).state is not JobState.CANCELLED:
            assert time.monotonic() < deadline, client.job(job.id)
            time.sleep(1)
        assert "MLTF: Entering outer.sh" in client.logs(job.id).text
    finally:
        client.close()


def test_widget_shows_unreachable_gateway(tmp_path: Path) -> None:
    pytest.importorskip("ipywidgets")
    from jupyter_mltf.widgets import SubmitPanel

    project = make_project(tmp_path, "widgetproj", TRAIN)
    url = f"http://127.0.0.1:{closed_port()}"
    client = _client(tmp_path, url=url, token="header.eyJzdWIiOiJ4In0.sig", retries=0)
    panel = SubmitPanel(str(project), client=client, autostart=False)
    try:
        assert panel.submit() is None
        assert panel.last_error and "cannot be reached" in panel.last_error and url in panel.last_error
        assert "cannot be reached" in panel.message.value
    finally:
        panel.close()
        client.close()


@pytest.mark.gateway
def test_cli_login_device_flow(gateway_server: GatewayServer, tmp_path: Path) -> None:
    """`jupyter mltf login` (device flow against the real gateway's /api/config) stores the token privately."""
    import subprocess
    import sys

    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "MLTF_GATEWAY_URI": gateway_server.url,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg"),
    }
    env.pop("MLTF_GATEWAY_TOKEN", None)
    cli = [sys.executable, "-c", "from jupyter_mltf.cli import main; main()"]
    out = subprocess.run([*cli, "login"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "enter the code ABCD-EFGH" in out.stdout and "Logged in to" in out.stdout
    token_file = tmp_path / "xdg" / "jupyter_mltf" / "gateway-token.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    record = auth.load_token(gateway_server.url, token_file)
    assert record is not None and record["access_token"] not in out.stdout + out.stderr

    # a wrong gateway address: a clear message, no traceback
    env_bad = {**env, "MLTF_GATEWAY_URI": f"http://127.0.0.1:{closed_port()}"}
    out = subprocess.run([*cli, "login"], env=env_bad, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "cannot be reached" in out.stderr and "Traceback" not in out.stderr
