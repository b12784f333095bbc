#!/usr/bin/env bash
# bench/run.sh: the whole benchmark, jcached against nginx and Varnish, in one
# command.  Installs what is missing (Debian packages, when run as root),
# builds jcached and jc-origin in Release mode into build-bench/, compiles the
# herd client (bench/herd.c), then runs bench/bench.py on CPU 1 while every
# server under test runs on CPU 0.
#
#   bench/run.sh                       full run (3 interleaved runs of each figure)
#   bench/run.sh --results bench/RESULTS.md
#   bench/run.sh --reps 1 --duration 3 --waiters 2000 --only 1,3   a quick look
#
# Options after the script name go to bench/bench.py (see --help there).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${JC_BENCH_BUILD:-$ROOT/build-bench}

PACKAGES="build-essential cmake pkg-config libmicrohttpd-dev libhttp-parser-dev libhiredis-dev libnats-dev
          libjansson-dev libcurl4-openssl-dev libevent-dev check python3 uthash-dev
          redis-server nats-server nginx-light varnish wrk util-linux"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "bench: installing:$missing" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >&2
    else
        echo "bench: missing Debian packages (run as root, or install them):$missing" >&2
        exit 1
    fi
fi

if [ "$(nproc --all)" -lt 2 ]; then
    echo "bench: needs 2 CPUs (server on CPU 0, clients on CPU 1)" >&2
    exit 1
fi

# nginx and varnishd as installed by Debian start system services; the
# benchmark starts its own instances on free loopback ports and needs none.
echo "bench: building jcached and jc-origin (Release) in $BUILD" >&2
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j 2 --target jcached jc-origin >/dev/null
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o "$BUILD/jc-herd" "$ROOT/bench/herd.c"

# 10,000 concurrent clients need as many descriptors in the client and in
# the server under test; both inherit this limit.
hard=$(ulimit -Hn)
want=20000
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
    want=$hard
fi
ulimit -n "$want"

# Servers and clients alike run at nice -10 when we may, so that other work
# on the machine (a build, a test suite) disturbs the measurements less.
NICE=()
if [ "$(id -u)" = 0 ]; then
    NICE=(nice -n -10)
fi
exec "${NICE[@]}" taskset -c 1 python3 "$ROOT/bench/bench.py" --build "$BUILD" --herd "$BUILD/jc-herd" "$@"
