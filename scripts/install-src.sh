#!/usr/bin/env bash
# Copy the tree to $MLTF_HOME/src (readable by the cluster users; a clone under /root is not) and install it
# into the stack venv in editable mode, once per pyproject change. Run as root.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
MLTF_HOME=${MLTF_HOME:-/opt/mltf}
VENV=$MLTF_HOME/venv
SRC=$MLTF_HOME/src
mkdir -p "$SRC"
if [ "$REPO" != "$SRC" ]; then
  rsync -a --delete --exclude .git --exclude node_modules --exclude '.yarn' --exclude '__pycache__' \
    --exclude '/dist' --exclude '.mypy_cache' --exclude '.ruff_cache' \
    "$REPO/" "$SRC/"
fi
chmod -R a+rX "$SRC"
stamp="$VENV/.mltf-src-$(sha256sum "$SRC/pyproject.toml" | cut -c1-16)"
if [ ! -e "$stamp" ] || ! "$VENV/bin/python" -c "import jupyter_mltf" 2>/dev/null; then
  echo "[install] pip install -e $SRC"
  "$VENV/bin/pip" install -q --no-deps --no-build-isolation -e "$SRC"
  rm -f "$VENV"/.mltf-src-*; touch "$stamp"; chmod -R a+rX "$VENV"
fi
if [ -x "$REPO/scripts/build-labextension.sh" ]; then bash "$REPO/scripts/build-labextension.sh"; fi
