"""Unit tests of the Slurm backend's script and parsing, with a fake in place of the one subprocess helper."""

import asyncio
from pathlib import Path

import pytest

from jupyter_mltf.backends import slurm as slurm_mod
from jupyter_mltf.backends.base import JobSpec
from jupyter_mltf.backends.slurm import SlurmBackend
from jupyter_mltf.errors import CommandError, ProjectError
from jupyter_mltf.models import Job, JobState, Resources

GOLDEN = Path(__file__).parent / "golden"


def _spec(**changes):
    values = dict(
        job_id="abc123",
        name="demo",
        project_name="demo",
        project_dir="/home/u/demo",
        archive_path="/home/u/.mltf/archives/x.tar",
        content_hash="x",
        entry_point="main",
        params={"lr": "0.1"},
        command="python train.py --lr 0.1",
        resources=Resources(
            gpus=2,
            gpu_type="fake_a100",
            partition="gpu",
            time="01:00:00",
            mem="8G",
            cpus=4,
            account="lab_acc",
            qos="normal",
        ),
        job_dir="/home/u/.mltf/jobs/abc123",
        run_id="r1",
        experiment_id="1",
        tracking_uri="http://127.0.0.1:5000",
        python="/opt/venv/bin/python",
    )
    values.update(changes)
    return JobSpec(**values)


def test_golden_script():
    script = SlurmBackend().job_script(_spec())
    golden = GOLDEN / "sbatch_gpu.sh"
    assert script == golden.read_text(), script


def test_gpus_per_node_template_and_untyped():
    backend = SlurmBackend(
        gpu_template="--gpus-per-node={type}:{count}", gpu_template_untyped="--gpus-per-node={count}"
    )
    assert "#SBATCH --gpus-per-node=fake_a100:2\n" in backend.job_script(_spec())
    untyped = _spec(resources=Resources(gpus=1))
    assert "#SBATCH --gpus-per-node=1\n" in backend.job_script(untyped)
    assert "--gres" not in SlurmBackend().job_script(_spec(resources=Resources()))


def test_multi_node_uses_srun():
    script = SlurmBackend().job_script(_spec(resources=Resources(nodes=2)))
    assert "#SBATCH --nodes=2\n" in script and "exec srun --kill-on-bad-exit=1" in script


def test_token_and_command_never_in_script():
    script = SlurmBackend().job_script(_spec(command="python train.py --secret 'x'", token_file="/t/token"))
    assert "train.py" not in script and "token" not in script


def test_unsafe_job_dir_refused():
    with pytest.raises(ProjectError):
        SlurmBackend().job_script(_spec(job_dir="/home/u/my jobs/abc"))


class FakeSlurm:
    """Scripted answers for run_cmd: {tool: (rc, stdout, stderr)}; records every call."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    async def __call__(self, argv, **kwargs):
        self.calls.append(argv)
        rc, out, err = self.answers[argv[0]]
        if rc:
            raise CommandError(argv, rc, out, err)
        return rc, out, err


def _jobs(*ids):
    return [Job(id=f"j{i}", backend="slurm", native_id=i, name="n", project_dir="/p") for i in ids]


def test_one_squeue_for_many_jobs_then_sacct_for_the_rest(monkeypatch):
    fake = FakeSlurm(
        {
            "squeue": (
                0,
                "11|PENDING|Resources|(null)|2026-11-27T10:00:00|N/A|gres/gpu:1|mltf-a|c|gpu|x\n"
                "12|RUNNING|None|vm|2026-11-27T09:00:00|N/A|gres/gpu:2|mltf-b|c|gpu|x\n",
                "",
            ),
            "sacct": (
                0,
                "13|CANCELLED by 1000|0:15|2026-11-27T08:00:00|2026-11-27T08:01:00|vm|None|mltf-c|c|gpu|x\n",
                "",
            ),
        }
    )
    monkeypatch.setattr(slurm_mod, "run_cmd", fake)
    got = asyncio.run(SlurmBackend().statuses(_jobs("11", "12", "13", "14")))
    assert [c[0] for c in fake.calls] == ["squeue", "sacct"]
    assert got["11"].state is JobState.PENDING and got["11"].reason == "Resources" and got["11"].estimated_start
    assert got["12"].state is JobState.RUNNING and got["12"].nodes == ["vm"]
    assert got["13"].state is JobState.CANCELLED
    assert got["14"].state is JobState.UNKNOWN  # never "gone" or "failed"


def test_exit_code_from_the_job_dir_while_accounting_lags(monkeypatch, tmp_path):
    """squeue already says FAILED, sacct still says RUNNING (slurmdbd lags): the exit code is the one the
    runner wrote into the job dir, not None (the watcher stops polling a job once it has ended)."""
    fake = FakeSlurm(
        {
            "squeue": (
                0,
                "21|FAILED|NonZeroExitCode|vm|2026-11-27T09:00:00|2026-11-27T09:01:00|N/A|mltf-a|c|cpu|x\n",
                "",
            ),
            "sacct": (0, "21|RUNNING|0:0|2026-11-27T09:00:00|Unknown|vm|None|mltf-a|c|cpu|x\n", ""),
        }
    )
    monkeypatch.setattr(slurm_mod, "run_cmd", fake)
    (job,) = _jobs("21")
    job.job_dir = str(tmp_path)
    (tmp_path / "result.json").write_text('{"state": "FAILED", "exit_code": 3}')
    got = asyncio.run(SlurmBackend().statuses([job]))
    assert got["21"].state is JobState.FAILED and got["21"].exit_code == 3
    (tmp_path / "result.json").write_text("not json")
    assert asyncio.run(SlurmBackend().statuses([job]))["21"].exit_code is None  # unreadable: unknown, no error


def test_failed_status_call_is_unknown(monkeypatch):
    monkeypatch.setattr(
        slurm_mod,
        "run_cmd",
        FakeSlurm({"squeue": (1, "", "slurm_load_jobs error: Unable to contact slurm controller")}),
    )
    got = asyncio.run(SlurmBackend().statuses(_jobs("1", "2")))
    assert {s.state for s in got.values()} == {JobState.UNKNOWN}


def test_partitions_parsed(monkeypatch):
    monkeypatch.setattr(
        slurm_mod,
        "run_cmd",
        FakeSlurm(
            {
                "sinfo": (
                    0,
                    "gpu*|8:00:00|1:00:00|8|16000|gpu:fake_a100:2(S:0)|1|up|unlimited\ncpu|1-00:00:00|1:00:00|8|16000|(null)|1|up|2\n",
                    "",
                )
            }
        ),
    )
    parts = asyncio.run(SlurmBackend().partitions())
    gpu, cpu = parts
    assert (gpu.name, gpu.default, gpu.max_time, gpu.gpus_per_node, gpu.gpu_types) == (
        "gpu",
        True,
        "08:00:00",
        2,
        ["fake_a100"],
    )
    assert (cpu.name, cpu.gpus_per_node, cpu.max_time, cpu.max_nodes) == ("cpu", 0, "1-00:00:00", 2)


def test_clean_submit_env_drops_job_and_secrets(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "5")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "9")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "secret")
    env = slurm_mod.clean_submit_env()
    assert "SLURM_JOB_ID" not in env and "MLFLOW_EXPERIMENT_ID" not in env and "MLFLOW_TRACKING_TOKEN" not in env


SCONTROL_CONFIG = """Configuration data as of 2026-11-29T10:00:00
AccountingStorageBackupHost = (null)
KillWait                = 30 sec
MaxArraySize            = 1001
MessageTimeout          = 10 sec
"""


def test_cluster_limits_read_once_and_cached(monkeypatch):
    fake = FakeSlurm({"scontrol": (0, SCONTROL_CONFIG, "")})
    monkeypatch.setattr(slurm_mod, "run_cmd", fake)
    backend = SlurmBackend()
    limits = asyncio.run(backend.cluster_limits())
    asyncio.run(backend.cluster_limits())
    assert (limits.kill_wait, limits.max_array_tasks) == (30.0, 1001)
    assert fake.calls == [["scontrol", "show", "config"]]
    assert backend.stop_grace(limits) == 27.0  # KillWait minus the margin for the log upload


def test_stop_grace_fits_a_short_kill_wait():
    limits = slurm_mod.parse_config("KillWait = 5 sec\n")
    assert SlurmBackend(stop_margin=3.0).stop_grace(limits) == 2.5  # at least half of KillWait
    assert SlurmBackend().stop_grace(slurm_mod.parse_config("")) is None


def test_unreadable_config_means_no_limits(monkeypatch):
    monkeypatch.setattr(slurm_mod, "run_cmd", FakeSlurm({"scontrol": (1, "", "slurm_load_ctl_conf error")}))
    limits = asyncio.run(SlurmBackend().cluster_limits())
    assert limits.kill_wait is None and limits.max_array_tasks is None


def test_comment_has_job_id_only_and_old_comments_still_parse():
    script = SlurmBackend().job_script(_spec(run_id="0123456789abcdef0123456789abcdef"))
    assert "#SBATCH --comment=mltf:abc123\n" in script and "0123456789abcdef" not in script
    assert slurm_mod._parse_comment("mltf:abc123", "mltf-abc123") == ("abc123", None)
    assert slurm_mod._parse_comment("mltf:abc123:r1", "mltf-abc123") == ("abc123", "r1")


@pytest.mark.parametrize("queued, adopted", [("4711\n", "4711"), ("", None)])
def test_sbatch_killed_by_its_timeout_adopts_a_job_slurm_queued_anyway(monkeypatch, tmp_path, queued, adopted):
    """A slow controller can queue the job after sbatch was given up: that job is adopted, not rolled back."""
    calls = []

    async def fake(argv, timeout=None, env=None):
        calls.append(argv[0])
        if argv[0] == "sbatch":
            raise CommandError(argv, None, "", "timed out after 30 s")
        assert argv[argv.index("-n") + 1] == "mltf-abc123"
        return 0, queued, ""

    monkeypatch.setattr(slurm_mod, "run_cmd", fake)
    spec = _spec(job_dir=str(tmp_path))
    if adopted:
        assert asyncio.run(SlurmBackend().submit(spec)) == adopted
    else:
        with pytest.raises(CommandError, match="timed out"):
            asyncio.run(SlurmBackend().submit(spec))
    assert calls == ["sbatch", "squeue"]


def test_sbatch_that_answered_an_error_is_not_looked_for(monkeypatch, tmp_path):
    async def fake(argv, timeout=None, env=None):
        assert argv[0] == "sbatch", "no squeue after a real refusal"
        raise CommandError(argv, 1, "", "sbatch: error: Batch job submission failed")

    monkeypatch.setattr(slurm_mod, "run_cmd", fake)
    with pytest.raises(CommandError, match="submission failed"):
        asyncio.run(SlurmBackend().submit(_spec(job_dir=str(tmp_path))))
