import pytest

from jupyter_mltf.errors import DuplicateSubmission, JobNotFound
from jupyter_mltf.models import Job, JobState
from jupyter_mltf.store import JobStore


def _job(i, key=None):
    return Job(
        id=f"j{i}",
        backend="slurm",
        native_id=str(i),
        name="n",
        project_dir="/p",
        idempotency_key=key,
        submitted_at=float(i),
    )


def test_add_get_list(tmp_path):
    store = JobStore(tmp_path / "s.sqlite")
    store.add(_job(1))
    store.add(_job(2))
    assert [j.id for j in store.all()] == ["j2", "j1"]
    job = store.get("j1")
    job.state = JobState.RUNNING
    store.save(job)
    assert store.get("j1").state is JobState.RUNNING
    with pytest.raises(JobNotFound):
        store.get("nope")


def test_idempotency_key_unique(tmp_path):
    store = JobStore(tmp_path / "s.sqlite")
    store.add(_job(1, key="k1"))
    with pytest.raises(DuplicateSubmission) as err:
        store.add(_job(2, key="k1"))
    assert err.value.job_id == "j1"


def test_deleted_and_corrupt_files_start_fresh(tmp_path):
    path = tmp_path / "s.sqlite"
    store = JobStore(path)
    store.add(_job(1))
    assert store.needs_rebuild()  # first creation
    assert not store.needs_rebuild()
    path.unlink()
    assert store.all() == [] and store.needs_rebuild()
    store.close()
    path.write_bytes(b"this is not a database" * 100)
    fresh = JobStore(path)
    assert fresh.all() == [] and fresh.needs_rebuild()
    assert any(p.name.startswith("s.sqlite.corrupt-") for p in tmp_path.iterdir())


def test_claim_key_one_winner_among_threads(tmp_path):
    """Ten submits with one key at once (threads, two store objects as two processes would): one claim."""
    import threading

    stores = [JobStore(tmp_path / "s.sqlite"), JobStore(tmp_path / "s.sqlite")]
    won, refused = [], []
    start = threading.Barrier(10)

    def claim(i):
        start.wait()
        try:
            stores[i % 2].claim_key("k", f"job{i}")
            won.append(f"job{i}")
        except DuplicateSubmission as exc:
            refused.append(exc.job_id)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(refused) == 9 and set(refused) == set(won)


def test_claim_released_and_stale_claims_taken_over(tmp_path):
    store = JobStore(tmp_path / "s.sqlite")
    store.claim_key("k", "a")
    with pytest.raises(DuplicateSubmission):
        store.claim_key("k", "b")
    store.release_key("k", "b")  # only the holder's release counts
    with pytest.raises(DuplicateSubmission):
        store.claim_key("k", "b")
    store.release_key("k", "a")
    store.claim_key("k", "b")
    store.claim_key("k", "c", stale_after=0.0)  # b's submit died: its claim is taken over
    store.add(_job(7, key="k"))
    with pytest.raises(DuplicateSubmission) as err:
        store.claim_key("k", "d", stale_after=0.0)  # a job with the key exists: never taken over
    assert err.value.job_id == "j7"
