#!/usr/bin/env bash
# The whole demo on one machine, as root: install (scripts/setup.sh), the cluster + MLflow
# (scripts/stack/up.sh), jupyter-mltf into the shared venv, then JupyterHub (scripts/hub/up.sh).
# Idempotent; stop with scripts/hub/down.sh then scripts/stack/down.sh.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
MLTF_HOME=${MLTF_HOME:-/opt/mltf}
bash "$REPO/scripts/setup.sh"
bash "$REPO/scripts/stack/up.sh"
# the sessions run as the users: install the tree where they can read it (the clone may be under /root)
bash "$REPO/scripts/install-src.sh"
bash "$REPO/scripts/hub/up.sh"
echo "demo: open http://127.0.0.1:${MLTF_HUB_PORT:-8000} (alice or bob, each with their own password in" \
  "$MLTF_HOME/lab/hub/passwords/<user>, readable by that user only);" \
  "MLflow on http://127.0.0.1:${MLFLOW_PORT:-5000}"
