import os
import tarfile

import pytest

from jupyter_mltf.errors import ProjectError, TooLarge
from jupyter_mltf.packaging import build_archive, check_size, extract_archive, select_files


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
    from jupyter_mltf import packaging

    sel = select_files(tree)
    fast, _ = build_archive(sel, tmp_path / "gnu", {"MLproject": b"name: x\n"})
    monkeypatch.setattr(packaging, "_GNU_TAR", False)
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
