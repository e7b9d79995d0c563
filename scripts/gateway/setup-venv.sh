#!/usr/bin/env bash
# Create the isolated venv with the published mltf-gateway package (PyPI), used by the real-gateway
# tests (tests/backends/test_gateway_real.py, marker `gateway`). Idempotent; run as root by
# scripts/test.sh (or as any user with a writable target):
#   scripts/gateway/setup-venv.sh [TARGET]      # default $MLTF_HOME/gateway-venv (/opt/mltf/gateway-venv)
# The gateway's own dependencies (Flask, SQLAlchemy, mlflow-skinny, keyring...) stay out of the main venv.
set -euo pipefail
MLTF_HOME=${MLTF_HOME:-/opt/mltf}
TARGET=${1:-${MLTF_GATEWAY_VENV:-$MLTF_HOME/gateway-venv}}
VERSION=${MLTF_GATEWAY_VERSION:-0.6.3}
PY=${MLTF_GATEWAY_PYTHON:-/usr/bin/python3}   # Debian's python: world-readable, unlike a pyenv under /root
stamp="$TARGET/.mltf-gateway-$VERSION"
# The gateway runs as its own service user, who must own its install: outside.sh does `chmod +x` on the
# package's own inside.sh (under `set -e`), which fails for anyone but the owner. In the tests that user is
# the cluster user the suite runs as.
OWNER=${MLTF_GATEWAY_OWNER:-${MLTF_USER:-alice}}
own() { if [ "$(id -u)" = 0 ] && id "$OWNER" >/dev/null 2>&1; then chown -R "$OWNER" "$TARGET"; fi; }
# pyenv's scripts (no Python builds), for the end-to-end job test: the gateway's inside.sh clones pyenv from
# GitHub into /tmp/pyenv, and `mlflow run` asks pyenv for the project's Python. Neither GitHub nor
# python.org is reachable here, so the test lays this copy at /tmp/pyenv with Debian's Python as the only
# "installed" version (see tests/backends/conftest_gateway.py: pyenv_cache). Taken from the machine's own
# pyenv when there is one; without it that one test is skipped.
seed_pyenv() {
  local from=${MLTF_PYENV_FROM:-}
  [ -n "$from" ] || from=$(command -v pyenv >/dev/null && pyenv root 2>/dev/null || true)
  [ -n "$from" ] || from=/root/.pyenv
  local to="$MLTF_HOME/pyenv-seed"
  if [ -x "$from/bin/pyenv" ] && [ ! -x "$to/bin/pyenv" ] && [ -w "$(dirname "$to")" ]; then
    mkdir -p "$to"
    rsync -a --exclude .git --exclude versions --exclude shims --exclude test "$from/" "$to/"
    chmod -R a+rX "$to"
  fi
}
seed_pyenv || echo "[gateway] no pyenv seed (the end-to-end job test will be skipped)" >&2
if [ -e "$stamp" ] && "$TARGET/bin/python" -c "import mltf_gateway.server.app" 2>/dev/null; then
  own
  exit 0
fi
echo "[gateway] creating $TARGET with mltf-gateway==$VERSION"
mkdir -p "$(dirname "$TARGET")"
rm -rf "$TARGET"
"$PY" -m venv "$TARGET"
for i in 1 2 3; do
  "$TARGET/bin/pip" install -q --disable-pip-version-check "mltf-gateway==$VERSION" && break
  [ "$i" = 3 ] && { echo "[gateway] pip install mltf-gateway==$VERSION failed" >&2; exit 1; }
  sleep 10
done
# the server must import (a broken release should fail here, not in the middle of a test)
"$TARGET/bin/python" -c "import mltf_gateway.server.app, mltf_gateway.executors.local_executor"
touch "$stamp"
if [ "$(id -u)" = 0 ]; then chmod -R a+rX "$TARGET"; fi
own
echo "[gateway] ready: $TARGET"
