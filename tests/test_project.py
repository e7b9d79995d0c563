import json
import textwrap

import pytest

from jupyter_mltf.errors import ProjectError
from jupyter_mltf.project import load_project, render_command, validate_params


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
