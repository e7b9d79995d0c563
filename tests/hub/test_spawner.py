"""MLTFSlurmSpawner without Slurm: the status logic (batchspawner #236/#315), options, script, progress.

The real thing runs in test_hub_integration.py; here the one command seam (``run_cmd``) is faked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from batchspawner import JobStatus
from tornado import web

from jupyter_mltf.errors import BackendUnavailable, CommandError
from jupyter_mltf.hub import spawner as mod
from jupyter_mltf.models import JobState, Partition

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:jupyterhub.*")

PARTS = [
    Partition(
        name="gpu",
        default=True,
        max_time="08:00:00",
        cpus_per_node=8,
        mem_per_node_mb=16000,
        gpus_per_node=2,
        gpu_types=["fake_a100"],
    ),
    Partition(name="cpu", max_time="1-00:00:00", cpus_per_node=8, mem_per_node_mb=16000),
]


class FakeSlurm:
    """Answers queued (rc, stdout, stderr) or exceptions, records argv."""

    def __init__(self) -> None:
        self.answers: list[Any] = []
        self.calls: list[list[str]] = []

    async def __call__(self, argv: list[str], **kw: Any) -> tuple[int, str, str]:
        self.calls.append(argv)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        rc, out, err = answer
        if kw.get("check", True) and rc != 0:
            raise CommandError(argv, rc, out, err)
        return rc, out, err


@pytest.fixture
def slurm(monkeypatch: pytest.MonkeyPatch) -> FakeSlurm:
    fake = FakeSlurm()
    monkeypatch.setattr(mod, "run_cmd", fake)
    return fake


@pytest.fixture
def sp() -> Iterator[mod.MLTFSlurmSpawner]:
    user = mock.Mock()
    user.name = "alice"
    s = mod.MLTFSlurmSpawner(user=user, req_keepvars="PATH", req_homedir="/home/alice")
    s.presets = [
        {"key": "gpu1", "label": "1 GPU", "resources": {"partition": "gpu", "gpus": 1, "time": "04:00:00"}},
        {"key": "cpu", "label": "CPU", "resources": {"partition": "cpu", "gpus": 0, "cpus": 2, "mem": "4G"}},
    ]
    s.cluster_partitions = mock.AsyncMock(return_value=PARTS)  # type: ignore[method-assign]
    # JupyterHub's own environment needs a running hub: stand in for it
    with mock.patch.object(mod.SlurmSpawner, "get_env", return_value={"JUPYTERHUB_API_TOKEN": "x"}):
        yield s


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# ----------------------------------------------------------------------------------------- status


@pytest.mark.parametrize(
    ("rc", "out", "err", "expected"),
    [
        (0, "RUNNING|vm|None|2026-01-01T10:00:00\n", "", JobStatus.RUNNING),
        (0, "COMPLETING|vm|None|2026-01-01T10:00:00", "", JobStatus.RUNNING),
        (0, "PENDING|n/a|Resources|2026-01-01T10:00:00", "", JobStatus.PENDING),
        (0, "CONFIGURING|vm|None|N/A", "", JobStatus.PENDING),
        (0, "CANCELLED|vm|None|2026-01-01T10:00:00", "", JobStatus.NOTFOUND),
        (0, "TIMEOUT|vm|None|N/A", "", JobStatus.NOTFOUND),
        (0, "", "", JobStatus.NOTFOUND),  # slurmctld answered: not in the queue
        (1, "", "slurm_load_jobs error: Invalid job id specified", JobStatus.NOTFOUND),
        (
            1,
            "",
            "slurm_load_jobs error: Unable to contact slurm controller (connect failure)",
            JobStatus.UNKNOWN,
        ),
        (1, "", "slurm_load_jobs error: Socket timed out on send/recv operation", JobStatus.UNKNOWN),
        (1, "", "sudo: unable to resolve host", JobStatus.UNKNOWN),
        (None, "", "timed out after 20 s", JobStatus.UNKNOWN),
        (0, "WEIRD_NEW_STATE|vm|None|N/A", "", JobStatus.UNKNOWN),
    ],
)
def test_classify_only_a_positive_answer_is_gone(rc: int | None, out: str, err: str, expected: JobStatus) -> None:
    assert mod.classify(rc, out, err) is expected


def test_parse_status_line() -> None:
    st = mod.parse_status("PENDING|n/a|Priority|2026-01-01T10:00:00\n")
    assert st is not None and st.state is JobState.PENDING and st.host == "" and st.reason == "Priority"
    assert st.submitted_at is not None
    st = mod.parse_status("RUNNING|node07|None|Unknown")
    assert st is not None and st.host == "node07" and st.submitted_at is None
    assert mod.parse_status("\n") is None


def test_query_uses_sudo_and_keeps_session_on_errors(sp: mod.MLTFSlurmSpawner, slurm: FakeSlurm) -> None:
    sp.job_id = "42"
    slurm.answers = [(0, "RUNNING|vm|None|2026-01-01T10:00:00", "")]
    assert run(sp.query_job_status()) is JobStatus.RUNNING
    assert slurm.calls[0][:4] == ["sudo", "-E", "-u", "alice"]
    assert slurm.calls[0][4:] == ["squeue", "-h", "-t", "all", "-j", "42", "-o", "%T|%B|%r|%V"]
    # slurmctld down, a timeout, a missing tool: still running as far as the hub is concerned
    for failure in [
        (1, "", "slurm_load_jobs error: Unable to contact slurm controller (connect failure)"),
        CommandError(["squeue"], None, "", "timed out after 20 s"),
        BackendUnavailable("squeue is not installed or not on PATH on this machine"),
    ]:
        slurm.answers = [failure]
        assert run(sp.query_job_status()) is JobStatus.UNKNOWN
        assert run(sp.poll()) is None
        assert sp.job_id == "42" and sp.job_status.startswith("RUNNING")  # last good status kept
        assert sp.state_isunknown()
    slurm.answers = [(0, "RUNNING|vm|None|2026-01-01T10:00:00", "")]
    assert run(sp.poll()) is None and not sp.state_isunknown()


def test_poll_says_stopped_only_when_slurm_says_so(sp: mod.MLTFSlurmSpawner, slurm: FakeSlurm) -> None:
    sp.job_id = "42"
    slurm.answers = [(0, "CANCELLED|vm|None|2026-01-01T10:00:00", "")]
    assert run(sp.poll()) == 1
    assert sp.job_id == ""  # state cleared
    sp.job_id = "43"
    slurm.answers = [(1, "", "slurm_load_jobs error: Invalid job id specified")]
    assert run(sp.poll()) == 1


def test_state_survives_a_hub_restart(sp: mod.MLTFSlurmSpawner, slurm: FakeSlurm) -> None:
    sp.job_id, sp.job_status, sp.port, sp.submitted_at = "42", "RUNNING|vm|None|N/A", 34567, 1000.0
    state = sp.get_state()
    assert state["job_id"] == "42" and state["port"] == 34567
    user = mock.Mock()
    user.name = "alice"
    fresh = mod.MLTFSlurmSpawner(user=user, req_keepvars="PATH")
    fresh.load_state(state)
    assert (fresh.job_id, fresh.port, fresh.submitted_at) == ("42", 34567, 1000.0)
    slurm.answers = [(1, "", "slurm_load_jobs error: Unable to contact slurm controller")]
    assert run(fresh.poll()) is None  # the hub comes back while slurmctld is down: session kept


def test_exec_host_pinned_for_one_host_clusters(sp: mod.MLTFSlurmSpawner) -> None:
    sp.job_status = "RUNNING|node07|None|N/A"
    assert sp.state_gethost() == "node07"
    sp.state_exechost_exp = "127.0.0.1"
    assert sp.state_gethost() == "127.0.0.1"


def test_cancel_of_a_gone_job_is_fine(sp: mod.MLTFSlurmSpawner, slurm: FakeSlurm) -> None:
    sp.job_id = "42"
    slurm.answers = [(1, "", "scancel: error: Kill job error on job id 42: Invalid job id specified")]
    run(sp.cancel_batch_job())
    assert slurm.calls[-1][-2:] == ["scancel", "42"]
    slurm.answers = [(1, "", "scancel: error: Unable to contact slurm controller")]
    with pytest.raises(RuntimeError, match="Unable to contact"):
        run(sp.cancel_batch_job())


def test_start_fails_clearly_when_the_job_dies_in_the_queue(sp: mod.MLTFSlurmSpawner, slurm: FakeSlurm) -> None:
    sp.startup_poll_interval = 0.01
    slurm.answers = [(0, "", ""), (0, "77\n", ""), (0, "PENDING|n/a|None|N/A", ""), (0, "FAILED|vm|None|N/A", "")]
    log = "~/.local/state/jupyter-mltf/hub/jupyterhub_session_77.log"
    with pytest.raises(RuntimeError, match=rf"Slurm job 77 ended before it started \(FAILED\): see {log}"):
        run(sp.start())
    # the private log directory first, as the user, then the job
    assert slurm.calls[0] == ["sudo", "-E", "-u", "alice", "install", "-d", "-m", "700",
                              "/home/alice/.local/state/jupyter-mltf/hub"]  # fmt: skip
    assert slurm.calls[1][4:] == ["sbatch", "--parsable"]


def test_no_job_when_the_log_directory_cannot_be_made(sp: mod.MLTFSlurmSpawner, slurm: FakeSlurm) -> None:
    slurm.answers = [(1, "", "install: cannot create directory: Permission denied")]
    with pytest.raises(RuntimeError, match="could not create the session log directory .*Permission denied"):
        run(sp.start())
    assert len(slurm.calls) == 1 and not sp.job_id


def test_session_log_path_is_one_shell_word() -> None:
    word = mod.shell_path_with_job_id("/home/o'neil/x y/s_%j.log")
    assert word == "'/home/o'\\''neil/x y/s_'\"$SLURM_JOB_ID\"'.log'"


# ---------------------------------------------------------------------------------------- options


def test_apply_options_sets_the_job_request(sp: mod.MLTFSlurmSpawner) -> None:
    run(sp.apply_session_options({"preset": "gpu1", "cpus": 3, "mem": "6G"}))
    assert (sp.req_partition, sp.req_gres, sp.req_nprocs, sp.req_memory, sp.req_runtime) == (
        "gpu",
        "gpu:1",
        "3",
        "6G",
        "04:00:00",
    )
    run(sp.apply_session_options({"preset": "cpu"}))
    assert (sp.req_partition, sp.req_gres, sp.req_nprocs) == ("cpu", "", "2")


def test_rest_spawn_with_bad_options_is_a_400_with_the_message(sp: mod.MLTFSlurmSpawner) -> None:
    with pytest.raises(web.HTTPError) as info:
        run(sp.apply_session_options({"preset": "custom", "partition": "gpu", "gpus": 9}))
    assert info.value.status_code == 400
    assert "more than the 2 GPUs per node" in info.value.jupyterhub_message  # type: ignore[attr-defined]


def test_the_hooks_are_wired_as_jupyterhub_calls_them(sp: mod.MLTFSlurmSpawner) -> None:
    opts = run(sp.run_options_from_form({"preset": ["custom"], "partition": ["cpu"], "time": ["2h"]}))
    assert opts["partition"] == "cpu" and opts["time"] == "02:00:00" and opts["preset"] == "custom"
    with pytest.raises(Exception, match="partition 'nope' does not exist"):
        run(sp.run_options_from_form({"preset": ["custom"], "partition": ["nope"]}))
    html = run(sp.get_options_form())  # what JupyterHub shows at once: the refused input marked
    assert 'class="form-select is-invalid" name="partition"' in html
    sp.user_options = opts
    html = run(sp.get_options_form())
    assert 'value="custom" checked' in html and '<option value="cpu" selected>' in html
    run(sp._run_apply_user_options({"preset": "gpu1"}))
    assert sp.req_gres == "gpu:1"


def test_a_refused_form_comes_back_with_the_values_and_the_input_marked(sp: mod.MLTFSlurmSpawner) -> None:
    sp.user_options = {"preset": "gpu1"}
    posted = {"preset": ["custom"], "partition": ["gpu"], "gpus": ["9"], "mem": ["6G"], "time": ["8\x00h"]}
    with pytest.raises(web.HTTPError) as info:
        run(sp.run_options_from_form(posted))
    assert info.value.status_code == 400 and info.value.mltf_field == "time"  # type: ignore[attr-defined]
    html = run(sp.get_options_form())
    assert 'value="custom" checked' in html and 'value="6G"' in html and 'value="9"' in html
    assert 'name="time" id="mltf-time" value="" aria-invalid="true"' in html  # not printable: not shown again
    assert "contains the control character U+0000" in html
    posted["time"] = ["2h"]
    with pytest.raises(web.HTTPError, match="more than the 2 GPUs") as info:
        run(sp.run_options_from_form(posted))
    assert info.value.mltf_field == "gpus"  # type: ignore[attr-defined]
    html = run(sp.get_options_form())
    assert 'class="form-control is-invalid" type="number" min="0" name="gpus" id="mltf-gpus" value="9"' in html
    assert 'id="mltf-gpus-error">gpus=9 is more than the 2 GPUs per node' in html
    # shown once: the next rendering is the usual one (the last choice)
    html = run(sp.get_options_form())
    assert "is-invalid" not in html and 'value="gpu1" checked' in html
    # a REST refusal leaves the form alone
    with pytest.raises(web.HTTPError):
        run(sp._run_apply_user_options({"preset": "custom", "gpus": 9}))
    assert "is-invalid" not in run(sp.get_options_form())


def test_query_arguments_get_the_forms_checks(sp: mod.MLTFSlurmSpawner, slurm: FakeSlurm) -> None:
    """``/hub/spawn?opt-preset=custom&opt-gpus=9``: JupyterHub calls options_from_query; a 400 that says what
    to fix (not a TypeError), and the form it shows next marks the input."""
    with pytest.raises(web.HTTPError, match="more than the 2 GPUs"):
        run(sp.options_from_query({"preset": ["custom"], "partition": ["gpu"], "gpus": ["9"]}))
    assert "is-invalid" in run(sp.get_options_form())
    opts = run(sp.options_from_query({"preset": ["cpu"]}))
    assert opts["partition"] == "cpu" and slurm.calls == []


def test_batch_script_ignores_raw_user_options(sp: mod.MLTFSlurmSpawner) -> None:
    run(sp.apply_session_options({"preset": "gpu1"}))
    sp.user_options = {"preset": "gpu1", "options": "--wrap=evil", "prologue": "rm -rf ~"}
    subvars = sp.get_req_subvars()
    subvars["cmd"] = "jupyterhub-singleuser"
    subvars.update(sp.user_options)  # what batchspawner's submit_batch_script does
    script = run(sp._get_batch_script(**subvars))
    assert "evil" not in script and "rm -rf" not in script
    for line in [
        "#SBATCH --partition=gpu",
        "#SBATCH --gres=gpu:1",
        "#SBATCH --time=04:00:00",
        "#SBATCH --nodes=1",
        "#SBATCH --job-name=jupyterhub-session",
        "#SBATCH --output=/home/alice/.local/state/jupyter-mltf/hub/jupyterhub_session_%j.log",
        "chmod 600 -- '/home/alice/.local/state/jupyter-mltf/hub/jupyterhub_session_'\"$SLURM_JOB_ID\"'.log'",
        "srun jupyterhub-singleuser",
    ]:
        assert line in script


def test_progress_says_why_and_how_long(sp: mod.MLTFSlurmSpawner) -> None:
    sp.progress_interval = 0.01
    sp.job_id, sp.req_partition = "42", "gpu"
    sp.job_status = "PENDING|n/a|Resources|2020-01-01T00:00:00"

    async def first_two() -> list[dict[str, Any]]:
        events = []
        gen = sp.progress()
        events.append(await gen.__anext__())
        sp.job_status = "RUNNING|vm|None|2020-01-01T00:00:00"
        events.append(await gen.__anext__())
        await gen.aclose()
        return events

    pending, running = run(first_two())
    assert pending["message"].startswith("Slurm job 42 is queued on partition gpu for ")
    assert " h " in pending["message"]  # queued since 2020
    assert pending["message"].endswith("waiting for GPUs/CPUs/memory to become free (Resources)")
    assert running["message"] == "Slurm job 42 is running on vm: waiting for JupyterLab to start"


def test_session_environment(sp: mod.MLTFSlurmSpawner) -> None:
    sp.mlflow_tracking_uri = "http://mlflow:5000"
    base = {"JUPYTERHUB_API_TOKEN": "x", "JUPYTER_CONFIG_PATH": "/site/etc"}
    with mock.patch.object(mod.SlurmSpawner, "get_env", return_value=base):
        env = sp.get_env()
    assert env["JUPYTERHUB_API_TOKEN"] == "x"
    assert env["JUPYTER_CONFIG_PATH"].endswith(":/site/etc")
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    first = env["JUPYTER_CONFIG_PATH"].split(":")[0]
    assert first.endswith("jupyter_mltf/hub/session_config")
    with open(f"{first}/jupyter_server_config.d/jupyter_mltf_hub.json") as f:
        text = f.read()
    assert '"jupyter_mltf.hub.keepalive": true' in text and '"jupyter_mltf": true' in text


@pytest.mark.parametrize(
    "options,words",
    [
        ({"preset": "custom", "gpus": [1]}, ["gpus", "whole number", "list"]),
        ({"preset": "custom", "cpus": 2.0}, ["cpus", "whole number", "2.0"]),
        ({"preset": "custom", "gpus": True}, ["gpus", "True"]),
        ({"preset": "custom", "gpus": 10**4999}, ["gpus", "5000 digits"]),
        ({"preset": "custom", "time": "9" * 5000}, ["time", "5000 characters"]),
        ({"preset": "custom", "partition": "gpu\n#SBATCH --gres=gpu:8"}, ["partition", "U+000A"]),
        ({"preset": "gpu1", "evil": 1}, ["unknown session option", "'evil'"]),
        (["gpu1"], ["session options", "object"]),
    ],
)
def test_bad_user_options_are_a_400_that_says_what_to_fix(
    sp: mod.MLTFSlurmSpawner, slurm: FakeSlurm, options: Any, words: list[str]
) -> None:
    with pytest.raises(web.HTTPError) as info:
        run(sp._run_apply_user_options(options))  # what JupyterHub calls for a REST spawn
    assert info.value.status_code == 400
    message = info.value.jupyterhub_message  # type: ignore[attr-defined]
    assert all(w in message for w in words), message
    assert slurm.calls == []


def test_an_unforeseen_error_in_the_options_is_a_400_too(
    sp: mod.MLTFSlurmSpawner, slurm: FakeSlurm, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> None:
        raise OverflowError("int too large to convert to float")

    monkeypatch.setattr(mod.spawn_form, "resolve_options", broken)
    for call in (sp._run_apply_user_options({"preset": "gpu1"}), sp.run_options_from_form({"preset": ["gpu1"]})):
        with pytest.raises(web.HTTPError) as info:
            run(call)
        assert info.value.status_code == 400
        assert info.value.jupyterhub_message == mod.OPTIONS_HELP  # type: ignore[attr-defined]
    assert slurm.calls == []
