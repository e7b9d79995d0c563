#!/usr/bin/env bash
# GPU check (issue 7): the DDP example on a real GPU machine, through MLTF's runner + torchrun launcher
# vs the same script under torchrun directly. Prints both throughputs and their ratio. Needs: python3 with
# torch (CUDA) on the machine; installs jupyter-mltf + mlflow into a throwaway venv with system packages.
# Runs without Slurm (the local backend: the same runner, as a detached process) and a sqlite MLflow store.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d /tmp/mltf-gpu.XXXXXX)}
EPOCHS=${EPOCHS:-5}
SAMPLES=${SAMPLES:-400000}
PY=${PYTHON:-python3}
NGPU=$(nvidia-smi -L 2>/dev/null | wc -l)
[ "$NGPU" -ge 1 ] || { echo "no GPU found (nvidia-smi -L)"; exit 1; }
echo "== $NGPU GPU(s): $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
$PY -m venv --system-site-packages "$WORK/venv"
"$WORK/venv/bin/pip" install -q --no-deps -e "$REPO" 2>&1 | tail -1 || true
"$WORK/venv/bin/python" -c "import mlflow, pathspec, jupyter_mltf" 2>/dev/null || \
  "$WORK/venv/bin/pip" install -q mlflow-skinny pathspec httpx jupyter_server ipywidgets pyyaml jinja2 psutil
export MLFLOW_TRACKING_URI="sqlite:///$WORK/mlflow.db"
cp -r "$REPO/notebooks/ddp-synthetic" "$WORK/ddp"
cd "$WORK"
echo "== direct: torchrun --nproc-per-node=$NGPU train.py"
direct=$("$WORK/venv/bin/torchrun" --nproc-per-node="$NGPU" ddp/train.py --epochs "$EPOCHS" --samples "$SAMPLES" 2>/dev/null \
  | grep -o 'throughput [0-9.]*' | awk '{print $2}')
echo "   $direct samples/s"
echo "== through MLTF: jupyter mltf submit --gpus $NGPU (local backend, runner + torchrun launcher)"
"$WORK/venv/bin/jupyter-mltf" --backend local submit "$WORK/ddp" --gpus "$NGPU" --launcher torchrun \
  -P epochs="$EPOCHS" -P samples="$SAMPLES" --wait > "$WORK/mltf.log" 2>&1 || { tail -30 "$WORK/mltf.log"; exit 1; }
mltf=$(grep -o 'throughput [0-9.]*' "$WORK/mltf.log" | awk '{print $2}')
echo "   $mltf samples/s"
"$WORK/venv/bin/python" - "$direct" "$mltf" <<'PY'
import sys
direct, mltf = map(float, sys.argv[1:3])
print(f"RESULT gpu_ddp: mltf {mltf:.0f} samples/s vs direct {direct:.0f} samples/s -> ratio {mltf / direct:.3f}")
PY
