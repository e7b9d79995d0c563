"""Browser tests: a real `jupyter lab` subprocess (with the jupyter-mltf server + lab extensions) driven by
Debian's chromium through PyPI `playwright` (never `playwright install`).

Do not load the pytest-jupyter plugin in this directory: its event-loop fixture clashes with Playwright's
sync API. Run with ``scripts/test.sh tests/browser`` (as alice, against the real Slurm + MLflow stack).
Screenshots and the lab log go to ``$MLTF_ARTIFACTS`` (default /tmp/mltf-artifacts).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from ..conftest import missing

# the cluster answers slowly at times (sinfo under load): give UI assertions more than the default 5 s
expect.set_options(timeout=20_000)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
TOKEN = "mltf-browser-token"
ARTIFACTS = Path(os.environ.get("MLTF_ARTIFACTS", "/tmp/mltf-artifacts"))
POLL_SECONDS = 1  # the extension's poll interval in these tests (settings override)

TRAIN_PY = textwrap.dedent(
    """\
    import argparse
    import time

    import mlflow

    parser = argparse.ArgumentParser(description="tiny training loop for the browser test")
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    for epoch in range(args.epochs):
        loss = 1.0 / (1.0 + args.lr * (epoch + 1))
        mlflow.log_metric("loss", loss, step=epoch)
        print(f"epoch {epoch} lr={args.lr} loss={loss:.4f}", flush=True)
        time.sleep(0.2)
    print("training done", flush=True)
    """
)

MLPROJECT = textwrap.dedent(
    """\
    name: browser-demo
    entry_points:
      main:
        parameters:
          lr: {type: float, default: 0.01}
          epochs: {type: int, default: 2}
        command: "python train.py --lr {lr} --epochs {epochs}"
    """
)

SLEEP_PY = textwrap.dedent(
    """\
    import argparse
    import time

    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=600)
    args = parser.parse_args()
    print(f"sleeping {args.seconds}s", flush=True)
    time.sleep(args.seconds)
    print("woke up", flush=True)
    """
)


def _notebook(code: str) -> str:
    return json.dumps(
        {
            "cells": [{"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {}, "outputs": [],
                       "source": code}],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def lab(stack: str, artifacts: Path) -> Iterator[dict[str, Any]]:
    """`jupyter lab` on a free port, token auth, a temp root with two example projects."""
    if not os.path.exists(CHROMIUM):
        missing(f"{CHROMIUM} is not installed (scripts/setup.sh installs Debian's chromium)")
    tmp = Path(tempfile.mkdtemp(prefix="mltf-lab-"))
    root, workspaces, settings, config = (tmp / d for d in ("root", "workspaces", "settings", "config"))
    for d in (root, workspaces, settings, config):
        d.mkdir()
    demo = root / "demo"
    demo.mkdir()
    (demo / "train.py").write_text(TRAIN_PY)
    (demo / "MLproject").write_text(MLPROJECT)
    (demo / "explore.ipynb").write_text(_notebook("print('hello from the demo project')"))
    # size checks (limits lowered in the server config below): "big" gets a warning, "huge" is refused
    for name, size in (("big", 2 << 20), ("huge", 5 << 20)):
        (root / name).mkdir()
        (root / name / "train.py").write_text(TRAIN_PY)
        with open(root / name / "data.bin", "wb") as f:
            f.truncate(size)
    sleeper = root / "sleeper"
    sleeper.mkdir()
    (sleeper / "main.py").write_text(SLEEP_PY)
    # front-end settings: no "news" toast; a fast poll so that the tests see state changes quickly
    (settings / "overrides.json").write_text(
        json.dumps(
            {
                "@jupyterlab/apputils-extension:notification": {"fetchNews": "false"},
                "jupyter-mltf:plugin": {"pollInterval": POLL_SECONDS},
            }
        )
    )
    # enable the server extension explicitly (the installed etc/jupyter config does it too)
    (config / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "ServerApp": {"jpserver_extensions": {"jupyter_mltf": True}},
                "MLTFManager": {"warn_project_bytes": 1 << 20, "max_project_bytes": 4 << 20},
            }
        )
    )
    port = _free_port()
    log_path = tmp / "lab.log"
    env = dict(os.environ, JUPYTER_CONFIG_PATH=str(config), PYTHONWARNINGS="ignore")
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
        f"--ServerApp.token={TOKEN}", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}",
        f"--LabApp.workspaces_dir={workspaces}", f"--LabApp.app_settings_dir={settings}",
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=root, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                req = urllib.request.Request(f"{base}/mltf/api/health", headers={"Authorization": f"token {TOKEN}"})
                with urllib.request.urlopen(req, timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            text = log_path.read_text()
            if "jupyter_mltf | extension failed loading" in text:
                failure = text[text.index("jupyter_mltf | extension failed loading") :]
                raise RuntimeError(f"the jupyter_mltf server extension failed to load: {failure[:3000]}")
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"jupyter lab did not start: {text[-3000:]}")
            time.sleep(0.5)
        yield {"base": base, "token": TOKEN, "root": root, "log": log_path, "proc": proc, "poll_seconds": POLL_SECONDS}
    finally:
        proc.terminate()  # by PID, through the Popen handle
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        shutil.copy(log_path, artifacts / "lab.log")
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest, artifacts: Path) -> Iterator[Any]:
    # wide enough that the notebook toolbar keeps "Submit to MLTF" visible with the right panel open
    context = browser.new_context(viewport={"width": 1680, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        pg.screenshot(path=str(artifacts / f"FAILED-{request.node.name}.png"))
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()  # type: ignore[attr-defined]
    if rep.when == "call":
        item.rep_call = rep  # type: ignore[attr-defined]
