import json
import textwrap

import pytest

from jupyter_mltf.errors import ProjectError
from jupyter_mltf.project import (
    EntryPoint,
    Parameter,
    check_template,
    coerce_param,
    load_project,
    load_yaml,
    render_command,
    validate_params,
)


def test_existing_mlproject_honoured(make_project):
    project = load_project(make_project())
    assert not project.generated and set(project.entry_points) == {"main", "other"}
    main = project.entry_point("main")
    params = validate_params(main, {"lr": "0.5", "epochs": 3})
    assert params == {"lr": "0.5", "epochs": "3", "sleep": "0.0", "fail": "0"}
    assert render_command(main, params) == "python train.py --lr 0.5 --epochs 3 --sleep 0.0 --fail 0"


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"lr": "fast"}, "must be float"),
        ({"epochs": "2.5"}, "must be int"),
        ({"lr": 10**400}, "must be float"),
        ({"nope": 1}, "unknown parameter"),
        ({"lr": "nan"}, "float"),
        ({"epochs": True}, "int"),
        ({"lr": "1\x00"}, "NUL"),
    ],
)
def test_bad_params(make_project, params, words):
    main = load_project(make_project()).entry_point("main")
    with pytest.raises(ProjectError, match=words):
        validate_params(main, params)


def test_shell_metacharacters_are_quoted(make_project):
    other = load_project(make_project()).entry_point("other")
    cmd = render_command(other, validate_params(other, {"word": "$(touch /tmp/pwned); `id` 'x' \n#SBATCH"}))
    assert cmd.startswith("echo said '")
    import shlex

    assert shlex.split(cmd)[2] == "$(touch /tmp/pwned); `id` 'x' \n#SBATCH"


def test_unknown_entry_point(make_project):
    with pytest.raises(ProjectError, match="choose one of main, other"):
        load_project(make_project()).entry_point("nope")


def test_script_entry_point(make_project):
    ep = load_project(make_project()).entry_point("train.py")
    assert ep.command == "python train.py"


def test_generated_from_argparse(make_project):
    project = load_project(make_project(mlproject=False))
    assert project.generated
    main = project.entry_point("main")
    assert {p.name: (p.type, p.default) for p in main.parameters.values()} == {
        "lr": ("float", 0.1),
        "epochs": ("int", 2),
        "sleep": ("float", 0.0),
        "fail": ("int", 0),
    }
    assert "runs train.py" in project.notes[0]
    assert "python train.py --lr {lr}" in project.mlproject_text


def test_generated_from_notebook(tmp_path):
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {"tags": ["parameters"]},
                "source": "alpha = 0.5\nname = 'x'\n",
                "outputs": [],
                "execution_count": None,
            }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp_path / "analysis.ipynb").write_text(json.dumps(nb))
    project = load_project(tmp_path)
    main = project.entry_point("main")
    assert main.command.startswith("python -m jupyter_mltf.nbexec analysis.ipynb")
    assert {p.name: p.type for p in main.parameters.values()} == {"alpha": "float", "name": "string"}


def test_nothing_to_run(tmp_path):
    (tmp_path / "a.py").write_text("")
    (tmp_path / "b.py").write_text("")
    with pytest.raises(ProjectError, match="cannot tell what to run"):
        load_project(tmp_path)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\x00\x01binary", "binary"),
        (b"name: [unclosed", "not valid YAML"),
        (b"- a list", "mapping"),
        (b"name: x\nentry_points:\n  main: {}\n", "command"),
        (b"name: x\nbogus: 1\nentry_points: {}\n", "unknown keys"),
        (b"name: x\nentry_points:\n  main:\n    parameters: {a: {type: complex}}\n    command: x\n", "type"),
        (b"\xff\xfe", "UTF-8"),
        (b"name: x\ndocker_env: {image: y}\nentry_points: {}\n", "Docker"),
    ],
)
def test_malformed_mlproject(tmp_path, content, words):
    (tmp_path / "MLproject").write_bytes(content)
    with pytest.raises(ProjectError, match=words):
        load_project(tmp_path)


def test_python_env_detected(make_project):
    root = make_project(
        files={
            "python_env.yaml": textwrap.dedent("""\
        python: "3.11"
        dependencies: [mlflow]
        """)
        }
    )
    assert load_project(root).env_spec == "python_env.yaml"


# -- issue 12: numbers bounded, templates plain, notebooks and environments checked at submit --------------
BIG = "9" * 5000


@pytest.mark.parametrize(
    ("ptype", "value", "words"),
    [
        ("float", 10**400, ["'p'", "float", "401 digits"]),  # was OverflowError
        ("float", BIG, ["'p'", "float", "5000 characters"]),
        ("float", "0." + BIG, ["'p'", "float"]),
        ("float", float("nan"), ["'p'", "finite"]),
        ("float", "-Infinity", ["'p'", "finite"]),
        ("int", 10**400, ["'p'", "at most 40 digits"]),
        ("int", BIG, ["'p'", "at most 40 digits"]),  # was ValueError (CPython's int-digit limit)
        ("int", "1" + "0" * 40, ["'p'", "at most 40 digits"]),
        ("int", float("inf"), ["'p'", "int"]),
        ("int", "\u0661", ["'p'", "int"]),
        ("string", 10**400, ["'p'", "at most 40 digits"]),
        ("string", float("nan"), ["'p'"]),
        ("string", [[1]], ["'p'", "a list"]),
        ("bool", 10**400, ["'p'", "true or false"]),
        ("bool", 1.0, ["'p'", "true or false"]),
    ],
    ids=lambda v: str(v)[:20] if not isinstance(v, int) or v < 10**40 else "huge",
)
def test_numbers_are_bounded(ptype, value, words):
    with pytest.raises(ProjectError) as err:
        coerce_param(Parameter("p", ptype), value)
    for word in words:
        assert word in err.value.message
    assert len(err.value.message) < 300


def test_int_parameters_take_up_to_40_digits():
    assert coerce_param(Parameter("n", "int"), "9" * 40) == int("9" * 40)
    assert coerce_param(Parameter("n", "int"), -(10**39)) == -(10**39)
    assert coerce_param(Parameter("b", "bool"), 1) is True


@pytest.mark.parametrize(
    ("command", "field"),
    [
        ("echo {word.nope}", "{word.nope}"),  # AttributeError: a 500 before
        ("echo {word[0]}", "{word[0]}"),  # spliced one character of the quoted value
        ("echo {word.__class__}", "{word.__class__}"),
        ("echo {word!r}", "{word!r}"),
        ("echo {word!s}", "{word!s}"),
        ("echo {word:>10}", "{word:>10}"),
        ("echo {word:{n}}", "{word:{n}}"),
        ("echo {0}", "{0}"),
        ("echo {}", "{}"),
        ("echo {a b}", "{a b}"),
    ],
)
def test_templates_take_plain_fields_only(command, field):
    with pytest.raises(ProjectError) as err:
        check_template("main", command)
    assert "'main'" in err.value.message and field in err.value.message and "plain {name}" in err.value.message


@pytest.mark.parametrize("command", ["echo {", "echo }", "echo {word", "echo {word!}"])
def test_malformed_templates(command):
    with pytest.raises(ProjectError, match="'main'.*malformed"):
        check_template("main", command)


def test_template_errors_are_found_when_the_mlproject_is_read(tmp_path):
    (tmp_path / "MLproject").write_text("name: x\nentry_points:\n  main: {command: 'echo {word[0]}'}\n")
    with pytest.raises(ProjectError, match=r"\{word\[0\]\}"):
        load_project(tmp_path)


def test_rendering_keeps_escapes_and_dashes():
    entry = EntryPoint("main", "run {{x}} {batch-size} }}{{", {"batch-size": Parameter("batch-size", "int")})
    assert render_command(entry, validate_params(entry, {"batch-size": 4})) == "run {x} 4 }{"


def test_file_names_with_braces_are_literal(tmp_path):
    (tmp_path / "a{b}.py").write_text("print(1)\n")
    (tmp_path / "MLproject").write_text("name: x\nentry_points:\n  main: {command: 'echo hi'}\n")
    entry = load_project(tmp_path).entry_point("a{b}.py")
    assert render_command(entry, {}) == "python 'a{b}.py'"


def test_long_entry_point_names_are_not_a_500(make_project):
    with pytest.raises(ProjectError, match="not in the MLproject"):
        load_project(make_project()).entry_point("e" * 300 + ".py")


def _notebook(tmp_path, text, mlproject=None):
    (tmp_path / "nb.ipynb").write_text(text)
    if mlproject:
        (tmp_path / "MLproject").write_text(mlproject)
    return tmp_path


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{ not json", "cannot be read as a Jupyter notebook"),
        ("", "cannot be read as a Jupyter notebook"),
        ('{"cells": []}', "nbformat version"),
        ('{"cells": [1], "nbformat": 4, "nbformat_minor": 5, "metadata": {}}', "cells"),
        ('{"cells": ' + "[" * 100000 + "]" * 100000 + ', "nbformat": 4}', "nested too deeply"),
        ('{"nbformat": ' + BIG + "}", "cannot be read"),
    ],
    ids=["not-json", "empty", "no-version", "bad-cells", "deep", "big-int"],
)
def test_broken_notebooks_are_refused_at_submit(tmp_path, text, words):
    with pytest.raises(ProjectError, match=words):
        load_project(_notebook(tmp_path, text))
    mlproject = "name: x\nentry_points:\n  main: {command: 'python -m jupyter_mltf.nbexec nb.ipynb'}\n"
    with pytest.raises(ProjectError, match="entry point 'main' runs notebook 'nb.ipynb'"):
        load_project(_notebook(tmp_path, text, mlproject))


def test_notebook_parameters_with_odd_names_and_values_are_skipped(tmp_path):
    source = f"alpha = 0.5\n\u00e9t\u00e9 = 1\nbig = {'1' * 50}\nnan = float('nan')\n"
    nb = {
        "cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": source, "outputs": [],
                   "execution_count": None}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }  # fmt: skip
    (tmp_path / "analysis.ipynb").write_text(json.dumps(nb))
    main = load_project(tmp_path).entry_point("main")
    assert list(main.parameters) == ["alpha"]


ENV_MLPROJECT = "name: x\n{env}entry_points:\n  main: {{command: 'python train.py'}}\n"


@pytest.mark.parametrize(
    ("env", "files", "words"),
    [
        ("python_env: ../outside.yaml\n", {}, "outside the project"),
        ("python_env: /etc/passwd\n", {}, "outside the project"),
        ("conda_env: sub/../../x.yaml\n", {}, "outside the project"),
        ("python_env: nope.yaml\n", {}, "does not exist"),
        ("python_env: [a]\n", {}, "file name"),
        ("python_env: env.toml\n", {"env.toml": "x"}, "unsupported environment file"),
        ("python_env: python_env.yaml\n", {"python_env.yaml": "dependencies: ['numpy>=']\n"}, "numpy>="),
        ("python_env: python_env.yaml\n", {"python_env.yaml": "dependencies: [{pip: [x]}]\n"}, "string"),
        ("python_env: python_env.yaml\n", {"python_env.yaml": "dependencies: numpy\n"}, "must be a list"),
        ("python_env: python_env.yaml\n", {"python_env.yaml": f"python: {BIG}\n"}, "5000 characters"),
        ("python_env: requirements.txt\n", {"requirements.txt": "-r other.txt\n"}, "-r other.txt"),
        ("conda_env: conda.yaml\n", {"conda.yaml": "dependencies: [{pip: ['a b c']}]\n"}, "not a valid"),
    ],
)
def test_declared_environments_are_checked_at_submit(tmp_path, env, files, words):
    root = tmp_path / "p"
    root.mkdir()
    (tmp_path / "outside.yaml").write_text("dependencies: [mlflow]\n")
    (root / "MLproject").write_text(ENV_MLPROJECT.format(env=env))
    for name, text in files.items():
        (root / name).write_text(text)
    with pytest.raises(ProjectError, match=words.replace("[", "\\[")):
        load_project(root)


def test_valid_environments_pass(tmp_path):
    (tmp_path / "MLproject").write_text(ENV_MLPROJECT.format(env="python_env: python_env.yaml\n"))
    (tmp_path / "python_env.yaml").write_text(
        "python: '3.11'\nbuild_dependencies: [pip]\ndependencies:\n  - mlflow>=2\n"
        "  - numpy; python_version >= '3.9'\n  - pkg @ https://example.org/pkg-1.0-py3-none-any.whl\n"
    )
    project = load_project(tmp_path)
    assert project.env_spec == "python_env.yaml"
    project.check_env()


def test_detected_requirements_are_checked_only_when_used(tmp_path):
    (tmp_path / "train.py").write_text("print(1)\n")
    (tmp_path / "requirements.txt").write_text("mlflow  # the tracking client\nthis is not one\n")
    project = load_project(tmp_path)  # the notebook's own env (the default) never reads it
    with pytest.raises(ProjectError, match="requirement 2 'this is not one'"):
        project.check_env()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (f"a: {BIG}\n", "5000 characters"),
        ("a: " + "[" * 100000 + "]" * 100000, "nested too deeply"),
        ("a: " + "[" * 40 + "]" * 40, "nested too deeply at a"),
        ("a: &x [*x]\n", "contains itself"),
    ],
    ids=["big-int", "deep-100000", "deep-40", "cycle"],
)
def test_load_yaml_is_bounded(text, words):
    with pytest.raises(ProjectError, match=words):
        load_yaml(text, "MLproject")
