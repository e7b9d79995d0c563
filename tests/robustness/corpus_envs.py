"""Corpus rows for declared environments (issue 13): env files a submit must refuse, before anything is made.

Two ways a project declares an env: its MLproject names the file (``python_env:`` / ``conda_env:``, checked
when the project is loaded), or the file is simply there (policy ``auto`` reads python_env.yaml, conda.yaml,
requirements.txt, pyproject.toml's [project] dependencies). Each refusal has a row for both where both exist.
Rows that need the env decision or the build at submit (a Python that is not here, a requirement the index
cannot satisfy) are marked ``# wired: pipeline`` in their comment.
"""

from __future__ import annotations

from pathlib import Path

from .case import ALL, Case
from .helpers import MLPROJECT, write_tiny


def _named(key: str, file: str) -> str:
    """The MLproject of helpers.write_tiny with an env key naming ``file``."""
    return f"name: corpus\n{key}: {file}\n" + MLPROJECT.split("\n", 1)[1]


PYTHON_WORDS = ["not a python version", '"3.10"']
CONDA_WORDS = ["conda.yaml", "'cudatoolkit=11.8' is a conda package", "pip:"]
OUTSIDE = ["outside the project", "name a package"]
INDEX = ["--index-url", "refused", "remove the line"]

#: (project, env file, its text, MLproject key naming it or None for a detected file)
PROJECTS: dict[str, tuple[str, str, str | None]] = {
    "env13_py_banana": ("python_env.yaml", "python: banana\ndependencies: [six]\n", "python_env"),
    "env13_py_banana_auto": ("python_env.yaml", "python: banana\ndependencies: [six]\n", None),
    "env13_py_399": ("python_env.yaml", "python: '3.99'\ndependencies: [six]\n", "python_env"),
    "env13_py_399_auto": ("python_env.yaml", "python: '3.99'\n", None),
    "env13_py_2": ("python_env.yaml", "python: '2.7'\n", "python_env"),
    "env13_conda_only": ("conda.yaml", "dependencies: [python=3.10, cudatoolkit=11.8, {pip: [six]}]\n", "conda_env"),
    "env13_conda_only_auto": ("conda.yaml", "dependencies: [python=3.10, cudatoolkit=11.8, {pip: [six]}]\n", None),
    "env13_editable_dotdot": ("requirements.txt", "six\n-e ../..\n", "python_env"),
    "env13_editable_dotdot_yaml": ("python_env.yaml", "dependencies: ['-e ../..']\n", "python_env"),
    "env13_editable_dotdot_auto": ("requirements.txt", "-e ../..\n", None),
    "env13_index_url": ("requirements.txt", "--index-url https://evil.example/simple\nsix\n", "python_env"),
    "env13_index_url_auto": ("requirements.txt", "--index-url https://evil.example/simple\nsix\n", None),
    "env13_extra_index_yaml": ("python_env.yaml", "dependencies: ['--extra-index-url=https://x.example/s']\n", None),
    "env13_find_links": ("requirements.txt", "-f /tmp/wheels\nsix\n", None),
    "env13_path_outside": ("requirements.txt", "../../outside/pkg\n", "python_env"),
    "env13_file_url_outside": ("requirements.txt", "pkg @ file:///etc/pkg\n", None),
    "env13_yaml_list": ("python_env.yaml", "- six\n- numpy\n", "python_env"),
    "env13_yaml_list_auto": ("python_env.yaml", "- six\n- numpy\n", None),
    "env13_conda_list": ("conda.yaml", "- python=3.10\n", "conda_env"),
    "env13_pyproject_banana": (
        "pyproject.toml",
        '[project]\nname = "x"\nrequires-python = "banana"\ndependencies = ["six"]\n',
        None,
    ),
    "env13_pyproject_dotdot": ("pyproject.toml", '[project]\nname = "x"\ndependencies = ["-e ../.."]\n', None),
    "env13_unsatisfiable": ("python_env.yaml", "python: '3.10'\ndependencies: [six==99.0]\n", None),
    "env13_no_such_package": ("requirements.txt", "mltf-no-such-package-zzz==1.0\n", None),
    "env13_conflict": ("requirements.txt", "six==1.16.0\nsix==1.15.0\n", None),
}


def _row(id: str, project: str, words: list[str]) -> Case:
    return Case(id, {}, 422, words, ALL, project=project)


CASES: list[Case] = [
    # -- python: not a version; a version this cluster does not have (wired: pipeline, find_python)
    _row("env13-python-banana", "env13_py_banana", ["python_env.yaml", "'banana'", *PYTHON_WORDS]),
    _row("env13-python-banana-auto", "env13_py_banana_auto", ["python_env.yaml", "'banana'", *PYTHON_WORDS]),
    _row("env13-python-3.99", "env13_py_399", ["3.99", "not available"]),
    _row("env13-python-3.99-auto", "env13_py_399_auto", ["3.99", "not available"]),
    _row("env13-python-2", "env13_py_2", ["python_env.yaml", "only python 3"]),
    # -- conda-only packages: named, with what to write instead
    _row("env13-conda-only", "env13_conda_only", CONDA_WORDS),
    _row("env13-conda-only-auto", "env13_conda_only_auto", CONDA_WORDS),
    # -- paths outside the project (editable or not, in any file kind)
    _row("env13-editable-dotdot", "env13_editable_dotdot", ["requirements.txt", "-e ../..", *OUTSIDE]),
    _row("env13-editable-dotdot-yaml", "env13_editable_dotdot_yaml", ["python_env.yaml", "-e ../..", *OUTSIDE]),
    _row("env13-editable-dotdot-auto", "env13_editable_dotdot_auto", ["requirements.txt", "-e ../..", *OUTSIDE]),
    _row("env13-path-outside", "env13_path_outside", ["requirements.txt", "../../outside/pkg", *OUTSIDE]),
    _row("env13-file-url-outside", "env13_file_url_outside", ["requirements.txt", "file:///etc/pkg", *OUTSIDE]),
    _row("env13-pyproject-dotdot", "env13_pyproject_dotdot", ["pyproject.toml", "-e ../..", *OUTSIDE]),
    # -- index options: the site's index only
    _row("env13-index-url", "env13_index_url", ["requirements.txt", *INDEX]),
    _row("env13-index-url-auto", "env13_index_url_auto", ["requirements.txt", *INDEX]),
    _row("env13-extra-index-yaml", "env13_extra_index_yaml", ["python_env.yaml", "--extra-index-url", "refused"]),
    _row("env13-find-links", "env13_find_links", ["requirements.txt", "--find-links", "refused"]),
    # -- not a mapping
    _row("env13-yaml-list", "env13_yaml_list", ["python_env.yaml", "must be a mapping", "not a list"]),
    _row("env13-yaml-list-auto", "env13_yaml_list_auto", ["python_env.yaml", "must be a mapping", "not a list"]),
    _row("env13-conda-list", "env13_conda_list", ["conda.yaml", "must be a mapping"]),
    _row("env13-pyproject-banana", "env13_pyproject_banana", ["pyproject.toml", "requires-python", *PYTHON_WORDS]),
    # -- what the index cannot satisfy: the resolver's own words, at submit (wired: pipeline, build at submit)
    _row("env13-unsatisfiable", "env13_unsatisfiable", ["could not be built", "six==99.0", "unsatisfiable"]),
    _row("env13-no-such-package", "env13_no_such_package", ["mltf-no-such-package-zzz", "not found"]),
    _row("env13-version-conflict", "env13_conflict", ["could not be built", "six==1.16.0", "six==1.15.0"]),
]

#: refused by the build at submit: the check endpoint (the dialog, while the user types) does not build
BUILT_AT_SUBMIT = {"env13-unsatisfiable", "env13-no-such-package", "env13-version-conflict"}


def build_projects(root: Path, outside: Path) -> None:
    """The projects these rows name, under ``root`` (``outside`` is not needed: paths name it relatively)."""
    del outside
    for name, (file, text, key) in PROJECTS.items():
        where = write_tiny(root / name)
        (where / file).write_text(text)
        if key is not None:
            (where / "MLproject").write_text(_named(key, file))
