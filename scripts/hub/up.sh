#!/usr/bin/env bash
# Start JupyterHub (MLTFSlurmSpawner) on the one-host stack, as root, idempotently.
#   scripts/hub/up.sh        # after scripts/stack/up.sh and `pip install -e` of jupyter-mltf into the venv
# The hub runs under a small supervisor (scripts/hub/supervise.sh) that starts it again when it exits, as
# systemd's Restart=always would: a hub restart (POST /hub/api/shutdown, a crash) keeps the sessions.
# Already running with the same config and code -> nothing to do; changed -> the hub alone is restarted
# (sessions stay). Ports taken by something else -> refuse. Every wait is bounded.
# State under $MLTF_HOME/lab/hub: hub.log (world-readable), ci-token (the admin service token: root only,
# mode 600; tests get what they need from it through scripts/hub/grant.sh), passwords/<user> (each demo
# user's own password, owned by that user, mode 600, in a root-owned directory), state/ (database, cookie
# secret; root only), hub.pid (supervisor group).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
MLTF_HOME=${MLTF_HOME:-/opt/mltf}
VENV=${MLTF_VENV:-$MLTF_HOME/venv}
HUB=$MLTF_HOME/lab/hub
HUB_USERS=${MLTF_HUB_USERS:-alice,bob}
HUB_PORT=${MLTF_HUB_PORT:-8000}
API_PORT=${MLTF_HUB_API_PORT:-8081}
PROXY_API_PORT=${MLTF_HUB_PROXY_API_PORT:-8001}
MLFLOW_PORT=${MLFLOW_PORT:-5000}
T0=$SECONDS; ph() { echo "[hub +$((SECONDS-T0))s] $*"; }
alive() { local p; p=$(cat "$1" 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
answering() { curl -sf -m 3 "http://127.0.0.1:$HUB_PORT/hub/api/" >/dev/null 2>&1; }

[ "$(id -u)" = 0 ] || { echo "hub/up.sh must run as root" >&2; exit 1; }
command -v sbatch >/dev/null || { echo "Slurm is not installed: run scripts/setup.sh and scripts/stack/up.sh" >&2; exit 1; }
command -v configurable-http-proxy >/dev/null || { echo "configurable-http-proxy is missing: run scripts/setup.sh" >&2; exit 1; }
PKG=$("$VENV/bin/python" -c 'import os, jupyter_mltf.hub as m; print(os.path.dirname(m.__file__))' 2>/dev/null) \
  || { echo "jupyter_mltf is not installed in $VENV: run scripts/install-src.sh first" >&2; exit 1; }

mkdir -p "$HUB/state" "$HUB/config"
# one up.sh/down.sh at a time (test runs may start in parallel)
exec 9>"$HUB/.lock"; flock -w 180 9 || { echo "another hub up/down still runs" >&2; exit 1; }
chmod 755 "$HUB"; chmod 700 "$HUB/state"
secret() { (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$1"); }
# the admin service token: root only (whoever reads it acts on every user's server)
if [ ! -s "$HUB/ci-token" ] || [ -L "$HUB/ci-token" ]; then rm -f "$HUB/ci-token"; secret "$HUB/ci-token"; fi
chown root:root "$HUB/ci-token"; chmod 600 "$HUB/ci-token"
# one password per demo user, readable by that user only; the shared password of older versions is removed
rm -f "$HUB/password"
mkdir -p "$HUB/passwords"; chown root:root "$HUB/passwords"; chmod 755 "$HUB/passwords"
for u in ${HUB_USERS//,/ }; do
  id "$u" >/dev/null 2>&1 || { echo "demo hub user $u does not exist (scripts/setup.sh creates alice and bob)" >&2; exit 1; }
  f="$HUB/passwords/$u"
  if [ ! -f "$f" ] || [ -L "$f" ] || [ ! -s "$f" ]; then rm -f "$f"; secret "$f"; fi
  chown "$u:" "$f"; chmod 600 "$f"
done
# the stack's down.sh calls $MLTF_HOME/hub/down.sh before it stops Slurm: sessions are cancelled first
mkdir -p "$MLTF_HOME/hub"; install -m 755 "$HERE/down.sh" "$MLTF_HOME/hub/down.sh"
install -m 644 "$HERE/admin-api.sh" "$MLTF_HOME/hub/admin-api.sh"

code=$(cat "$REPO"/hub_config/*.py "$PKG"/*.py "$HERE/supervise.sh" | sha256sum | cut -c1-16)
if alive "$HUB/hub.pid"; then
  if [ "$(cat "$HUB/code.sha" 2>/dev/null)" = "$code" ] && answering; then
    ph "already up: http://127.0.0.1:$HUB_PORT (pid $(cat "$HUB/hub.pid"))"; exit 0
  fi
  # cleanup_servers = False: stopping the hub leaves the sessions running, the new hub reconnects
  ph "config or code changed (or the hub does not answer): restarting the hub, sessions keep running"
  p=$(cat "$HUB/hub.pid"); touch "$HUB/stop"; kill -TERM -- -"$p" 2>/dev/null || true
  for _ in $(seq 1 200); do kill -0 -- -"$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- -"$p" 2>/dev/null || true
fi
rm -f "$HUB/hub.pid" "$HUB/hub-child.pid" "$HUB/stop"
# a proxy left by a hub that was killed: stop it by its pid file (the new hub would do the same)
if alive "$HUB/state/jupyterhub-proxy.pid"; then kill -TERM "$(cat "$HUB/state/jupyterhub-proxy.pid")" 2>/dev/null || true; sleep 1; fi
for port in "$HUB_PORT" "$API_PORT" "$PROXY_API_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is taken by another process: stop it or set MLTF_HUB_*PORT" >&2; exit 1
  fi
done
"$VENV/bin/python" -c 'import jupyter_mltf.hub.spawner' \
  || { echo "jupyter_mltf.hub.spawner does not import in $VENV (pip install 'jupyter-mltf[hub]')" >&2; exit 1; }
cp "$REPO"/hub_config/*.py "$HUB/config/"
# a new admin token at every (re)start of the hub: one that leaked once does not stay valid
rm -f "$HUB/ci-token"; secret "$HUB/ci-token"; chown root:root "$HUB/ci-token"; chmod 600 "$HUB/ci-token"
# the supervisor runs from a copy: bash reads a script while running it, so never edit the running one
install -m 755 "$HERE/supervise.sh" "$HUB/supervise.sh"
echo "$code" > "$HUB/code.sha"
# keep one previous log once it gets big
if [ "$(stat -c %s "$HUB/hub.log" 2>/dev/null || echo 0)" -gt 20000000 ]; then mv -f "$HUB/hub.log" "$HUB/hub.log.1"; fi
touch "$HUB/hub.log"; chmod 644 "$HUB/hub.log"
ph "jupyterhub on http://127.0.0.1:$HUB_PORT (log $HUB/hub.log)"
cd "$HUB/state"
# started directly, so that $! is the supervisor, leader of its own process group (setsid); it keeps no
# descriptor of whoever ran this script (a `flock LOCK scripts/test.sh` would otherwise stay locked for good)
close_inherited_fds() {
  local fd
  for fd in $(ls /proc/$BASHPID/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done; return 0
}
( close_inherited_fds; exec env -i PATH="$VENV/bin:/usr/local/bin:/usr/bin:/bin" HOME=/root LANG=C.UTF-8 \
  MLTF_VENV="$VENV" MLTF_HUB_STATE="$HUB/state" MLTF_HUB_AUTH=demo MLTF_HUB_USERS="$HUB_USERS" \
  MLTF_HUB_PASSWORD_DIR="$HUB/passwords" MLTF_HUB_CI_TOKEN_FILE="$HUB/ci-token" \
  MLTF_HUB_PORT="$HUB_PORT" MLTF_HUB_API_PORT="$API_PORT" MLTF_HUB_PROXY_API_PORT="$PROXY_API_PORT" \
  MLFLOW_TRACKING_URI="http://127.0.0.1:$MLFLOW_PORT" MLTF_KEEPALIVE_INTERVAL="${MLTF_KEEPALIVE_INTERVAL:-10}" \
  MLTF_HUB_CULL_TIMEOUT="${MLTF_HUB_CULL_TIMEOUT:-3600}" \
  HUB_CMD="$VENV/bin/jupyterhub -f $HUB/config/jupyterhub_config.py" \
  HUB_CHILD_PID="$HUB/hub-child.pid" HUB_STOP="$HUB/stop" \
  setsid bash "$HUB/supervise.sh" >> "$HUB/hub.log" 2>&1 < /dev/null ) &
echo $! > "$HUB/hub.pid"
cd "$REPO"

deadline=$((SECONDS+90))
until answering; do
  if [ $SECONDS -ge $deadline ] || ! alive "$HUB/hub.pid"; then
    echo "the hub did not come up: last lines of $HUB/hub.log:" >&2; tail -n 30 "$HUB/hub.log" >&2; exit 1
  fi
  sleep 0.3
done
ph "up: http://127.0.0.1:$HUB_PORT (users $HUB_USERS, each with the password in $HUB/passwords/<user>)"
