#!/usr/bin/env bash
# Stop what up.sh started, by pid file / process group only (never by name). Jobs are cancelled and
# waited for before the Slurm daemons stop, so no slurmstepd outlives them.
MLTF_HOME=${MLTF_HOME:-/opt/mltf}
LAB=$MLTF_HOME/lab
stop_group() { local p; p=$(cat "$1" 2>/dev/null) || return 0; kill -TERM -- -"$p" 2>/dev/null || { rm -f "$1"; return 0; }
  for _ in $(seq 1 150); do kill -0 -- -"$p" 2>/dev/null || break; sleep 0.1; done; kill -KILL -- -"$p" 2>/dev/null; rm -f "$1"; }
stop_pid() { local p; p=$(cat "$1" 2>/dev/null) || return 0; kill "$p" 2>/dev/null || { rm -f "$1"; return 0; }
  for _ in $(seq 1 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; kill -KILL "$p" 2>/dev/null; rm -f "$1"; }
[ -x "$MLTF_HOME/hub/down.sh" ] && "$MLTF_HOME/hub/down.sh"
stop_group "$LAB/hub/hub.pid"
stop_group "$LAB/mlflow/server.pid"
if timeout 5 squeue -h >/dev/null 2>&1; then
  timeout 5 squeue -h -o %A | xargs -r timeout 5 scancel 2>/dev/null || true
  for _ in $(seq 1 100); do [ -z "$(timeout 5 squeue -h -t PD,R,CG,CF,S -o %A 2>/dev/null)" ] && break; sleep 0.2; done
fi
for pf in /run/slurmd.pid /run/slurmctld.pid /run/slurmdbd.pid /run/mysqld/mysqld.pid /run/munge/munged.pid; do stop_pid "$pf"; done
echo "[stack] down"
