import pytest

from jupyter_mltf.models import Job, JobState, StatusInfo


@pytest.mark.parametrize(
    ("text", "state", "mlflow"),
    [
        ("PENDING", JobState.PENDING, None),
        ("PD", JobState.PENDING, None),
        ("RUNNING", JobState.RUNNING, None),
        ("COMPLETING", JobState.COMPLETING, None),
        ("COMPLETED", JobState.COMPLETED, "FINISHED"),
        ("FAILED", JobState.FAILED, "FAILED"),
        ("CANCELLED by 1000", JobState.CANCELLED, "KILLED"),
        ("CANCELLED+", JobState.CANCELLED, "KILLED"),
        ("TIMEOUT", JobState.TIMEOUT, "KILLED"),
        ("OUT_OF_MEMORY", JobState.OUT_OF_MEMORY, "FAILED"),
        ("OOM", JobState.OUT_OF_MEMORY, "FAILED"),
        ("NODE_FAIL", JobState.NODE_FAIL, "FAILED"),
        ("PREEMPTED", JobState.PREEMPTED, "KILLED"),
        ("REQUEUED", JobState.REQUEUED, None),
        ("SUSPENDED", JobState.SUSPENDED, None),
        ("BOOT_FAIL", JobState.BOOT_FAIL, "FAILED"),
        ("DEADLINE", JobState.DEADLINE, "KILLED"),
        ("garbage", JobState.UNKNOWN, None),
    ],
)
def test_state_map(text, state, mlflow):
    parsed = JobState.parse(text)
    assert parsed is state
    assert parsed.mlflow_status == mlflow
    assert parsed.is_terminal == (mlflow is not None)


def _job(state):
    return Job(id="a", backend="slurm", native_id="1", name="n", project_dir="/p", state=state)


def test_unknown_never_overwrites_terminal_or_clears():
    job = _job(JobState.COMPLETED)
    assert not job.apply(StatusInfo(JobState.UNKNOWN))
    assert job.state is JobState.COMPLETED
    running = _job(JobState.RUNNING)
    running.nodes = ["n1"]
    assert running.apply(StatusInfo(JobState.UNKNOWN))
    assert running.state is JobState.UNKNOWN and running.nodes == ["n1"]
    assert running.apply(StatusInfo(JobState.RUNNING, nodes=["n1"]))


def test_roundtrip():
    job = _job(JobState.PENDING)
    job.params = {"lr": "0.1"}
    again = Job.from_dict(job.to_dict())
    assert again == job
