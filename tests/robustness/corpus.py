"""The bad-input corpus: one row per case, run against every surface that can express it.

``surfaces``: rest (POST /mltf/api/jobs, which the JupyterLab dialog calls), preview (POST /mltf/api/preview,
the dialog's first call), cli (``jupyter mltf submit``), magic (``%mltf_submit``), form (the hub spawn form,
resource rows only). ``project`` names a directory that :func:`build_projects` makes under the server root.
``status`` is the REST answer; the CLI must exit 2 with one ``error: ...`` line and the magic must print one
``MLTF error: ...`` line (or raise IPython's UsageError for what argparse refuses); all must name ``words``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from . import corpus_core, corpus_envs, corpus_inputs, corpus_packaging
from .case import ALL, LIMIT_BYTES, NON_UTF8, RES, Case
from .helpers import write_tiny


def _r(id: str, resources: dict[str, Any], status: int, words: list[str], form: dict[str, str] | None = None,
       surfaces: tuple[str, ...] = RES) -> Case:
    return Case(id, {"resources": resources}, status, words, surfaces, form=form)


CASES: list[Case] = [
    # -- paths: the server root is the boundary (REST and the dialog; the CLI/magics run as the user anyway)
    Case("abs-path", {"path": "/etc"}, 403, ["relative to the jupyter root"], ("rest", "preview")),
    Case("dotdot", {"path": "../outside"}, 403, ["'..'"], ("rest", "preview")),
    Case("dotdot-inner", {"path": "tiny/../../outside"}, 403, ["'..'"], ("rest", "preview")),
    Case("symlink-out-of-root", {"path": "escape"}, 403, ["outside"], ("rest", "preview")),
    Case("nul-in-path", {"path": "tiny\x00/x"}, 400, ["nul"], ("rest", "preview")),
    Case("missing-dir", {"path": "no-such-dir"}, 400, ["does not exist"], ("rest", "preview", "cli", "magic")),
    Case("file-not-dir", {"path": "tiny/echo.py"}, 400, ["not a directory"], ("rest", "preview", "cli", "magic")),
    Case("path-wrong-type", {"path": 5}, 400, ["path"], ("rest", "preview")),
    Case("non-utf8-dir", {}, 400, ["utf-8"], ("rest", "cli", "magic"), project=NON_UTF8),
    # -- projects
    Case("empty-project", {}, 422, ["cannot tell what to run", "mlproject"], ALL, project="empty"),
    Case("zero-byte-mlproject", {}, 422, ["yaml mapping"], ALL, project="zero_mlproject"),
    Case("binary-mlproject", {}, 422, ["binary"], ALL, project="binary_mlproject"),
    Case("malformed-yaml", {}, 422, ["not valid yaml", "line"], ALL, project="bad_yaml"),
    Case("unknown-mlproject-key", {}, 422, ["unknown keys", "shoes"], ALL, project="unknown_key"),
    Case("docker-env", {}, 422, ["docker", "python_env"], ALL, project="docker"),
    Case("latin1-mlproject", {}, 422, ["utf-8"], ALL, project="latin1"),
    Case("over-limit-project", {}, 413, ["over the", "limit", "data.bin"], ALL, project="big"),
    Case("bad-command-template", {}, 422, ["{missing}"], ALL, project="bad_template"),
    Case("bad-param-type-in-mlproject", {}, 422, ["tensor", "use one of"], ALL, project="bad_ptype"),
    Case("non-utf8-entry-file", {"entry_point": NON_UTF8 + ".py"}, 400, ["utf-8"], ALL, project="nonutf8_file"),
    Case("missing-notebook", {"notebook": "missing.ipynb"}, 422, ["missing.ipynb"], ("rest", "cli"), project="noml"),
    # -- entry points and parameters
    Case("unknown-entry-point", {"entry_point": "nope"}, 422, ["nope", "main"], ALL),
    Case("entry-point-shell", {"entry_point": "main; touch /tmp/mltf-x"}, 422, ["not in the mlproject"], ALL),
    Case("entry-point-traversal", {"entry_point": "../../../etc/passwd.sh"}, 422, ["not in the mlproject"], ALL),
    Case("entry-point-symlink-out", {"entry_point": "link.py"}, 422, ["not in the mlproject"], ALL),
    Case("param-wrong-type", {"params": {"n": "lots"}}, 422, ["'n'", "int"], ALL),
    Case("param-float-inf", {"params": {"lr": "1e400"}}, 422, ["'lr'", "float"], ALL),
    Case("param-unknown", {"params": {"nope": "1"}}, 422, ["nope", "valid ones are"], ALL),
    Case("param-name-shell", {"entry_point": "echo.py", "params": {"a;touch x": "1"}}, 422, ["not valid"], ALL),
    Case("param-nul", {"params": {"word": "a\x00b"}}, 422, ["nul"], ("rest", "magic")),
    Case("param-non-utf8", {"params": {"word": "a" + NON_UTF8}}, 422, ["utf-8"], ALL),
    Case("params-not-object", {"params": [1, 2]}, 400, ["params", "object"]),
    Case("param-value-object", {"params": {"word": {"a": 1}}}, 422, ["'word'", "string"]),
    Case("param-value-null-required", {"params": {"n": None}}, 422, ["'n'", "int"]),
    # -- names
    Case("name-newline", {"name": "a\nb"}, 400, ["name", "newlines"], ALL),
    Case("name-sbatch-line", {"name": "x\n#SBATCH --gres=gpu:8"}, 400, ["name", "control"], ALL),
    Case("name-nul", {"name": "a\x00b"}, 400, ["name"], ("rest", "magic")),
    Case("name-too-long", {"name": "n" * 300}, 400, ["name", "250"], ALL),
    Case("name-non-utf8", {"name": "run-" + NON_UTF8}, 400, ["utf-8"], ALL),
    Case("experiment-newline", {"experiment": "e\nx"}, 400, ["experiment"], ALL),
    # -- resources (the hub form checks the same bounds)
    _r("gpus-negative", {"gpus": -1}, 422, ["gpus", "between 0"], {"gpus": "-1"}),
    _r("gpus-huge", {"gpus": 10**12}, 422, ["gpus", "between 0"], {"gpus": "1000000000000"}),
    _r("gpus-word", {"gpus": "two"}, 422, ["gpus", "whole number"], {"gpus": "two"}),
    _r("gpus-bool", {"gpus": True}, 422, ["gpus", "whole number"], surfaces=("rest",)),
    _r("gpus-over-partition", {"gpus": 9}, 422, ["at most 2"], {"partition": "gpu", "gpus": "9"}),
    _r("time-negative", {"time": "-01:00:00"}, 422, ["time", "hh:mm:ss"], {"time": "-01:00:00"}),
    _r("time-zero", {"time": "0"}, 422, ["time", "more than zero"], {"time": "0"}),
    _r("time-over-partition", {"time": "99:00:00"}, 422, ["at most 08:00:00"],
       {"partition": "gpu", "time": "99:00:00"}),
    _r("time-over-a-year", {"time": "9999-00:00:00"}, 422, ["year"], {"time": "9999-00:00:00"}),
    _r("mem-negative", {"mem": "-4G"}, 422, ["mem", "memory size"], {"mem": "-4G"}),
    _r("mem-huge", {"mem": "100T"}, 422, ["mem", "64t"], {"mem": "100T"}),
    _r("mem-over-partition", {"mem": "60T", "partition": "cpu"}, 422, ["mem", "per node"],
       {"partition": "cpu", "mem": "60T"}),
    _r("cpus-zero", {"cpus": 0}, 422, ["cpus", "between 1"], {"cpus": "0"}),
    _r("nodes-zero", {"nodes": 0}, 422, ["nodes", "between 1"]),
    _r("partition-missing", {"partition": "nope"}, 422, ["nope", "does not exist", "gpu"], {"partition": "nope"}),
    _r("partition-sbatch-injection", {"partition": "gpu\n#SBATCH --gres=gpu:8"}, 422, ["not a valid name"],
       {"partition": "gpu\n#SBATCH --gres=gpu:8"}),
    _r("partition-shell", {"partition": "$(id)"}, 422, ["not a valid name"], {"partition": "$(id)"}),
    _r("account-space", {"account": "a b"}, 422, ["account", "not a valid name"]),
    _r("gpu-type-without-gpus", {"gpu_type": "fake_a100", "gpus": 0}, 422, ["without gpus"],
       {"gpu_type": "fake_a100", "gpus": "0"}),
    _r("gpu-type-unknown", {"gpus": 1, "gpu_type": "h100"}, 422, ["h100", "fake_a100"],
       {"partition": "gpu", "gpus": "1", "gpu_type": "h100"}),
    _r("unknown-resource", {"shoes": 2}, 422, ["shoes", "valid resources"], surfaces=("rest",)),
    Case("resources-not-object", {"resources": "gpus=1"}, 400, ["resources", "object"]),
    # -- the request itself
    Case("unknown-field", {"gpus": 1}, 400, ["gpus", "valid fields"]),
    Case("idem-key-space", {"idempotency_key": "has space"}, 400, ["idempotency_key"]),
    Case("idem-key-long", {"idempotency_key": "k" * 200}, 400, ["idempotency_key", "128"]),
    Case("idem-key-empty", {"idempotency_key": ""}, 400, ["idempotency_key"]),
    Case("idem-key-slash", {"idempotency_key": "../etc"}, 400, ["idempotency_key"]),
    Case("idem-key-wrong-type", {"idempotency_key": 7}, 400, ["idempotency_key", "string"]),
    Case("launcher-unknown", {"launcher": "evil"}, 400, ["launcher"]),
    Case("env-manager-unknown", {"env_manager": "conda"}, 400, ["env_manager"]),
    Case("dry-run-string", {"dry_run": "false"}, 400, ["dry_run", "true or false"]),
    Case("sweep-not-object", {"sweep": "grid"}, 400, ["sweep"]),
    Case("sweep-unknown-key", {"sweep": {"foo": 1}}, 400, ["sweep", "foo"]),
    Case("script-nul", {"script": "print(1)\x00"}, 400, ["nul"]),
    Case("json-malformed", b"{not json", 400, ["not valid json"]),
    Case("json-array", b"[1, 2]", 400, ["json object"]),
    Case("json-bad-utf8", b'{"path": "\xff"}', 400, ["json"]),
    Case("body-oversized", b"", 413, ["too large", "mb"]),
    Case("preview-unknown-field", {"gpus": 1}, 400, ["gpus", "preview takes"], ("preview",)),
    Case("preview-notebook-type", {"notebook": 3}, 400, ["notebook", "string"], ("preview",)),
]

# the body-oversized row's body: 24 MiB of JSON (the cap proposed in 04-cap-request-bodies.patch is 16 MiB)
OVERSIZED_BYTES = 24 * 1024 * 1024


def oversized_body() -> bytes:
    return b'{"path": "tiny", "params": {"word": "' + b"x" * OVERSIZED_BYTES + b'"}}'


# round two (issue 12): each area keeps its rows and projects in its own module
ROUND_TWO = (corpus_packaging, corpus_inputs, corpus_core, corpus_envs)


def all_cases() -> list[Case]:
    return CASES + [case for module in ROUND_TWO for case in module.CASES]


def by_surface(surface: str) -> list[Case]:
    return [c for c in all_cases() if surface in c.surfaces]


def build_projects(root: Path, outside: Path, *, mlflow: bool = True) -> None:
    """Every project the corpus names, under ``root``; ``outside`` is a directory outside it. ``mlflow=False``
    (tests that need no stack) skips what the rows need in MLflow (the deleted experiment of corpus_core)."""
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "secret.py").write_text("print('outside')\n")
    tiny = write_tiny(root / "tiny")
    os.symlink(outside / "secret.py", tiny / "link.py")
    os.symlink(outside, root / "escape")
    (root / "empty").mkdir()
    write_tiny(root / "zero_mlproject")
    (root / "zero_mlproject" / "MLproject").write_bytes(b"")
    write_tiny(root / "binary_mlproject")
    (root / "binary_mlproject" / "MLproject").write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)))
    write_tiny(root / "bad_yaml")
    (root / "bad_yaml" / "MLproject").write_text("name: x\nentry_points:\n  main: {command: [unclosed\n")
    write_tiny(root / "unknown_key")
    (root / "unknown_key" / "MLproject").write_text("name: x\nshoes: 2\nentry_points:\n  main: {command: echo}\n")
    write_tiny(root / "docker")
    (root / "docker" / "MLproject").write_text(
        "name: x\ndocker_env: {image: evil}\nentry_points:\n  main: {command: echo}\n"
    )
    write_tiny(root / "latin1")
    latin1 = "name: caf\u00e9\nentry_points:\n  main: {command: echo}\n"
    (root / "latin1" / "MLproject").write_bytes(latin1.encode("latin-1"))
    write_tiny(root / "big")
    (root / "big" / "data.bin").write_bytes(b"\0" * (LIMIT_BYTES + 1024))
    write_tiny(root / "bad_template")
    (root / "bad_template" / "MLproject").write_text("name: x\nentry_points:\n  main: {command: 'echo {missing}'}\n")
    write_tiny(root / "bad_ptype")
    (root / "bad_ptype" / "MLproject").write_text(
        "name: x\nentry_points:\n  main:\n    parameters: {t: {type: tensor}}\n    command: 'echo {t}'\n"
    )
    write_tiny(root / "nonutf8_file")
    (root / "nonutf8_file" / (NON_UTF8 + ".py")).write_text("print('non-utf8 name')\n")
    (root / "noml").mkdir()
    (root / "noml" / "train.py").write_text("print('train')\n")
    write_tiny(root / NON_UTF8)
    for module in ROUND_TWO:
        module.build_projects(root, outside)
    if mlflow:
        corpus_core.ensure_deleted_experiment()
