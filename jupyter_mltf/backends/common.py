"""Helpers more than one backend uses: the environment a submit runs with, and reading a log by offset."""

from __future__ import annotations

import os

from ..models import LogChunk


def read_log_file(path: str | None, offset: int, limit: int, complete: bool) -> LogChunk:
    """Read a log file from a byte offset; a missing file is an empty log (the job has not started)."""
    if not path:
        return LogChunk(text="", offset=offset, next_offset=offset, complete=complete)
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            start = min(max(offset, 0), size)
            fh.seek(start)
            data = fh.read(limit)
    except FileNotFoundError:
        return LogChunk(text="", offset=offset, next_offset=offset, complete=complete)
    # do not split a UTF-8 sequence: stop before an incomplete trailing character
    cut = len(data)
    if cut == limit:
        while cut > 0 and (data[cut - 1] & 0xC0) == 0x80:
            cut -= 1
        if cut > 0 and data[cut - 1] >= 0xC0:
            cut -= 1
        cut = cut or len(data)
    text = data[:cut].decode("utf-8", "replace")
    end = start + cut
    return LogChunk(text=text, offset=start, next_offset=end, complete=complete and end >= size)


def clean_submit_env() -> dict[str, str]:
    """The environment sbatch runs with: no inherited Slurm job settings, no MLflow run, no secrets.

    A notebook inside a Slurm job (a hub session) has SLURM_*/SBATCH_* set, which would leak into the new
    job; a notebook that called mlflow.set_experiment has MLFLOW_EXPERIMENT_ID set. Tokens travel in a
    0600 file instead of the environment Slurm stores with the job.
    """
    drop_prefixes = ("SLURM_", "SBATCH_", "SALLOC_", "SRUN_")
    drop = {
        "MLFLOW_RUN_ID",
        "MLFLOW_EXPERIMENT_ID",
        "MLFLOW_EXPERIMENT_NAME",
        "MLFLOW_TRACKING_TOKEN",
        "MLFLOW_TRACKING_PASSWORD",
        "MLTF_GATEWAY_TOKEN",
        "JUPYTERHUB_API_TOKEN",
        "JPY_API_TOKEN",
    }
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith(drop_prefixes)}
