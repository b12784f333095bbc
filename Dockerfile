# jcached container image.
#
#   docker build -t jcached .                     the gateway (the default, last stage)
#   docker build --target origin -t jc-origin .   the demo slow upstream (jc-origin)
#
# Stages: "build" has the compilers and -dev packages and runs the same CMake
# steps as CI; "runtime" has only the shared libraries both programs need, curl
# for the health checks and an unprivileged user; "origin" and "jcached" each
# add one binary to it.  No "# syntax=" line and no heredocs, so the classic
# builder (DOCKER_BUILDKIT=0) builds it without pulling anything but the base.
#
# Run: mount the JSON configuration at /etc/jcached/jcached.json (or point
# JCACHED_CONFIG elsewhere, or pass --config FILE) and give its ${VAR} secrets
# as environment variables:
#   docker run -p 127.0.0.1:8080:8080 \
#     -v "$PWD/my.json:/etc/jcached/jcached.json:ro" -e JCACHED_ADMIN_TOKEN=... jcached
# The health check asks $JCACHED_HEALTH_URL (default: /healthz on port 8080);
# set it when the configuration listens elsewhere.

FROM debian:bookworm-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config check python3 uthash-dev \
      libhttp-parser-dev libmicrohttpd-dev libhiredis-dev libnats-dev libjansson-dev \
      libcurl4-openssl-dev libevent-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -DJC_WERROR=ON \
 && cmake --build build -j"$(nproc)" \
 && strip build/jcached build/jc-origin

FROM debian:bookworm-slim AS runtime
ARG DEBIAN_FRONTEND=noninteractive
# libmicrohttpd12 is for jc-origin (the demo upstream) only; jcached does not link it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libevent-2.1-7 libevent-pthreads-2.1-7 libhiredis0.14 libnats3.4 libjansson4 \
      libhttp-parser2.9 libcurl4 ca-certificates curl \
      libmicrohttpd12 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 jcached \
 && useradd --system --uid 10001 --gid jcached --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin jcached \
 && mkdir -p /etc/jcached

FROM runtime AS origin
COPY --from=build /src/build/jc-origin /usr/local/bin/jc-origin
USER 10001:10001
EXPOSE 9000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS -o /dev/null http://127.0.0.1:9000/_stats || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["jc-origin"]
CMD ["--listen", "0.0.0.0:9000"]

FROM runtime AS jcached
COPY --from=build /src/build/jcached /usr/local/bin/jcached
ENV JCACHED_CONFIG=/etc/jcached/jcached.json \
    JCACHED_HEALTH_URL=http://127.0.0.1:8080/healthz
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS -o /dev/null "$JCACHED_HEALTH_URL" || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["jcached"]
