#!/usr/bin/env bash
# Stop the hub that scripts/hub/up.sh started, as root, after its sessions: by pid file / process group only.
#   1. ask the hub to stop every running session (REST, with the admin service token), bounded wait;
#   2. stop the supervisor and the hub (process group of hub.pid; the proxy and culler are in it);
#   3. cancel any session job still in Slurm (job name jupyterhub-session) and wait until it is gone,
#      so that nothing of a session outlives the Slurm daemons when the stack goes down next.
# Idempotent: nothing running -> nothing to do.
MLTF_HOME=${MLTF_HOME:-/opt/mltf}
HUB=$MLTF_HOME/lab/hub
HUB_PORT=${MLTF_HUB_PORT:-8000}
SESSION_JOB_NAME=${MLTF_HUB_SESSION_JOB_NAME:-jupyterhub-session}
API="http://127.0.0.1:$HUB_PORT/hub/api"
[ -d "$HUB" ] || { echo "[hub] down (never started)"; exit 0; }
exec 9>"$HUB/.lock"; flock -w 180 9 || echo "[hub] another up/down still runs; going on" >&2

# shellcheck source=scripts/hub/admin-api.sh
. "$(dirname "$(readlink -f "$0")")/admin-api.sh"
admin() { admin_api "$HUB_PORT" "$@"; }
if [ -s "$HUB/ci-token" ] && curl -sf -m 3 "$API/" >/dev/null 2>&1; then
  users=$(admin -sf -m 10 "$API/users?state=active" 2>/dev/null \
    | python3 -c 'import json,sys; print(" ".join(u["name"] for u in json.load(sys.stdin)))' 2>/dev/null || true)
  for u in $users; do
    echo "[hub] stopping the session of $u"
    admin -s -m 30 -o /dev/null -X DELETE "$API/users/$u/server" || true
  done
  for _ in $(seq 1 60); do
    left=$(admin -sf -m 5 "$API/users?state=active" 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>/dev/null || echo 0)
    [ "$left" = 0 ] && break
    sleep 0.5
  done
fi

touch "$HUB/stop" 2>/dev/null || true
if p=$(cat "$HUB/hub.pid" 2>/dev/null) && [ -n "$p" ] && kill -0 -- -"$p" 2>/dev/null; then
  echo "[hub] stopping the hub (process group $p)"
  kill -TERM -- -"$p" 2>/dev/null
  for _ in $(seq 1 150); do kill -0 -- -"$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- -"$p" 2>/dev/null || true
fi
rm -f "$HUB/hub.pid" "$HUB/hub-child.pid" "$HUB/stop"

if timeout 5 squeue -h >/dev/null 2>&1; then
  ids=$(timeout 5 squeue -h -n "$SESSION_JOB_NAME" -o %A 2>/dev/null)
  if [ -n "$ids" ]; then
    echo "[hub] cancelling session jobs: $ids"
    echo "$ids" | xargs -r timeout 10 scancel 2>/dev/null || true
    for _ in $(seq 1 100); do
      [ -z "$(timeout 5 squeue -h -n "$SESSION_JOB_NAME" -t PD,R,CG,CF,S -o %A 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
fi
echo "[hub] down"
