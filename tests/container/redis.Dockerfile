# A stand-in for the official redis:7 image, for machines that reach Debian's
# mirror but no image registry (tests/container/run.sh tags it redis:7).  It
# offers what docker-compose.yml uses of the official image: redis-server
# (which also runs Sentinel with --sentinel) and redis-cli on PATH, a redis
# user, and /data owned by it as the working directory.
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data \
 && chown redis:redis /data
WORKDIR /data
EXPOSE 6379 26379
CMD ["redis-server"]
