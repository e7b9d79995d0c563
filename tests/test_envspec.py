"""declared_env: what a project's env file asks for (every kind of file), and every refusal, with its field."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_mltf.envspec import MAX_SPEC_BYTES, EnvRequest, check_python_request, check_spec, declared_env
from jupyter_mltf.errors import ProjectError


def _declared(tmp_path: Path, name: str, text: str | bytes, **kw: bool) -> EnvRequest | None:
    project = tmp_path / "p"
    project.mkdir(exist_ok=True)
    path = project / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return declared_env(project, None if name == "pyproject.toml" else name, **kw)


@pytest.mark.parametrize(
    ("name", "text", "python", "requirements"),
    [
        ("python_env.yaml", "python: '3.10'\ndependencies: [six==1.16.0]\n", "3.10", ("six==1.16.0",)),
        # an unquoted 3.10 is the number 3.1 to YAML: the text says what was meant
        ("python_env.yaml", "python: 3.10\ndependencies: [six==1.16.0]\n", "3.10", ("six==1.16.0",)),
        (
            "python_env.yaml",
            "python: '3.10.4'\nbuild_dependencies: [pip]\ndependencies: [numpy == 1.26.0, 'a; python_version>\"3\"']\n",
            "3.10.4",
            ("pip", "numpy==1.26.0", 'a; python_version > "3"'),
        ),
        ("python_env.yaml", "dependencies: [six]\n", None, ("six",)),
        ("python_env.yaml", "", None, ()),
        (
            "conda.yaml",
            "channels: [conda-forge]\ndependencies: [python=3.10, pip, {pip: [six==1.16.0]}]\n",
            "3.10",
            ("six==1.16.0",),
        ),
        ("conda.yaml", "dependencies: ['python=3.10.4=h1234_0', 'pip<=23', {pip: [six]}]\n", "3.10.4", ("six",)),
        ("conda.yaml", "dependencies: ['python==3.11.2', {pip: [six]}]\n", "3.11.2", ("six",)),
        ("conda.yaml", "dependencies: ['python 3.10.*']\n", "3.10", ()),
        ("conda.yaml", "dependencies: ['python>=3.9,<3.12']\n", ">=3.9,<3.12", ()),
        (
            "requirements.txt",
            "six==1.16.0  # pinned\n\n# comment\nnumpy \\\n  >=1.2\n",
            None,
            ("six==1.16.0", "numpy>=1.2"),
        ),
        ("requirements.txt", "\ufeffsix\n", None, ("six",)),
        (
            "requirements.txt",
            "pkg @ https://example.org/pkg-1.0-py3-none-any.whl\n",
            None,
            ("pkg @ https://example.org/pkg-1.0-py3-none-any.whl",),
        ),
        (
            "pyproject.toml",
            '[project]\nname="x"\nrequires-python=">=3.10,<3.12"\ndependencies=["six==1.16.0"]\n',
            ">=3.10,<3.12",
            ("six==1.16.0",),
        ),
        ("pyproject.toml", '[project]\nname="x"\ndependencies=[]\n', None, ()),
    ],
)
def test_declared(tmp_path, name, text, python, requirements):
    request = _declared(tmp_path, name, text)
    assert request == EnvRequest(name, python, requirements)
    assert EnvRequest.from_dict(request.to_dict()) == request


@pytest.mark.parametrize(
    "text",
    [
        '[project]\nname="x"\n',  # no dependencies: not declared
        '[project]\nname="x"\ndynamic=["dependencies"]\n',
        "[tool.black]\nline-length=100\n",
    ],
)
def test_pyproject_without_dependencies_declares_nothing(tmp_path, text):
    assert _declared(tmp_path, "pyproject.toml", text) is None


def test_nothing_declared(tmp_path):
    assert declared_env(tmp_path, None) is None


def test_index_options_where_allowed(tmp_path):
    text = "-i https://mirror.example/simple\n--extra-index-url=https://x.example/simple\nsix\n"
    request = _declared(tmp_path, "requirements.txt", text, allow_index_options=True)
    assert request is not None
    assert request.index_options == (
        "--index-url=https://mirror.example/simple",
        "--extra-index-url=https://x.example/simple",
    )
    assert request.requirements == ("six",)


OUTSIDE = ["outside the project", "name a package"]


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("python_env.yaml", "python: banana\n", ["'banana' is not a python version", '"3.10"', '"3.10.4"']),
        ("python_env.yaml", "python: '3.10.x.y'\n", ["not a python version"]),
        ("python_env.yaml", "python: '2.7'\n", ["only python 3"]),
        ("python_env.yaml", "python: [3]\n", ["python must be a version"]),
        ("python_env.yaml", "python: 3e10\n", ["not a python version"]),
        ("python_env.yaml", "python: 3.1e+1\n", ["python must be a version", "in quotes"]),
        ("python_env.yaml", "- six\n- numpy\n", ["must be a mapping", "not a list"]),
        ("python_env.yaml", "just text\n", ["must be a mapping", "not a string"]),
        ("python_env.yaml", "dependencies: six\n", ["must be a list"]),
        ("python_env.yaml", "dependencies: [{pip: [six]}]\n", ["must be a string"]),
        ("python_env.yaml", "dependencies: ['-e ../..']\n", ["'-e ../..'", *OUTSIDE]),
        ("python_env.yaml", "a: " + "[" * 200 + "]" * 200 + "\n", ["nested too deeply"]),
        ("python_env.yaml", b"python: '3.10'\ndependencies: [caf\xe9]\n", ["utf-8"]),
        ("python_env.yaml", "x" * (MAX_SPEC_BYTES + 1), ["larger than"]),
        (
            "conda.yaml",
            "dependencies: ['cudatoolkit=11.8', {pip: [six]}]\n",
            ["'cudatoolkit=11.8' is a conda package", "conda envs are not supported", "pip:"],
        ),
        ("conda.yaml", "channels: [defaults]\ndependencies: [numpy]\n", ["'numpy' is a conda package"]),
        ("conda.yaml", "dependencies: ['python=banana']\n", ["not a python version"]),
        ("conda.yaml", "dependencies: [{pip: ['a b c']}]\n", ["not a valid requirement"]),
        ("requirements.txt", "-e ../..\n", ["'-e ../..'", *OUTSIDE]),
        ("requirements.txt", "--editable=/etc\n", OUTSIDE),
        ("requirements.txt", "-e .\n", ["local path"]),
        ("requirements.txt", "-e git+https://github.com/x/y#egg=y\n", ["editable installs are not supported"]),
        ("requirements.txt", "../other/pkg\n", ["'../other/pkg'", *OUTSIDE]),
        ("requirements.txt", "/opt/wheels/x.whl\n", OUTSIDE),
        ("requirements.txt", "~/pkg\n", OUTSIDE),
        ("requirements.txt", "./pkg\n", ["local path"]),
        ("requirements.txt", "pkg @ file:///etc/pkg\n", OUTSIDE),
        ("requirements.txt", "file:../pkg\n", OUTSIDE),
        (
            "requirements.txt",
            "--index-url https://evil.example/simple\n",
            ["--index-url", "not a valid requirement", "index options", "remove the line"],
        ),
        ("requirements.txt", "-i https://evil.example/simple\n", ["index options (--index-url)"]),
        ("requirements.txt", "-ihttps://evil.example/simple\n", ["index options (--index-url)"]),
        ("requirements.txt", "--extra-index-url=https://evil.example/simple\n", ["--extra-index-url", "refused"]),
        ("requirements.txt", "--find-links /tmp/wheels\n", ["--find-links", "refused"]),
        ("requirements.txt", "-f https://x.example/wheels\n", ["index options (--find-links)"]),
        ("requirements.txt", "-r other.txt\n", ["-r other.txt", "includes"]),
        ("requirements.txt", "--constraint c.txt\n", ["includes"]),
        ("requirements.txt", "--pre\n", ["'--pre' is not supported"]),
        ("requirements.txt", "six\nthis is not one\n", ["requirement 2 'this is not one'", "not a valid requirement"]),
        ("requirements.txt", "six\n" * 1001, ["more than 1000"]),
        ("env.toml", "x", ["unsupported environment file"]),
        ("pyproject.toml", "[project\n", ["not valid toml"]),
        ("pyproject.toml", '[project]\ndependencies="six"\n', ["must be a list"]),
        ("pyproject.toml", '[project]\nrequires-python="banana"\ndependencies=["six"]\n', ["not a python version"]),
        ("pyproject.toml", '[project]\ndependencies=["-e ../.."]\n', OUTSIDE),
        ("pyproject.toml", "a = " + "[" * 5000 + "]" * 5000 + "\n", ["pyproject.toml"]),
    ],
)
def test_refused(tmp_path, name, text, words):
    with pytest.raises(ProjectError) as caught:
        _declared(tmp_path, name, text)
    assert caught.value.field == "env_manager"
    message = caught.value.message.lower()
    assert all(w.lower() in message for w in words), message
    assert "\n" not in caught.value.message


def test_index_option_needs_a_url_even_when_allowed(tmp_path):
    with pytest.raises(ProjectError, match="needs an http"):
        _declared(tmp_path, "requirements.txt", "--index-url\n", allow_index_options=True)


def test_env_file_outside_the_project(tmp_path):
    (tmp_path / "env.yaml").write_text("dependencies: [six]\n")
    (tmp_path / "p").mkdir()
    with pytest.raises(ProjectError, match="outside the project"):
        declared_env(tmp_path / "p", "../env.yaml")


def test_check_spec_reads_as_declared_env(tmp_path):
    (tmp_path / "requirements.txt").write_text("--index-url https://x.example/simple\nsix\n")
    with pytest.raises(ProjectError, match="index options"):
        check_spec(tmp_path / "requirements.txt")
    check_spec(tmp_path / "requirements.txt", allow_index_options=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", "3"),
        ("3.10", "3.10"),
        (" 3.10.4 ", "3.10.4"),
        ("3.10.*", "3.10"),
        (">=3.10,<3.12", ">=3.10,<3.12"),
        ("~=3.10", "~=3.10"),
        ("==3.11.2", "==3.11.2"),
    ],
)
def test_python_requests(value, expected):
    assert check_python_request("python", value) == expected


@pytest.mark.parametrize("value", ["banana", "", "3.", "latest", ">=banana", "3.10; rm -rf /", "9" * 300])
def test_python_requests_refused(value):
    with pytest.raises(ProjectError, match="python"):
        check_python_request("python", value)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"spec_file": 1, "python": None, "requirements": []},
        {"spec_file": "a", "python": 3, "requirements": []},
        {"spec_file": "a", "python": None, "requirements": "six"},
        {"spec_file": "a", "python": None, "requirements": [1]},
    ],
)
def test_damaged_request_dicts(data):
    with pytest.raises(ValueError):
        EnvRequest.from_dict(data)
