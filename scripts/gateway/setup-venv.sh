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
if [ -e "$stamp" ] && "$TARGET/bin/python" -c "import mltf_gateway.server.app" 2>/dev/null; then
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
echo "[gateway] ready: $TARGET"
