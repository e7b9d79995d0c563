#!/usr/bin/env bash
# `make bench`: bring the one-host stack up (as scripts/test.sh does), then run every bench/ script as the
# cluster user, each printing its table and `RESULT <name>: ours X ms vs raw Y ms -> ratio Z (n=N)` lines.
# Run as root.
#   scripts/bench.sh                       # all benches, default (bounded) counts
#   scripts/bench.sh --full                # the issue's full counts (1,000 jobs, ...); also MLTF_FULL=1
#   scripts/bench.sh packaging status      # some of them (names: packaging submit status rest start hub envs)
# The tables are also appended to $MLTF_BENCH_OUT (default /tmp/mltf-bench-<time>.md, printed at the end).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
MLTF_HOME=${MLTF_HOME:-/opt/mltf}
MLTF_USER=${MLTF_USER:-alice}
VENV=$MLTF_HOME/venv
SRC=$MLTF_HOME/src
T0=$SECONDS; ph() { echo "=== [bench +$((SECONDS-T0))s] $*"; }

flags=()
names=()
for arg in "$@"; do
  case "$arg" in
    --full) flags+=(--full) ;;
    -*) echo "unknown option $arg (use --full)" >&2; exit 2 ;;
    *) names+=("$arg") ;;
  esac
done
[ -n "${MLTF_FULL:-}" ] && flags+=(--full)
[ ${#names[@]} -gt 0 ] || names=(packaging submit status rest start hub envs)
for name in "${names[@]}"; do
  [ -f "$REPO/bench/bench_$name.py" ] || { echo "no bench/bench_$name.py" >&2; exit 2; }
done

bash "$REPO/scripts/setup.sh"
bash "$REPO/scripts/stack/up.sh"
ph "install the tree into the stack venv"
bash "$REPO/scripts/install-src.sh"
# the hub bench measures the hub when it is up and says "skipped" otherwise
if [[ " ${names[*]} " == *" hub "* ]]; then
  bash "$REPO/scripts/hub/up.sh" || echo "hub did not come up: bench_hub will skip"
fi

OUT=${MLTF_BENCH_OUT:-/tmp/mltf-bench-$(date -u +%Y%m%dT%H%M%SZ).md}
if [ ! -e "$OUT" ]; then
  printf '# jupyter-mltf bench, %s\n\nhost %s, %s cpus; `scripts/bench.sh %s`\n' \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(hostname)" "$(nproc)" "$*" > "$OUT"
fi
chown "$MLTF_USER" "$OUT"

as_user() {
  runuser -u "$MLTF_USER" -- env -i HOME="/home/$MLTF_USER" USER="$MLTF_USER" LOGNAME="$MLTF_USER" \
    PATH="$VENV/bin:/usr/local/bin:/usr/bin:/bin" LANG=C.UTF-8 MLTF_HOME="$MLTF_HOME" \
    MLFLOW_TRACKING_URI="http://127.0.0.1:${MLFLOW_PORT:-5000}" PYTHONDONTWRITEBYTECODE=1 \
    bash -c 'cd "$0" && exec "$@"' "$SRC" "$@"
}

rc=0
failed=()
for name in "${names[@]}"; do
  ph "bench_$name ${flags[*]:-}"
  if ! as_user "$VENV/bin/python" "bench/bench_$name.py" --out "$OUT" "${flags[@]}"; then
    rc=1; failed+=("$name")
  fi
done
ph "summary"
grep -h '^RESULT\|^skipped' "$OUT" | tail -n 40 || true
[ ${#failed[@]} -eq 0 ] || echo "failed: ${failed[*]}"
echo "tables: $OUT"
exit $rc
