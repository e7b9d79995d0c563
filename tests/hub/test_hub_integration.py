"""The real JupyterHub (scripts/hub/up.sh) on the real one-host Slurm cluster, driven over HTTP like a user.

Runs as the test user (alice) with alice's own token (from her own password file); what needs more (bob's
server, a hub restart) goes through the sudo rule for scripts/hub/grant.sh. The hub runs as root. Skipped when
the hub is not up. One session is spawned for the module (a "1 GPU" Slurm job) and used by the tests in file
order; the last ones restart the hub and stop the session. On failure, the hub log and the session's job log are
printed.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ..conftest import missing, wait_until
from .hubclient import (
    API,
    GRANT,
    HUB,
    HUB_DIR,
    MLTF_HOME,
    SESSION_LOG_DIR,
    can_grant,
    grant,
    granted_token,
    hub_up,
    own_password,
    own_token,
    password_file,
)

MLFLOW = os.environ.get("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
USER = pwd.getpwuid(os.getuid()).pw_name
SESSION_JOB = "jupyterhub-session"

pytestmark = [pytest.mark.hub, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

# alice's own token (from her own password file): what any user has, no admin scope. Filled in when the module
# starts (``alice_token``), not at collection: the token expires in an hour, and this module runs long after the
# whole suite was collected (and a hub slow to answer at collection must not cost the module its token).
H: dict[str, str] = {}


@pytest.fixture(scope="module", autouse=True)
def alice_token() -> None:
    if not hub_up():
        missing(f"JupyterHub is not up at {HUB} (scripts/hub/up.sh)")
    token = own_token(USER)
    if token is None:
        missing(f"no token for {USER}: no readable password at {password_file(USER)} (scripts/hub/up.sh)")
    H["Authorization"] = f"token {token}"


@pytest.fixture(autouse=True)
def _hub_is_up(alice_token: None) -> None:
    if not hub_up():
        missing(f"JupyterHub is not up at {HUB} (scripts/hub/up.sh)")


# ------------------------------------------------------------------------------------------ helpers


def api(method: str, path: str, headers: dict[str, str] | None = None, **kw: Any) -> requests.Response:
    kw.setdefault("timeout", 60)
    return requests.request(method, f"{API}{path}", headers=headers or H, **kw)


def server_model(user: str = USER, headers: dict[str, str] | None = None) -> dict[str, Any] | None:
    r = api("GET", f"/users/{user}", headers)
    r.raise_for_status()
    servers: dict[str, Any] = r.json().get("servers", {})
    return servers.get("")


def squeue(*args: str) -> str:
    return subprocess.run(["squeue", "-h", *args], capture_output=True, text=True, timeout=30).stdout.strip()


def session_jobs(user: str = USER) -> list[str]:
    return squeue("-u", user, "-n", SESSION_JOB, "-o", "%A").split()


def the_session_job(user: str = USER) -> str:
    """The Slurm job of the user's one session (the server model's state, with the job id, is admin-only)."""
    jobs = session_jobs(user)
    assert len(jobs) == 1, f"{user} has session jobs {jobs}, expected one"
    return jobs[0]


def stop_server(user: str = USER) -> None:
    api("DELETE", f"/users/{user}/server")
    wait_until(f"{user}'s server to stop", lambda: server_model(user) is None, 60)


def diagnostics() -> str:
    out = []
    try:
        out.append("--- hub.log (tail)\n" + "".join((HUB_DIR / "hub.log").read_text().splitlines(True)[-40:]))
    except OSError as e:
        out.append(f"(no hub.log: {e})")
    for log in sorted(SESSION_LOG_DIR.glob("jupyterhub_session_*.log"))[-1:]:
        out.append(f"--- {log} (tail)\n" + "".join(log.read_text().splitlines(True)[-30:]))
    return "\n".join(out)


def _send(ws: Any, msg_type: str, content: dict[str, Any]) -> str:
    msg_id = uuid.uuid4().hex
    header = {
        "msg_id": msg_id,
        "username": USER,
        "session": uuid.uuid4().hex,
        "msg_type": msg_type,
        "version": "5.3",
        "date": "",
    }
    msg = {"header": header, "parent_header": {}, "metadata": {}, "channel": "shell", "content": content}
    ws.send(json.dumps(msg))
    return msg_id


def _wait_for_iopub(ws: Any, timeout: float = 30) -> None:
    """A new kernel's output channel may miss the first messages: ask kernel_info until iopub answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg_id = _send(ws, "kernel_info_request", {})
        ws.settimeout(2)
        try:
            while True:
                msg = json.loads(ws.recv())
                if msg.get("channel") == "iopub" and msg.get("parent_header", {}).get("msg_id") == msg_id:
                    return
        except Exception:  # no iopub message within 2 s: ask again
            continue
        finally:
            ws.settimeout(timeout)
    raise AssertionError(f"the kernel's iopub channel did not answer in {timeout} s")


def kernel_exec(code: str, timeout: float = 180) -> str:
    """Run ``code`` in a new kernel of the user's session, through the proxy; returns its output."""
    import websocket

    base = f"{HUB}/user/{USER}"
    kernel = requests.post(f"{base}/api/kernels", headers=H, json={"name": "python3"}, timeout=60)
    kernel.raise_for_status()
    kid = kernel.json()["id"]
    ws = None
    try:
        for attempt in range(3):  # a fresh kernel may need a moment before its channels accept
            try:
                ws = websocket.create_connection(
                    f"{base.replace('http', 'ws', 1)}/api/kernels/{kid}/channels",
                    header=[f"Authorization: {H['Authorization']}"],
                    timeout=timeout,
                )
                break
            except (OSError, websocket.WebSocketException):
                if attempt == 2:
                    raise
                time.sleep(2)
        assert ws is not None
        _wait_for_iopub(ws)
        content = {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        }
        msg_id = _send(ws, "execute_request", content)
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                out.append(f"ERROR {msg['content']['ename']}: {msg['content']['evalue']}\n")
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                return "".join(out)  # iopub's idle comes after all output (execute_reply may overtake it)
        raise AssertionError(f"kernel did not answer in {timeout} s; output so far: {''.join(out)}")
    finally:
        if ws is not None:
            ws.close()
        requests.delete(f"{base}/api/kernels/{kid}", headers=H, timeout=30)


def login(user: str, password: str) -> tuple[requests.Session, requests.Response]:
    s = requests.Session()
    s.get(f"{HUB}/hub/login", timeout=30)
    xsrf = s.cookies.get("_xsrf", "")
    r = s.post(
        f"{HUB}/hub/login",
        data={"username": user, "password": password, "_xsrf": xsrf},
        allow_redirects=False,
        timeout=30,
    )
    return s, r


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module", autouse=True)
def no_session_left(alice_token: None) -> Iterator[None]:
    if server_model() is not None:
        stop_server()
    yield
    if server_model() is not None:
        stop_server()


@pytest.fixture(autouse=True)
def print_logs_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    failed = request.session.testsfailed
    yield
    if request.session.testsfailed > failed:
        print(diagnostics())


@pytest.fixture(scope="module")
def password() -> str:
    value = own_password(USER)
    assert value, f"{password_file(USER)} is not readable"
    return value


@pytest.fixture(scope="module")
def session(alice_token: None) -> Iterator[dict[str, Any]]:
    """alice's "1 GPU" session, spawned over REST with her own token."""
    t0 = time.monotonic()
    r = api("POST", f"/users/{USER}/server", json={"user_options": {"preset": "gpu1"}})
    assert r.status_code in (201, 202), r.text
    try:
        model = wait_until("the session to be ready", lambda: (m := server_model()) and m["ready"] and m, 150)
    except AssertionError:
        print(diagnostics())
        raise
    info = {"model": model, "job_id": the_session_job(), "spawn_s": time.monotonic() - t0}
    print(f"spawn -> ready: {info['spawn_s']:.1f} s (Slurm job {info['job_id']})")
    yield info
    # test_stop_removes_the_slurm_job ends it; when that test did not run or failed, the session must not
    # outlive the module (a later spawn of alice's, here or in another module, would meet it)
    if server_model() is not None:
        stop_server()
    wait_until(f"session job {info['job_id']} to end", lambda: info["job_id"] not in session_jobs(), 90)


# ------------------------------------------------------------------------------------------ tests


def test_password_login_and_spawn_form(password: str) -> None:
    _, bad = login(USER, "not-the-password")
    assert bad.status_code == 403
    s, ok = login(USER, password)
    assert ok.status_code == 302, ok.text[:500]
    page = s.get(f"{HUB}/hub/spawn", timeout=60)
    assert page.status_code == 200
    for text in ("1 GPU, 4 h", "2 GPUs, 8 h", "CPU only, 4 h", "Advanced", 'name="gpus"', "fake_a100"):
        assert text in page.text, text


def test_out_of_bounds_form_values_are_refused_without_a_job(password: str) -> None:
    s, _ = login(USER, password)
    before = session_jobs()
    cases = {  # message -> (posted fields, the input marked)
        "more than the 2 GPUs per node of partition 'gpu'": ({"partition": "gpu", "gpus": "9"}, "gpus"),
        "partition 'nope' does not exist": ({"partition": "nope"}, "partition"),
        "is over the limit of partition 'gpu': at most 08:00:00": (
            {"partition": "gpu", "time": "99:00:00"},
            "time",
        ),
    }
    for message, (fields, marked) in cases.items():
        xsrf = s.cookies.get("_xsrf", "")
        r = s.post(f"{HUB}/hub/spawn", data={"_xsrf": xsrf, "preset": "custom", **fields}, timeout=60)
        page = r.text.replace("&#39;", "'")
        assert message in page, r.text[:2000]
        assert 'name="preset"' in r.text  # the form is shown again, with the message
        # ... with the refused input marked, the message under it, and the values the user gave
        assert re.search(rf'class="form-(?:control|select) is-invalid"[^>]* name="{marked}"', page), page[:3000]
        assert f'id="mltf-{marked}-error">' in page and page.count("is-invalid") == 1
        for name, value in fields.items():
            if name != "partition":  # a select shows the partitions there are
                assert f'name="{name}" id="mltf-{name}" value="{value}"' in page
    # the REST API checks the same bounds (it skips the form)
    r = api("POST", f"/users/{USER}/server", json={"user_options": {"preset": "custom", "gpus": 9}})
    assert r.status_code == 400 and "more than the 2 GPUs" in r.json()["message"], r.text
    # hostile JSON bodies (wrong types, a 4,000-digit number, control characters, unknown keys): a 400 that
    # names the option, from the real hub (tests/robustness/test_hub_hostile.py has every row)
    hostile = {
        "gpus must be a whole number": {"preset": "custom", "gpus": [1]},
        "cpus must be a whole number": {"preset": "custom", "cpus": 2.5},
        "a number of 4000 digits": {"preset": "custom", "gpus": int("9" * 4000)},
        "contains the control character U+000A": {"preset": "custom", "partition": "gpu\n#SBATCH --gres=gpu:8"},
        "unknown session option 'evil'": {"preset": "gpu1", "evil": "x"},
    }
    for message, options in hostile.items():
        r = api("POST", f"/users/{USER}/server", json={"user_options": options})
        assert r.status_code == 400 and message in r.json()["message"], (message, r.status_code, r.text[:300])
    time.sleep(1)
    assert session_jobs() == before
    assert server_model() is None or not server_model()["ready"]  # type: ignore[index]


def test_spawn_page_says_why_a_session_waits() -> None:
    """With every GPU taken, bob's "1 GPU" session waits in the queue and the progress says why."""
    other = "bob"
    blocker = subprocess.run(
        ["sbatch", "--parsable", "--partition=gpu", "--gres=gpu:2", "--job-name=hubtest-blocker",
         "-o", "/dev/null", "--wrap", "sleep 120"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout.strip()  # fmt: skip
    if not can_grant():
        missing(f"no sudo rule for {GRANT} (scripts/setup.sh): the test acts on bob's server with it")
    bob = {"Authorization": f"token {granted_token(other)}"}  # bob's own server only
    try:
        r = api("POST", f"/users/{other}/server", bob, json={"user_options": {"preset": "gpu1"}}, timeout=90)
        assert r.status_code in (201, 202), r.text
        seen: list[str] = []
        with requests.get(f"{API}/users/{other}/server/progress", headers=bob, stream=True, timeout=60) as events:
            deadline = time.monotonic() + 30
            for raw in events.iter_lines(decode_unicode=True):
                if raw and raw.startswith("data:"):
                    seen.append(json.loads(raw[5:]).get("message", ""))
                    if re.search(r"is queued on partition gpu for \d+ s(?:ec)?: .*\((Resources|Priority)\)", seen[-1]):
                        break
                if time.monotonic() > deadline:
                    break
        assert any("is queued on partition gpu for" in m for m in seen), seen
        assert any(re.search(r"\((Resources|Priority)\)$", m) for m in seen), seen
        job = re.search(r"Slurm job (\d+)", seen[-1])
        assert job and squeue("-j", job.group(1), "-o", "%T") == "PENDING"
    finally:
        subprocess.run(["scancel", blocker], timeout=30)
        api("DELETE", f"/users/{other}/server", bob, timeout=90)
        wait_until(f"{other}'s pending session to go", lambda: server_model(other, bob) is None, 60)
    wait_until(f"{other}'s session job to go", lambda: not session_jobs(other), 60)


def test_session_is_a_gpu_slurm_job(session: dict[str, Any]) -> None:
    job = session["job_id"]
    line = squeue("-j", job, "-o", "%u|%P|%T|%b|%j")
    assert line == f"{USER}|gpu|RUNNING|gres:gpu:1|{SESSION_JOB}", line
    show = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True, timeout=30).stdout
    assert re.search(r"TRES=.*gres/gpu=1", show), show
    assert "TimeLimit=04:00:00" in show


def test_session_answers_through_the_proxy(session: dict[str, Any]) -> None:
    status = requests.get(f"{HUB}/user/{USER}/api/status", headers=H, timeout=60)
    assert status.status_code == 200 and "kernels" in status.json()


def test_mltf_extension_answers_in_the_session(session: dict[str, Any]) -> None:
    config = requests.get(f"{HUB}/user/{USER}/mltf/api/config", headers=H, timeout=60)
    assert config.status_code == 200, f"/mltf/api/config answered {config.status_code}: {config.text[:300]}"
    body = config.json()
    assert body["user"] == USER and any(p["name"] == "gpu" for p in body["partitions"])


def test_session_environment(session: dict[str, Any]) -> None:
    out = kernel_exec(
        "import os, shutil\n"
        "print('CVD', os.environ.get('CUDA_VISIBLE_DEVICES'), os.environ.get('SLURM_JOB_PARTITION'))\n"
        "print('MLFLOW', os.environ.get('MLFLOW_TRACKING_URI'))\n"
        "print('PY', shutil.which('python'))\n"
    )
    assert re.search(r"CVD [01] gpu", out), out
    assert f"MLFLOW {MLFLOW}" in out, out
    assert f"PY {MLTF_HOME}/venv/bin/python" in out, out


def test_job_submitted_inside_the_session_completes_in_mlflow(session: dict[str, Any]) -> None:
    proj = Path.home() / "mltf-hub-test" / uuid.uuid4().hex[:8]
    proj.mkdir(parents=True)
    try:
        _submit_from_the_session(proj)
    finally:
        shutil.rmtree(proj, ignore_errors=True)


def _submit_from_the_session(proj: Path) -> None:
    (proj / "MLproject").write_text(
        textwrap.dedent("""\
        name: hubtest
        entry_points:
          main:
            parameters:
              x: {type: float, default: 2}
            command: "python train.py {x}"
        """)
    )
    (proj / "train.py").write_text("import sys, mlflow\nmlflow.log_metric('y', 2 * float(sys.argv[1]))\n")
    code = (
        "from jupyter_mltf.api import Client\n"
        f"h = Client().submit({str(proj)!r}, resources={{'gpus': 0}})\n"
        "h.wait(150)\n"
        "print('RESULT', h.status, h.run_id, h.job.backend, h.job.native_id)\n"
    )
    out = kernel_exec(code, timeout=200)
    match = re.search(r"RESULT (\S+) (\S+) (\S+) (\S+)", out)
    assert match, out
    assert match.group(1) == "COMPLETED" and match.group(3) == "slurm", out
    print(f"job submitted from the session: Slurm job {match.group(4)}, MLflow run {match.group(2)}")
    run = requests.get(f"{MLFLOW}/api/2.0/mlflow/runs/get", params={"run_id": match.group(2)}, timeout=30).json()
    assert run["run"]["info"]["status"] == "FINISHED", run
    assert {m["key"]: m["value"] for m in run["run"]["data"]["metrics"]}.get("y") == 4.0, run


def test_session_following_mltf_jobs_is_not_idle(session: dict[str, Any]) -> None:
    """The keepalive reports activity while an mltf-* job is queued/running (MLTF_KEEPALIVE_INTERVAL=10)."""
    job = subprocess.run(
        [
            "sbatch",
            "--parsable",
            "--partition=cpu",
            "--job-name=mltf-keepalive-test",
            "-o",
            "/dev/null",
            "--wrap",
            "sleep 60",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    try:
        since = time.time()
        time.sleep(1)

        def reported() -> bool:
            stamp = server_model()["last_activity"]  # type: ignore[index]
            return bool(stamp) and _ts(stamp) > since

        wait_until("the keepalive to report activity", reported, 40, interval=2)
    finally:
        subprocess.run(["scancel", job], timeout=30)


def _ts(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_hub_restart_keeps_the_session(session: dict[str, Any]) -> None:
    if not can_grant():
        missing(f"no sudo rule for {GRANT} (scripts/setup.sh): the test restarts the hub with it")
    done = grant("restart-hub")
    assert done.returncode == 0, done.stderr
    t0 = time.monotonic()
    wait_until("the hub to go down", lambda: not hub_up(timeout=3), 60, interval=0.2)
    wait_until("the hub to come back", hub_up, 90, interval=0.3)
    back = time.monotonic() - t0
    wait_until("the session to be ready again", lambda: (m := server_model()) and m["ready"] and m, 60)
    assert the_session_job() == session["job_id"]
    status = wait_until(
        "the session through the proxy",
        lambda: (r := requests.get(f"{HUB}/user/{USER}/api/status", headers=H, timeout=30)).status_code == 200 and r,
        60,
    )
    assert status.status_code == 200
    assert squeue("-j", session["job_id"], "-o", "%T") == "RUNNING"
    print(f"hub restart: back after {back:.1f} s, session job {session['job_id']} kept")


def test_session_log_is_private_and_holds_no_cookie(session: dict[str, Any]) -> None:
    """The session's log (port, request URLs) is the user's alone: mode 600 in a 700 state dir, not in ~."""
    requests.get(f"{HUB}/user/{USER}/lab", headers=H, timeout=60)  # a page view: the XSRF cookie is set
    # then a request the server logs (a 404, with a marker): once it is in the log, so is all that came before
    marker = f"mltf-log-marker-{uuid.uuid4().hex[:8]}"
    requests.get(f"{HUB}/user/{USER}/{marker}", headers=H, timeout=60)
    log = SESSION_LOG_DIR / f"jupyterhub_session_{session['job_id']}.log"
    wait_until(f"the session log to show {marker}",
               lambda: log.exists() and marker in log.read_text(errors="replace"), 60)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600, oct(log.stat().st_mode)
    assert stat.S_IMODE(SESSION_LOG_DIR.stat().st_mode) == 0o700
    assert not (Path.home() / f"jupyterhub_session_{session['job_id']}.log").exists()
    text = log.read_text(errors="replace")
    assert "Setting new xsrf cookie" not in text and "token=" not in text.replace("token=[secret]", ""), text[-2000:]


def test_stop_removes_the_slurm_job(session: dict[str, Any]) -> None:  # the session ends here
    t0 = time.monotonic()
    stop_server()
    job = session["job_id"]
    wait_until(
        f"Slurm job {job} to end",
        lambda: squeue("-t", "all", "-j", job, "-o", "%T") in ("", "CANCELLED", "COMPLETED"),
        60,
    )
    assert job not in session_jobs()
    print(f"stop -> job gone: {time.monotonic() - t0:.1f} s")


def test_spawn_from_the_form_runs_the_chosen_resources(password: str) -> None:
    """The web path: the posted form becomes the Slurm request (advanced: cpu partition, 3 CPUs, 1 h)."""
    s, _ = login(USER, password)
    form = {"preset": "custom", "partition": "cpu", "gpus": "0", "cpus": "3", "mem": "2G", "time": "01:00:00"}
    r = s.post(f"{HUB}/hub/spawn", data={"_xsrf": s.cookies.get("_xsrf", ""), **form}, timeout=90)
    assert r.status_code == 200, r.text[:1000]
    try:
        wait_until("the form-spawned session", lambda: (m := server_model()) and m["ready"] and m, 150)
        job = the_session_job()
        assert squeue("-j", job, "-o", "%P|%C|%m|%l|%b") == "cpu|3|2G|1:00:00|N/A"
        options = api("GET", f"/users/{USER}").json()["servers"][""]["user_options"]
        assert options == {**form, "gpus": 0, "cpus": 3, "gpu_type": None}
    finally:
        stop_server()
    page = s.get(f"{HUB}/hub/spawn", timeout=60)
    assert 'value="custom" checked' in page.text and '<option value="cpu" selected>' in page.text
    assert 'type="number" min="1" name="cpus" id="mltf-cpus" value="3"' in page.text  # no max=: a hint says it
    assert "at most 8" in page.text and "is-invalid" not in page.text
