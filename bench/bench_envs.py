"""Project environments: a first build with uv vs ``python -m venv`` + ``pip install``; a cached start vs the
notebook env; and the gateway's way (a fresh venv + pip install on every job) for the same spec.

    python bench/bench_envs.py [-n 3] [--python /opt/mltf/pythons/3.10.13/bin/python3] [--out results.md]

Both builders get a warm download cache (each side its own), so the figure is the build, not the network.
Needs no cluster; needs the package index the site configures (pip.conf / PIP_INDEX_URL / UV_INDEX_URL).
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import time

import _common as c  # the bench directory is on sys.path when a bench runs as a script

from jupyter_mltf.envbuild import ensure_env
from jupyter_mltf.envspec import EnvRequest
from jupyter_mltf.pythons import find_python

#: five small pure-Python packages: the build is resolution + install, not compilation
SPEC = ("six==1.16.0", "idna==3.7", "attrs==23.2.0", "packaging==24.0", "tomli==2.0.1")
IMPORTS = "import six, idna, attrs, packaging, tomli"  # the built env really has them (checked once)
START = "import json"  # what both sides run per job start: the interpreter's start, not the packages


def _default_python() -> str:
    found = sorted(glob.glob("/opt/mltf/pythons/3.10*/bin/python3"))
    return found[-1] if found else sys.executable


def main() -> None:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--python", default=_default_python(), help="the interpreter both sides build on")
    args = p.parse_args()
    n = args.repeat or (5 if args.full else 3)
    rep = c.Report("envs", args)
    work = c.tempdir("mltf-bench-envs-")
    python = find_python(None, [], args.python)
    request = EnvRequest(spec_file="requirements.txt", python=None, requirements=SPEC)
    uv_cache = os.path.join(work, "uv-cache")
    pip_env = {**os.environ, "PIP_CACHE_DIR": os.path.join(work, "pip-cache"), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}

    def ours_build(i: int) -> float:
        t0 = time.perf_counter()
        ensure_env(request, python, os.path.join(work, f"ours-{i}"), uv_cache_dir=uv_cache)
        return time.perf_counter() - t0

    def pip_build(i: int) -> float:
        target = os.path.join(work, f"pip-{i}")
        t0 = time.perf_counter()
        subprocess.run([args.python, "-m", "venv", target], check=True, timeout=300)
        subprocess.run(
            [os.path.join(target, "bin", "python"), "-m", "pip", "install", "-q", *SPEC],
            check=True, timeout=600, env=pip_env,
        )
        return time.perf_counter() - t0

    ours_build(1000)  # warm both download caches, untimed
    pip_build(1000)
    build_ours, build_pip = c.interleave(n, ours_build, pip_build)

    cached_dir = os.path.join(work, "ours-1000")

    def ours_start(_i: int) -> float:
        t0 = time.perf_counter()
        built = ensure_env(request, python, cached_dir, uv_cache_dir=uv_cache)  # the cache lookup a job does
        subprocess.run([os.path.join(built.bin_dir, "python"), "-c", START], check=True, timeout=60)
        return time.perf_counter() - t0

    def notebook_start(_i: int) -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", START], check=True, timeout=60)
        return time.perf_counter() - t0

    built = ensure_env(request, python, cached_dir, uv_cache_dir=uv_cache)
    subprocess.run([os.path.join(built.bin_dir, "python"), "-c", IMPORTS], check=True, timeout=60)

    start_ours, start_notebook = c.interleave(n * 3, ours_start, notebook_start)
    gateway = build_pip  # the gateway builds a fresh venv + pip install for every job
    rows = [
        ["first build, 5 packages (uv vs venv + pip)", build_ours, build_pip],
        ["job start, cached env vs notebook env", start_ours, start_notebook],
        ["job start, cached env vs the gateway's fresh venv + pip", start_ours, gateway],
    ]
    rep.table(
        ["measure", "ours median ms", "raw median ms", "ratio", "ours min ms", "raw min ms", "n"],
        [
            [label, c.ms(c.median(o)), c.ms(c.median(r)), c.ratio(c.median(o), c.median(r)),
             c.ms(min(o)), c.ms(min(r)), len(o)]
            for label, o, r in rows
        ],
    )
    rep.result("first build uv vs venv+pip (goal <= 0.3)", c.median(build_ours), c.median(build_pip), n)
    rep.result("cached start vs notebook env (goal <= 1.2)", c.median(start_ours), c.median(start_notebook), n * 3)
    rep.result("cached start vs gateway's per-job build", c.median(start_ours), c.median(gateway), n)
    rep.finish()


if __name__ == "__main__":
    main()
