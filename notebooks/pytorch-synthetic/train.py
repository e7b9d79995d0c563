"""A tiny regression network on synthetic data, logging its loss to MLflow every epoch.

Uses PyTorch (on the GPU when ``torch.cuda.is_available()``) and falls back to the same model in numpy when
torch is not installed, so it runs anywhere. Needs no download. Plain script: ``python train.py --epochs 3``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import mlflow
import numpy as np


def synthetic(samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """y = sin(x0) + 0.5 * x1^2 - x2 + noise."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(samples, 3)).astype(np.float32)
    y = (np.sin(x[:, 0]) + 0.5 * x[:, 1] ** 2 - x[:, 2] + rng.normal(0, 0.05, samples)).astype(np.float32)
    return x, y[:, None]


def train_torch(x: np.ndarray, y: np.ndarray, args: argparse.Namespace, log: Callable[[int, float], None]) -> str:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(args.seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(3, args.hidden), torch.nn.Tanh(), torch.nn.Linear(args.hidden, 1)
    ).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    for epoch in range(args.epochs):
        for i in range(0, len(xt), 64):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(xt[i : i + 64]), yt[i : i + 64])
            loss.backward()
            opt.step()
        with torch.no_grad():
            log(epoch, float(torch.nn.functional.mse_loss(model(xt), yt)))
    return f"torch-{device}"


def train_numpy(x: np.ndarray, y: np.ndarray, args: argparse.Namespace, log: Callable[[int, float], None]) -> str:
    rng = np.random.default_rng(args.seed)
    w1 = rng.normal(0, 0.5, (3, args.hidden))
    b1 = np.zeros(args.hidden)
    w2 = rng.normal(0, 0.5, (args.hidden, 1))
    b2 = np.zeros(1)
    for epoch in range(args.epochs):
        for i in range(0, len(x), 64):
            xb, yb = x[i : i + 64], y[i : i + 64]
            h = np.tanh(xb @ w1 + b1)
            err = (h @ w2 + b2 - yb) * (2 / len(xb))
            dh = (err @ w2.T) * (1 - h**2)
            w2 -= args.lr * h.T @ err
            b2 -= args.lr * err.sum(0)
            w1 -= args.lr * xb.T @ dh
            b1 -= args.lr * dh.sum(0)
        log(epoch, float(np.mean((np.tanh(x @ w1 + b1) @ w2 + b2 - y) ** 2)))
    return "numpy-cpu"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    x, y = synthetic(args.samples, args.seed)

    def log(epoch: int, loss: float) -> None:
        mlflow.log_metric("loss", loss, step=epoch)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {loss:.4f}", flush=True)

    with mlflow.start_run():
        mlflow.log_params(vars(args))
        try:
            import torch  # noqa: F401
        except ImportError:
            engine = train_numpy(x, y, args, log)
        else:
            engine = train_torch(x, y, args, log)
        mlflow.set_tag("engine", engine)
        print(f"trained with {engine}")


if __name__ == "__main__":
    main()
