#!/usr/bin/env bash
# Build the JupyterLab extension (labextension/ -> jupyter_mltf/labextension/) when its sources changed,
# and make it visible to the venv's JupyterLab for the editable install at $MLTF_HOME/src. Idempotent.
#   scripts/build-labextension.sh            # build if needed, link into $MLTF_HOME/venv
#   FORCE=1 scripts/build-labextension.sh    # rebuild even if nothing changed
# Called by scripts/test.sh (as root) after it synced the tree to $MLTF_HOME/src.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
MLTF_HOME=${MLTF_HOME:-/opt/mltf}
VENV=${VENV:-$MLTF_HOME/venv}
SRC=${SRC:-$MLTF_HOME/src}
EXT=$REPO/labextension
OUT=$REPO/jupyter_mltf/labextension
export PATH="$VENV/bin:$PATH"
T0=$SECONDS; ph() { echo "[labextension +$((SECONDS-T0))s] $*"; }
command -v jlpm >/dev/null || { echo "jlpm not found: install jupyterlab into $VENV first (scripts/setup.sh)" >&2; exit 1; }

# what the build depends on; node_modules is reinstalled when the lock file changes
inputs() {
  cd "$EXT" && find src style schema -type f -print0 | sort -z | xargs -0 sha256sum
  sha256sum package.json yarn.lock tsconfig.json
}
hash=$(inputs | sha256sum | cut -c1-16)
lockhash=$(sha256sum "$EXT/yarn.lock" "$EXT/package.json" | sha256sum | cut -c1-16)

if [ ! -e "$EXT/node_modules/.mltf-lock-$lockhash" ]; then
  ph "jlpm install --immutable"
  (cd "$EXT" && jlpm install --immutable)
  rm -f "$EXT"/node_modules/.mltf-lock-*; touch "$EXT/node_modules/.mltf-lock-$lockhash"
fi
if [ -n "${FORCE:-}" ] || [ ! -f "$OUT/static/style.js" ] || [ "$(cat "$EXT/.build-stamp" 2>/dev/null)" != "$hash" ]; then
  ph "jlpm build:prod"
  (cd "$EXT" && jlpm build:prod)
  echo "$hash" > "$EXT/.build-stamp"
else
  ph "up to date ($hash)"
fi

# the editable install at $SRC serves the labextension from the venv's share/jupyter/labextensions: copy the
# build there (a copy, not a symlink: a later `pip install -e` uninstalls the files it recorded through it)
copy_to() {
  [ -L "$1" ] && rm -f "$1"
  mkdir -p "$1"
  rsync -a --delete "$OUT/" "$1/"
  chmod -R a+rX "$1"
}
if [ -d "$SRC/jupyter_mltf" ] && [ "$(cd "$SRC" && pwd -P)" != "$(cd "$REPO" && pwd -P)" ]; then
  copy_to "$SRC/jupyter_mltf/labextension"
fi
if [ -d "$VENV" ]; then
  copy_to "$VENV/share/jupyter/labextensions/jupyter-mltf"
  cp "$REPO/install.json" "$VENV/share/jupyter/labextensions/jupyter-mltf/install.json"
  chmod a+r "$VENV/share/jupyter/labextensions/jupyter-mltf/install.json"
  ph "installed into $VENV/share/jupyter/labextensions/jupyter-mltf"
fi
ph "done"
