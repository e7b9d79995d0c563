"""Round two (issue 12), the core's part: concurrent submits with one idempotency key, MLflow credentials,
honest messages (deleted experiment, unreadable file), dry runs and old archives, cancel within Slurm's
KillWait, arrays over MaxArraySize, control characters on every text output, and what other users can see.

The first half needs no cluster (pure functions, the CLI and magic formatters, the runner's scratch and stop
logic); the second half runs on the real stack (``stack`` fixture: skipped where it is not up, failed in CI).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import textwrap
import time
import unicodedata
import uuid
from pathlib import Path
from typing import Any

import pytest

from jupyter_mltf import tracking
from jupyter_mltf.archives import tar_failure
from jupyter_mltf.cli import format_job_detail, format_job_table, print_dry_run, print_preview, write_log
from jupyter_mltf.core import MLTFManager
from jupyter_mltf.errors import DuplicateSubmission, InvalidRequest, ProjectError, ResourceError, http_status
from jupyter_mltf.formatting import printable, printable_log, redact
from jupyter_mltf.magics import _print_dry_run, final_line, format_jobs
from jupyter_mltf.models import Job, JobState
from jupyter_mltf.submission import DryRun, SubmitRequest

from ..conftest import mlflow_run, state_traits
from .helpers import TRACKING_URI, mlflow_runs_under, scancel, slurm_jobs_under, wait_until

# ------------------------------------------------------------------------------------------ the classes
BIDI = [chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]]
ZERO_WIDTH = [chr(c) for c in [*range(0x200B, 0x200E), 0x2060, 0xFEFF, 0x00AD, 0x180E]]
C0 = [chr(c) for c in range(0x20)] + ["\x7f"]
C1 = [chr(c) for c in range(0x80, 0xA0)]
SEPARATORS = ["\u2028", "\u2029"]
ESCAPES = [
    "\x1b[2J\x1b[H",  # clear the screen
    "\x1b[31mred\x1b[0m",  # colours (also used to hide text: black on black)
    "\x1b]0;title\x07",  # set the window title (OSC)
    "\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\",  # a hyperlink with other text (OSC 8)
    "\x9b2J",  # CSI as one C1 character
    "\x1bP+q\x1b\\",  # DCS (terminal query)
]
NON_UTF8 = b"name-\xff\xfe".decode("utf-8", "surrogateescape")
HOSTILE = BIDI + ZERO_WIDTH + C0 + C1 + SEPARATORS + ESCAPES + [NON_UTF8]


def _raw(text: str) -> list[str]:
    """Characters of ``text`` a terminal or browser would act on (what printable must never let through)."""
    return [c for c in text if c not in "\n\t" and unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")]


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda s: "-".join(f"{ord(c):x}" for c in s[:4]))
def test_printable_escapes_every_class(hostile: str) -> None:
    shown = printable(f"run {hostile} end")
    assert _raw(shown) == [], shown
    assert shown.startswith("run ") and shown.endswith(" end")
    assert _raw(printable(hostile, multiline=True)) == []
    assert _raw(printable_log(hostile)) == []


def test_printable_keeps_ordinary_text_and_lines() -> None:
    text = "café 日本語 😀 Ωmega — «quoted» tabs\tand spaces"
    assert printable(text.replace("\t", " ")) == text.replace("\t", " ")
    assert printable("a\nb\tc", multiline=True) == "a\nb\tc"
    assert printable("a\nb") == "a\\nb"  # one-line fields stay on one line
    assert printable_log("10%\r20%\r\ndone\n") == "10%\n20%\ndone\n"  # progress bars: one update a line
    assert printable(NON_UTF8) == "name-\\xff\\xfe"  # the original bytes, shown


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("http://alice:s3cret@mlflow:5000/x", "http://alice:***@mlflow:5000/x"),
        ("https://alice:p%40ss@mlflow", "https://alice:***@mlflow"),
        ("https://alice:p@ss@mlflow/api", "https://alice:***@mlflow/api"),
        ("see http://u:pw@h and https://v:pw2@k/", "see http://u:***@h and https://v:***@k/"),
        ("mysql+pymysql://root:toor@db/optuna", "mysql+pymysql://root:***@db/optuna"),
        ("http://alice@mlflow:5000", "http://alice@mlflow:5000"),
        ("http://127.0.0.1:5000/#/experiments/1", "http://127.0.0.1:5000/#/experiments/1"),
    ],
)
def test_redact(uri: str, shown: str) -> None:
    assert redact(uri) == shown


def test_credentials_in_the_tracking_uri_are_refused_without_printing_them() -> None:
    with pytest.raises(InvalidRequest) as info:
        tracking.ping("http://alice:s3cret-pw@127.0.0.1:5000")
    message = info.value.message
    assert "s3cret-pw" not in message and "s3cret-pw" not in info.value.log_message
    assert "MLFLOW_TRACKING_PASSWORD" in message and "cannot be reached" not in message
    assert http_status(info.value) == 400


def test_mlflow_errors_say_what_the_server_said() -> None:
    from mlflow.exceptions import RestException

    refused = RestException({"error_code": "UNAUTHENTICATED", "message": "bad creds"})
    assert "MLFLOW_TRACKING_PASSWORD" in tracking._unavailable("http://h", refused).message
    denied = RestException({"error_code": "PERMISSION_DENIED", "message": "no"})
    assert http_status(tracking._unavailable("http://h", denied)) == 403
    bad = RestException({"error_code": "INVALID_PARAMETER_VALUE", "message": "name too long"})
    assert "name too long" in tracking._unavailable("http://h", bad).message
    down = ConnectionError("Max retries exceeded with url: http://u:pw@h/api")
    error = tracking._unavailable("http://u:pw@h", down)
    assert "cannot be reached" in error.message and "pw@" not in error.message + error.log_message


@pytest.mark.parametrize(
    ("stderr", "words"),
    [
        ("tar: data/secret.bin: Cannot open: Permission denied\ntar: Exiting with failure status due to "
         "previous errors\n", ["'data/secret.bin'", "permission denied", ".mltfignore"]),
        ("tar: sub: Cannot open: Permission denied\n", ["'sub'", "readable"]),
        ("tar: a b.txt: Read error at byte 0, while reading 512 bytes: Input/output error\n", ["'a b.txt'"]),
        ("tar: Exiting with failure status due to previous errors\n", ["could not pack"]),
    ],
)
def test_tar_failure_names_the_file(stderr: str, words: list[str]) -> None:
    message = tar_failure(stderr).lower()
    assert "exiting with failure status" not in message
    for word in words:
        assert word.lower() in message


def test_unreadable_file_while_packing_is_a_4xx_naming_it(tmp_path: Path) -> None:
    """The selection refuses unreadable files; one that becomes unreadable after it (a race) still gets a
    422 that names it, from GNU tar's complaint or Python's PermissionError, never tar's last line."""
    from jupyter_mltf import archives, packaging
    from jupyter_mltf.launching import build_archive as _build_archive

    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    root = tmp_path / "proj"
    (root / "data").mkdir(parents=True)
    (root / "train.py").write_text("print(1)\n")
    (root / "data" / "x.bin").write_bytes(b"x" * 10)
    selection = packaging.select_files(root)
    (root / "data" / "x.bin").chmod(0)
    try:
        for gnu in (True, False):
            archives._GNU_TAR = gnu
            with pytest.raises(ProjectError) as info:
                _build_archive(selection, str(tmp_path / "archives"), {})
            message = info.value.message
            assert "data/x.bin" in message and "Exiting" not in message and http_status(info.value) == 422
    finally:
        archives._GNU_TAR = None
        (root / "data" / "x.bin").chmod(0o644)
    assert [n for n in os.listdir(tmp_path / "archives") if n.endswith(".tar")] == []


# ------------------------------------------------------------------------------------------ CLI and magic text
def _hostile_job(name: str) -> Job:
    return Job(
        id="abc123", backend="slurm", native_id="42", name=name, project_dir="/p", state=JobState.PENDING,
        reason=f"Priority{name}", params={"word": name}, mlflow_url=f"http://127.0.0.1:5000/#/r{name}",
    )


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda s: "-".join(f"{ord(c):x}" for c in s[:4]))
def test_cli_and_magic_job_text_is_escaped(hostile: str) -> None:
    job = _hostile_job(f"run{hostile}x")
    for text in (format_job_table([job]), format_job_detail(job), format_jobs([job]), final_line(job)):
        assert _raw(text) == [], text


def test_dry_run_and_preview_listings_are_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    names = [f"f{h}.py" for h in HOSTILE]
    dry = DryRun(script="#!/bin/bash\n#SBATCH --comment=x\n", command="python f\u202e.py", files=names,
                 excluded=[{"path": n, "reason": "secret"} for n in names[:5]],
                 project={"notes": ["note \x1b[2J"], "generated": True, "mlproject": "name: \u202ex\n"},
                 resources={}, params={}, content_hash="0" * 64, total_bytes=1)
    print_dry_run(dry)
    _print_dry_run(dry)
    print_preview({
        "project": {"name": "p\u202e", "generated": False, "notes": ["\x1b]0;t\x07"],
                    "entry_points": [{"name": "main", "command": "python \x1b[8m.py", "parameters": [
                        {"name": "w", "type": "string", "default": "\u2066x"}]}]},
        "files": {"count": 1, "total_bytes": 1, "limit_bytes": 2, "largest": [{"size": 1, "path": names[0]}],
                  "excluded": [{"path": n, "reason": "r\x9b"} for n in names]},
        "warnings": ["w\u200b"],
    })
    out = capsys.readouterr().out
    assert _raw(out) == [], [hex(ord(c)) for c in _raw(out)][:10]
    assert "\\u202e" in out and "\\x1b" in out


class _Out(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize("tty", [True, False])
def test_logs_keep_their_bytes_unless_on_a_terminal(monkeypatch: pytest.MonkeyPatch, tty: bool) -> None:
    log = "epoch 1\r\x1b[31merror\x1b[0m \u202eevil\n"
    out = _Out(tty)
    monkeypatch.setattr(sys, "stdout", out)
    write_log(log)
    assert (out.getvalue() == log) is not tty
    if tty:
        assert _raw(out.getvalue()) == []


# ------------------------------------------------------------------------------------------ the runner
def test_stale_scratch_of_killed_runners_is_removed(tmp_path: Path) -> None:
    from jupyter_mltf.node import scratch

    host = socket.gethostname()
    dead = subprocess.Popen(["true"])
    dead.wait()

    def make(name: str, owner: str) -> Path:
        path = tmp_path / name
        (path / "project").mkdir(parents=True)
        (path / scratch.OWNER_FILE).write_text(owner)
        return path

    gone = make("mltf-1-a", f"{host} {dead.pid} 1")
    reused_pid = make("mltf-2-b", f"{host} {os.getpid()} 1")  # our pid, another start time: a reused pid
    alive = make("mltf-3-c", f"{host} {os.getpid()} {scratch.start_time(os.getpid())}")
    elsewhere = make("mltf-4-d", f"other-node {dead.pid} 1")  # another node's: cannot be judged from here
    unowned = tmp_path / "mltf-5-e"
    unowned.mkdir()
    removed = scratch.remove_stale_scratch(str(tmp_path), host)
    assert sorted(removed) == sorted([str(gone), str(reused_pid)])
    assert alive.exists() and elsewhere.exists() and unowned.exists()


def test_runner_kills_the_entry_point_after_the_grace(tmp_path: Path) -> None:
    """A SIGTERM handler that sleeps 30 s gets ``grace`` seconds, then SIGKILL: the runner has time left."""
    from jupyter_mltf.node.signals import StopOnSignal

    script = ("import signal, time\nsignal.signal(signal.SIGTERM, lambda *a: time.sleep(30))\n"
              "print('ready', flush=True)\ntime.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True, stdout=subprocess.PIPE)
    try:
        # the handler is in place before the signal (a fixed sleep is not enough for a Python start on a
        # loaded machine: SIGTERM before the handler would end it with -SIGTERM)
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        os.killpg(proc.pid, signal.SIGTERM)
        started = time.monotonic()
        stop = StopOnSignal(grace=1.5)
        stop.signum, stop.at = signal.SIGTERM, started
        rc = stop.wait_child(proc)
        elapsed = time.monotonic() - started
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    # killed after the grace, far sooner than the handler's 30 s (slack for a loaded 2-core machine)
    assert rc == -signal.SIGKILL and 1.5 <= elapsed < 15, (rc, elapsed)


# ------------------------------------------------------------------------------------------ archives
def test_prune_keeps_young_and_live_archives(tmp_path: Path) -> None:
    async def go() -> tuple[list[str], list[str]]:
        manager = MLTFManager(backend="local", jobs_dir=str(tmp_path / "jobs"), archives_dir=str(tmp_path / "a"),
                              store_path=str(tmp_path / "s.sqlite"), tracking_uri=TRACKING_URI,
                              archive_keep_days=1)
        try:
            arch = tmp_path / "a"
            arch.mkdir()
            old = time.time() - 3 * 86400
            for name in ("old.tar", "live.tar", "manifest-old", ".archive-x.tar", "young.tar", "notes.txt"):
                (arch / name).write_bytes(b"x")
                if name != "young.tar":
                    os.utime(arch / name, (old, old))
            (arch / ".dry-run-x").mkdir()
            os.utime(arch / ".dry-run-x", (old, old))
            manager.store.add(Job(id="j1", backend="local", native_id="local-1", name="n", project_dir="/p",
                                  content_hash="live", state=JobState.RUNNING))
            removed = manager.prune_archives()
            return removed, sorted(os.listdir(arch))
        finally:
            await manager.close()

    removed, left = asyncio.run(go())
    assert sorted(removed) == sorted(["old.tar", "manifest-old", ".archive-x.tar", ".dry-run-x"])
    assert left == ["live.tar", "notes.txt", "young.tar"]


# ================================================================================== on the real stack
TRAIN = textwrap.dedent(
    """\
    import hashlib, json, os, signal, sys, time
    print("CWD=" + os.getcwd(), flush=True)
    pw = os.environ.get("MLFLOW_TRACKING_PASSWORD", "")
    print("PW=" + hashlib.sha256(pw.encode()).hexdigest()[:16], flush=True)
    print("USER=" + os.environ.get("MLFLOW_TRACKING_USERNAME", ""), flush=True)
    path = os.environ.get("MLTF_PARAMS_FILE")
    print("PARAMS=" + (open(path).read() if path else "-"), flush=True)
    def slow_stop(*_):
        print("handler: cleaning up for 30 s", flush=True)
        time.sleep(30)
        sys.exit(0)
    signal.signal(signal.SIGTERM, slow_stop)
    for i in range(int(sys.argv[1])):
        print("tick", i, flush=True)
        time.sleep(1)
    """
)
MLPROJECT = textwrap.dedent(
    """\
    name: hostile
    entry_points:
      main:
        parameters:
          seconds: {type: int, default: 1}
          secret: {type: string, default: none}
        command: "python train.py {seconds}"
    """
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "train.py").write_text(TRAIN)
    (root / "MLproject").write_text(MLPROJECT)
    return root


@pytest.fixture
def traits(stack: str, tmp_path: Path) -> dict[str, Any]:
    return state_traits(tmp_path / "state", "slurm", tracking_uri=TRACKING_URI, poll_interval=0.5)


def _run(traits: dict[str, Any], work: Any) -> Any:
    """Run ``work(manager)`` on a fresh MLTFManager in its own event loop; cancel what it left running."""

    async def go() -> Any:
        manager = MLTFManager(**traits)
        try:
            return await work(manager)
        finally:
            await manager.close()

    try:
        return asyncio.run(go())
    finally:
        scancel(slurm_jobs_under(traits["jobs_dir"]))


def _nothing_created(traits: dict[str, Any], project: Path) -> None:
    assert slurm_jobs_under(traits["jobs_dir"]) == set(), "a Slurm job was submitted"
    assert mlflow_runs_under(str(project)) == set(), "an MLflow run was created"
    jobs = Path(traits["jobs_dir"])
    assert not jobs.exists() or os.listdir(jobs) == [], "a job directory was made"
    archives = Path(traits["archives_dir"])
    assert not archives.exists() or [n for n in os.listdir(archives) if n.endswith(".tar")] == []


@pytest.mark.slurm
def test_concurrent_submits_with_one_key_make_one_job(traits: dict[str, Any], project: Path) -> None:
    """Eight submits with one idempotency key at once: one job, one run, one job dir, one Slurm job."""
    request = {"resources": {"partition": "cpu", "time": "00:05:00"}, "idempotency_key": f"k-{uuid.uuid4().hex}"}

    async def work(manager: MLTFManager) -> list[Any]:
        return await asyncio.gather(
            *(manager.submit(SubmitRequest(path=str(project), **request)) for _ in range(8)), return_exceptions=True
        )

    results = _run(traits, work)
    jobs = [r for r in results if isinstance(r, Job)]
    refused = [r for r in results if isinstance(r, DuplicateSubmission)]
    assert len(jobs) == 1 and len(refused) == 7, results
    assert {r.job_id for r in refused} == {jobs[0].id}
    runs = mlflow_runs_under(str(project))
    assert runs == {jobs[0].run_id}, runs
    assert os.listdir(traits["jobs_dir"]) == [jobs[0].id]
    assert len(slurm_jobs_under(traits["jobs_dir"])) == 1
    # and the same key later, from another manager on the same store: refused, nothing new
    with pytest.raises(DuplicateSubmission):
        _run(traits, lambda m: m.submit(SubmitRequest(path=str(project), **request)))
    assert mlflow_runs_under(str(project)) == runs and os.listdir(traits["jobs_dir"]) == [jobs[0].id]


@pytest.mark.slurm
def test_refused_submit_releases_the_key(traits: dict[str, Any], project: Path) -> None:
    """A submit that fails after the claim (here: the batch script refuses the job dir) is undone: the key
    is free again, and no run, job dir or store row is left behind."""
    key = f"k-{uuid.uuid4().hex}"
    bad = {**traits, "jobs_dir": traits["jobs_dir"] + " x"}  # a space: refused when the script is rendered
    with pytest.raises(ProjectError):
        _run(bad, lambda m: m.submit(SubmitRequest(path=str(project), idempotency_key=key,
                                                   resources={"partition": "cpu"})))
    assert mlflow_runs_under(str(project)) == set()
    assert not os.path.exists(bad["jobs_dir"]) or os.listdir(bad["jobs_dir"]) == []
    job = _run(traits, lambda m: m.submit(SubmitRequest(path=str(project), idempotency_key=key,
                                                        resources={"partition": "cpu", "time": "00:05:00"})))
    assert job.idempotency_key == key  # the key was free again


@pytest.mark.slurm
def test_deleted_experiment_is_named_with_how_to_restore(traits: dict[str, Any], project: Path) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=TRACKING_URI)
    name = f"mltf-deleted-{uuid.uuid4().hex[:8]}"
    client.delete_experiment(client.create_experiment(name))
    with pytest.raises(ProjectError) as info:
        _run(traits, lambda m: m.submit(SubmitRequest(path=str(project), experiment=name,
                                                      resources={"partition": "cpu"})))
    message = info.value.message
    assert name in message and "deleted" in message and "mlflow experiments restore" in message
    assert "cannot be reached" not in message and http_status(info.value) == 422
    _nothing_created(traits, project)


@pytest.mark.slurm
def test_credentials_in_the_uri_are_refused_before_anything(traits: dict[str, Any], project: Path) -> None:
    with_creds = {**traits, "tracking_uri": "http://alice:s3cret-pw@127.0.0.1:5000"}
    with pytest.raises(InvalidRequest) as info:
        _run(with_creds, lambda m: m.submit(SubmitRequest(path=str(project), resources={"partition": "cpu"})))
    assert "s3cret-pw" not in info.value.message and "MLFLOW_TRACKING_USERNAME" in info.value.message
    _nothing_created(traits, project)


@pytest.mark.slurm
def test_array_over_max_array_size_is_refused_first(traits: dict[str, Any], project: Path) -> None:
    limit = int(subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=30)
                .stdout.split("MaxArraySize")[1].split("=")[1].split()[0])
    sweep = {"objective": {"metric": "loss", "direction": "minimize"}, "trials": limit + 1,
             "parallelism": limit + 1, "parameters": {"seconds": [1, 2]}}
    with pytest.raises(ResourceError) as info:
        _run(traits, lambda m: m.submit(SubmitRequest(path=str(project), sweep=sweep,
                                                      resources={"partition": "cpu"})))
    assert str(limit) in info.value.message and "parallelism" in info.value.message
    assert http_status(info.value) == 422
    _nothing_created(traits, project)


@pytest.mark.slurm
def test_dry_run_leaves_no_archive(traits: dict[str, Any], project: Path) -> None:
    result = _run(traits, lambda m: m.submit(SubmitRequest(path=str(project), dry_run=True,
                                                           resources={"partition": "cpu"})))
    assert isinstance(result, DryRun) and len(result.content_hash) == 64
    archives = Path(traits["archives_dir"])
    assert not archives.exists() or os.listdir(archives) == [], os.listdir(archives)
    _nothing_created(traits, project)


def _log(job: Job) -> str:
    return Path(job.log_path or "").read_text(errors="replace") if job.log_path and os.path.exists(job.log_path) else ""


@pytest.mark.slurm
def test_password_travels_in_a_private_file_and_params_out_of_argv(
    traits: dict[str, Any], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job gets MLFLOW_TRACKING_PASSWORD (a 0600 file), never in the script, spec, env Slurm keeps, log,
    archive or MLflow; the Slurm comment carries no run id; parameters are readable from a 0600 file."""
    password = f"pw-{uuid.uuid4().hex}"
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice-ml")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)

    async def work(manager: MLTFManager) -> Job:
        job = await manager.submit(SubmitRequest(path=str(project), params={"seconds": 1, "secret": "hush"},
                                                 resources={"partition": "cpu", "time": "00:05:00"}))
        assert isinstance(job, Job)
        comment = subprocess.run(["squeue", "-h", "-j", job.native_id, "-o", "%k"], capture_output=True,
                                 text=True, timeout=30).stdout.strip()
        assert comment == f"mltf:{job.id}", comment
        return await manager.wait(job.id, timeout=120, interval=0.5)

    job = _run(traits, work)
    assert job.state is JobState.COMPLETED, _log(job)
    log = _log(job)
    assert "PW=" + hashlib.sha256(password.encode()).hexdigest()[:16] in log and "USER=alice-ml" in log
    assert 'PARAMS={"seconds": "1", "secret": "hush"}' in log
    job_dir = Path(job.job_dir or "")
    assert oct((job_dir / "tracking-password").stat().st_mode & 0o777) == "0o600"
    assert oct((job_dir / "params.json").stat().st_mode & 0o777) == "0o600"
    for name in os.listdir(job_dir):
        if name != "tracking-password":
            assert password not in (job_dir / name).read_text(errors="replace"), name
    with tarfile.open(Path(traits["archives_dir"]) / f"{job.content_hash}.tar") as tar:
        for member in tar.getmembers():
            data = tar.extractfile(member)
            assert data is None or password.encode() not in data.read(), member.name
    shown = subprocess.run(["scontrol", "show", "job", "-d", job.native_id], capture_output=True, text=True,
                           timeout=30).stdout
    assert password not in shown
    run = mlflow_run(job.run_id or "")
    assert password not in json.dumps([run.data.tags, run.data.params])


async def _ticking_job(manager: MLTFManager, project: Path) -> Job:
    """A 300 s job of the slow-to-stop project, once its entry point has printed its second tick."""
    job = await manager.submit(SubmitRequest(path=str(project), params={"seconds": 300},
                                             resources={"partition": "cpu", "time": "00:10:00"}))
    assert isinstance(job, Job)
    deadline = time.monotonic() + 120
    while "tick 1" not in _log(job):
        assert time.monotonic() < deadline, _log(job)
        await asyncio.sleep(0.5)
    return job


@pytest.mark.slurm
def test_cancel_with_a_slow_handler_fits_kill_wait(traits: dict[str, Any], project: Path) -> None:
    """The entry point's SIGTERM handler sleeps 30 s, Slurm's KillWait is shorter: the runner stops it in
    time, removes its scratch, uploads the log and marks the run KILLED before Slurm's SIGKILL."""

    async def work(manager: MLTFManager) -> Job:
        job = await _ticking_job(manager, project)
        await manager.cancel(job.id)
        return await manager.wait(job.id, timeout=60, interval=0.5)

    job = _run(traits, work)
    assert job.state is JobState.CANCELLED
    log = _log(job)
    cwd = next(line[4:] for line in log.splitlines() if line.startswith("CWD="))
    wait_until("the run to be KILLED", lambda: mlflow_run(job.run_id or "").info.status == "KILLED", 30)
    from mlflow.tracking import MlflowClient

    artifacts = [a.path for a in MlflowClient(tracking_uri=TRACKING_URI).list_artifacts(job.run_id or "", "mltf")]
    assert "mltf/job.log" in artifacts, (artifacts, log)
    assert "killing it" in log and "done: KILLED" in log, log
    assert not os.path.exists(os.path.dirname(cwd)), f"scratch left behind: {cwd}"


@pytest.mark.slurm
def test_scratch_of_a_sigkilled_runner_is_removed_by_the_next_job(traits: dict[str, Any], project: Path) -> None:
    """SIGKILL leaves no chance to clean up: the next job of the user on that host removes what is left."""

    async def work(manager: MLTFManager) -> tuple[Job, str]:
        first = await _ticking_job(manager, project)
        cwd = next(line[4:] for line in _log(first).splitlines() if line.startswith("CWD="))
        spec = os.path.join(first.job_dir or "", "spec.json")
        pids = subprocess.run(["pgrep", "-u", str(os.getuid()), "-f", spec], capture_output=True, text=True,
                              timeout=30).stdout.split()
        assert pids
        for pid in pids:
            os.kill(int(pid), signal.SIGKILL)
        await manager.wait(first.id, timeout=90, interval=0.5)
        assert os.path.isdir(os.path.dirname(cwd)), "the killed runner's scratch should still be there"
        second = await manager.submit(SubmitRequest(path=str(project), params={"seconds": 1},
                                                    resources={"partition": "cpu", "time": "00:05:00"}))
        assert isinstance(second, Job)
        return await manager.wait(second.id, timeout=120, interval=0.5), cwd

    second, cwd = _run(traits, work)
    assert second.state is JobState.COMPLETED, _log(second)
    assert not os.path.exists(os.path.dirname(cwd))
    assert "removed the scratch of an earlier job that was killed" in _log(second)


@pytest.mark.slurm
def test_rebuild_without_run_id_in_the_comment(traits: dict[str, Any], project: Path) -> None:
    """The comment no longer carries the run id: a lost store and a lost job dir are rebuilt from the job
    name and MLflow's tags."""
    job = _run(traits, lambda m: m.submit(SubmitRequest(path=str(project),
                                                        resources={"partition": "cpu", "time": "00:05:00"})))
    os.unlink(traits["store_path"])
    os.unlink(os.path.join(job.job_dir or "", "job.json"))
    found = _run(traits, lambda m: m.list_jobs())
    again = {j.id: j for j in found}
    assert again[job.id].run_id == job.run_id and again[job.id].native_id == job.native_id


def _cli(traits: dict[str, Any], tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "cli-config"
    cfg.mkdir(exist_ok=True)
    (cfg / "jupyter_mltf_config.json").write_text(json.dumps({"MLTFManager": traits}))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(cfg), "MLFLOW_TRACKING_URI": TRACKING_URI}
    return subprocess.run([sys.executable, "-m", "jupyter_mltf.cli", *args], capture_output=True, text=True,
                          errors="surrogateescape", env=env, timeout=180)


@pytest.mark.slurm
def test_cli_never_prints_control_characters(traits: dict[str, Any], project: Path, tmp_path: Path) -> None:
    """Bidi, zero-width and C1 characters are legal in names and files: the CLI shows them escaped."""
    for hostile in ("\u202e", "\x1b[2J", "\u200b", "\x9b"):
        (project / f"data{hostile}.txt").write_text("x")
    name = "run\u202eevil\u200b\u2066"
    dry = _cli(traits, tmp_path, "submit", str(project), "--partition", "cpu", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert _raw(dry.stdout) == [] and "data\\u202e.txt" in dry.stdout and "data\\x1b[2J.txt" in dry.stdout
    preview = _cli(traits, tmp_path, "preview", str(project))
    assert preview.returncode == 0 and _raw(preview.stdout) == []
    sub = _cli(traits, tmp_path, "submit", str(project), "--partition", "cpu", "--time", "00:05:00",
               "--name", name, "-P", "secret=\u202ex")
    assert sub.returncode == 0, sub.stderr
    listing = _cli(traits, tmp_path, "list")
    assert listing.returncode == 0 and _raw(listing.stdout) == [] and "run\\u202eevil" in listing.stdout
    job_id = json.loads(_cli(traits, tmp_path, "list", "--json").stdout)[0]["id"]
    status = _cli(traits, tmp_path, "status", job_id)
    assert status.returncode == 0 and _raw(status.stdout) == [], status.stdout
    bad = _cli(traits, tmp_path, "submit", str(project), "--name", "a\x1b[31mb")
    assert bad.returncode == 2 and _raw(bad.stderr) == [] and bad.stderr.startswith("error: name")
    scancel(slurm_jobs_under(traits["jobs_dir"]))
