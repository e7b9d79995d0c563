#!/usr/bin/env bash
# The README's test command: install what is missing, bring the one-host stack up, run every test suite
# as the non-root cluster user (jobs run as that user, as on a real cluster). Run as root.
#   scripts/test.sh                 # everything
#   scripts/test.sh tests/core      # a subset (pytest arguments), skips the browser run unless named
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
MLTF_HOME=${MLTF_HOME:-/opt/mltf}
MLTF_USER=${MLTF_USER:-alice}
VENV=$MLTF_HOME/venv
SRC=$MLTF_HOME/src
T0=$SECONDS; ph() { echo "=== [test +$((SECONDS-T0))s] $*"; }

bash "$REPO/scripts/setup.sh"
bash "$REPO/scripts/stack/up.sh"
MLTF_USER="$MLTF_USER" bash "$REPO/scripts/gateway/setup-venv.sh"

ph "install the tree into the stack venv"
bash "$REPO/scripts/install-src.sh"
bash "$REPO/scripts/hub/up.sh"

as_user() {
  runuser -u "$MLTF_USER" -- env -i HOME="/home/$MLTF_USER" USER="$MLTF_USER" LOGNAME="$MLTF_USER" \
    PATH="$VENV/bin:/usr/local/bin:/usr/bin:/bin" LANG=C.UTF-8 MLTF_HOME="$MLTF_HOME" \
    MLFLOW_TRACKING_URI="http://127.0.0.1:${MLFLOW_PORT:-5000}" CI="${CI:-}" MLTF_FULL="${MLTF_FULL:-}" \
    PYTHONDONTWRITEBYTECODE=1 HYPOTHESIS_STORAGE_DIRECTORY="/tmp/hypothesis-$MLTF_USER" bash -c 'cd "$0" && exec "$@"' "$SRC" "$@"
}
rc=0
if [ $# -gt 0 ]; then
  ph "pytest $*"
  plugin=(-p pytest_jupyter.jupyter_server)
  case "$*" in *tests/browser*) plugin=() ;; esac   # pytest-jupyter's loop clashes with Playwright's
  as_user python -m pytest -p no:cacheprovider "${plugin[@]}" "$@" || rc=$?
else
  ph "static checks: ruff, mypy --strict, TypeScript (tsc, eslint, prettier)"
  as_user ruff check --no-cache jupyter_mltf tests bench hub_config notebooks || rc=$?
  as_user mypy --cache-dir "/tmp/mypy-cache-$MLTF_USER" || rc=$?
  bash "$REPO/scripts/lint-ts.sh" || rc=$?
  ph "the wheel: built from scratch, installed in a clean venv, both extension lists say OK"
  CLEAN=1 bash "$REPO/scripts/check-wheel.sh" || rc=$?
  ph "pytest (core, backends, server extension, widgets, magics, hub, stack)"
  as_user python -m pytest -p no:cacheprovider -p pytest_jupyter.jupyter_server --ignore=tests/browser tests || rc=$?
  if [ -d "$SRC/tests/browser" ]; then
    ph "pytest browser (headless Debian chromium)"
    as_user python -m pytest -p no:cacheprovider tests/browser || rc=$?
  fi
fi
ph "done (rc=$rc)"
exit $rc
