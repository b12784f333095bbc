# A stand-in for the official nats:2-alpine image, for machines that reach
# Debian's mirror but no image registry (tests/container/run.sh tags it
# nats:2-alpine).  It offers what docker-compose.yml uses of the official
# image: nats-server, sh and wget on PATH.
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends nats-server wget \
 && rm -rf /var/lib/apt/lists/*
EXPOSE 4222 6222 8222
CMD ["nats-server", "-js"]
