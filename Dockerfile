# Multi-stage image: build the release (server + wasm bundle), then run it as a non-root user
# with the data directory as a volume.
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
ENV CARGO_TARGET_DIR=/src/target
RUN .ci/setup.sh run \
 && PATH="/src/end2end/node_modules/.bin:$PATH" cargo leptos build --release --split

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data okrflow \
 && mkdir -p /data && chown okrflow /data
COPY --from=build /src/target/release/okrflow /usr/local/bin/okrflow
COPY --from=build /src/target/site /opt/okrflow/site
USER okrflow
VOLUME ["/data"]
EXPOSE 3000
ENV OKRFLOW_DATA_DIR=/data LEPTOS_SITE_ROOT=/opt/okrflow/site
# 0.0.0.0 inside the container; publish the port on the host's loopback or behind TLS.
CMD ["okrflow", "serve", "--addr", "0.0.0.0:3000"]
HEALTHCHECK --interval=30s --timeout=3s CMD curl -fs http://127.0.0.1:3000/healthz || exit 1
