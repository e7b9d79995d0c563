#!/usr/bin/env bash
# Bring up the one-host MLTF stack as root on Debian 12 without systemd, idempotently:
#   munge, MariaDB + slurmdbd (so sacct works), slurmctld + slurmd with 2 fake GPUs (GRES on /dev/null
#   symlinks) on a "gpu" partition plus a "cpu" partition, and an MLflow tracking server on loopback.
# Every wait is bounded; daemons already running (by pid file) are left alone.
set -euo pipefail
MLTF_HOME=${MLTF_HOME:-/opt/mltf}
LAB=$MLTF_HOME/lab
VENV=$MLTF_HOME/venv
MLFLOW_PORT=${MLFLOW_PORT:-5000}
GPU_TYPE=${MLTF_GPU_TYPE:-fake_a100}
T0=$SECONDS; ph() { echo "[stack +$((SECONDS-T0))s] $*"; }
alive() { local p; p=$(cat "$1" 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
deadline=$((SECONDS+90))
waitfor() { [ $SECONDS -lt $deadline ] || { echo "timeout waiting for $1" >&2; tail -n 20 "$2" >&2 || true; exit 1; }; sleep 0.2; }

[ "$(id -u)" = 0 ] || { echo "up.sh must run as root" >&2; exit 1; }
command -v slurmctld >/dev/null || { echo "Slurm is not installed: run scripts/setup.sh first" >&2; exit 1; }
mkdir -p "$LAB/mlflow/artifacts" /var/log/slurm; chmod 755 "$MLTF_HOME" "$LAB"

H=$(hostname -s)
getent hosts "$H" >/dev/null || echo "127.0.0.1 $H" >> /etc/hosts
CONF=$(cat <<CONF
# written by jupyter-mltf scripts/stack/up.sh: a one-host cluster with fake GPUs
ClusterName=mltf
SlurmctldHost=${H}
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux
JobCompType=jobcomp/none
ReturnToService=2
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
DefMemPerCPU=500
KillWait=5
MinJobAge=600
MaxArraySize=1001
SlurmdParameters=config_overrides
NodeName=${H} CPUs=8 Sockets=1 CoresPerSocket=8 ThreadsPerCore=1 RealMemory=16000 Gres=gpu:${GPU_TYPE}:2 State=UNKNOWN
PartitionName=gpu Nodes=${H} Default=YES MaxTime=08:00:00 DefaultTime=01:00:00 State=UP
PartitionName=cpu Nodes=${H} MaxTime=1-00:00:00 DefaultTime=01:00:00 State=UP
CONF
)
if [ "$CONF" != "$(cat /etc/slurm/slurm.conf 2>/dev/null)" ]; then
  echo "$CONF" > /etc/slurm/slurm.conf
  echo "NodeName=${H} Name=gpu Type=${GPU_TYPE} File=/run/fakegpu/gpu[0-1]" > /etc/slurm/gres.conf
fi
mkdir -p /run/munge /run/fakegpu /run/mysqld
chown munge:munge /run/munge; chown mysql:root /run/mysqld
ln -sfn /dev/null /run/fakegpu/gpu0; ln -sfn /dev/null /run/fakegpu/gpu1
[ -s /etc/munge/munge.key ] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null; chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }

alive /run/munge/munged.pid || { ph "munged"; runuser -u munge -- /usr/sbin/munged; }

if ! alive /run/mysqld/mysqld.pid; then
  ph "mariadb"
  [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql >/dev/null
  setsid /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 --pid-file=/run/mysqld/mysqld.pid \
    > /var/log/slurm/mariadb.log 2>&1 < /dev/null &
fi
until mariadb -uroot -e 'select 1' >/dev/null 2>&1; do waitfor mariadb /var/log/slurm/mariadb.log; done
mariadb -uroot -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db; CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmdbpass'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
cat > /etc/slurm/slurmdbd.conf <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurmdbpass
StorageLoc=slurm_acct_db
CONF
chown slurm:slurm /etc/slurm/slurmdbd.conf; chmod 600 /etc/slurm/slurmdbd.conf
if ! alive /run/slurmdbd.pid; then ph "slurmdbd"; /usr/sbin/slurmdbd; fi
until (exec 3<>/dev/tcp/127.0.0.1/6819) 2>/dev/null; do waitfor slurmdbd /var/log/slurm/slurmdbd.log; done
sacctmgr -n -P show cluster format=cluster 2>/dev/null | grep -qx mltf || sacctmgr -i add cluster mltf >/dev/null

alive /run/slurmctld.pid || { ph "slurmctld"; rm -f /run/slurmctld.pid; /usr/sbin/slurmctld; }
alive /run/slurmd.pid || { ph "slurmd"; rm -f /run/slurmd.pid; /usr/sbin/slurmd; }
until timeout 3 sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)$'; do
  waitfor "slurm node" /var/log/slurm/slurmctld.log
done
# a node left DOWN/DRAIN by an earlier unclean stop comes back
timeout 5 scontrol update nodename="$H" state=resume >/dev/null 2>&1 || true

if ! alive "$LAB/mlflow/server.pid"; then
  for port in "$MLFLOW_PORT"; do
    if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then echo "port $port is taken by another process" >&2; exit 1; fi
  done
  ph "mlflow server on 127.0.0.1:$MLFLOW_PORT"
  MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false setsid "$VENV/bin/mlflow" server \
    --backend-store-uri "sqlite:///$LAB/mlflow/mlflow.db" --artifacts-destination "$LAB/mlflow/artifacts" \
    --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1 > "$LAB/mlflow/server.log" 2>&1 < /dev/null &
  echo $! > "$LAB/mlflow/server.pid"
fi
until curl -sf "http://127.0.0.1:$MLFLOW_PORT/health" >/dev/null; do waitfor mlflow "$LAB/mlflow/server.log"; done
ph "up: slurm ($(sinfo -h -o '%P %G' | tr '\n' ' ')) + mlflow http://127.0.0.1:$MLFLOW_PORT"
