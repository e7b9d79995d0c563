#!/usr/bin/env bash
# TypeScript type check + ESLint (+ prettier --check) of the JupyterLab extension in labextension/.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-${MLTF_HOME:-/opt/mltf}/venv}
export PATH="$VENV/bin:$PATH"
cd "$REPO/labextension"
[ -d node_modules ] || jlpm install --immutable
echo "== tsc --noEmit"; jlpm tsc --noEmit
echo "== eslint src"; jlpm eslint --max-warnings 0 src
echo "== prettier --check"; jlpm prettier --check "src/**/*.ts" "style/**/*.css" "schema/*.json"
echo "lint-ts: OK"
