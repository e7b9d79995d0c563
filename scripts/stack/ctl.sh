#!/usr/bin/env bash
# Fault injection for the stack's own tests: stop or start one daemon of the one-host stack, by pid file.
#   ctl.sh stop|start slurmctld|slurmd|mlflow
# Tests run as the cluster user and call it through a sudoers rule that setup.sh installs for this file only.
set -euo pipefail
MLTF_HOME=${MLTF_HOME:-/opt/mltf}
LAB=$MLTF_HOME/lab
action=${1:-}; daemon=${2:-}
case "$daemon" in
  slurmctld) pidfile=/run/slurmctld.pid ;;
  slurmd) pidfile=/run/slurmd.pid ;;
  mlflow) pidfile=$LAB/mlflow/server.pid ;;
  *) echo "usage: ctl.sh stop|start slurmctld|slurmd|mlflow" >&2; exit 2 ;;
esac
stop() {
  local p; p=$(cat "$pidfile" 2>/dev/null) || return 0
  if [ "$daemon" = mlflow ]; then kill -TERM -- -"$p" 2>/dev/null || true; else kill -TERM "$p" 2>/dev/null || true; fi
  for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$p" 2>/dev/null && { if [ "$daemon" = mlflow ]; then kill -KILL -- -"$p"; else kill -KILL "$p"; fi; } 2>/dev/null
  rm -f "$pidfile"
}
case "$action" in
  stop) stop ;;
  start) MLTF_HOME=$MLTF_HOME bash "$(dirname "$0")/up.sh" >/dev/null ;;
  *) echo "usage: ctl.sh stop|start slurmctld|slurmd|mlflow" >&2; exit 2 ;;
esac
echo "$daemon: $action done"
