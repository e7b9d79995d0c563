#!/usr/bin/env bash
# Keep JupyterHub running, as systemd's Restart=always would: start $HUB_CMD, and start it again when it
# exits, until the file $HUB_STOP exists. Started by up.sh (setsid: this script leads the process group).
# Sessions survive a restart: the config sets cleanup_servers = False and the spawner reconnects.
set -u
# A background command of a non-interactive shell starts with SIGINT ignored, and so would the hub's
# services (the idle culler then ignores JupyterHub's SIGINT and every hub stop waits 30 s): reset it.
DFL_INT='import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])'
restarts=0
while [ ! -e "$HUB_STOP" ]; do
  # shellcheck disable=SC2086  # HUB_CMD is a command line
  python3 -c "$DFL_INT" $HUB_CMD &
  echo $! > "$HUB_CHILD_PID"
  wait $!
  rc=$?
  [ -e "$HUB_STOP" ] && break
  restarts=$((restarts + 1))
  echo "[supervise] jupyterhub exited with $rc; starting it again (restart $restarts)"
  if [ $restarts -gt 100 ]; then echo "[supervise] too many restarts, giving up"; exit 1; fi
  sleep 1
done
rm -f "$HUB_CHILD_PID"
