"""Packaging many small files: ``select_files`` + ``build_archive`` vs ``tar -cf``; preview vs ``find | wc``.

    python bench/bench_packaging.py [--files 10000] [--size 1024] [-n 5] [--out results.md]

The tree holds only files that ship (plus a .gitignore whose patterns match nothing), so both sides pack the
same files. Needs no cluster.
"""

from __future__ import annotations

import os
import random
import subprocess
import time

import _common as c  # the bench directory is on sys.path when a bench runs as a script

from jupyter_mltf import archives, packaging


def make_tree(root: str, files: int, size: int, per_dir: int) -> None:
    rng = random.Random(42)
    with open(os.path.join(root, ".gitignore"), "w", encoding="utf-8") as fh:
        fh.write("*.log\n/outputs/\ncheckpoints/\n!keep.log\n")
    for i in range(files - 1):
        d = os.path.join(root, f"pkg{i // per_dir:03d}", f"sub{(i // 10) % 10}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"mod_{i:05d}.py"), "wb") as fh:
            fh.write(rng.randbytes(size))


def main() -> None:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=10_000, help="files in the tree (including .gitignore)")
    p.add_argument("--size", type=int, default=1024, help="bytes per file")
    p.add_argument("--per-dir", type=int, default=100, help="files per top-level directory")
    args = p.parse_args()
    n = args.repeat or (10 if args.full else 5)
    rep = c.Report("packaging", args)

    work = c.tempdir("mltf-bench-pack-")
    root = os.path.join(work, "project")
    os.makedirs(root)
    t0 = time.perf_counter()
    make_tree(root, args.files, args.size, args.per_dir)
    print(f"tree: {args.files} files of {args.size} B in {time.perf_counter() - t0:.1f} s ({root})", flush=True)
    archives_dir = os.path.join(work, "archives")
    raw_tar = os.path.join(work, "raw.tar")

    sel = packaging.select_files(root)
    if len(sel.files) != args.files:
        raise SystemExit(f"selection has {len(sel.files)} files, expected {args.files}: the comparison is unfair")
    phases: dict[str, list[float]] = {"select": [], "archive": []}

    def ours_pack(_i: int) -> float:
        t0 = time.perf_counter()
        s = packaging.select_files(root)
        t1 = time.perf_counter()
        path, _digest = archives.build_archive(s, archives_dir)
        t2 = time.perf_counter()
        phases["select"].append(t1 - t0)
        phases["archive"].append(t2 - t1)
        os.unlink(path)  # every build is a first build
        return t2 - t0

    def raw_pack(_i: int) -> float:
        dt, _ = c.timed(["tar", "-cf", raw_tar, "-C", root, "."])
        os.unlink(raw_tar)
        return dt

    def ours_preview(_i: int) -> float:
        t0 = time.perf_counter()
        s = packaging.select_files(root)
        _ = (len(s.files), s.total_bytes, s.largest())
        return time.perf_counter() - t0

    def raw_preview(_i: int) -> float:
        t0 = time.perf_counter()
        find = subprocess.Popen(["find", root, "-type", "f"], stdout=subprocess.PIPE)
        wc = subprocess.run(["wc", "-l"], stdin=find.stdout, capture_output=True, text=True, timeout=60)
        assert find.stdout is not None
        find.stdout.close()
        find.wait(timeout=60)
        dt = time.perf_counter() - t0
        if int(wc.stdout.split()[0]) != args.files:
            raise SystemExit(f"find counted {wc.stdout.strip()} files, expected {args.files}")
        return dt

    # warm the page cache and the imports once, untimed
    ours_pack(0)
    raw_pack(0)
    phases = {"select": [], "archive": []}
    pack_ours, pack_raw = c.interleave(n, ours_pack, raw_pack)
    prev_ours, prev_raw = c.interleave(n, ours_preview, raw_preview)

    rep.table(
        ["measure", "ours median ms", "raw median ms", "ratio", "ours min ms", "raw min ms", "n"],
        [
            [
                f"pack {args.files} files (select+archive vs tar -cf)",
                c.ms(c.median(pack_ours)),
                c.ms(c.median(pack_raw)),
                c.ratio(c.median(pack_ours), c.median(pack_raw)),
                c.ms(min(pack_ours)),
                c.ms(min(pack_raw)),
                n,
            ],
            [
                "  of which select_files",
                c.ms(c.median(phases["select"])),
                "",
                "",
                c.ms(min(phases["select"])),
                "",
                n,
            ],
            [
                "  of which build_archive",
                c.ms(c.median(phases["archive"])),
                "",
                "",
                c.ms(min(phases["archive"])),
                "",
                n,
            ],
            [
                "preview (select_files vs find + wc -l)",
                c.ms(c.median(prev_ours)),
                c.ms(c.median(prev_raw)),
                c.ratio(c.median(prev_ours), c.median(prev_raw)),
                c.ms(min(prev_ours)),
                c.ms(min(prev_raw)),
                n,
            ],
        ],
    )
    rep.result(f"packaging {args.files} files vs tar -cf", c.median(pack_ours), c.median(pack_raw), n)
    rep.result(f"preview {args.files} files vs find+wc", c.median(prev_ours), c.median(prev_raw), n)
    rep.finish()


if __name__ == "__main__":
    main()
