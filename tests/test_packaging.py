import os
import tarfile

import pytest

from jupyter_mltf.archives import build_archive
from jupyter_mltf.errors import ProjectError, TooLarge
from jupyter_mltf.node.archive import extract_archive
from jupyter_mltf.packaging import check_size, select_files


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "p"
    files = {
        "train.py": "print(1)",
        "data/small.csv": "a,b",
        "data/big.bin": "x" * 5000,
        ".env": "SECRET=1",
        "key.pem": "-----",
        "id_rsa": "k",
        ".netrc": "machine x",
        ".mltf/token": "t",
        "notes/.env.local": "S=2",
        ".git/config": "[core]",
        "__pycache__/x.pyc": "",
        "pkg/mod.pyc": "",
        ".ipynb_checkpoints/nb-checkpoint.ipynb": "{}",
        "mlruns/0/meta.yaml": "",
        "venv/pyvenv.cfg": "home = /usr",
        "venv/lib/x.py": "",
        "logs/run.log": "l",
        "logs/keep.log": "k",
        "sub/.gitignore": "*.tmp\n",
        "sub/a.tmp": "",
        "sub/b.txt": "",
        ".gitignore": "logs/\n*.bin\n",
        ".mltfignore": "!data/big.bin\nnotes/\n",
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    outside = tmp_path / "outside.txt"
    outside.write_text("secret outside")
    os.symlink(outside, root / "escape.txt")
    os.symlink("/etc", root / "etc-link")
    os.symlink("train.py", root / "alias.py")
    return root


def test_selection_rules(tree):
    sel = select_files(tree)
    shipped = {p for p, _ in sel.files}
    assert shipped == {
        "train.py",
        "data/small.csv",
        "data/big.bin",
        "sub/b.txt",
        "sub/.gitignore",
        ".gitignore",
        ".mltfignore",
    }
    reasons = dict(sel.excluded)
    assert "secret" in reasons[".env"] and "secret" in reasons["key.pem"] and "secret" in reasons["id_rsa"]
    assert "secret" in reasons[".netrc"]
    assert reasons[".git/"] == "version control" and reasons["venv/"] == "virtualenv"
    assert reasons["logs/"] == ".gitignore" and reasons["sub/a.tmp"] == ".gitignore"
    assert reasons["notes/"] == ".mltfignore"
    assert "outside" in reasons["escape.txt"] and "outside" in reasons["etc-link"]
    assert ".mltf/" in reasons and "mlruns/" in reasons and ".ipynb_checkpoints/" in reasons
    assert sel.links == [("alias.py", "train.py")]


def test_archive_is_deterministic_and_reused(tree, tmp_path):
    sel = select_files(tree)
    path1, hash1 = build_archive(sel, tmp_path / "a1")
    os.utime(tree / "train.py", (1, 1))  # mtime does not matter
    path2, hash2 = build_archive(select_files(tree), tmp_path / "a2")
    assert hash1 == hash2 and open(path1, "rb").read() == open(path2, "rb").read()
    again, hash3 = build_archive(sel, tmp_path / "a1")
    assert again == path1 and hash3 == hash1
    assert len([n for n in os.listdir(tmp_path / "a1") if n.endswith(".tar")]) == 1
    (tree / "train.py").write_text("print(2)")
    assert build_archive(select_files(tree), tmp_path / "a1")[1] != hash1
    with tarfile.open(path1) as tar:
        names = tar.getnames()
        assert names == sorted(names) and ".env" not in names
        assert all(m.mtime == tar.getmembers()[0].mtime and m.uid == 0 for m in tar.getmembers())


def test_extract_roundtrip(tree, tmp_path):
    path, _ = build_archive(select_files(tree), tmp_path / "a", {"MLproject": b"name: x\n"})
    dest = tmp_path / "out"
    dest.mkdir()
    extract_archive(path, str(dest))
    assert (dest / "train.py").read_text() == "print(1)" and (dest / "MLproject").exists()
    assert os.readlink(dest / "alias.py") == "train.py"


def test_extract_refuses_escapes(tmp_path):
    import io

    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tar:
        info = tarfile.TarInfo("../evil")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ProjectError, match="outside"):
        extract_archive(str(bad), str(tmp_path / "dest"))


def test_gnu_tar_and_python_writers_agree_on_content(tree, tmp_path, monkeypatch):
    from jupyter_mltf import archives

    sel = select_files(tree)
    fast, _ = build_archive(sel, tmp_path / "gnu", {"MLproject": b"name: x\n"})
    monkeypatch.setattr(archives, "_GNU_TAR", False)
    slow, _ = build_archive(sel, tmp_path / "py", {"MLproject": b"name: x\n"})
    out = {}
    for name, path in (("gnu", fast), ("py", slow)):
        dest = tmp_path / f"x-{name}"
        dest.mkdir()
        extract_archive(path, str(dest))
        out[name] = {p.relative_to(dest).as_posix(): (p.is_symlink(), p.read_bytes() if p.is_file() else None)
                     for p in dest.rglob("*")}
    assert out["gnu"] == out["py"]


def test_size_limit_names_offenders(tree):
    sel = select_files(tree)
    with pytest.raises(TooLarge, match="data/big.bin"):
        check_size(sel, 1000)
    check_size(sel, 10**9)


def test_non_utf8_name(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    (root / "ok.py").write_text("")
    os.close(os.open(os.path.join(os.fsencode(root), b"bad\xff.txt"), os.O_CREAT | os.O_WRONLY))
    sel = select_files(root)
    assert [p for p, _ in sel.files] == ["ok.py"]
    assert any("UTF-8" in reason for _, reason in sel.excluded)


# -- round two (issue 12): credential files of common tools, links inside the project, unreadable paths
SECRET_SHAPES = [  # one credential file per tool: (relpath written in the project, what must be excluded)
    (".aws/credentials", ".aws/"),
    ("conf/credentials", "conf/credentials"),
    (".config/gcloud/application_default_credentials.json", ".config/gcloud/"),
    ("home/.config/gcloud/credentials.db", "home/.config/gcloud/"),
    ("application_default_credentials.json", "application_default_credentials.json"),
    ("client_secret_1234.apps.googleusercontent.com.json", "client_secret_1234.apps.googleusercontent.com.json"),
    ("credentials.json", "credentials.json"),
    ("token.json", "token.json"),
    (".azure/msal_token_cache.json", ".azure/"),
    (".kube/config", ".kube/"),
    ("deploy/kubeconfig", "deploy/kubeconfig"),
    ("cluster.kubeconfig", "cluster.kubeconfig"),
    (".docker/config.json", ".docker/"),
    (".dockercfg", ".dockercfg"),
    (".npmrc", ".npmrc"),
    (".yarnrc.yml", ".yarnrc.yml"),
    (".pypirc", ".pypirc"),
    ("pip.conf", "pip.conf"),
    (".git-credentials", ".git-credentials"),
    (".ssh/config", ".ssh/"),
    ("keys/id_ed25519", "keys/id_ed25519"),
    (".gnupg/pubring.kbx", ".gnupg/"),
    (".pgpass", ".pgpass"),
    (".my.cnf", ".my.cnf"),
    (".s3cfg", ".s3cfg"),
    (".boto", ".boto"),
    (".databrickscfg", ".databrickscfg"),
    (".vault-token", ".vault-token"),
    (".terraform.d/credentials.tfrc.json", ".terraform.d/"),
    ("infra/terraform.tfstate", "infra/terraform.tfstate"),
    ("infra/terraform.tfstate.backup", "infra/terraform.tfstate.backup"),
    (".huggingface/token", ".huggingface/"),
    ("cache/huggingface/token", "cache/huggingface/token"),
    ("kaggle.json", "kaggle.json"),
    (".netrc", ".netrc"),
    ("certs/client.p12", "certs/client.p12"),
    ("certs/client.pfx", "certs/client.pfx"),
    ("java/app.jks", "java/app.jks"),
    ("android/release.keystore", "android/release.keystore"),
    ("www/.htpasswd", "www/.htpasswd"),
    (".streamlit/secrets.toml", ".streamlit/secrets.toml"),
    (".env.production", ".env.production"),
    ("prod.env", "prod.env"),
    (".envrc", ".envrc"),
    (".config/gh/hosts.yml", ".config/gh/hosts.yml"),
    ("rclone.conf", "rclone.conf"),
]


@pytest.mark.parametrize("rel,dropped", SECRET_SHAPES, ids=[rel for rel, _ in SECRET_SHAPES])
def test_credential_files_are_never_shipped(tmp_path, rel, dropped):
    root = tmp_path / "p"
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text("secret-value")
    (root / "train.py").write_text("print(1)")
    (root / ".mltfignore").write_text(f"!{rel}\n!{dropped}\n")  # a re-include does not bring a secret back
    sel = select_files(root)
    assert rel not in {p for p, _ in sel.files}
    reasons = dict(sel.excluded)
    assert "secret" in reasons.get(dropped, ""), sel.excluded
    path, _ = build_archive(sel, tmp_path / "a")
    with tarfile.open(path) as tar:
        assert all(b"secret-value" not in tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())


def test_ordinary_data_files_still_ship(tmp_path):
    names = ["data.json", "config.json", "tokenizer.json", "my-sa.json", "tokens.json", "credentials_helper.py",
             "environment.yml", "keys.py", "secrets_test.py", "docker/Dockerfile", "config/settings.yaml"]
    root = tmp_path / "p"
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("{}")
    assert sorted(p for p, _ in select_files(root).files) == sorted(names)


def test_absolute_link_inside_ships_as_relative_link(tmp_path, monkeypatch):
    from jupyter_mltf import archives

    root = tmp_path / "p"
    (root / "src").mkdir(parents=True)
    (root / "src" / "model.py").write_text("M = 1\n")
    os.symlink(root / "src" / "model.py", root / "model.py")  # absolute, inside: the example
    os.symlink(root / "src", root / "lib")  # absolute link to a directory inside
    os.symlink("../../p/src/model.py", root / "src" / "roundabout.py")  # relative, leaves and re-enters the root
    sel = select_files(root)
    assert dict(sel.links) == {"model.py": "src/model.py", "lib": "src", "src/roundabout.py": "model.py"}
    listed = {f["path"]: f.get("link") for f in sel.to_dict(10**9, 10**9)["files"]}
    assert listed["model.py"] == "src/model.py"  # the preview says what ships
    for writer in ("gnu", "python"):
        if writer == "python":
            monkeypatch.setattr(archives, "_GNU_TAR", False)
        path, _ = build_archive(sel, tmp_path / f"a-{writer}")
        dest = tmp_path / f"node-{writer}"
        dest.mkdir()
        extract_archive(path, str(dest))  # the node accepts what the selection decided
        assert (dest / "model.py").read_text() == "M = 1\n" and (dest / "lib" / "model.py").exists()
        assert (dest / "src" / "roundabout.py").read_text() == "M = 1\n"


def test_links_whose_target_does_not_ship_are_excluded_with_a_reason(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    (root / ".env").write_text("S=1")
    (root / "big.bin").write_text("x")
    (root / ".mltfignore").write_text("big.bin\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("")
    os.symlink(root / ".env", root / "settings")
    os.symlink("big.bin", root / "data")
    os.symlink(".git/config", root / "gitconf")
    os.symlink("missing", root / "dangling")
    os.symlink(tmp_path, root / "up")
    reasons = dict(select_files(root).excluded)
    assert "not shipped" in reasons["settings"] and "secret" in reasons["settings"]
    assert "not shipped" in reasons["data"] and ".mltfignore" in reasons["data"]
    assert "not shipped" in reasons["gitconf"] and "version control" in reasons["gitconf"]
    assert "broken symlink" in reasons["dangling"]
    assert "outside" in reasons["up"]


def test_unreadable_paths_are_found_named_and_refused(tmp_path):
    root = tmp_path / "p"
    (root / "locked").mkdir(parents=True)
    (root / "locked" / "x.py").write_text("")
    (root / "noexec").mkdir()
    (root / "noexec" / "y.py").write_text("")
    (root / "train.py").write_text("print(1)")
    (root / "weights.bin").write_text("w")
    (root / "ignored.bin").write_text("i")
    (root / ".gitignore").write_text("ignored.bin\n")
    os.chmod(root / "locked", 0)
    os.chmod(root / "noexec", 0o600)
    os.chmod(root / "weights.bin", 0)
    os.chmod(root / "ignored.bin", 0)  # ignored anyway: not a problem
    try:
        sel = select_files(root)
        assert [p for p, _ in sel.files] == [".gitignore", "train.py"]
        assert [p for p, _ in sel.unreadable] == ["locked/", "noexec/", "weights.bin"]
        reasons = dict(sel.excluded)
        assert "cannot be read" in reasons["weights.bin"] and reasons["ignored.bin"] == ".gitignore"
        view = sel.to_dict(10**9, 10**9)
        assert view["shippable"] is False and {u["path"] for u in view["unreadable"]} == {"locked/", "noexec/",
                                                                                          "weights.bin"}
        with pytest.raises(ProjectError, match="locked/.*noexec/.*weights.bin.*mltfignore"):
            check_size(sel, 10**9)
        with pytest.raises(ProjectError, match="cannot read 3 path"):
            build_archive(sel, tmp_path / "a")
        assert not (tmp_path / "a").exists()
        (root / ".mltfignore").write_text("locked/\nnoexec/\nweights.bin\n")  # the way out the message names
        check_size(select_files(root), 10**9)
    finally:
        for name in ("locked", "noexec"):
            os.chmod(root / name, 0o700)


def test_unreadable_ignore_file_and_root(tmp_path):
    root = tmp_path / "p"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / ".gitignore").write_text("*.tmp\n")
    (root / "sub" / "a.tmp").write_text("")
    os.chmod(root / "sub" / ".gitignore", 0)
    sel = select_files(root)
    assert sel.unreadable == [("sub/.gitignore", "permission denied; its rules are unknown")]
    os.chmod(root, 0)
    try:
        assert select_files(root).unreadable == [("./", "permission denied")]
    finally:
        os.chmod(root, 0o700)


def test_archive_names_a_file_that_became_unreadable(tmp_path, monkeypatch):
    from jupyter_mltf import archives

    root = tmp_path / "p"
    root.mkdir()
    (root / "a.py").write_text("")
    sel = select_files(root)
    os.chmod(root / "a.py", 0)
    for gnu in (True, False):
        monkeypatch.setattr(archives, "_GNU_TAR", gnu)
        with pytest.raises(ProjectError, match="a.py"):
            build_archive(sel, tmp_path / f"a-{gnu}")
