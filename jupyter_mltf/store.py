"""The local job store: a sqlite cache of :class:`Job` records.

State lives in Slurm and MLflow; this file only remembers what we saw. A deleted or corrupted store is
rebuilt from the cluster (job name/comment carry our id and the MLflow run id) and MLflow's tags.
"""

from __future__ import annotations

import copy
import json
import os
import sqlite3
import threading
import time
from pathlib import Path

from .errors import DuplicateSubmission, JobNotFound
from .models import Job

SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    native_id TEXT,
    idempotency_key TEXT UNIQUE,
    submitted_at REAL NOT NULL,
    needs_poll INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_native ON jobs (backend, native_id);
CREATE INDEX IF NOT EXISTS jobs_poll ON jobs (needs_poll);
CREATE TABLE IF NOT EXISTS claims (
    idempotency_key TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    claimed_at REAL NOT NULL
);
"""
_COLUMNS = "(id, backend, native_id, idempotency_key, submitted_at, needs_poll, data) VALUES (?,?,?,?,?,?,?)"


def _row(job: Job) -> tuple[object, ...]:
    needs_poll = not job.state.is_terminal or job.mlflow_pending
    return (
        job.id,
        job.backend,
        job.native_id,
        job.idempotency_key,
        job.submitted_at,
        int(needs_poll),
        json.dumps(job.to_dict()),
    )


class JobStore:
    """Thread-safe; every method is short and may be called through ``asyncio.to_thread``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self.rebuilt_from_scratch = False
        self._writes = 0  # bumped by every write of this process; PRAGMA data_version covers other processes
        self._all_cache: tuple[tuple[int, ...], list[Job]] | None = None
        self._json_cache: tuple[tuple[int, ...], int, str] | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None:
            if self.path.exists():
                return self._conn
            # the file was deleted under us: start a new one (the core then rebuilds it)
            self._conn.close()
            self._conn = None
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fresh = not self.path.exists()
        try:
            conn = self._open()
        except sqlite3.DatabaseError:
            # corrupted: keep it aside for inspection, start a new one
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            os.replace(self.path, aside)
            fresh = True
            conn = self._open()
        self.rebuilt_from_scratch = self.rebuilt_from_scratch or fresh
        self._conn = conn
        return conn

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                # an older cache layout: drop it, the caller rebuilds from the cluster
                conn.execute("DROP TABLE IF EXISTS jobs")
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                self.rebuilt_from_scratch = True
            conn.executescript(_SCHEMA)
            conn.execute("SELECT count(*) FROM jobs").fetchone()
        except sqlite3.DatabaseError:
            conn.close()
            raise
        os.chmod(self.path, 0o600)
        return conn

    def needs_rebuild(self) -> bool:
        """True once after the store was (re)created empty: the caller should read jobs back from the cluster."""
        with self._lock:
            self._connect()
            flag = self.rebuilt_from_scratch
            self.rebuilt_from_scratch = False
            return flag

    def add(self, job: Job) -> None:
        with self._lock:
            conn = self._connect()
            try:
                conn.execute("INSERT INTO jobs " + _COLUMNS, _row(job))
                self._writes += 1
            except sqlite3.IntegrityError:
                if job.idempotency_key:
                    existing = self.find_by_key(job.idempotency_key)
                    if existing is not None:
                        raise DuplicateSubmission(
                            f"a job was already submitted with idempotency key {job.idempotency_key!r}: {existing.id}",
                            job_id=existing.id,
                        ) from None
                raise

    def claim_key(self, key: str, job_id: str, stale_after: float = 900.0) -> None:
        """Reserve ``key`` for ``job_id`` before the submit creates anything (MLflow run, job dir, archive,
        Slurm job). One transaction, serialised across threads and processes by sqlite's write lock, so of
        many concurrent submits with one key exactly one gets here; the others get
        :class:`DuplicateSubmission` naming the job that holds it. A claim whose submit died (no job row
        after ``stale_after`` seconds) is taken over."""
        with self._lock:
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE")
            try:
                holder = self._key_holder(conn, key, stale_after)
                if holder is not None:
                    raise DuplicateSubmission(
                        f"a job was already submitted with idempotency key {key!r}: {holder} "
                        f"(`jupyter mltf status {holder}`)",
                        job_id=holder,
                    )
                conn.execute(
                    "INSERT OR REPLACE INTO claims (idempotency_key, job_id, claimed_at) VALUES (?,?,?)",
                    (key, job_id, time.time()),
                )
                conn.execute("COMMIT")
                self._writes += 1
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    @staticmethod
    def _key_holder(conn: sqlite3.Connection, key: str, stale_after: float) -> str | None:
        """The job id that holds ``key`` (a job, or a live claim of a submit in progress), else None."""
        row = conn.execute("SELECT id FROM jobs WHERE idempotency_key = ?", (key,)).fetchone()
        if row is not None:
            return str(row[0])
        row = conn.execute("SELECT job_id, claimed_at FROM claims WHERE idempotency_key = ?", (key,)).fetchone()
        if row is not None and time.time() - float(row[1]) < stale_after:
            return str(row[0])
        return None

    def release_key(self, key: str, job_id: str) -> None:
        """Give ``key`` back after a refused or rolled-back submit (only the claim ``job_id`` holds)."""
        with self._lock:
            self._connect().execute(
                "DELETE FROM claims WHERE idempotency_key = ? AND job_id = ?", (key, job_id)
            )
            self._writes += 1

    def save(self, job: Job) -> None:
        self.save_many([job])

    def save_many(self, jobs: list[Job]) -> None:
        """One transaction for many jobs (a poll that saw 1,000 jobs change)."""
        if not jobs:
            return
        with self._lock:
            conn = self._connect()
            conn.execute("BEGIN")
            try:
                conn.executemany("INSERT OR REPLACE INTO jobs " + _COLUMNS, [_row(j) for j in jobs])
                conn.execute("COMMIT")
                self._writes += 1
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def needing_poll(self) -> list[Job]:
        """Jobs that are not final yet (or whose MLflow run still has to be closed)."""
        with self._lock:
            rows = self._connect().execute("SELECT data FROM jobs WHERE needs_poll = 1").fetchall()
        return [Job.from_dict(json.loads(r[0])) for r in rows]

    def delete(self, job_id: str) -> None:
        with self._lock:
            self._connect().execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            self._writes += 1

    def get(self, job_id: str) -> Job:
        with self._lock:
            row = self._connect().execute("SELECT data FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(f"no job {job_id!r}: `jupyter mltf list` shows your jobs")
        return Job.from_dict(json.loads(row[0]))

    def find_by_key(self, key: str) -> Job | None:
        with self._lock:
            row = self._connect().execute("SELECT data FROM jobs WHERE idempotency_key = ?", (key,)).fetchone()
        return Job.from_dict(json.loads(row[0])) if row else None

    def find_native(self, backend: str, native_id: str) -> Job | None:
        with self._lock:
            row = (
                self._connect()
                .execute("SELECT data FROM jobs WHERE backend = ? AND native_id = ?", (backend, native_id))
                .fetchone()
            )
        return Job.from_dict(json.loads(row[0])) if row else None

    def all_json(self, max_age: float = 1.0) -> str:
        """``{"jobs": [...]}`` as JSON text, serialised once per change of the store (and at most every
        ``max_age`` seconds, so elapsed times stay current): fifty pollers cost one ``json.dumps``, which
        holds the GIL for its whole run and would otherwise stall the server's event loop."""
        with self._lock:
            jobs = self._parsed()
            key = self._all_cache[0] if self._all_cache else ()
            bucket = int(time.time() / max_age)
            if self._json_cache is None or self._json_cache[:2] != (key, bucket):
                self._json_cache = (key, bucket, json.dumps({"jobs": [job.to_dict() for job in jobs]}))
            return self._json_cache[2]

    def all(self) -> list[Job]:
        """Every job, newest first. Parsed once per change of the store: fifty pollers cost one parse."""
        with self._lock:
            cached = self._parsed()
        return [copy.copy(job) for job in cached]  # callers may reassign fields (the watcher does)

    def _parsed(self) -> list[Job]:
        with self._lock:
            conn = self._connect()
            st = os.stat(self.path)  # a file changed behind sqlite's back (replaced, overwritten) is re-read too
            version = int(conn.execute("PRAGMA data_version").fetchone()[0])
            key = (id(conn), self._writes, version, st.st_ino, st.st_size, st.st_mtime_ns)
            if self._all_cache is None or self._all_cache[0] != key:
                rows = conn.execute("SELECT data FROM jobs ORDER BY submitted_at DESC").fetchall()
                self._all_cache = (key, [Job.from_dict(json.loads(r[0])) for r in rows])
            return self._all_cache[1]

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
