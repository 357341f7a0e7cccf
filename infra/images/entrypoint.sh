#!/bin/sh
# Entrypoint of the seqtrain images. The image's prepared cache (/opt/seqtrain/cache: the native
# TensorFlow addon's libraries and seqtrain's kernels, read-only) is linked into the writable
# SEQTRAIN_CACHE (an emptyDir in infra/k8s); a trainer then builds seqtrain's kernels for this
# node's CPU when the image's were built for another (~15 s, with the same provisioning code as
# ./dev setup); then the CLI replaces this shell, so SIGTERM reaches the worker itself.
set -eu
image_cache=/opt/seqtrain/cache
cache="${SEQTRAIN_CACHE:-$image_cache}"
if [ "$cache" != "$image_cache" ] && [ -d "$image_cache" ]; then
  mkdir -p "$cache"
  for entry in "$image_cache"/*; do
    [ -e "$entry" ] || continue
    name=$(basename "$entry")
    [ -e "$cache/$name" ] && continue
    # kernels for other CPUs are added beside the image's: a copy, not a link
    if [ "$name" = rnn-kernels ]; then cp -R "$entry" "$cache/$name"; else ln -s "$entry" "$cache/$name"; fi
  done
fi
if [ "${1:-}" = worker ] && [ "${2:-} ${3:-}" = "--role trainer" ]; then
  node --import tsx --input-type=module -e "
    const { ensureRnnKernels } = await import('/app/infra/local/src/provision/seqtrain-kernels.ts');
    await ensureRnnKernels({ cacheDir: process.env.SEQTRAIN_CACHE, log: (m) => console.error('[entrypoint] ' + m) });
  " || echo "[entrypoint] seqtrain's kernels could not be built for this CPU: the trainer uses TensorFlow's fused kernels" >&2
fi
exec node --import tsx /app/packages/cli/src/main.ts "$@"
