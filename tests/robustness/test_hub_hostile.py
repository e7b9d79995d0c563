"""Hostile and careless hub spawn options against a real ``MLTFSlurmSpawner`` (real ``sinfo`` partitions):
wrong types (list, object, boolean, float for a whole number), 5,000-digit numbers, control characters, unknown
keys, huge strings, through both ways a spawn gets its options:

* the REST API (``POST /hub/api/users/NAME/server`` with a JSON body, which skips the form): JupyterHub calls
  ``Spawner._run_apply_user_options``, here called the same way;
* the spawn form: ``Spawner.run_options_from_form`` with the posted fields.

Every row must end in a 400 (``tornado.web.HTTPError``) whose message names the option and says what to give,
short and printable, and nothing may reach Slurm: the spawner's command seam is never called and no session
job appears. ``null`` is not hostile: it means "not set" (JupyterHub stores ``user_options`` with nulls), and
those rows must be accepted.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:jupyterhub.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:batchspawner.*"),
]

HUGE = 10**4999  # 5,000 digits
# one of each kind, put inside the value (a form value is stripped of surrounding whitespace)
CONTROLS = {
    "nul": "\x00",
    "newline": "\n",
    "tab": "\t",
    "escape": "\x1b",
    "del": "\x7f",
    "c1-next-line": "\x85",
    "bidi-override": "\u202e",
    "zero-width-space": "\u200b",
    "line-separator": "\u2028",
    "byte-order-mark": "\ufeff",
}

# (id, user_options as the REST API gets them, words the message must contain)
REST_ROWS: list[tuple[str, Any, list[str]]] = [
    ("list-gpus", {"preset": "custom", "gpus": [1]}, ["gpus", "whole number", "list"]),
    ("dict-partition", {"preset": "custom", "partition": {"name": "gpu"}}, ["partition", "text", "dict"]),
    ("bool-gpus", {"preset": "custom", "gpus": True}, ["gpus", "whole number", "True"]),
    ("bool-cpus", {"preset": "custom", "cpus": False}, ["cpus", "whole number"]),
    ("float-gpus", {"preset": "custom", "gpus": 1.0}, ["gpus", "whole number", "1.0"]),
    ("float-cpus", {"preset": "custom", "cpus": 2.5}, ["cpus", "whole number", "2.5"]),
    ("float-time", {"preset": "custom", "time": 1.5}, ["time"]),
    ("5000-digit-gpus", {"preset": "custom", "gpus": HUGE}, ["gpus", "5000 digits"]),
    ("5000-digit-cpus", {"preset": "custom", "cpus": -HUGE}, ["cpus", "5000 digits"]),
    ("5000-digit-time", {"preset": "custom", "time": HUGE}, ["time", "5000 digits"]),
    ("5000-digit-mem", {"preset": "custom", "mem": HUGE}, ["mem", "5000 digits"]),
    ("5000-digit-text-gpus", {"preset": "custom", "gpus": "9" * 5000}, ["gpus", "5000 characters"]),
    ("5000-digit-text-time", {"preset": "gpu1", "time": "1" * 5000}, ["time", "5000 characters"]),
    ("int-partition", {"preset": "custom", "partition": 7}, ["partition", "text"]),
    ("int-preset", {"preset": 1}, ["preset", "text"]),
    ("list-preset", {"preset": ["gpu1"]}, ["preset", "text", "list"]),
    ("dict-preset", {"preset": {"key": "gpu1"}}, ["preset", "text", "dict"]),
    ("unknown-key", {"preset": "gpu1", "evil": "x"}, ["unknown session option", "'evil'", "partition"]),
    ("template-key", {"preset": "gpu1", "req_options": "--uid=0"}, ["unknown session option", "req_options"]),
    ("dunder-key", {"__class__": "x", "cmd": "id"}, ["unknown session option", "'__class__'", "'cmd'"]),
    ("control-key", {"pre\x00set": "gpu1"}, ["unknown session option", "\\x00"]),
    ("huge-key", {"k" * 100_000: 1}, ["unknown session option", "100000 characters"]),
    ("many-keys", {f"k{i}": i for i in range(1000)}, ["unknown session option", "995 more"]),
    ("huge-partition", {"preset": "custom", "partition": "a" * 100_000}, ["partition", "100000 characters"]),
    ("huge-preset", {"preset": "x" * 100_000}, ["preset", "100000 characters"]),
    ("unknown-preset", {"preset": "gpu9"}, ["unknown preset", "gpu1"]),
    ("not-an-object-list", ["gpu1"], ["session options", "object", "list"]),
    ("not-an-object-text", "gpu1", ["session options", "object"]),
    ("not-an-object-number", HUGE, ["session options", "object", "5000 digits"]),
    ("sbatch-line-partition", {"preset": "custom", "partition": "gpu\n#SBATCH --gres=gpu:8"},
     ["partition", "control character", "U+000A"]),
    ("terminal-escape-partition", {"preset": "custom", "partition": "\x1b[31mgpu"}, ["partition", "U+001B"]),
    *[(f"control-{name}-partition", {"preset": "custom", "partition": f"g{char}pu"}, ["partition", "control character"])
      for name, char in CONTROLS.items()],
    *[(f"control-{name}-time", {"preset": "gpu1", "time": f"01:00{char}:00"}, ["time", "control character"])
      for name, char in CONTROLS.items()],
    ("control-preset", {"preset": "gpu1\x1b[2J"}, ["preset", "control character"]),
    ("out-of-range-gpus", {"preset": "custom", "partition": "gpu", "gpus": 99}, ["gpus", "64"]),
    ("negative-cpus", {"preset": "custom", "cpus": -1}, ["cpus", "between"]),
    ("sbatch-injection-mem", {"preset": "custom", "mem": "8G --uid=0"}, ["mem", "memory size"]),
]  # fmt: skip

# (id, posted form fields (each a list of strings, as JupyterHub passes them), words)
FORM_ROWS: list[tuple[str, dict[str, list[str]], list[str]]] = [
    ("form-5000-digit-gpus", {"gpus": ["9" * 5000]}, ["gpus", "5000 characters"]),
    ("form-5000-digit-cpus", {"cpus": ["1" * 5000]}, ["cpus", "5000 characters"]),
    ("form-5000-digit-time", {"time": ["9" * 5000]}, ["time", "5000 characters"]),
    ("form-40-digit-gpus", {"gpus": ["9" * 41]}, ["gpus", "between"]),
    ("form-float-gpus", {"gpus": ["1.5"]}, ["gpus", "whole number"]),
    ("form-text-cpus", {"cpus": ["four"]}, ["cpus", "whole number"]),
    ("form-exponent-gpus", {"gpus": ["1e3"]}, ["gpus", "whole number"]),
    ("form-huge-mem", {"mem": ["8" * 100_000 + "G"]}, ["mem", "characters"]),
    ("form-huge-preset", {"preset": ["p" * 100_000]}, ["preset", "100000 characters"]),
    ("form-control-preset", {"preset": ["gpu1\x00"]}, ["preset", "control character"]),
    *[(f"form-control-{name}-partition", {"partition": [f"g{char}pu"]}, ["partition", "control character"])
      for name, char in CONTROLS.items()],
    *[(f"form-control-{name}-mem", {"mem": [f"8{char}G"]}, ["mem", "control character"])
      for name, char in CONTROLS.items()],
]  # fmt: skip

ACCEPTED_ROWS: list[tuple[str, Any]] = [
    ("null-options", None),
    ("null-preset", {"preset": None}),
    ("null-fields", {"preset": "custom", "partition": "cpu", "gpu_type": None, "gpus": None, "mem": None}),
    ("stored-form-options", {"preset": "custom", "partition": "cpu", "gpu_type": None, "gpus": 0, "cpus": 2,
                             "mem": "2G", "time": "01:00:00"}),
    ("number-text", {"preset": "custom", "partition": "gpu", "gpus": "1", "cpus": " 2 "}),
]  # fmt: skip


def session_jobs() -> list[str]:
    done = subprocess.run(["squeue", "--me", "-h", "-n", "jupyterhub-session", "-o", "%i"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, f"squeue failed ({done.returncode}): {done.stderr}"
    return done.stdout.split()


@pytest.fixture
def spawner(stack: str) -> Iterator[Any]:
    """A real spawner (the real cluster's partitions); its Slurm command seam fails the test if called."""
    pytest.importorskip("batchspawner")
    from jupyter_mltf.hub import spawner as mod

    user = mock.Mock()
    user.name = "alice"
    sp = mod.MLTFSlurmSpawner(user=user, req_keepvars="PATH", req_homedir="/home/alice")
    sp.presets = [
        {"key": "gpu1", "label": "1 GPU, 4 h", "resources": {"partition": "gpu", "gpus": 1, "time": "04:00:00"}},
        {"key": "cpu", "label": "CPU only", "resources": {"partition": "cpu", "gpus": 0, "cpus": 2, "mem": "4G"}},
    ]  # fmt: skip
    before = session_jobs()
    seam = mock.AsyncMock(side_effect=AssertionError("a Slurm command ran for refused options"))
    with mock.patch.object(mod, "run_cmd", seam):
        yield sp
    assert seam.call_count == 0
    assert set(session_jobs()) - set(before) == set(), "a session job appeared"


def _refused(call: Any, words: list[str]) -> str:
    from tornado import web

    with pytest.raises(web.HTTPError) as info:
        asyncio.run(call)
    error = info.value
    message = str(getattr(error, "jupyterhub_message", "") or error.log_message)
    assert error.status_code == 400, (error.status_code, message)
    assert "traceback" not in message.lower() and "invalid user options" not in message.lower(), message
    assert message.isprintable() and len(message) < 400, repr(message)
    for word in words:
        assert word.lower() in message.lower(), (word, message)
    return message


@pytest.mark.parametrize("options,words", [pytest.param(o, w, id=i) for i, o, w in REST_ROWS])
def test_rest_user_options_are_refused_with_a_400(spawner: Any, options: Any, words: list[str]) -> None:
    _refused(spawner._run_apply_user_options(options), words)
    assert spawner.req_partition in ("", None)  # nothing applied


@pytest.mark.parametrize("fields,words", [pytest.param(f, w, id=i) for i, f, w in FORM_ROWS])
def test_form_fields_are_refused_with_a_400(spawner: Any, fields: dict[str, list[str]], words: list[str]) -> None:
    formdata = {"preset": ["custom"], **fields}
    _refused(spawner.run_options_from_form(formdata), words)


@pytest.mark.parametrize("options", [pytest.param(o, id=i) for i, o in ACCEPTED_ROWS])
def test_null_and_plain_values_are_accepted(spawner: Any, options: Any) -> None:
    asyncio.run(spawner._run_apply_user_options(options))
    assert spawner.req_partition in ("gpu", "cpu") and spawner.req_runtime
