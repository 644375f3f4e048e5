# ml-connector: one image for every process (mlc-extractor, mlc-transformer, mlc-loader,
# mlc-replayer) and both simulators. See docs/deployment.md.
#
#   docker build -t ml-connector .        (or: podman build --pull=never -t ml-connector .)
#
# Stage 1 builds the binaries on Debian bookworm with the -dev packages; stage 2 is
# debian:bookworm-slim with only the runtime libraries and a non-root user.

ARG DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${DEBIAN_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential pkg-config libzmq3-dev libmsgpack-dev libcjson-dev librocksdb-dev \
        libcurl4-openssl-dev libsodium-dev libmicrohttpd-dev libjemalloc-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY common/ common/
COPY extractor/ extractor/
COPY transformer/ transformer/
COPY loader/ loader/
COPY replayer/ replayer/
COPY sim/ sim/
# Only the programs (the unit tests need cmocka and stay out of the image).
RUN make -j"$(nproc)" B=/out \
        /out/bin/mlc-extractor /out/bin/mlc-transformer /out/bin/mlc-loader \
        /out/bin/mlc-replayer /out/bin/cloudsuite-sim /out/bin/salesforce-sim \
 && strip /out/bin/*

FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libzmq5 libmsgpackc2 libcjson1 librocksdb7.8 libcurl4 libsodium23 libmicrohttpd12 libjemalloc2 \
        ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# A fixed uid/gid, so files on volumes and mounted secrets can be given to it (10001:10001).
RUN groupadd --system --gid 10001 mlc \
 && useradd --system --uid 10001 --gid mlc --home-dir /var/lib/mlc --no-create-home \
        --shell /usr/sbin/nologin mlc \
 && mkdir -p /etc/mlc /var/lib/mlc /var/lib/mlc-ionapi \
 && chown mlc:mlc /var/lib/mlc /var/lib/mlc-ionapi \
 && chmod 0700 /var/lib/mlc /var/lib/mlc-ionapi
COPY --from=build /out/bin/ /usr/local/bin/
COPY config/mapping.json config/salesforce-schema.json /etc/mlc/
COPY config/compose.json /etc/mlc/config.json
COPY scripts/docker-entrypoint.sh /usr/local/bin/mlc-entrypoint
ENV MLC_CONFIG=/etc/mlc/config.json
USER mlc
WORKDIR /var/lib/mlc
ENTRYPOINT ["/usr/local/bin/mlc-entrypoint"]
CMD ["help"]
