#!/usr/bin/env bash
# Build the wheel (the build hook builds the JupyterLab extension unless jupyter_mltf/labextension exists),
# install it into a clean temporary venv, and check that JupyterLab and Jupyter Server both report the
# extension OK. Needs PyPI + npm registry access; run as any user with write access to the tree.
#   scripts/check-wheel.sh              # reuse a prebuilt jupyter_mltf/labextension if there is one
#   CLEAN=1 scripts/check-wheel.sh      # remove it first: the wheel build must build it (as CI does)
#   KEEP=1 ...                          # keep the temporary directory (wheel, venv) for a look
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-${MLTF_HOME:-/opt/mltf}/venv}
PY=${PYTHON:-/usr/bin/python3}
T0=$SECONDS; ph() { echo "=== [check-wheel +$((SECONDS-T0))s] $*"; }
tmp=$(mktemp -d /tmp/mltf-wheel.XXXXXX)
cleanup() { [ -n "${KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"; }
trap cleanup EXIT
export PATH="$VENV/bin:$PATH"   # jlpm (from jupyterlab) for the build hook when it builds

if [ -n "${CLEAN:-}" ]; then
  ph "removing the prebuilt jupyter_mltf/labextension"
  rm -rf "$REPO/jupyter_mltf/labextension" "$REPO/labextension/lib" "$REPO/labextension/tsconfig.tsbuildinfo" \
    "$REPO/labextension/.build-stamp"
fi

ph "python -m build --wheel"
"$VENV/bin/python" -m build --wheel --outdir "$tmp/dist" "$REPO" > "$tmp/build.log" 2>&1 || {
  tail -40 "$tmp/build.log"; echo "check-wheel: FAIL (wheel build)"; exit 1; }
wheel=$(ls "$tmp"/dist/*.whl)
ph "built $(basename "$wheel") ($(stat -c %s "$wheel") bytes)"

contents=$("$VENV/bin/python" -m zipfile -l "$wheel")
for f in share/jupyter/labextensions/jupyter-mltf/package.json \
         share/jupyter/labextensions/jupyter-mltf/install.json \
         share/jupyter/labextensions/jupyter-mltf/static/style.js \
         share/jupyter/labextensions/jupyter-mltf/schemas/jupyter-mltf/plugin.json \
         etc/jupyter/jupyter_server_config.d/jupyter_mltf.json; do
  grep -q "$f" <<<"$contents" || { echo "check-wheel: FAIL: $f is not in the wheel"; exit 1; }
done
grep -q "share/jupyter/labextensions/jupyter-mltf/static/remoteEntry\..*\.js" <<<"$contents" || {
  echo "check-wheel: FAIL: no remoteEntry.*.js in the wheel"; exit 1; }

ph "clean venv + pip install the wheel (and jupyterlab)"
"$PY" -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q --upgrade pip > /dev/null
"$tmp/venv/bin/pip" install -q "$wheel" "jupyterlab>=4.6,<5" > "$tmp/pip.log" 2>&1 || {
  tail -30 "$tmp/pip.log"; echo "check-wheel: FAIL (pip install)"; exit 1; }

cd "$tmp"   # not the repo: the installed package must be the one found
export JUPYTER_PLATFORM_DIRS=1
nocolor() { sed 's/\x1b\[[0-9;]*m//g'; }
labext=$("$tmp/venv/bin/jupyter" labextension list 2>&1 | nocolor) || true
echo "$labext"
srvext=$("$tmp/venv/bin/jupyter" server extension list 2>&1 | nocolor) || true
echo "$srvext"
rc=0
if grep -Eq 'jupyter-mltf v[0-9][^ ]* +enabled +.*OK.*\(python, jupyter[-_]mltf\)' <<<"$labext"; then
  echo "labextension: jupyter-mltf enabled OK (prebuilt, from the python package)"
else
  echo "check-wheel: FAIL: jupyter labextension list does not show jupyter-mltf enabled OK"; rc=1
fi
if grep -Eq 'jupyter_mltf +enabled' <<<"$srvext" && grep -Eq 'jupyter_mltf +[0-9][^ ]* +OK' <<<"$srvext"; then
  echo "server extension: jupyter_mltf enabled OK"
else
  echo "check-wheel: FAIL: jupyter server extension list does not show jupyter_mltf enabled + OK"; rc=1
fi
[ $rc = 0 ] && ph "check-wheel: OK"
exit $rc
