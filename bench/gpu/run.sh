#!/usr/bin/env bash
# The one script for the GPU host (no Node, no registry): bash bench/gpu/run.sh
# Needs bench/gpu/.carry from prepare.sh, nvcc (PATH, CUDA_HOME or /usr/local/cuda), python3 with
# torch and the nvidia-cudnn/cublas wheels (or CUDNN_HOME / CUBLAS_HOME), nvidia-smi and a C++
# compiler. Steps: unpack node and headers; build the CUDA addon with the host's nvcc for the GPU's
# arch; build seqtrain's CPU kernels; agreement + seqtrain-cuda bench (.carry/bench.mjs, bundled from bench.ts); PyTorch bench
# (bench_torch.py); one JSON under bench/results/ (and a copy under $OUT when set).
# Env: MATH=fp32 (or fp32,tf32), BUDGET_S=1.5 (timed seconds per shape), SMALL=1 (one shape per cell).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CARRY=$HERE/.carry
WORK=${WORK:-${TMPDIR:-/tmp}/seqtrain-gpu}
PY=${PYTHON:-python3}
MATH=${MATH:-fp32}
BUDGET_S=${BUDGET_S:-1.5}
SMALL=${SMALL:-}
started=$(date +%s)
step() { echo "[run.sh +$(($(date +%s) - started))s] $*" >&2; }
die() { echo "run.sh: $*" >&2; exit 1; }
mkdir -p "$WORK"
[ -f "$CARRY/node.xz" ] && [ -f "$CARRY/headers.tar.xz" ] && [ -f "$CARRY/bench.mjs" ] || die "$CARRY/node.xz or headers.tar.xz missing (run bench/gpu/prepare.sh where Node is, and carry bench/gpu/.carry)"

step "unpacking node and headers"
"$PY" - "$CARRY" "$WORK" <<'PYEOF'
import lzma, os, shutil, sys, tarfile
carry, work = sys.argv[1:]
with lzma.open(os.path.join(carry, "node.xz")) as src, open(os.path.join(work, "node"), "wb") as dst:
    shutil.copyfileobj(src, dst)
os.chmod(os.path.join(work, "node"), 0o755)
with tarfile.open(os.path.join(carry, "headers.tar.xz")) as t:
    t.extractall(os.path.join(work, "include"))
PYEOF
NODE=$WORK/node
"$NODE" --version >&2

step "finding nvcc, cuDNN and cuBLAS"
NVCC=""
for c in "${CUDA_HOME:+$CUDA_HOME/bin/nvcc}" "$(command -v nvcc || true)" /usr/local/cuda/bin/nvcc; do
  [ -n "$c" ] && [ -x "$c" ] && { NVCC=$c; break; }
done
[ -n "$NVCC" ] || die "nvcc not found (PATH, CUDA_HOME, /usr/local/cuda)"
CUDA_ROOT=$(dirname "$(dirname "$NVCC")")
SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null || true)
CUDNN_HOME=${CUDNN_HOME:-$SITE/nvidia/cudnn}
[ -f "$CUDNN_HOME/include/cudnn.h" ] || die "cuDNN headers not found ($CUDNN_HOME/include/cudnn.h; set CUDNN_HOME)"
CUDNN_LIBDIR=$CUDNN_HOME/lib
CUDNN_SO=$(cd "$CUDNN_LIBDIR" && ls libcudnn.so.[0-9]* | head -1) || die "no libcudnn.so.N in $CUDNN_LIBDIR"
CUBLAS_HOME=${CUBLAS_HOME:-}
if [ -z "$CUBLAS_HOME" ]; then
  for c in "$SITE/nvidia/cu13" "$SITE/nvidia/cublas" "$CUDA_ROOT"; do
    if ls "$c"/lib*/libcublas.so* >/dev/null 2>&1; then CUBLAS_HOME=$c; break; fi
  done
fi
[ -n "$CUBLAS_HOME" ] || die "libcublas not found (venv nvidia/cu13, CUDA_HOME; set CUBLAS_HOME)"
CUBLAS_LIBDIR=$(dirname "$(ls "$CUBLAS_HOME"/lib*/libcublas.so* | head -1)")
CUBLAS_SO=$(basename "$(ls "$CUBLAS_LIBDIR"/libcublas.so* | sort | tail -1)")
CC=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .' || true)
[ -n "$CC" ] || die "nvidia-smi reports no GPU compute capability (no GPU or driver here)"
step "nvcc $NVCC ($("$NVCC" --version | grep -o 'release [0-9.]*')), cuDNN $CUDNN_HOME ($CUDNN_SO), cuBLAS $CUBLAS_LIBDIR ($CUBLAS_SO), sm_$CC"

step "building the CUDA addon"
SRC=$REPO/packages/backend/native/cuda
"$NVCC" -O3 -std=c++17 -Xcompiler=-fPIC -Xcompiler=-fvisibility=hidden -shared -DNDEBUG -DNODE_GYP_MODULE_NAME=seqtrain_cuda \
  "-gencode=arch=compute_$CC,code=sm_$CC" -I"$CUDA_ROOT/include" -I"$CUBLAS_HOME/include" -I"$CUDNN_HOME/include" -I"$WORK/include/node" \
  "$SRC/rnn_cudnn.cu" "$SRC/gru_cublas.cu" "$SRC/napi_cuda.cc" -o "$WORK/seqtrain_cuda.node" \
  -L"$CUDNN_LIBDIR" -L"$CUBLAS_LIBDIR" "-l:$CUDNN_SO" "-l:$CUBLAS_SO" -cudart static \
  -Xlinker -rpath -Xlinker "$CUDNN_LIBDIR" -Xlinker -rpath -Xlinker "$CUBLAS_LIBDIR"

CPU_ARG=()
CXX=${CXX:-$(command -v c++ || command -v g++ || true)}
if [ -n "$CXX" ]; then
  step "building seqtrain's CPU kernels with $CXX (the agreement reference)"
  "$CXX" -O3 -std=c++17 -march=native -DNDEBUG -DEIGEN_NO_DEBUG -DNODE_GYP_MODULE_NAME=seqtrain_rnn -fPIC -shared -pthread -fvisibility=hidden \
    -I"$WORK/include/node" -I"$WORK/include/eigen" "$REPO/packages/backend/native/rnn_kernels.cc" -o "$WORK/seqtrain_rnn.node"
  CPU_ARG=(--cpu "$WORK/seqtrain_rnn.node")
else
  step "no C++ compiler: agreement skipped"
fi

SHAPES=full; [ -n "$SMALL" ] && SHAPES=small
step "agreement and seqtrain-cuda bench"
set +e
"$NODE" "$CARRY/bench.mjs" --cuda "$WORK/seqtrain_cuda.node" "${CPU_ARG[@]}" --out "$WORK/seqtrain.json" --math "$MATH" --budget-s "$BUDGET_S" --shapes "$SHAPES"
agree=$?
set -e
[ -f "$WORK/seqtrain.json" ] || die "bench.mjs wrote no result (exit $agree)"
step "PyTorch bench"
"$PY" "$HERE/bench_torch.py" --out "$WORK/torch.json" --math "$MATH" --budget-s "$BUDGET_S" ${SMALL:+--small}
RESULT=$("$PY" "$HERE/bench_torch.py" --merge "$WORK/seqtrain.json" "$WORK/torch.json" --results-dir "$REPO/bench/results")
[ -n "${OUT:-}" ] && cp "$RESULT" "$OUT/"
step "wrote $RESULT"
[ "$agree" -eq 0 ] || die "agreement FAILED (see the agreement section of $RESULT)"
