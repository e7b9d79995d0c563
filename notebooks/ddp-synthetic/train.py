"""DistributedDataParallel on synthetic data: one process per GPU under torchrun, gloo on CPU where there is no GPU.

Rank 0 logs parameters and metrics to the MLflow run the job created (MLFLOW_RUN_ID); every rank prints its
wiring so the job log shows the rendezvous. Runs the same way as `python train.py` (world size 1).
"""

import argparse
import gc
import os
import time

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch-size", dest="batch_size", type=int, default=64)
    parser.add_argument("--samples", type=int, default=2048)
    args = parser.parse_args()

    distributed = "RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1
    use_cuda = torch.cuda.is_available()
    if distributed:
        dist.init_process_group("nccl" if use_cuda else "gloo")
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
    node_rank = os.environ.get("NODE_RANK", os.environ.get("GROUP_RANK", "0"))
    print(
        f"rank {rank}/{world} local_rank {local_rank} node_rank {node_rank} "
        f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '')} device={device} "
        f"master={os.environ.get('MASTER_ADDR', '-')}:{os.environ.get('MASTER_PORT', '-')}",
        flush=True,
    )

    torch.manual_seed(0)
    inputs = torch.randn(args.samples, 32)
    targets = (inputs @ torch.randn(32, 1) + 0.1 * torch.randn(args.samples, 1))
    shard = slice(rank, args.samples, world)
    x, y = inputs[shard].to(device), targets[shard].to(device)

    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 1)).to(device)
    if distributed:
        model = DistributedDataParallel(model, device_ids=[local_rank] if use_cuda else None)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
    loss_fn = nn.MSELoss()

    mlflow = None
    if rank == 0 and os.environ.get("MLFLOW_RUN_ID"):
        import mlflow as _mlflow

        mlflow = _mlflow
        mlflow.log_params({"world_size": world, "device": str(device), "batch_size": args.batch_size})
    started = time.time()
    seen = 0
    for epoch in range(args.epochs):
        total = 0.0
        for start in range(0, x.shape[0], args.batch_size):
            xb, yb = x[start : start + args.batch_size], y[start : start + args.batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * xb.shape[0]
            seen += xb.shape[0]
        epoch_loss = total / max(x.shape[0], 1)
        if rank == 0:
            print(f"epoch {epoch} loss {epoch_loss:.4f}", flush=True)
            if mlflow:
                mlflow.log_metric("train_loss", epoch_loss, step=epoch)
    elapsed = time.time() - started
    throughput = torch.tensor([seen / max(elapsed, 1e-9)], device=device)
    if distributed:
        dist.all_reduce(throughput)
    if rank == 0:
        print(f"throughput {throughput.item():.1f} samples/s over {world} rank(s)", flush=True)
        if mlflow:
            mlflow.log_metric("samples_per_second", throughput.item())
    if distributed:
        # Leave the group while Python is fully alive: every rank waits for the others, the DDP wrapper (which
        # holds the group) goes first, and destroying the group then joins gloo's worker threads. Left to
        # interpreter exit, a worker can still be releasing the last collective's tensors and the rank aborts
        # ("terminate called without an active exception", SIGABRT) after training succeeded.
        dist.barrier()
        del model, optimizer
        gc.collect()
        dist.destroy_process_group()
        gc.collect()


if __name__ == "__main__":
    main()
