# syntax=docker/dockerfile:1
# The GPU trainer image: the CPU worker's build, plus the NVIDIA container toolkit's environment so
# the node's driver libraries are mounted into the pod. Build from the repository root:
#   docker build -f infra/images/worker-gpu.Dockerfile -t seqtrain-worker-gpu .
# A TensorFlow GPU backend is a separate open issue: until it lands SEQTRAIN_BACKEND=auto picks the
# native CPU backend here too. The same provisioning (./dev setup) builds it; the base images are
# Debian-based Node images (override NODE_IMAGE / RUNTIME_IMAGE, e.g. with a CUDA runtime image
# that has Node >= 20.19, once the GPU backend needs CUDA's libraries).
ARG NODE_IMAGE=node:20-bookworm
ARG RUNTIME_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3-pip \
  && rm -rf /var/lib/apt/lists/*
ENV SEQTRAIN_CACHE=/opt/seqtrain/cache
WORKDIR /app
COPY . .
RUN ./dev setup
RUN cd "$SEQTRAIN_CACHE" && rm -rf pnpm-store go wheels downloads temporal-cli tools locks ./*.lock

FROM ${RUNTIME_IMAGE} AS runtime
RUN apt-get update \
  && apt-get install -y --no-install-recommends g++ tini ca-certificates \
  && rm -rf /var/lib/apt/lists/* \
  && groupadd --gid 10001 seqtrain \
  && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/seqtrain seqtrain
COPY --from=build /opt/seqtrain/cache /opt/seqtrain/cache
COPY --from=build /app /app
ENV SEQTRAIN_CACHE=/var/cache/seqtrain \
  SEQTRAIN_HOME=/var/lib/seqtrain \
  HOME=/var/lib/seqtrain \
  NVIDIA_VISIBLE_DEVICES=all \
  NVIDIA_DRIVER_CAPABILITIES=compute,utility
WORKDIR /app
USER 10001:10001
ENTRYPOINT ["/usr/bin/tini", "--", "/app/infra/images/entrypoint.sh"]
CMD ["worker", "--role", "trainer", "--backend", "auto"]
