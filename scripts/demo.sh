#!/usr/bin/env bash
# The README's first command: submit the example project and see it tracked.
#  - as root on Debian: installs and starts the one-host Slurm cluster (2 fake GPUs) + MLflow server, then
#    submits notebooks/sklearn-iris as the cluster user and follows it to completion;
#  - anywhere else: the embedded defaults (local backend, sqlite MLflow store under ~/.mltf).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
MLTF_HOME=${MLTF_HOME:-/opt/mltf}
MLTF_USER=${MLTF_USER:-alice}
EXAMPLE=${MLTF_EXAMPLE:-sklearn-iris}
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  bash "$REPO/scripts/setup.sh"
  bash "$REPO/scripts/stack/up.sh"
  bash "$REPO/scripts/install-src.sh"
  VENV=$MLTF_HOME/venv
  demo_dir=/home/$MLTF_USER/mltf-demo/$EXAMPLE
  rm -rf "$demo_dir"; mkdir -p "$(dirname "$demo_dir")"
  cp -r "$REPO/notebooks/$EXAMPLE" "$demo_dir"
  chown -R "$MLTF_USER:" "/home/$MLTF_USER/mltf-demo"
  as_user() {
    runuser -u "$MLTF_USER" -- env -i HOME="/home/$MLTF_USER" USER="$MLTF_USER" LANG=C.UTF-8 \
      PATH="$VENV/bin:/usr/bin:/bin" MLFLOW_TRACKING_URI="http://127.0.0.1:${MLFLOW_PORT:-5000}" "$@"
  }
  echo "=== submitting $demo_dir to Slurm as $MLTF_USER (1 GPU)"
  out=$(mktemp); trap 'rm -f "$out"' EXIT
  as_user jupyter mltf submit "$demo_dir" --gpus 1 --time 00:10:00 --wait | tee "$out"
  job=$(sed -n 's/^submitted job \([0-9a-f]*\) .*/\1/p' "$out" | head -1)
  echo "=== jupyter mltf status $job"
  as_user jupyter mltf status "$job"
  echo "=== browse it: MLflow UI at http://127.0.0.1:${MLFLOW_PORT:-5000}; JupyterHub: bash scripts/hub/demo-up.sh"
else
  echo "=== no root/apt here: using the local backend and a local MLflow store (~/.mltf/mlflow.db)"
  VENV=$REPO/.venv
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -e "$REPO" scikit-learn mlflow
  out=$(mktemp); trap 'rm -f "$out"' EXIT
  "$VENV/bin/jupyter" mltf --backend local submit "$REPO/notebooks/$EXAMPLE" --wait | tee "$out"
  job=$(sed -n 's/^submitted job \([0-9a-f]*\) .*/\1/p' "$out" | head -1)
  "$VENV/bin/jupyter" mltf --backend local status "$job"
  echo "browse the run: $VENV/bin/mlflow ui --backend-store-uri sqlite:///$HOME/.mltf/mlflow.db"
fi
