#!/usr/bin/env bash
# Install everything jupyter-mltf's stack, tests and demo need on Debian 12, as root. Idempotent.
#   apt: Slurm (slurmctld/slurmd/slurmdbd) + munge + MariaDB, sudo, Debian's chromium, python3-venv
#   users: the non-root cluster users that jobs run as (MLTF_USER, MLTF_USER2)
#   venv: $MLTF_HOME/venv from Debian's /usr/bin/python3 (world-readable: jobs of other users run it), with uv
#   pythons: two Python minors besides the venv's, copied from the image's pyenv builds under root's home (mode
#            700) to $MLTF_HOME/pythons/<version> (world-readable), for projects that declare their Python
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
MLTF_HOME=${MLTF_HOME:-/opt/mltf}
MLTF_USER=${MLTF_USER:-alice}
MLTF_USER2=${MLTF_USER2:-bob}
VENV=$MLTF_HOME/venv
export DEBIAN_FRONTEND=noninteractive
T0=$SECONDS; ph() { echo "[setup +$((SECONDS-T0))s] $*"; }
retry() { local i; for i in 1 2 3 4 5 6; do "$@" && return 0; echo "retry $i: $*" >&2; sleep 10; done; return 1; }

[ "$(id -u)" = 0 ] || { echo "setup.sh must run as root (it installs Debian packages and creates users)" >&2; exit 1; }

PKGS="munge slurmctld slurmd slurm-client slurmdbd mariadb-server sudo python3-venv python3-dev chromium rsync curl procps patchelf"
missing=""
for p in $PKGS; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"; done
if [ -n "$missing" ]; then
  ph "apt-get install$missing"
  APT="apt-get -o DPkg::Lock::Timeout=600 -q"
  retry $APT update
  retry $APT install -y --no-install-recommends $missing >/dev/null
fi

ph "users"
for u in "$MLTF_USER" "$MLTF_USER2"; do
  id "$u" >/dev/null 2>&1 || useradd -m -s /bin/bash "$u"
done
# the tests (run as $MLTF_USER) may stop/start daemons through ctl.sh, and get what they need from the demo
# hub's admin token (a one-user token, a hub restart) through grant.sh, never the token itself
printf '%s\n' "$MLTF_USER ALL=(root) NOPASSWD: $MLTF_HOME/src/scripts/stack/ctl.sh" \
  "$MLTF_USER ALL=(root) NOPASSWD: $MLTF_HOME/src/scripts/hub/grant.sh" > /etc/sudoers.d/mltf-tests
chmod 440 /etc/sudoers.d/mltf-tests
H=$(hostname -s)
getent hosts "$H" >/dev/null || echo "127.0.0.1 $H" >> /etc/hosts

ph "venv $VENV"
mkdir -p "$MLTF_HOME"; chmod 755 "$MLTF_HOME"
if [ ! -x "$VENV/bin/python" ]; then
  /usr/bin/python3 -m venv "$VENV"   # not pyenv's python: it lives under /root (mode 700)
  "$VENV/bin/pip" install -q --upgrade pip
fi
stamp="$VENV/.mltf-deps-$(sha256sum "$REPO/pyproject.toml" "$REPO/scripts/requirements-dev.txt" | sha256sum | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  ph "pip install (dev + test dependencies)"
  retry "$VENV/bin/pip" install -q -r "$REPO/scripts/requirements-dev.txt"
  rm -f "$VENV"/.mltf-deps-*; touch "$stamp"
fi
# uv builds the projects' environments (a dependency in pyproject.toml; install-src.sh installs with --no-deps)
if ! "$VENV/bin/python" -m uv --version >/dev/null 2>&1; then
  ph "pip install uv"
  retry "$VENV/bin/pip" install -q uv
fi
chmod -R a+rX "$VENV"

# Pythons for projects that declare one (python_env.yaml `python:`), found by the python_search_paths trait.
# pyenv's builds carry an absolute RUNPATH into /root (unreadable to the cluster users): point it at the copy.
PYENV_VERSIONS=${PYENV_VERSIONS:-/root/.pyenv/versions}
for version in ${MLTF_PYTHONS:-3.10.13 3.12.1}; do
  src=$PYENV_VERSIONS/$version dst=$MLTF_HOME/pythons/$version
  if [ -x "$dst/bin/python3" ]; then continue; fi
  if [ ! -x "$src/bin/python3" ]; then ph "python $version: $src is absent, skipped"; continue; fi
  ph "python $version -> $dst"
  mkdir -p "$MLTF_HOME/pythons"; chmod 755 "$MLTF_HOME/pythons"
  rm -rf "$dst.part"; cp -a "$src" "$dst.part"
  find "$dst.part" -type f \( -name 'python3*' -o -name '*.so*' \) -print0 | while IFS= read -r -d '' f; do
    rpath=$(patchelf --print-rpath "$f" 2>/dev/null) || continue
    case $rpath in *"$src"*) patchelf --set-rpath "${rpath//$src/$dst}" "$f" ;; esac
  done
  chmod -R a+rX,go-w "$dst.part"; mv "$dst.part" "$dst"
  runuser -u "$MLTF_USER" -- "$dst/bin/python3" -c 'import ssl, sqlite3, ctypes' || { echo "python $version does not run as $MLTF_USER" >&2; exit 1; }
done

if ! command -v configurable-http-proxy >/dev/null; then
  ph "configurable-http-proxy (npm)"
  retry npm install -g --silent configurable-http-proxy >/dev/null 2>&1
fi
ph "done"
