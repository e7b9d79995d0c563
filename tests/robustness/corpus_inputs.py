"""Round-two corpus rows (issue 12): numbers, times, templates, request bodies, notebooks, environments, sweeps.

Every number and time goes through one bounded parser (jupyter_mltf/resources.py: parse_int, parse_float,
parse_time, parse_mem), whatever its source: the request, the CLI/magic, a project's gateway_config.json, the
hub form. Command templates take plain ``{name}`` fields only. Request bodies, YAML and notebooks are limited
in nesting. What used to fail only on the node (a broken notebook, an env file outside the project or with bad
requirement lines, sweep values Optuna or numpy refuse) is refused at submit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .case import ALL, RES, Case
from .helpers import write_tiny

BIG = "9" * 5000  # beyond CPython's 4300-digit int() limit
HUGE = 10**400  # within it, but beyond any float and any job's use
DEEP = 100_000  # the nesting depth
SOME = 40  # deeper than the nesting limit (16), shallow enough for json.loads and repr


def _r(id: str, resources: dict[str, Any], status: int, words: list[str], form: dict[str, str] | None = None,
       surfaces: tuple[str, ...] = RES) -> Case:
    return Case(id, {"resources": resources}, status, words, surfaces, form=form)


def _p(id: str, params: dict[str, Any], words: list[str], surfaces: tuple[str, ...] = ALL) -> Case:
    return Case(id, {"params": params}, 422, words, surfaces)


def _raw(id: str, text: str, status: int, words: list[str], surfaces: tuple[str, ...] = ("rest",)) -> Case:
    """A body json.dumps cannot write (NaN, 5000-digit numbers) or should not (100,000 levels)."""
    return Case(id, text.encode(), status, words, surfaces)


def _nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


SWEEP = {"objective": {"metric": "loss"}, "trials": 4, "parallelism": 2}


def _sw(id: str, change: dict[str, Any], words: list[str], params: dict[str, Any] | None = None) -> Case:
    sweep = {**SWEEP, "parameters": params or {"lr": {"type": "float", "low": 0.01, "high": 1.0}}, **change}
    return Case(id, {"sweep": sweep}, 400, words, ("rest",))


TEMPLATES = {
    # the examples: AttributeError (500) and a silent one-character splice
    "tpl-attribute": "python echo.py {word.nope}",
    "tpl-index": "python echo.py {word[0]}",
    # the wider class: anything str.format does beyond a plain name
    "tpl-dunder": "python echo.py {word.__class__}",
    "tpl-conversion": "python echo.py {word!r}",
    "tpl-format-spec": "python echo.py {word:>10}",
    "tpl-positional": "python echo.py {0}",
    "tpl-empty-field": "python echo.py {}",
    "tpl-nested-spec": "python echo.py {word:{n}}",
    "tpl-key-index": "python echo.py {word[x]}",
}
TEMPLATE_WORDS = {
    "tpl-attribute": "{word.nope}",
    "tpl-index": "{word[0]}",
    "tpl-dunder": "{word.__class__}",
    "tpl-conversion": "{word!r}",
    "tpl-format-spec": "{word:>10}",
    "tpl-positional": "{0}",
    "tpl-empty-field": "{}",
    "tpl-nested-spec": "{word:{n}}",
    "tpl-key-index": "{word[x]}",
}

CASES: list[Case] = [
    # -- numbers in parameters: a 422 naming the parameter and what it takes, never OverflowError/ValueError
    _p("param-float-400-digit-int", {"lr": HUGE}, ["'lr'", "float", "finite decimal"]),
    _p("param-float-5000-digit-text", {"lr": BIG}, ["'lr'", "float", "5000 characters"]),
    _p("param-float-long-decimal-text", {"lr": "0." + BIG}, ["'lr'", "float"]),
    _p("param-float-nan-text", {"lr": "NaN"}, ["'lr'", "finite"]),
    _p("param-float-infinity-text", {"lr": "-Infinity"}, ["'lr'", "finite"]),
    _p("param-float-exponent-overflow", {"lr": "1e999999"}, ["'lr'", "finite"]),
    _p("param-int-400-digit-int", {"n": HUGE}, ["'n'", "int", "at most 40 digits"]),
    _p("param-int-5000-digit-text", {"n": BIG}, ["'n'", "at most 40 digits", "5000 characters"]),
    _p("param-int-41-digit-text", {"n": "1" + "0" * 40}, ["'n'", "at most 40 digits"]),
    _p("param-int-float-text", {"n": "1e400"}, ["'n'", "int"]),
    _p("param-string-400-digit-int", {"word": HUGE}, ["'word'", "at most 40 digits"], ("rest",)),
    _raw("param-float-nan-literal", '{"path": "tiny", "params": {"lr": NaN}}', 422, ["'lr'", "finite"]),
    _raw("param-float-infinity-literal", '{"path": "tiny", "params": {"lr": -Infinity}}', 422, ["'lr'", "finite"]),
    _raw("param-float-1e400-literal", '{"path": "tiny", "params": {"lr": 1e400}}', 422, ["'lr'", "finite"]),
    _raw("param-int-nan-literal", '{"path": "tiny", "params": {"n": NaN}}', 422, ["'n'", "int"]),
    _raw("param-string-nan-literal", '{"path": "tiny", "params": {"word": NaN}}', 422, ["'word'"]),
    _raw("param-float-5000-digit-literal", '{"path": "tiny", "params": {"lr": ' + BIG + "}}", 400,
         ["5000 digits"]),
    _raw("param-int-5000-digit-literal", '{"path": "tiny", "params": {"n": -' + BIG + "}}", 400, ["5000 digits"]),
    # -- numbers and times in resources, from the request, the CLI/magic and the hub form
    _r("time-5000-digits", {"time": BIG}, 422, ["time", "hh:mm:ss"], {"time": BIG}),
    _r("time-5000-digit-hours", {"time": BIG + "h"}, 422, ["time", "hh:mm:ss"], {"time": BIG + "h"}),
    _r("time-5000-digit-days", {"time": BIG + "-00:00:00"}, 422, ["time", "hh:mm:ss"],
       {"time": BIG + "-00:00:00"}),
    _r("time-5000-digit-seconds", {"time": "00:00:" + BIG}, 422, ["time", "hh:mm:ss"],
       {"time": "00:00:" + BIG}),
    _r("time-400-digit-int", {"time": HUGE}, 422, ["time", "hh:mm:ss"], {"time": str(HUGE)}),
    _r("time-30-digit-minutes", {"time": "9" * 30}, 422, ["time", "year"], {"time": "9" * 30}),
    _r("time-nan", {"time": "NaN"}, 422, ["time", "hh:mm:ss"], {"time": "NaN"}),
    _r("time-unicode-digits", {"time": "\u0661:00:00"}, 422, ["time", "hh:mm:ss"], {"time": "\u0661:00:00"}),
    _raw("time-5000-digit-literal", '{"path": "tiny", "resources": {"time": ' + BIG + "}}", 400, ["5000 digits"]),
    _raw("time-infinity-literal", '{"path": "tiny", "resources": {"time": Infinity}}', 422, ["time", "hh:mm:ss"]),
    _r("gpus-5000-digits", {"gpus": BIG}, 422, ["gpus", "between 0"], {"gpus": BIG}),
    _r("gpus-400-digit-int", {"gpus": HUGE}, 422, ["gpus", "between 0"], {"gpus": str(HUGE)}),
    _r("gpus-nan", {"gpus": "nan"}, 422, ["gpus", "whole number"], {"gpus": "nan"}),
    _raw("gpus-nan-literal", '{"path": "tiny", "resources": {"gpus": NaN}}', 422, ["gpus", "whole number"]),
    _raw("gpus-infinity-literal", '{"path": "tiny", "resources": {"gpus": Infinity}}', 422, ["gpus", "whole number"]),
    _raw("gpus-float-1e300", '{"path": "tiny", "resources": {"gpus": 1e300}}', 422, ["gpus", "between 0"]),
    _r("cpus-5000-digits", {"cpus": BIG}, 422, ["cpus", "between 1"], {"cpus": BIG}),
    _r("cpus-400-digit-int", {"cpus": HUGE}, 422, ["cpus", "between 1"], {"cpus": str(HUGE)}),
    _r("nodes-5000-digits", {"nodes": BIG}, 422, ["nodes", "between 1"]),
    _r("nodes-negative-huge", {"nodes": -HUGE}, 422, ["nodes", "between 1"]),
    _r("mem-5000-digits", {"mem": BIG + "G"}, 422, ["mem", "memory size"], {"mem": BIG + "G"}),
    _r("mem-5000-digit-fraction", {"mem": "1." + BIG + "G"}, 422, ["mem", "memory size"], {"mem": "1." + BIG + "G"}),
    _r("mem-400-digit-int", {"mem": HUGE}, 422, ["mem", "memory size"], {"mem": str(HUGE)}),
    _r("mem-nan", {"mem": "NaNG"}, 422, ["mem", "memory size"], {"mem": "NaNG"}),
    _r("partition-400-digit-int", {"partition": HUGE}, 422, ["partition", "not a valid name"], surfaces=("rest",)),
    _r("account-list", {"account": [["a"]]}, 422, ["account", "not a valid name"], surfaces=("rest",)),
    # -- the same values from a project's gateway_config.json (preview answers 200 with a warning: see
    #    test_inputs_hostile.py)
    Case("gw-time-5000-digits", {}, 422, ["gateway_config.json", "time", "hh:mm:ss"], ALL, project="gw_time_big"),
    Case("gw-time-5000-digit-literal", {}, 422, ["gateway_config.json", "json"], ALL, project="gw_time_literal"),
    Case("gw-time-400-digit-int", {}, 422, ["gateway_config.json", "time"], ALL, project="gw_time_huge"),
    Case("gw-cpus-nan", {}, 422, ["gateway_config.json", "cpus", "whole number"], ALL, project="gw_cpus_nan"),
    Case("gw-nodes-infinity", {}, 422, ["gateway_config.json", "nodes", "whole number"], ALL,
         project="gw_nodes_inf"),
    Case("gw-gres-5000-digits", {}, 422, ["gateway_config.json", "gres", "gpu:n"], ALL, project="gw_gres_big"),
    Case("gw-mem-5000-digits", {}, 422, ["gateway_config.json", "mem", "memory size"], ALL, project="gw_mem_big"),
    Case("gw-time-nested", {}, 422, ["gateway_config.json", "time", "a list"], ALL, project="gw_time_nested"),
    # -- command templates: plain {name} fields only, refused when the MLproject is read
    *[Case(id, {}, 422, ["'main'", TEMPLATE_WORDS[id], "plain {name}"], ALL, project=id.replace("-", "_"))
      for id in TEMPLATES],
    Case("tpl-in-other-entry-point", {}, 422, ["'other'", "{n.real}"], ALL, project="tpl_other"),
    Case("tpl-single-brace", {}, 422, ["'main'", "malformed", "expected '}'"], ALL, project="tpl_single_open"),
    Case("tpl-stray-close-brace", {}, 422, ["'main'", "malformed", "single '}'"], ALL, project="tpl_single_close"),
    # -- request bodies nested deeply: a 400 before (or instead of) recursion
    _raw("json-deep-100000-arrays", _nested(DEEP), 400, ["nested too deeply"], ("rest", "preview")),
    _raw("json-deep-100000-objects", '{"a": ' * DEEP + "1" + "}" * DEEP, 400, ["nested too deeply"],
         ("rest", "preview")),
    _raw("json-deep-100000-in-params", '{"path": "tiny", "params": {"word": ' + _nested(DEEP) + "}}", 400,
         ["nested too deeply"]),
    _raw("json-deep-100000-in-resources", '{"path": "tiny", "resources": {"time": ' + _nested(DEEP) + "}}", 400,
         ["nested too deeply"]),
    _raw("json-deep-100000-in-sweep", '{"path": "tiny", "sweep": {"parameters": ' + _nested(DEEP) + "}}", 400,
         ["nested too deeply"]),
    _raw("json-deep-100000-in-notebook", '{"path": "tiny", "notebook": ' + _nested(DEEP) + "}", 400,
         ["nested too deeply"], ("rest", "preview")),
    _raw("json-deep-40-in-params", '{"path": "tiny", "params": {"word": ' + _nested(SOME) + "}}", 400,
         ["nested too deeply", "params.word[0]"]),
    _raw("json-deep-40-in-resources", '{"path": "tiny", "resources": {"gpus": ' + _nested(SOME) + "}}", 400,
         ["nested too deeply", "resources.gpus"]),
    _raw("json-deep-40-in-sweep-choices",
         '{"path": "tiny", "sweep": {"parameters": {"word": ' + _nested(SOME, '"a"') + "}}}", 400,
         ["nested too deeply", "sweep.parameters.word"]),
    _raw("json-deep-40-objects-in-sweep", '{"path": "tiny", "sweep": ' + '{"a": ' * SOME + "1" + "}" * SOME + "}",
         400, ["nested too deeply", "sweep.a.a"]),
    _raw("json-deep-40-preview", '{"path": "tiny", "notebook": ' + _nested(SOME) + "}", 400,
         ["nested too deeply"], ("rest", "preview")),
    # -- notebooks that could only fail on the node
    Case("nb-not-json", {}, 422, ["analysis.ipynb", "cannot be read as a jupyter notebook"], ALL,
         project="nb_not_json"),
    Case("nb-json-not-notebook", {}, 422, ["analysis.ipynb", "jupyter notebook"], ALL, project="nb_no_version"),
    Case("nb-cells-not-cells", {}, 422, ["analysis.ipynb", "cells"], ALL, project="nb_bad_cells"),
    Case("nb-nested-100000", {}, 422, ["analysis.ipynb", "nested too deeply"], ALL, project="nb_deep"),
    Case("nb-5000-digit-number", {}, 422, ["analysis.ipynb", "jupyter notebook"], ALL, project="nb_big_int"),
    Case("nb-empty-file", {}, 422, ["analysis.ipynb", "jupyter notebook"], ALL, project="nb_empty"),
    Case("nb-chosen-broken", {"notebook": "broken.ipynb"}, 422, ["broken.ipynb", "jupyter notebook"],
         ("rest", "cli"), project="nb_choice"),
    Case("nb-in-mlproject-broken", {}, 422, ["'main'", "broken.ipynb", "jupyter notebook"], ALL,
         project="nb_mlproject"),
    Case("nb-in-mlproject-missing", {}, 422, ["'main'", "gone.ipynb", "not a file"], ALL, project="nb_mlproject_gone"),
    Case("notebook-name-too-long", {"notebook": "n" * 300 + ".ipynb"}, 422, ["not a .ipynb or .py file"],
         ("rest", "cli"), project="noml"),
    Case("entry-point-name-too-long", {"entry_point": "e" * 300 + ".py"}, 422, ["not in the mlproject"], ALL),
    # -- python_env / conda_env declared by the MLproject: a file inside the project with valid requirements
    Case("env-path-dotdot", {}, 422, ["python_env", "outside the project"], ALL, project="env_dotdot"),
    Case("env-path-absolute", {}, 422, ["python_env", "outside the project"], ALL, project="env_absolute"),
    Case("env-path-symlink-out", {}, 422, ["python_env", "outside the project"], ALL, project="env_symlink"),
    Case("conda-env-path-dotdot", {}, 422, ["conda_env", "outside the project"], ALL, project="conda_dotdot"),
    Case("env-path-missing", {}, 422, ["python_env", "does not exist"], ALL, project="env_missing"),
    Case("env-path-not-text", {}, 422, ["python_env", "file name"], ALL, project="env_list"),
    Case("env-path-unsupported", {}, 422, ["unsupported environment file", "env.toml"], ALL,
         project="env_unsupported"),
    Case("env-bad-requirement", {}, 422, ["python_env.yaml", "numpy>=", "not a valid requirement"], ALL,
         project="env_bad_req"),
    Case("env-pip-option-line", {}, 422, ["requirements.txt", "--index-url", "not a valid requirement"], ALL,
         project="env_pip_option"),
    Case("env-requirement-not-text", {}, 422, ["python_env.yaml", "must be a string"], ALL, project="env_dict_dep"),
    Case("env-dependencies-not-list", {}, 422, ["python_env.yaml", "must be a list"], ALL, project="env_deps_str"),
    Case("env-5000-digit-yaml-number", {}, 422, ["python_env.yaml", "5000 characters"], ALL, project="env_big_int"),
    Case("env-yaml-nested-deep", {}, 422, ["python_env.yaml", "nested too deeply"], ALL, project="env_deep"),
    Case("env-not-utf8", {}, 422, ["python_env.yaml", "utf-8"], ALL, project="env_latin1"),
    Case("conda-pip-bad-requirement", {}, 422, ["conda.yaml", "not a valid requirement"], ALL,
         project="conda_bad_pip"),
    # -- MLproject YAML itself: numbers and nesting bounded too
    Case("mlproject-5000-digit-default", {}, 422, ["mlproject", "5000 characters", "line 6"], ALL,
         project="ml_big_default"),
    Case("mlproject-nested-deep", {}, 422, ["mlproject", "nested too deeply"], ALL, project="ml_deep"),
    Case("mlproject-default-nan", {}, 422, ["'lr'", "finite"], ALL, project="ml_nan_default"),
    # -- sweeps: what Optuna or numpy would refuse on the node is refused at submit
    _sw("sweep-step-zero", {}, ["'lr'", "step", "more than zero"],
        {"lr": {"type": "float", "low": 0.01, "high": 1.0, "step": 0}}),
    _sw("sweep-step-negative-int", {}, ["'n'", "step", "more than zero"],
        {"n": {"type": "int", "low": 1, "high": 5, "step": -1}}),
    _sw("sweep-step-with-log", {}, ["'lr'", "log scale", "step"],
        {"lr": {"type": "float", "low": 0.01, "high": 1.0, "log": True, "step": 0.1}}),
    _sw("sweep-low-over-high", {}, ["'lr'", "low must be less"], {"lr": {"type": "float", "low": 1, "high": 0}}),
    _sw("sweep-log-low-zero", {}, ["'lr'", "log scale", "low > 0"],
        {"lr": {"type": "float", "low": 0, "high": 1, "log": True}}),
    _sw("sweep-log-not-bool", {}, ["'lr'", "log", "true or false"],
        {"lr": {"type": "float", "low": 0.1, "high": 1, "log": "false"}}),
    _sw("sweep-low-400-digit-int", {}, ["'lr'", "low", "finite"], {"lr": {"type": "float", "low": HUGE, "high": 1}}),
    _sw("sweep-high-nan-text", {}, ["'lr'", "high", "finite"], {"lr": {"type": "float", "low": 0, "high": "nan"}}),
    _sw("sweep-range-overflows", {}, ["'lr'", "too large"],
        {"lr": {"type": "float", "low": -1e308, "high": 1e308}}),
    _sw("sweep-int-low-fraction", {}, ["'n'", "low", "whole number"], {"n": {"type": "int", "low": 0.5, "high": 3}}),
    _sw("sweep-int-high-huge", {}, ["'n'", "high", "between"], {"n": {"type": "int", "low": 1, "high": HUGE}}),
    _sw("sweep-float-space-for-int-param", {}, ["'n'", "int parameter", "use type int"],
        {"n": {"type": "float", "low": 0.0, "high": 1.0}}),
    _sw("sweep-type-not-text", {}, ["'lr'", "type must be"], {"lr": {"type": [1], "low": 0, "high": 1}}),
    _sw("sweep-seed-over-32-bits", {"seed": 2**32}, ["seed", "between 0 and 4294967295"]),
    _sw("sweep-seed-negative", {"seed": -1}, ["seed", "between 0 and 4294967295"]),
    _sw("sweep-seed-400-digits", {"seed": HUGE}, ["seed", "401 digits"]),
    _sw("sweep-seed-5000-digit-text", {"seed": BIG}, ["seed", "5000 characters"]),
    _sw("sweep-seed-float", {"seed": 1.5}, ["seed", "whole number"]),
    _sw("sweep-choices-empty", {}, ["'word'", "choices", "non-empty"], {"word": []}),
    _sw("sweep-choices-mixed", {}, ["'word'", "mix strings and numbers"], {"word": ["a", 1]}),
    _sw("sweep-choices-wrong-type", {}, ["'n'", "int", "choices"], {"n": ["one", "two"]}),
    _sw("sweep-choices-float-for-int", {}, ["'n'", "int", "choices"], {"n": [1, 2.5]}),
    _sw("sweep-choices-nested", {}, ["'word'", "strings or numbers"], {"word": [["a"]]}),
    _sw("sweep-choices-bool", {}, ["'word'", "strings or numbers"], {"word": [True, False]}),
    _sw("sweep-choices-huge-int", {}, ["'n'", "at most 40 digits"], {"n": [1, HUGE]}),
    _sw("sweep-choices-too-many", {}, ["'word'", "at most 1000"], {"word": [str(i) for i in range(1001)]}),
    _sw("sweep-choices-nul", {}, ["'word'", "nul"], {"word": ["a\x00b"]}),
    _raw("sweep-choices-nan-literal",
         '{"path": "tiny", "sweep": {"objective": "loss", "parameters": {"lr": [0.1, NaN]}}}', 400,
         ["'lr'", "finite", "choices"]),
    _sw("sweep-trials-zero", {"trials": 0}, ["trials", "between 1"]),
    _sw("sweep-trials-huge", {"trials": HUGE}, ["trials", "between 1"]),
    _sw("sweep-trials-5000-digit-text", {"trials": BIG}, ["trials", "between 1"]),
    _sw("sweep-parallelism-over-trials", {"trials": 4, "parallelism": 5}, ["parallelism", "between 1 and 4"]),
    _sw("sweep-parallelism-zero", {"parallelism": 0}, ["parallelism", "between 1"]),
    _sw("sweep-parallelism-bool", {"parallelism": True}, ["parallelism", "whole number"]),
    _sw("sweep-param-name-shell", {}, ["not valid"], {"a;b": [1, 2]}),
]

# rows whose check core.py makes: a detected requirements.txt (env project) and gateway_config.json nesting
CORE_WIRED: list[Case] = [
    Case("env-detected-bad-requirement", {"env_manager": "project"}, 422,
         ["requirements.txt", "not a valid requirement"], ("rest",), project="env_detected_bad"),
    Case("gw-nested-30000", {}, 422, ["gateway_config.json", "nested too deeply"], ALL, project="gw_deep"),
    Case("gw-nested-40", {}, 422, ["gateway_config.json", "nested too deeply at time"], ALL, project="gw_nested_40"),
]
CASES += CORE_WIRED


def _project(root: Path, name: str, mlproject: str | None = None, files: dict[str, str | bytes] | None = None) -> Path:
    where = write_tiny(root / name)
    if mlproject is not None:
        (where / "MLproject").write_text(mlproject)
    for rel, content in (files or {}).items():
        target = where / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    return where


def _mlproject(command: str = "python echo.py {word} {n} {lr}", extra: str = "", other: str | None = None) -> str:
    text = (
        f"name: corpus\n{extra}entry_points:\n  main:\n    parameters:\n"
        "      word: {type: string, default: hello}\n      n: {type: int, default: 1}\n"
        "      lr: {type: float, default: 0.1}\n"
        f"    command: {json.dumps(command)}\n"
    )
    if other is not None:
        text += f"  other:\n    parameters:\n      n: {{type: int, default: 1}}\n    command: {json.dumps(other)}\n"
    return text


def _notebook_only(root: Path, name: str, files: dict[str, str | bytes]) -> None:
    where = root / name
    where.mkdir()
    for rel, content in files.items():
        if isinstance(content, bytes):
            (where / rel).write_bytes(content)
        else:
            (where / rel).write_text(content)


GOOD_NOTEBOOK = json.dumps({
    "cells": [{"cell_type": "code", "metadata": {}, "source": "print('hi')", "outputs": [], "execution_count": None}],
    "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
})  # fmt: skip


def build_projects(root: Path, outside: Path) -> None:
    """The projects these rows name, under ``root``; ``outside`` is a directory outside it."""
    outside.mkdir(parents=True, exist_ok=True)
    # gateway_config.json
    gateway = {
        "gw_time_big": json.dumps({"time": BIG}),
        "gw_time_literal": '{"time": ' + BIG + "}",
        "gw_time_huge": '{"time": ' + str(HUGE) + "}",
        "gw_cpus_nan": '{"cpus-per-task": NaN}',
        "gw_nodes_inf": '{"nodes": Infinity}',
        "gw_gres_big": json.dumps({"gres": "gpu:fake_a100:" + BIG}),
        "gw_mem_big": json.dumps({"mem": BIG + "G"}),
        "gw_time_nested": '{"time": ' + _nested(10) + "}",
        "gw_nested_40": '{"time": ' + _nested(SOME) + "}",
        "gw_deep": '{"time": ' + _nested(30_000) + "}",  # (under the file's 64 KiB limit)
    }
    for name, text in gateway.items():
        _project(root, name, files={"gateway_config.json": text})
    # command templates
    for id, command in TEMPLATES.items():
        _project(root, id.replace("-", "_"), _mlproject(command))
    _project(root, "tpl_other", _mlproject(other="python echo.py {n.real}"))
    _project(root, "tpl_single_open", _mlproject("python echo.py {word"))
    _project(root, "tpl_single_close", _mlproject("python echo.py word}"))
    # notebooks (no MLproject: the notebook is the proposed entry point)
    deep = '{"cells": ' + _nested(DEEP) + ', "nbformat": 4, "nbformat_minor": 5, "metadata": {}}'
    _notebook_only(root, "nb_not_json", {"analysis.ipynb": "{ this is not json"})
    _notebook_only(root, "nb_no_version", {"analysis.ipynb": '{"cells": []}'})
    _notebook_only(root, "nb_bad_cells",
                   {"analysis.ipynb": '{"cells": [1, 2], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'})
    _notebook_only(root, "nb_deep", {"analysis.ipynb": deep})
    _notebook_only(root, "nb_big_int", {"analysis.ipynb": '{"cells": [], "nbformat": ' + BIG + "}"})
    _notebook_only(root, "nb_empty", {"analysis.ipynb": b""})
    _notebook_only(root, "nb_choice", {"good.ipynb": GOOD_NOTEBOOK, "broken.ipynb": "{"})
    _project(root, "nb_mlproject", _mlproject("python -m jupyter_mltf.nbexec broken.ipynb -p word={word}"),
             {"broken.ipynb": '{"cells": "nope"'})
    _project(root, "nb_mlproject_gone", _mlproject("python -m jupyter_mltf.nbexec gone.ipynb"))
    # environments declared by the MLproject
    (outside / "env.yaml").write_text("python: '3.11'\ndependencies: [mlflow]\n")
    (root / "shared_env.yaml").write_text("python: '3.11'\ndependencies: [mlflow]\n")
    _project(root, "env_dotdot", _mlproject(extra="python_env: ../shared_env.yaml\n"))
    _project(root, "env_absolute", _mlproject(extra=f"python_env: {outside / 'env.yaml'}\n"))
    sym = _project(root, "env_symlink", _mlproject(extra="python_env: python_env.yaml\n"))
    (sym / "python_env.yaml").symlink_to(outside / "env.yaml")
    _project(root, "conda_dotdot", _mlproject(extra="conda_env: sub/../../shared_env.yaml\n"))
    _project(root, "env_missing", _mlproject(extra="python_env: nope.yaml\n"))
    _project(root, "env_list", _mlproject(extra="python_env: [a, b]\n"))
    _project(root, "env_unsupported", _mlproject(extra="python_env: env.toml\n"), {"env.toml": "x = 1\n"})
    env = "python_env: python_env.yaml\n"
    _project(root, "env_bad_req", _mlproject(extra=env),
             {"python_env.yaml": "python: '3.11'\ndependencies: [mlflow, 'numpy>=']\n"})
    _project(root, "env_pip_option", _mlproject(extra="python_env: requirements.txt\n"),
             {"requirements.txt": "mlflow\n--index-url https://example.org/simple\n"})
    _project(root, "env_dict_dep", _mlproject(extra=env), {"python_env.yaml": "dependencies: [{pip: [x]}]\n"})
    _project(root, "env_deps_str", _mlproject(extra=env), {"python_env.yaml": "dependencies: numpy\n"})
    _project(root, "env_big_int", _mlproject(extra=env), {"python_env.yaml": f"python: {BIG}\n"})
    _project(root, "env_deep", _mlproject(extra=env), {"python_env.yaml": "dependencies: " + _nested(DEEP)})
    _project(root, "env_latin1", _mlproject(extra=env),
             {"python_env.yaml": "# caf\u00e9\ndependencies: [mlflow]\n".encode("latin-1")})
    _project(root, "conda_bad_pip", _mlproject(extra="conda_env: conda.yaml\n"),
             {"conda.yaml": "channels: [defaults]\ndependencies: [python, {pip: ['mlflow', 'bad requirement!!']}]\n"})
    _project(root, "env_detected_bad", files={"requirements.txt": "mlflow\nthis is not a requirement\n"})
    # the MLproject's own YAML
    big_default = _mlproject().replace("n: {type: int, default: 1}", f"n: {{type: int, default: {BIG}}}")
    _project(root, "ml_big_default", big_default)
    _project(root, "ml_deep", _mlproject() + "# deep\nlauncher: " + _nested(DEEP) + "\n")
    _project(root, "ml_nan_default", _mlproject().replace("default: 0.1", "default: .nan"))
