"""Project environments: built once with uv (or venv + pip), cached under the hash of what they contain.

Pure (no server state): the submit side builds before the job is queued (a bad requirement comes back with
the resolver's own words), and the node builds the same env under the same lock when the site builds there.
An env is ``<envs_dir>/<key>``, where the key hashes the normalised requirements, the Python version and the
platform; it is used only once its ready marker is written, so a build that died half-way is rebuilt. No
index is ever named here: uv reads UV_INDEX_URL..., and pip's own settings (PIP_INDEX_URL, pip.conf) are
passed on to uv in its terms.

(Just over 400 lines: the lock, the two builders and the index translation must agree on one layout.)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .envspec import EnvRequest
from .errors import ProjectError
from .formatting import redact
from .pythons import PythonFound, interpreter_version

#: the resolved package set of an env, as ``pip freeze`` writes it
LOCK_FILE = "mltf-lock.txt"
#: written last: an env without it is half-built and never used
READY_FILE = ".mltf-ready"
REQUIREMENTS_FILE = "mltf-requirements.in"
#: how many of the build's last output lines an EnvBuildError carries
TAIL_LINES = 15
MAX_MESSAGE_CHARS = 2000
KEY_VERSION = 1
PIP_CONFIG_SECONDS = 20.0
# what uv says about itself rather than about the build
_CHATTER = ("Using Python", "Using CPython", "Creating virtual environment", "Activate with")
# pip's index settings, and the variables uv reads for them
_PIP_TO_UV = {
    "index-url": "UV_INDEX_URL",
    "extra-index-url": "UV_EXTRA_INDEX_URL",
    "find-links": "UV_FIND_LINKS",
    "cert": "SSL_CERT_FILE",
}


class EnvBuildError(ProjectError):
    """The declared environment could not be built: ``message`` carries the resolver's own last words."""

    reason = "env-build-failed"

    def __init__(self, message: str, *, log_message: str | None = None) -> None:
        super().__init__(message, log_message=log_message, field="env_manager")


@dataclass(frozen=True)
class BuiltEnv:
    """A ready env: its interpreter is ``<bin_dir>/python``; ``lock_file`` lists what it holds."""

    path: str
    bin_dir: str
    key: str
    python_version: str
    lock_file: str
    built_now: bool
    tool: str = "uv"  # "uv", or "pip" (python -m venv + pip, where uv is unavailable)
    seconds: float = 0.0  # how long the build took (0 for a cache hit)


def platform_tag() -> str:
    """What else an env's binaries depend on: OS, machine and C library."""
    libc, version = platform.libc_ver()
    return f"{sys.platform}-{platform.machine()}-{libc}{version}"


def normalised_requirement(text: str) -> str:
    """One requirement as the key sees it: the canonical name, the specifiers in one order."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    try:
        requirement = Requirement(text)
    except InvalidRequirement:
        return text.strip()
    requirement.name = canonicalize_name(requirement.name)
    return str(requirement)


def env_key(req: EnvRequest, python: PythonFound, extra_requirements: Sequence[str] = ()) -> str:
    """The cache key: sha256 of the normalised requirements (order and spelling aside), the index options,
    the Python version and the platform. Same spec, same Python: same env, whichever project asks."""
    payload = {
        "v": KEY_VERSION,
        "requirements": sorted({normalised_requirement(r) for r in (*req.requirements, *extra_requirements)}),
        "index_options": list(req.index_options),
        "python": python.version or interpreter_version(python.path) or python.path,
        "platform": platform_tag(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def default_uv_cache_dir(envs_dir: str) -> str:
    """``<envs_dir>/../uv-cache``: beside the envs, on the same filesystem (uv hard-links from its cache)."""
    return os.path.join(os.path.dirname(os.path.abspath(envs_dir)), "uv-cache")


def uv_command() -> list[str] | None:
    """How to run uv: the binary of the ``uv`` package in this environment, else ``uv`` on PATH."""
    try:
        from uv import find_uv_bin

        return [find_uv_bin()]
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        return [found] if found else None


def ready_env(envs_dir: str, key: str) -> str | None:
    """The path of the env ``key`` when it is complete and its interpreter still exists, else None."""
    target = os.path.join(envs_dir, key)
    if os.path.isfile(os.path.join(target, READY_FILE)) and os.path.exists(os.path.join(target, "bin", "python")):
        return target
    return None


def ensure_env(
    req: EnvRequest,
    python: PythonFound,
    envs_dir: str,
    *,
    uv_cache_dir: str | None = None,
    extra_requirements: Sequence[str] = (),
    say: Callable[[str], None] = lambda s: None,
) -> BuiltEnv:
    """The env for ``req`` on ``python``: the cached one, or built now under a lock per key (concurrent
    callers for one spec build it once). An EnvBuildError (field env_manager) carries the build's last
    output lines, redacted; a failed or interrupted build leaves nothing behind."""
    version = python.version or interpreter_version(python.path)
    if not version:
        raise EnvBuildError(f"the Python interpreter {python.path} does not run: ask the administrator to fix it")
    python = PythonFound(python.path, version, python.note)
    try:
        return _ensure(req, python, envs_dir, uv_cache_dir, extra_requirements, say)
    except OSError as exc:  # the envs dir itself: not writable, full...
        raise EnvBuildError(
            f"the environment could not be built in {envs_dir} ({exc.strerror or exc}): free space there, or "
            "set envs_dir to a writable directory"
        ) from None


def _ensure(
    req: EnvRequest,
    python: PythonFound,
    envs_dir: str,
    uv_cache_dir: str | None,
    extra_requirements: Sequence[str],
    say: Callable[[str], None],
) -> BuiltEnv:
    version = python.version
    key = env_key(req, python, extra_requirements)
    _private_dir(Path(envs_dir))
    found = ready_env(envs_dir, key)
    if found is not None:
        return _built(found, key, version, built_now=False)
    with _locked(os.path.join(envs_dir, f"{key}.lock")):
        found = ready_env(envs_dir, key)  # built by whoever held the lock before us
        if found is not None:
            return _built(found, key, version, built_now=False)
        target = Path(envs_dir) / key
        if os.path.lexists(target):
            say("removing an environment whose build did not finish")
            _remove(target)
        cache = uv_cache_dir or default_uv_cache_dir(envs_dir)
        t0 = time.monotonic()
        try:
            tool = _build(target, python, [*req.requirements, *extra_requirements], req.index_options, cache, say)
            seconds = time.monotonic() - t0
            _mark_ready(target, key, python, req, tool, seconds)
        except BaseException:
            _remove(target)
            raise
        return _built(str(target), key, version, built_now=True, tool=tool, seconds=seconds)


def _built(path: str, key: str, version: str, *, built_now: bool, tool: str = "", seconds: float = 0.0) -> BuiltEnv:
    if not tool:
        tool = str(_marker(path).get("tool", "uv"))
    return BuiltEnv(
        path=path,
        bin_dir=os.path.join(path, "bin"),
        key=key,
        python_version=version,
        lock_file=os.path.join(path, LOCK_FILE),
        built_now=built_now,
        tool=tool,
        seconds=seconds,
    )


def _marker(path: str) -> dict[str, object]:
    try:
        with open(os.path.join(path, READY_FILE), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _mark_ready(target: Path, key: str, python: PythonFound, req: EnvRequest, tool: str, seconds: float) -> None:
    """The ready marker, written last and atomically: what the env is, for listing and pruning."""
    marker = {
        "key": key,
        "python": python.version,
        "python_path": python.path,
        "python_requested": req.python,
        "spec_file": req.spec_file,
        "tool": tool,
        "built_at": time.time(),
        "seconds": round(seconds, 3),
    }
    partial = target / (READY_FILE + ".part")
    partial.write_text(json.dumps(marker, indent=1), encoding="utf-8")
    os.replace(partial, target / READY_FILE)


def _private_dir(path: Path) -> None:
    """The envs dir, mode 0700: envs are per user (a path in another user's env would run as them)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = path.stat()
    if st.st_uid == os.getuid() and st.st_mode & 0o077:
        path.chmod(0o700)


def _remove(target: Path) -> None:
    if target.is_symlink() or target.is_file():
        target.unlink()
    else:
        shutil.rmtree(target, ignore_errors=True)


@contextlib.contextmanager
def _locked(lock_path: str) -> Iterator[None]:
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _build(
    target: Path,
    python: PythonFound,
    requirements: Sequence[str],
    index_options: Sequence[str],
    cache_dir: str,
    say: Callable[[str], None],
) -> str:
    """Create and fill ``target``; return the tool used ("uv" or "pip")."""
    env = build_environment()
    uv = uv_command()
    where = str(target.parent)
    if uv is not None:
        os.makedirs(cache_dir, mode=0o700, exist_ok=True)  # a site may share one: its mode is left alone
        cached = [f"--cache-dir={cache_dir}"]
        say(f"creating the environment with uv (Python {python.version})")
        _run([*uv, "venv", "--no-config", *cached, "--python", python.path, str(target)], env, where, "uv venv", say)
        reqs = _write_requirements(target, requirements)
        env_python = str(target / "bin" / "python")
        if requirements:
            say(f"installing {len(requirements)} requirements with uv")
            install = [*uv, "pip", "install", "--no-config", *cached, "--python", env_python, "-r", reqs]
            _run([*install, *index_options], env, where, "uv pip install", say)
        freeze = _run([*uv, "pip", "freeze", "--no-config", "--python", env_python], env, where, "uv pip freeze")
        (target / LOCK_FILE).write_text(freeze, encoding="utf-8")
        return "uv"
    say("uv is not available: building with python -m venv + pip (slower); install the uv package to speed it up")
    _run([python.path, "-m", "venv", str(target)], env, where, "python -m venv", say)
    reqs = _write_requirements(target, requirements)
    pip = [str(target / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    if requirements:
        _run([*pip, "install", "-r", reqs, *index_options], env, where, "pip install", say)
    (target / LOCK_FILE).write_text(_run([*pip, "freeze"], env, where, "pip freeze"), encoding="utf-8")
    return "pip"


def _write_requirements(target: Path, requirements: Sequence[str]) -> str:
    path = target / REQUIREMENTS_FILE
    path.write_text("".join(r + "\n" for r in requirements), encoding="utf-8")
    return str(path)


def build_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The build's environment: this one, without what would point the build at another env, with uv told
    never to download a Python, and with pip's index settings in uv's terms where UV_* are unset."""
    env = dict(os.environ if base is None else base)
    for name in ("VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH", "PYTHONHOME", "UV_PYTHON", "PIP_REQUIRE_VIRTUALENV"):
        env.pop(name, None)
    env.update(UV_PYTHON_DOWNLOADS="never", UV_NO_PROGRESS="1", NO_COLOR="1", PIP_NO_INPUT="1")
    env.update(pip_index_settings(env))
    return env


def pip_index_settings(env: Mapping[str, str]) -> dict[str, str]:
    """UV_INDEX_URL, UV_EXTRA_INDEX_URL, UV_FIND_LINKS and SSL_CERT_FILE from pip's settings (PIP_* variables
    and pip.conf, as ``pip config list`` reads them), for those not set already. Extra indexes make uv pick the
    best version across all of them, as pip does."""
    if all(var in env for var in _PIP_TO_UV.values()):
        return {}
    values = _pip_config(env)
    out: dict[str, str] = {}
    for key, var in _PIP_TO_UV.items():
        value = values.get(key, "").strip()
        if value and var not in env:
            words = value.split()
            out[var] = ",".join(words) if var == "UV_FIND_LINKS" else " ".join(words)
    if ("UV_EXTRA_INDEX_URL" in out or "UV_FIND_LINKS" in out) and "UV_INDEX_STRATEGY" not in env:
        out["UV_INDEX_STRATEGY"] = "unsafe-best-match"
    return out


def _pip_config(env: Mapping[str, str]) -> dict[str, str]:
    """pip's effective settings by key (``:env:`` over ``install`` over ``global``); from the variables
    alone where pip cannot run."""
    from_env = {key: env[f"PIP_{key.upper().replace('-', '_')}"] for key in _PIP_TO_UV if _has_pip_var(env, key)}
    try:
        out = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=PIP_CONFIG_SECONDS,
            env=dict(env),
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return from_env
    rank = {":env:": 0, "install": 1, "global": 2}
    best: dict[str, tuple[int, str]] = {}
    for line in out.stdout.splitlines():
        name, _, raw = line.partition("=")
        section, _, key = name.rpartition(".")
        if key in _PIP_TO_UV and section in rank and raw[:1] == raw[-1:] and raw[:1] in "'\"" and len(raw) >= 2:
            if key not in best or rank[section] < best[key][0]:
                best[key] = (rank[section], raw[1:-1])
    return {key: value for key, (_, value) in best.items()} | from_env


def _has_pip_var(env: Mapping[str, str], key: str) -> bool:
    return bool(env.get(f"PIP_{key.upper().replace('-', '_')}", "").strip())


def _run(argv: list[str], env: dict[str, str], cwd: str, what: str, say: Callable[[str], None] | None = None) -> str:
    """Run one build step. With ``say``, its output goes there line by line (redacted) as it comes;
    without, its stdout is returned. A failure is an EnvBuildError with the step's last lines."""
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    try:
        if say is None:
            done = subprocess.run(
                argv, capture_output=True, text=True, errors="replace", env=env, cwd=cwd, stdin=subprocess.DEVNULL
            )
            tail.extend(redact(line) for line in done.stderr.splitlines())
            code, out = done.returncode, done.stdout
        else:
            code, out = _stream(argv, env, cwd, say, tail), ""
    except OSError as exc:
        raise EnvBuildError(f"the environment could not be built: {what} did not start ({exc.strerror})") from None
    if code != 0:
        raise _failure(what, code, list(tail))
    return out


def _stream(argv: list[str], env: dict[str, str], cwd: str, say: Callable[[str], None], tail: deque[str]) -> int:
    with subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        env=env,
        cwd=cwd,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            shown = redact(line.rstrip())
            tail.append(shown)
            say(shown)
        return proc.wait()


def _words(line: str) -> str:
    text = line.strip()
    return text[len("error:") :].strip() if text.lower().startswith("error:") else text


def _failure(what: str, code: int, tail: list[str]) -> EnvBuildError:
    """The error a failed step becomes: its own words on one line (the surfaces show one line), all of
    them in the log message."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        head = f"the environment build was stopped ({what} killed by {name}): submit again to rebuild it"
    else:
        head = f"the environment could not be built ({what} failed)"
    words = [_words(line) for line in tail if line.strip() and not line.strip().startswith(_CHATTER)]
    message = head + (": " + " ".join(words) if words else "")
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 3] + "..."
    return EnvBuildError(message, log_message=head + "\n" + "\n".join(tail))
