# syntax=docker/dockerfile:1
# `seqtrain registry serve`. Build from the repository root:
#   docker build -f infra/images/registry.Dockerfile -t seqtrain-registry .
# Built by the repository's own provisioning (./dev setup), from package registries only; the base
# images are Debian-based Node images (override NODE_IMAGE / RUNTIME_IMAGE).
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
# the registry trains nothing: no kernels, no build caches
RUN cd "$SEQTRAIN_CACHE" && rm -rf pnpm-store go wheels downloads temporal-cli tools locks rnn-kernels ./*.lock

FROM ${RUNTIME_IMAGE} AS runtime
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini ca-certificates \
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
EXPOSE 8780
ENTRYPOINT ["/usr/bin/tini", "--", "/app/infra/images/entrypoint.sh"]
CMD ["registry", "serve", "--host", "0.0.0.0", "--port", "8780"]
