"""Round-two corpus rows (issue 12): idempotency, credentials, messages, control characters on output.

Only what a submit must refuse, before anything is created, is a row here. Concurrent submits with one key,
credentials in the tracking URI, the MLflow password, dry-run archives, cancel within KillWait and the
escaping of accepted names and files on output are in tests/robustness/test_core_hostile.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .case import ALL, Case
from .helpers import TRACKING_URI

# an experiment that exists in MLflow as deleted (build_projects makes sure): its name cannot take runs
DELETED_EXPERIMENT = "mltf-corpus-deleted-experiment"
DELETED = ["deleted", "mlflow experiments restore", "another experiment name"]
NAME = ["name", "control"]
KEY = ["idempotency_key"]


def _sweep(tasks: int) -> dict[str, Any]:
    return {
        "objective": {"metric": "loss", "direction": "minimize"},
        "trials": tasks,
        "parallelism": tasks,
        "parameters": {"lr": {"type": "float", "low": 0.001, "high": 0.1}},
    }


# the one-host cluster's MaxArraySize is 1001 (Slurm's default): an array of 1002 tasks cannot be queued
ARRAY = ["at most 1001", "maxarraysize", "parallelism"]

CASES: list[Case] = [
    # -- a deleted experiment: was 503 "cannot be reached"
    Case("experiment-deleted", {"experiment": DELETED_EXPERIMENT}, 422, DELETED, ALL),
    # -- arrays over MaxArraySize: was 503 after a FAILED run, a job dir and an archive
    Case("sweep-array-over-max", {"sweep": _sweep(1002)}, 422, ARRAY),
    Case("sweep-array-far-over-max", {"sweep": _sweep(10000)}, 422, ARRAY),
    # -- control characters a terminal acts on: refused in run and experiment names (bidi and zero-width
    #    characters are legal in names and escaped on output instead)
    Case("name-esc-sequence", {"name": "run\x1b[2J\x1b[Hfake"}, 400, NAME, ALL),
    Case("name-osc-title", {"name": "run\x1b]0;pwned\x07"}, 400, NAME, ALL),
    Case("name-c1-csi", {"name": "run\x9b2Jx"}, 400, NAME, ALL),
    Case("name-c1-nel", {"name": "run\x85x"}, 400, NAME, ALL),
    Case("name-del", {"name": "run\x7fx"}, 400, NAME, ALL),
    Case("name-bell", {"name": "run\x07"}, 400, NAME, ALL),
    Case("name-carriage-return", {"name": "good\rEVIL"}, 400, NAME, ALL),
    Case("experiment-esc-sequence", {"experiment": "exp\x1b[31m"}, 400, ["experiment", "control"], ALL),
    Case("experiment-c1", {"experiment": "exp\x9b"}, 400, ["experiment", "control"], ALL),
    # -- idempotency keys: only letters, digits and _ . : - (no bidi, zero-width or controls)
    Case("idem-key-bidi", {"idempotency_key": "key\u202e1"}, 400, KEY),
    Case("idem-key-zero-width", {"idempotency_key": "key\u200b1"}, 400, KEY),
    Case("idem-key-esc", {"idempotency_key": "key\x1b[0m"}, 400, KEY),
]


def build_projects(root: Path, outside: Path) -> None:
    """The projects these rows name, under ``root``; ``outside`` is a directory outside it. The rows use the
    shared 'tiny' project; what they need besides is a deleted experiment in MLflow, which
    :func:`corpus.build_projects` makes with :func:`ensure_deleted_experiment` (not here: the tests that need
    no stack build these projects too)."""


def ensure_deleted_experiment() -> None:
    """Make :data:`DELETED_EXPERIMENT` exist in MLflow in the deleted state (idempotent, concurrent-safe)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=TRACKING_URI)
    for _ in range(3):
        exp = client.get_experiment_by_name(DELETED_EXPERIMENT)
        if exp is not None and exp.lifecycle_stage == "deleted":
            return
        try:
            client.delete_experiment(exp.experiment_id if exp else client.create_experiment(DELETED_EXPERIMENT))
        except MlflowException:  # another test made or deleted it at the same time: look again
            continue
