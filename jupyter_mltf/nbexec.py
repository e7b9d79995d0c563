"""``python -m jupyter_mltf.nbexec NB.ipynb`` stays: MLproject files of users run it. Code: node/nbexec.py."""

from .node.nbexec import main

if __name__ == "__main__":
    raise SystemExit(main())
