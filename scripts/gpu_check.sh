#!/usr/bin/env bash
# GPU check for issue 6: the CUDA tests, then the pi0-FAST-size benchmark; JSON + logs go to OUTDIR.
#
#   scripts/gpu_check.sh [--dry-run] [--wheels DIR] OUTDIR
#
# What it expects (it sets up nothing from the network):
# - a Python with torch built for CUDA, and transformers (5.23.0 is what the code is written against; an older
#   5.x may lack the StaticCache internals the static path uses), tokenizers, safetensors, numpy, scipy,
#   PyYAML, opencv-python-headless, pytest. rclpy is NOT needed. It uses $PYTHON if set, else .venv/bin/python
#   when that one sees CUDA (or for --dry-run), else python3.
# - --wheels DIR: wheels on local disk to put in front of that Python's packages (pip --no-index --target), e.g.
#   the pinned transformers where the machine has another version. Prepared on a machine with PyPI access:
#     echo /.whl/ >> .git/info/exclude
#     python3 -m pip download --no-deps --only-binary=:all: -d .whl transformers==5.23.0
#   (transformers 5.23.0 needs huggingface-hub>=1.31, tokenizers>=0.23.1,<0.24, safetensors>=0.8.)
#   Without --wheels, a .whl/ folder in the repository root that holds wheels is used the same way.
# - the repository itself is used in place (PYTHONPATH), nothing is installed into it.
#
# What it runs, within 8 minutes in all (each step under `timeout`):
#   1. environment report (nvidia-smi, versions)                                  -> OUTDIR/env.txt
#   2. pytest tests/engine/test_cuda.py (skipped, with the reason, without CUDA)  -> OUTDIR/pytest.log, pytest.xml
#   3. mgselect bench --preset pi0fast --device cuda                              -> OUTDIR/bench.json, bench.log
#      if that fails, once more without the CUDA graph (static cache only)        -> OUTDIR/bench_no_graph.*
#   4. a summary of exit codes and headline numbers                               -> OUTDIR/summary.txt
# --dry-run: the same on the CPU at reduced size (pi0-FAST width, 1 decoder + 1 vision layer, 4096-token vocab,
# 8- and 16-token chunks, N in {1, 4}); checks the script and the benchmark code, not the GPU numbers.
# Exit status: 0 when the tests and the benchmark both succeeded.
set -uo pipefail

usage() { echo "usage: $0 [--dry-run] [--wheels DIR] OUTDIR" >&2; exit 2; }
DRY_RUN=0
WHEELS=""
OUTDIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --wheels) [ $# -ge 2 ] || usage; WHEELS="$2"; shift ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    -*) usage ;;
    *) [ -z "$OUTDIR" ] || usage; OUTDIR="$1" ;;
  esac
  shift
done
[ -n "$OUTDIR" ] || usage

REPO="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"
cd "$REPO" || exit 2
export PYTHONUNBUFFERED=1

# Time limits per step (seconds): together well under 8 minutes.
PREFLIGHT_TIMEOUT=30
TEST_TIMEOUT=120
BENCH_TIMEOUT=240
FALLBACK_TIMEOUT=60

if [ -z "$WHEELS" ] && compgen -G "$REPO/.whl/*.whl" >/dev/null; then
  WHEELS="$REPO/.whl"
fi
if [ -n "$WHEELS" ]; then
  SITE="${TMPDIR:-/tmp}/mgselect-gpu-site"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
    "$WHEELS"/*.whl || { echo "installing the wheels in $WHEELS failed" >&2; exit 2; }
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"

if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ] && { [ "$DRY_RUN" = 1 ] || .venv/bin/python -c \
       "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; }; then
    PYTHON=.venv/bin/python
  else
    PYTHON=python3
  fi
fi

{
  echo "date: $(date -u +%FT%TZ)"
  echo "python: $PYTHON  dry_run: $DRY_RUN  wheels: ${WHEELS:-none}"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  timeout "$PREFLIGHT_TIMEOUT" "$PYTHON" - <<'EOF'
import importlib
import sys

missing = []
for name in ("torch", "transformers", "tokenizers", "safetensors", "numpy", "scipy", "yaml", "cv2", "pytest"):
    try:
        module = importlib.import_module(name)
        print(f"{name} {getattr(module, '__version__', '?')}")
    except ImportError as exc:
        missing.append(f"{name} ({exc})")
if missing:
    print("MISSING: " + ", ".join(missing))
    sys.exit(3)
import torch

print(f"cuda available: {torch.cuda.is_available()}",
      f"device: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "")
EOF
} >"$OUTDIR/env.txt" 2>&1
PREFLIGHT=$?
cat "$OUTDIR/env.txt"
if [ "$PREFLIGHT" != 0 ]; then
  echo "preflight failed (exit $PREFLIGHT): see $OUTDIR/env.txt; nothing was installed" >&2
  exit 2
fi

if [ "$DRY_RUN" = 1 ]; then
  BENCH_ARGS=(--device cpu --layers 1 --vision-layers 1 --vocab-size 4096 --tokens 8,16 --sweep 1,4
              --warmup 0 --repeats 1)
else
  BENCH_ARGS=(--device cuda)
fi

timeout "$TEST_TIMEOUT" "$PYTHON" -m pytest -q -rs -p no:cacheprovider tests/engine/test_cuda.py \
  --junitxml="$OUTDIR/pytest.xml" 2>&1 | tee "$OUTDIR/pytest.log"
TESTS=${PIPESTATUS[0]}

timeout "$BENCH_TIMEOUT" "$PYTHON" -m mgselect_node.cli.main bench --preset pi0fast "${BENCH_ARGS[@]}" \
  --json "$OUTDIR/bench.json" 2>&1 | tee "$OUTDIR/bench.log"
BENCH=${PIPESTATUS[0]}
FALLBACK=skipped
if [ "$BENCH" != 0 ] && [ "$DRY_RUN" = 0 ]; then
  echo "benchmark failed (exit $BENCH); once more without the CUDA graph" | tee -a "$OUTDIR/bench.log"
  timeout "$FALLBACK_TIMEOUT" "$PYTHON" -m mgselect_node.cli.main bench --preset pi0fast "${BENCH_ARGS[@]}" \
    --no-cuda-graph --quick --tokens 64 --sweep 1,4 --json "$OUTDIR/bench_no_graph.json" 2>&1 \
    | tee "$OUTDIR/bench_no_graph.log"
  FALLBACK=${PIPESTATUS[0]}
fi

{
  echo "tests exit: $TESTS  bench exit: $BENCH  no-graph fallback: $FALLBACK"
  [ -f "$OUTDIR/bench.json" ] && "$PYTHON" - "$OUTDIR/bench.json" <<'EOF'
import json
import sys

report = json.load(open(sys.argv[1]))
print(f"{report['preset']} on {report['device_name']} ({report['dtype']}, cuda_graph={report['cuda_graph']})")
for key in ("chunk_ms_n4_64tok", "mg_select_n4_over_greedy", "over_floor_n4_64tok", "naive_over_mg_select_n4",
            "floor_ms_64tok", "copy_bandwidth_gbps", "total_s"):
    print(f"{key}: {report.get(key)}")
for key, entry in report["targets"].items():
    print(f"target {key} <= {entry['target']}: {entry['value']} ({'met' if entry['met'] else 'NOT met'})")
EOF
} | tee "$OUTDIR/summary.txt"

[ "$TESTS" = 0 ] && [ "$BENCH" = 0 ]
