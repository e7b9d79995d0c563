#!/usr/bin/env bash
# The JupyterLab extension in labextension/: TypeScript type check (sources and tests), ESLint,
# prettier --check, and the jest unit tests of the pure modules (labextension/test/).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-${MLTF_HOME:-/opt/mltf}/venv}
export PATH="$VENV/bin:$PATH"
cd "$REPO/labextension"
# (re)install node_modules on a fresh machine and whenever the lock file changed (same stamp as
# scripts/build-labextension.sh, so the two never install twice for one lock)
lockhash=$(sha256sum yarn.lock package.json | sha256sum | cut -c1-16)
if [ ! -e "node_modules/.mltf-lock-$lockhash" ]; then
  jlpm install --immutable
  rm -f node_modules/.mltf-lock-*; touch "node_modules/.mltf-lock-$lockhash"
fi
echo "== tsc --noEmit"; jlpm tsc --noEmit; jlpm tsc --noEmit -p tsconfig.test.json
echo "== eslint src test"; jlpm eslint --max-warnings 0 src test
echo "== prettier --check"; jlpm prettier --check "src/**/*.ts" "test/**/*.ts" "style/**/*.css" "schema/*.json"
echo "== jest"; jlpm jest --ci
echo "lint-ts: OK"
