#!/usr/bin/env bash
# Run HERE (a machine with Node and the provisioned cache), before sending bench/gpu to a GPU host
# that has no Node and no registry: fills bench/gpu/.carry/ (git-ignored) with
#   node.xz            this machine's node binary, xz-compressed (an official-style static build)
#   bench.mjs          bench.ts bundled by esbuild (no node_modules needed there)
#   headers.tar.xz     the Node-API headers and Eigen (from the provisioned TensorFlow headers), to
#                      compile seqtrain's CPU kernels on the host for the agreement check
# and checks that it stays well under the 64 MiB a device call may carry.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CARRY=$HERE/.carry
CACHE=${SEQTRAIN_CACHE:-$HOME/.cache/seqtrain}
NODE=${NODE:-$(command -v node)}
NODE_INCLUDE=$(dirname "$(dirname "$NODE")")/include/node
EIGEN_ROOT=$(ls -d "$CACHE"/libtensorflow-*/include 2>/dev/null | head -1 || true)
[ -f "$NODE_INCLUDE/node_api.h" ] || { echo "prepare.sh: node headers not found under $NODE_INCLUDE" >&2; exit 1; }
[ -n "$EIGEN_ROOT" ] && [ -d "$EIGEN_ROOT/Eigen" ] || { echo "prepare.sh: Eigen not found under $CACHE/libtensorflow-*/include (run ./dev setup)" >&2; exit 1; }
if ldd "$NODE" 2>/dev/null | grep -q libnode; then echo "prepare.sh: $NODE links libnode (a distribution build): use an official build (NODE=...)" >&2; exit 1; fi
rm -rf "$CARRY" && mkdir -p "$CARRY/stage/node" "$CARRY/stage/eigen"
echo "node $("$NODE" --version) from $NODE"
xz -T2 -6 -c "$NODE" > "$CARRY/node.xz"
cp "$NODE_INCLUDE"/{node_api.h,node_api_types.h,js_native_api.h,js_native_api_types.h} "$CARRY/stage/node/"
cp -r "$EIGEN_ROOT/Eigen" "$CARRY/stage/eigen/"
tar -C "$CARRY/stage" -cJf "$CARRY/headers.tar.xz" node eigen
rm -rf "$CARRY/stage"
ESBUILD=$(ls -d "$HERE"/../../node_modules/.pnpm/esbuild@*/node_modules/esbuild/bin/esbuild 2>/dev/null | sort -V | tail -1)
[ -n "$ESBUILD" ] || { echo "prepare.sh: esbuild not found in node_modules (pnpm install)" >&2; exit 1; }
"$ESBUILD" "$HERE/bench.ts" --bundle --platform=node --format=esm --target=node20 --log-level=warning --outfile="$CARRY/bench.mjs"
"$NODE" --version > "$CARRY/node-version.txt"
total=$(du -cb "$CARRY"/* | tail -1 | cut -f1)
tree=$(cd "$HERE/../.." && git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
echo "carry: $(du -h "$CARRY"/node.xz "$CARRY"/headers.tar.xz "$CARRY"/bench.mjs | tr '\n' ' ') = $((total / 1048576)) MiB; tracked tree $((tree / 1048576)) MiB"
if [ $((total + tree)) -gt $((60 * 1048576)) ]; then echo "prepare.sh: over 60 MiB with the tree" >&2; exit 1; fi
echo "ready: send the repo with carry [\"bench/gpu/.carry\"] and run: bash bench/gpu/run.sh"
