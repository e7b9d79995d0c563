"""Per-rank output reaches the job log as whole lines, prefixed with the global rank (no cluster needed)."""

from __future__ import annotations

import io
import threading
from pathlib import Path

from jupyter_mltf.contract import RunnerSpec
from jupyter_mltf.node.launchers import Topology, launch_argv
from jupyter_mltf.node.ranklog import RankLogTail


def _rank_file(root: Path, local_rank: int, stream: str = "stdout") -> Path:
    path = root / "run_x" / "attempt_0" / str(local_rank) / f"{stream}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return path


def test_partial_lines_wait_for_their_newline(tmp_path: Path) -> None:
    out = io.StringIO()
    tail = RankLogTail(str(tmp_path), node_rank=0, procs_per_node=2, out=out)
    r0, r1 = _rank_file(tmp_path, 0), _rank_file(tmp_path, 1)
    with r0.open("a") as f0, r1.open("a") as f1:
        f0.write("rank 0/2 master=127.0.0.1:20166")  # the text, its newline comes later (python -u)
        f0.flush()
        f1.write("rank 1/2 master=127.0.0.1:20166\n")
        f1.flush()
        tail._poll(final=False)
        assert out.getvalue() == "[rank 1] rank 1/2 master=127.0.0.1:20166\n"
        f0.write("\nepoch 0\n")
        f0.flush()
        tail._poll(final=False)
    assert out.getvalue().splitlines() == [
        "[rank 1] rank 1/2 master=127.0.0.1:20166",
        "[rank 0] rank 0/2 master=127.0.0.1:20166",
        "[rank 0] epoch 0",
    ]


def test_stop_copies_a_last_line_without_newline_and_numbers_ranks_per_node(tmp_path: Path) -> None:
    out = io.StringIO()
    tail = RankLogTail(str(tmp_path), node_rank=1, procs_per_node=2, out=out).start()
    _rank_file(tmp_path, 1, "stderr").write_text("Traceback (most recent call last):\nValueError: boom")
    tail.stop()
    assert out.getvalue() == "[rank 3] Traceback (most recent call last):\n[rank 3] ValueError: boom\n"


def test_concurrent_writers_never_split_a_line(tmp_path: Path) -> None:
    out = io.StringIO()
    tail = RankLogTail(str(tmp_path), node_rank=0, procs_per_node=4, out=out).start()

    def rank(local: int) -> None:
        with _rank_file(tmp_path, local).open("a") as fh:
            for i in range(300):
                fh.write(f"rank {local} line {i}")
                fh.flush()
                fh.write("\n")
                fh.flush()

    writers = [threading.Thread(target=rank, args=(n,)) for n in range(4)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    tail.stop()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1200
    for line in lines:
        prefix, _, rest = line.partition("] ")
        assert rest.startswith(f"rank {prefix.removeprefix('[rank ')} line "), line


def test_torchrun_writes_rank_files_only_when_asked(tmp_path: Path) -> None:
    spec = RunnerSpec(job_id="j1", name="n", project_name="p", archive="a.tar", content_hash="h",
                      command="python train.py --epochs 1", entry_point="main", params={}, python="python",
                      resources={"gpus": 2}, launcher="torchrun")
    topo = Topology(nodes=1, node_rank=0, gpus_per_node=2, master_addr="127.0.0.1", master_port=20001)
    plain = launch_argv(spec, str(tmp_path), topo)
    assert not any(a.startswith("--redirects") for a in plain)
    argv = launch_argv(spec, str(tmp_path), topo, rank_log_dir="/scratch/x.ranks")
    assert "--redirects=3" in argv and "--log-dir=/scratch/x.ranks" in argv
    assert argv[-3:] == ["train.py", "--epochs", "1"]


def test_progress_bars_and_endless_lines_are_not_held_back(tmp_path: Path) -> None:
    out = io.StringIO()
    tail = RankLogTail(str(tmp_path), node_rank=0, procs_per_node=1, out=out)
    path = _rank_file(tmp_path, 0, "stderr")
    path.write_bytes(b"step 1/3\rstep 2/3\r" + b"x" * (200 * 1024))
    for _ in range(4):  # a poll reads at most 64 KiB
        tail._poll(final=False)
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["[rank 0] step 1/3", "[rank 0] step 2/3"]
    assert sum(len(line) for line in lines[2:]) >= 128 * 1024  # cut into pieces, not held whole
