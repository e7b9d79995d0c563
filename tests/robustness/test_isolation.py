"""Isolation between users: alice's job directory, spec, log, token file, archives and store are closed to
other users by their mode bits, and bob (another user, his own session on the hub) can neither see, read the
log of, nor cancel alice's jobs, through his REST API or with scancel.

Tests run as alice. "As bob" is done through the real hub: bob's session is bob's own process (a Slurm job
of bob's), reached with a token of bob's for his own server only (scripts/hub/grant.sh, through its sudo rule);
a kernel in it runs as bob.
"""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from jupyter_mltf.models import JobState

from ..conftest import missing
from ..hub.hubclient import GRANT, HUB, can_grant, granted_token, hub_up
from .helpers import TRACKING_URI, scancel, slurm_jobs_under, wait_until, write_tiny

pytestmark = [pytest.mark.slurm]

OTHER = "bob"


def other_can(path: str, want: int, user: str = OTHER) -> bool:
    """Whether ``user`` (not root, not the owner, not in the group) may reach and ``want`` (R_OK...) ``path``,
    from the mode bits of the path and every directory above it."""
    pw = pwd.getpwnam(user)
    groups = {pw.pw_gid, *(g for g in os.getgrouplist(user, pw.pw_gid))}

    def allowed(st: os.stat_result, bits: int) -> bool:
        if st.st_uid == pw.pw_uid:
            shift = 6
        elif st.st_gid in groups:
            shift = 3
        else:
            shift = 0
        return all(st.st_mode & (b << shift) for b in (4, 2, 1) if bits & b)

    parts = Path(path).resolve().parts
    for i in range(1, len(parts)):
        if not allowed(os.stat(os.path.join(*parts[:i])), 1):  # x on every directory above
            return False
    return allowed(os.stat(path), want)


@pytest.fixture
def alice_job(stack: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A running job of alice's with a tracking token, using the default (home) jobs and archives dirs."""
    from jupyter_mltf.api import Client

    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", f"secret-{uuid.uuid4().hex}")  # written to a 0600 token file
    state = tmp_path / "state"
    client = Client(backend="slurm", store_path=str(state / "jobs.sqlite"), tracking_uri=TRACKING_URI,
                    poll_interval=0.5)  # jobs_dir/archives_dir: the defaults under ~/.mltf
    handle = client.submit(str(write_tiny(tmp_path / "proj")), entry_point="sleep", params={"seconds": 180},
                           resources={"partition": "cpu", "time": "00:05:00"})
    try:
        wait_until("the job to run and log", lambda: "tick 0" in handle.logs(), 120)
        yield handle
    finally:
        scancel({handle.native_id})
        client.close()


def test_job_files_are_closed_to_other_users(alice_job: Any) -> None:
    job = alice_job.job
    job_dir = job.job_dir
    files = {
        "job dir": job_dir,
        "spec": os.path.join(job_dir, "spec.json"),
        "log": job.log_path,
        "token file": os.path.join(job_dir, "tracking-token"),
        "batch script": os.path.join(job_dir, "job.sbatch"),
        "job record": os.path.join(job_dir, "job.json"),
        "store": alice_job._client.manager.store_path,
        "archive": json.loads(Path(job_dir, "spec.json").read_text())["archive"],
    }
    assert stat.S_IMODE(os.stat(job_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(files["token file"]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(files["spec"]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(files["archive"]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(files["store"]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(files["archive"])).st_mode) == 0o700
    readable = [name for name, path in files.items() if other_can(path, os.R_OK)]
    assert readable == [], f"{OTHER} could read alice's {readable}"
    assert not other_can(job_dir, os.X_OK), f"{OTHER} can enter alice's job dir"
    # the token never travels in the environment Slurm keeps with the job
    env = subprocess.run(["scontrol", "show", "job", "-d", alice_job.native_id], capture_output=True, text=True,
                         timeout=30).stdout
    assert os.environ["MLFLOW_TRACKING_TOKEN"] not in env
    assert os.environ["MLFLOW_TRACKING_TOKEN"] not in Path(files["batch script"]).read_text()


# ------------------------------------------------------------------------------------------ bob, on the hub
def _bob_token() -> str:
    """bob's own token, for bob's server only, from the sudo rule for scripts/hub/grant.sh: alice (the tests)
    never holds the hub's admin token nor bob's password."""
    if not hub_up():
        missing("the hub is not up (scripts/hub/up.sh)")
    if not can_grant():
        missing(f"no sudo rule for {GRANT} (scripts/setup.sh installs it): the test acts as bob with it")
    return granted_token(OTHER)


def _kernel_exec(base: str, headers: dict[str, str], code: str, timeout: float = 120) -> str:
    import websocket

    kid = requests.post(f"{base}/api/kernels", headers=headers, json={"name": "python3"}, timeout=60).json()["id"]
    ws = None
    try:
        for attempt in range(5):
            try:
                ws = websocket.create_connection(f"{base.replace('http', 'ws', 1)}/api/kernels/{kid}/channels",
                                                 header=[f"Authorization: {headers['Authorization']}"],
                                                 timeout=timeout)
                break
            except (OSError, websocket.WebSocketException):
                if attempt == 4:
                    raise
                time.sleep(2)
        assert ws is not None
        out: list[str] = []
        for _ in range(20):  # ask until iopub answers (a new kernel may drop the first messages)
            msg_id = uuid.uuid4().hex
            ws.send(json.dumps({"header": {"msg_id": msg_id, "username": OTHER, "session": uuid.uuid4().hex,
                                           "msg_type": "execute_request", "version": "5.3", "date": ""},
                                "parent_header": {}, "metadata": {}, "channel": "shell",
                                "content": {"code": code, "silent": False, "store_history": False,
                                            "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
            ws.settimeout(10)
            try:
                while True:
                    msg = json.loads(ws.recv())
                    if msg.get("parent_header", {}).get("msg_id") != msg_id:
                        continue
                    if msg["msg_type"] == "stream":
                        out.append(msg["content"]["text"])
                    elif msg["msg_type"] == "error":
                        out.append(f"ERROR {msg['content']['ename']}: {msg['content']['evalue']}\n")
                    elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                        return "".join(out)
            except websocket.WebSocketTimeoutException:
                if out:
                    return "".join(out)
        raise AssertionError("the kernel did not answer")
    finally:
        if ws is not None:
            ws.close()
        requests.delete(f"{base}/api/kernels/{kid}", headers=headers, timeout=30)


@pytest.fixture
def bob_session(stack: str) -> Iterator[tuple[str, dict[str, str]]]:
    headers = {"Authorization": f"token {_bob_token()}"}
    api = f"{HUB}/hub/api"

    def model() -> dict[str, Any] | None:
        reply = requests.get(f"{api}/users/{OTHER}", headers=headers, timeout=60)
        reply.raise_for_status()
        return reply.json().get("servers", {}).get("")  # type: ignore[no-any-return]

    started_here = model() is None
    if started_here:
        reply = requests.post(f"{api}/users/{OTHER}/server", headers=headers, json={"user_options": {"preset": "cpu"}},
                              timeout=120)
        assert reply.status_code in (201, 202), reply.text
    try:
        wait_until(f"{OTHER}'s session", lambda: (m := model()) is not None and m.get("ready"), 180, interval=1)
        yield f"{HUB}/user/{OTHER}", headers
    finally:
        if started_here:
            requests.delete(f"{api}/users/{OTHER}/server", headers=headers, timeout=120)
            # gone before the next test: a session still stopping takes the box's CPUs (test_load runs next) and
            # answers a new spawn for bob with "pending stop" (the hub tests' bob session)
            wait_until(f"{OTHER}'s session to stop", lambda: model() is None, 120, interval=1)
            wait_until(f"{OTHER}'s session job to end", lambda: not _session_jobs(OTHER), 90, interval=1)


def _session_jobs(user: str) -> list[str]:
    done = subprocess.run(["squeue", "-h", "-u", user, "-n", "jupyterhub-session", "-o", "%A"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, f"squeue failed ({done.returncode}): {done.stderr}"
    return done.stdout.split()


@pytest.mark.hub
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_bob_cannot_see_read_or_cancel_alices_jobs(alice_job: Any, bob_session: tuple[str, dict[str, str]]) -> None:
    base, headers = bob_session
    config = requests.get(f"{base}/mltf/api/config", headers=headers, timeout=60)
    assert config.status_code == 200 and config.json()["user"] == OTHER, config.text  # really bob's server
    job_id = alice_job.id
    listing = requests.get(f"{base}/mltf/api/jobs", headers=headers, timeout=120)
    assert listing.status_code == 200 and job_id not in {j["id"] for j in listing.json()["jobs"]}
    for method, path in [("GET", f"jobs/{job_id}"), ("GET", f"jobs/{job_id}/log"), ("DELETE", f"jobs/{job_id}")]:
        reply = requests.request(method, f"{base}/mltf/api/{path}", headers=headers, timeout=120)
        assert reply.status_code == 404, (method, path, reply.status_code, reply.text)
    # bob's own tools, in bob's kernel: scancel fails, the files cannot be read, the log cannot be tailed
    job = alice_job.job
    out = _kernel_exec(base, headers, (
        "import getpass, subprocess\n"
        f"r = subprocess.run(['scancel', {job.native_id!r}], capture_output=True, text=True)\n"
        "print('USER', getpass.getuser(), 'SCANCEL', r.returncode, r.stderr.strip()[:200])\n"
        f"for p in [{job.log_path!r}, {job.job_dir + '/spec.json'!r}, {job.job_dir + '/tracking-token'!r}]:\n"
        "    try:\n        open(p).read(1); print('READ', p)\n"
        "    except OSError as e:\n        print('DENIED', type(e).__name__)\n"
        f"r = subprocess.run(['tail', '-c', '100', {job.log_path!r}], capture_output=True, text=True)\n"
        "print('TAIL', r.returncode)\n"
    ))  # fmt: skip
    assert f"USER {OTHER}" in out, out
    assert "SCANCEL 0" not in out and "SCANCEL" in out, out
    assert "READ" not in out and out.count("DENIED") == 3, out
    assert "TAIL 0" not in out, out
    # and alice's job is untouched
    assert alice_job.refresh().state is JobState.RUNNING
    assert slurm_jobs_under(job.job_dir) == {alice_job.native_id}
