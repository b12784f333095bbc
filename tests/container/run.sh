#!/usr/bin/env bash
# shellcheck disable=SC2016 # check/wait_for take code to eval later, quoted on purpose
# tests/container/run.sh: the real container test (`make container-test`).
#
# Starts a private Docker engine, makes the debian:bookworm-slim base image
# with debootstrap (these machines reach Debian's mirror but no image
# registry), builds the jcached image and Debian-based stand-ins tagged
# redis:7 and nats:2-alpine, then checks:
#   1. docker run: jcached (memory store, config from JCACHED_CONFIG) beside
#      jc-origin: a miss, then a hit; the admin token comes from the
#      environment; it runs as non-root; its HEALTHCHECK turns healthy; and
#      docker stop is a clean SIGTERM exit (code 0).
#   2. docker-compose: the unchanged docker-compose.yml (after
#      `docker-compose config -q`): a cold key requested at once through every
#      replica is fetched from the demo upstream exactly once and every
#      request gets the same bytes; DELETE needs the admin token and drops the
#      key on every replica; after docker stop of the Redis primary the
#      Sentinels promote the replica, every jcached replica follows, and a
#      cold key is again fetched exactly once; a replica stopped during a
#      fetch still answers it; stopping the replicas and the upstream exits 0.
#
# Needs root on Debian 12; installs docker.io, docker-compose, debootstrap,
# curl, python3 and iproute2 when missing.  It stops what it started by PID
# and removes it at exit: containers, networks, volumes, the engine and its
# containerd, mounts and temporary directories, and this run's bridges.  The
# engine runs with --iptables=false, --ip-forward=false and --bridge=none, so
# it makes no iptables chains, no docker0 and no sysctl change (images are
# built with --network host, so no NAT is needed); the one iptables rule the
# test may add (see allow_bridged_traffic) is removed at exit.
#
# Kept between runs under $JC_CONTAINER_CACHE (/var/cache/jcached-container):
# the debootstrap rootfs tarball and the engine's image store (its build
# cache), so a rerun skips debootstrap and the apt layers.  With
# JC_CONTAINER_FRESH=1 the image store is a temporary one.  Every wait is
# bounded.  Prints PASS/FAIL per check and a summary; exits 1 on a failure.
set -uo pipefail
umask 022

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${JC_CONTAINER_CACHE:-/var/cache/jcached-container}
ROOTFS_TAR=$CACHE/debian-bookworm-minbase.tar
NET_TAG=jcct$$ # prefix of the bridges this run creates (IFNAMSIZ: 15)
PROJECT=jcct
T0=$SECONDS

W=""
DOCKERD_PID=""
ENGINE_CHILDREN=""
COMPOSE_UP=""
FWD_RULE=""
HAD_BRIDGES=""
HAD_RUN_DIRS=""
FAILED=0
RESULTS=()
NOTES=()

log() { printf '[container-test %4ds] %s\n' $((SECONDS - T0)) "$*" >&2; }
pass() {
    RESULTS+=("PASS  $1")
    log "PASS  $1"
}
fail() {
    RESULTS+=("FAIL  $1")
    FAILED=1
    log "FAIL  $1"
}
# check NAME CMD...: runs CMD, records NAME as passed or failed.
check() {
    local name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name"; fi
}
# fatal NAME: records a failure that ends the run (cleanup runs at exit).
fatal() {
    fail "$1"
    exit 1
}
# wait_for SECONDS CMD...: polls CMD every 0.5 s until it succeeds or time is up.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}
# show FILE [LINES]: the tail of a log, for a failure.
show() {
    [ -f "$1" ] || return 0
    echo "----- tail of $1" >&2
    tail -n "${2:-30}" "$1" >&2
    echo "-----" >&2
}

# ---- host preparation --------------------------------------------------------

install_missing() {
    local missing=() want
    command -v dockerd >/dev/null || missing+=(docker.io)
    for want in docker-compose debootstrap curl python3; do
        command -v "$want" >/dev/null || missing+=("$want")
    done
    command -v ip >/dev/null || missing+=(iproute2)
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing: ${missing[*]}"
    apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The Docker CLI, as a path: docker.io's, which matches the engine, when
# there is one (set after install_missing).
DOCKER_BIN=""
find_docker_cli() {
    DOCKER_BIN=/usr/bin/docker
    [ -x "$DOCKER_BIN" ] || DOCKER_BIN=$(type -P docker) || return 1
}
docker() { "$DOCKER_BIN" "$@"; }

list_bridges() { ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1; }

record_host_state() {
    HAD_BRIDGES=$(list_bridges)
    HAD_RUN_DIRS=$(ls -d /run/docker /run/containerd 2>/dev/null)
}

# When bridged frames pass through an iptables FORWARD chain that may drop
# them (br_netfilter on, and e.g. a system dockerd that set the policy to
# DROP), let frames between this run's bridges through.
allow_bridged_traffic() {
    [ "$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null)" = 1 ] || return 0
    command -v iptables >/dev/null || return 0
    iptables -w -S FORWARD | grep -qE '^-P FORWARD (DROP|REJECT)|-j (DROP|REJECT)' || return 0
    iptables -w -I FORWARD -i "$NET_TAG+" -o "$NET_TAG+" -j ACCEPT && FWD_RULE=1
}

# ---- engine ------------------------------------------------------------------

start_engine() {
    W=/tmp/jc-container.$$.$RANDOM
    mkdir -m 700 "$W" || { W="" && return 1; }
    local data=$CACHE/engine
    [ "${JC_CONTAINER_FRESH:-0}" = 1 ] && data=$W/data
    record_host_state
    allow_bridged_traffic
    export DOCKER_HOST="unix://$W/docker.sock" DOCKER_CONFIG="$W/cli" DOCKER_BUILDKIT=0
    export COMPOSE_DOCKER_CLI_BUILD=0
    unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
    dockerd --data-root "$data" --exec-root "$W/exec" -H "$DOCKER_HOST" \
        --pidfile "$W/dockerd.pid" --bridge=none --iptables=false --ip-forward=false \
        >"$W/dockerd.log" 2>&1 7>&- 8>&- 9>&- &
    DOCKERD_PID=$!
    if ! wait_for 60 docker info; then
        show "$W/dockerd.log"
        return 1
    fi
    ENGINE_CHILDREN=$(ps -o pid= --ppid "$DOCKERD_PID" | tr -d ' ')
    log "engine up (pid $DOCKERD_PID, storage $(docker info -f '{{.Driver}}'), data $data)"
    remove_engine_objects
}

# Containers, networks and volumes in this engine's store all come from this
# test; an interrupted earlier run may have left some (restart policies bring
# them back when the engine starts).  Images stay: they are the build cache.
remove_engine_objects() {
    local ids
    ids=$(docker ps -aq)
    # shellcheck disable=SC2086 # a list of container ids
    [ -z "$ids" ] || docker rm -f $ids >/dev/null
    docker network prune -f >/dev/null
    docker volume prune -f >/dev/null
}

# ours PID: PID is still a process of this run (its command line names $W),
# not a reused PID.
ours() { grep -qs "$W" "/proc/$1/cmdline"; }
gone() { ! ours "$1"; }

# stop PID SECONDS: SIGTERM, then SIGKILL after SECONDS, while PID is ours.
stop_pid() {
    ours "$1" || return 0
    kill -TERM "$1" 2>/dev/null
    wait_for "$2" gone "$1" || kill -KILL "$1" 2>/dev/null
}

stop_engine() {
    [ -n "$DOCKERD_PID" ] || return 0
    stop_pid "$DOCKERD_PID" 30
    wait "$DOCKERD_PID" 2>/dev/null
    local p
    # The engine's own containerd normally stops with it.
    for p in $ENGINE_CHILDREN; do stop_pid "$p" 10; done
    DOCKERD_PID=""
}

# Unmounts whatever is still mounted under this run's directories, deepest first.
cleanup_mounts() {
    local m
    awk '{print $2}' /proc/self/mounts | grep -E "^($W|$CACHE/engine)/" | sort -r |
        while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
}

# The engine runs with --iptables=false --ip-forward=false --bridge=none, so
# it makes no iptables chains, no docker0 and no sysctl change; what is left
# to undo is the FORWARD rule of allow_bridged_traffic, this run's bridges if
# the engine died before removing them, and the engine's empty state dirs.
cleanup_network_state() {
    local b
    if [ -n "$FWD_RULE" ]; then
        iptables -w -D FORWARD -i "$NET_TAG+" -o "$NET_TAG+" -j ACCEPT 2>/dev/null
    fi
    for b in $(list_bridges); do
        if [[ $b == "$NET_TAG"* ]] && ! grep -qx "$b" <<<"$HAD_BRIDGES"; then
            ip link delete "$b" 2>/dev/null && log "removed bridge $b"
        fi
    done
    grep -qx /run/docker <<<"$HAD_RUN_DIRS" || rmdir /run/docker/plugins /run/docker 2>/dev/null
    grep -qx /run/containerd <<<"$HAD_RUN_DIRS" || rmdir /run/containerd/s /run/containerd 2>/dev/null
}

# ---- images --------------------------------------------------------------------

apt_mirror() {
    local f=/etc/apt/sources.list.d/debian.sources
    if [ -f "$f" ]; then
        awk '/^URIs:/ {print $2; exit}' "$f"
    else
        awk '$1 == "deb" && $2 ~ /^https?:/ {print $2; exit}' /etc/apt/sources.list
    fi
}

# Trims the rootfs the way Debian's official -slim images are trimmed: no
# service starts in package scripts, no docs, man pages or translations, and
# no apt caches or lists left in layers.
slim_rootfs() {
    local r=$1
    printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
    chmod 755 "$r/usr/sbin/policy-rc.d"
    printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
        'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
        'path-exclude /usr/share/groff/*' 'path-exclude /usr/share/lintian/*' \
        'path-exclude /usr/share/linda/*' 'path-exclude /usr/share/locale/*' \
        'path-include /usr/share/locale/locale.alias' >"$r/etc/dpkg/dpkg.cfg.d/docker-slim"
    local clean='"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true";'
    printf '%s\n' "DPkg::Post-Invoke { $clean };" "APT::Update::Post-Invoke { $clean };" \
        'Dir::Cache::pkgcache "";' 'Dir::Cache::srcpkgcache "";' >"$r/etc/apt/apt.conf.d/docker-clean"
    echo 'Acquire::Languages "none";' >"$r/etc/apt/apt.conf.d/docker-no-languages"
    find "$r/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$r/usr/share/man/"* "$r/usr/share/info/"* "$r/usr/share/groff/"* "$r/usr/share/lintian/"*
    find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    rm -rf "$r/var/lib/apt/lists/"* "$r/var/cache/apt/"*.bin "$r/var/cache/apt/archives/"*.deb
}

make_rootfs_tar() {
    local mirror rootfs=$W/rootfs
    mirror=$(apt_mirror)
    [ -n "$mirror" ] || { log "no Debian mirror in the apt sources"; return 1; }
    log "debootstrap bookworm (minbase) from $mirror"
    if ! timeout 900 debootstrap --variant=minbase bookworm "$rootfs" "$mirror" \
        >"$W/debootstrap.log" 2>&1; then
        show "$W/debootstrap.log"
        return 1
    fi
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/"
        rm -f "$rootfs/etc/apt/sources.list"
    fi
    slim_rootfs "$rootfs"
    mkdir -p "$CACHE"
    tar --numeric-owner -C "$rootfs" -cf "$ROOTFS_TAR.tmp" . && mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
    local rc=$?
    rm -rf "$rootfs"
    return $rc
}

make_base_image() {
    docker image inspect debian:bookworm-slim >/dev/null 2>&1 && return 0
    if [ ! -s "$ROOTFS_TAR" ]; then
        make_rootfs_tar || return 1
    fi
    log "importing $ROOTFS_TAR as debian:bookworm-slim"
    timeout 300 "$DOCKER_BIN" import -c 'CMD ["bash"]' "$ROOTFS_TAR" debian:bookworm-slim >/dev/null
}

# build LOGNAME ARGS...: docker build without a pull, on the host's network
# (the engine has no NAT), its output in a log shown on failure.
build() {
    local name=$1
    shift
    if ! timeout 1200 "$DOCKER_BIN" build --network host --pull=false "$@" >"$W/build-$name.log" 2>&1; then
        show "$W/build-$name.log" 40
        return 1
    fi
}

build_images() {
    local t=$SRC/tests/container
    build redis -f "$t/redis.Dockerfile" -t redis:7 "$t" || return 1
    build nats -f "$t/nats.Dockerfile" -t nats:2-alpine "$t" || return 1
    # Tagging the build stage keeps its apt layer out of `image prune`.
    build stage --target build -t jcached-build:cache "$SRC" || return 1
    build origin --target origin -t jc-origin:latest "$SRC" || return 1
    build jcached -t jcached:latest "$SRC" || return 1
    docker image prune -f >/dev/null
}

image_mb() { echo $(($(docker image inspect -f '{{.Size}}' "$1") / 1000000)); }

# ---- HTTP helpers ---------------------------------------------------------------

# req NAME METHOD URL [CURL ARGS...]: prints the status; headers in $W/NAME.h,
# body in $W/NAME.b.
req() {
    local name=$1 method=$2 url=$3
    shift 3
    curl -sS --max-time 30 -X "$method" -D "$W/$name.h" -o "$W/$name.b" -w '%{http_code}' \
        "$@" "$url" 2>>"$W/curl.log" || echo 000
}
header() { grep -i "^$2:" "$W/$1.h" | tail -n 1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }
# origin_count PORT PATH: how often jc-origin was asked for PATH.
origin_count() {
    curl -sS --max-time 5 "http://127.0.0.1:$1/_stats?path=$2" | sed -n 's/.*"count":\([0-9]*\).*/\1/p'
}
free_ports() {
    python3 -c 'import socket,sys
s=[socket.socket() for _ in range(int(sys.argv[1]))]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))' "$1"
}
is_status() { [ "$(docker inspect -f "$2" "$1" 2>/dev/null)" = "$3" ]; }
healthy() { is_status "$1" '{{.State.Health.Status}}' healthy; }
ready() { curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$1/readyz"; }
not_cached() { [ "$(req "$1" GET "$2" -H 'Cache-Control: only-if-cached')" = 504 ]; }
same_bodies() {
    local first=$1 n
    for n in "$@"; do cmp -s "$W/$first.b" "$W/$n.b" || return 1; done
}
eq() { [ "$1" = "$2" ] || { log "  expected '$2', got '$1'"; return 1; }; }
has() { [[ $1 == *"$2"* ]] || { log "  expected '$2' in '$1'"; return 1; }; }
# stopped_cleanly CONTAINER: docker stop sends SIGTERM; 0 is a clean exit.
stopped_cleanly() {
    timeout 60 "$DOCKER_BIN" stop -t 20 "$1" >/dev/null && eq "$(docker inspect -f '{{.State.ExitCode}}' "$1")" 0
}

# ---- 1. docker run ----------------------------------------------------------------

test_standalone() {
    local pj po key="single-$$" net=jcct-standalone c=jcct-jcached o=jcct-origin
    read -r pj po <<<"$(free_ports 2)"
    if ! docker network create -o "com.docker.network.bridge.name=${NET_TAG}a" "$net" >/dev/null ||
        ! docker run -d --name "$o" --network "$net" --network-alias origin \
            -p "127.0.0.1:$po:9000" jc-origin:latest >/dev/null 2>>"$W/docker-run.log" ||
        ! docker run -d --name "$c" --network "$net" -p "127.0.0.1:$pj:8080" \
            -e JCACHED_CONFIG=/config/standalone.json -e JCACHED_ADMIN_TOKEN=single-token \
            -v "$SRC/tests/container/standalone.json:/config/standalone.json:ro" \
            jcached:latest >/dev/null 2>>"$W/docker-run.log"; then
        show "$W/docker-run.log"
        fatal "docker run jcached and jc-origin"
    fi
    if ! wait_for 30 ready "$pj"; then
        docker logs "$c" 2>&1 | tail -n 20 >&2
        fatal "docker run: jcached answers /readyz"
    fi
    local url="http://127.0.0.1:$pj/caches/demo/$key"
    check "docker run: a cold key is a miss (200, stored)" \
        eval 'eq "$(req s1 GET "$url")" 200 && has "$(header s1 Cache-Status)" stored'
    check "docker run: the same key again is a hit" \
        eval 'eq "$(req s2 GET "$url")" 200 && has "$(header s2 Cache-Status)" hit && cmp -s "$W/s1.b" "$W/s2.b"'
    check "docker run: the upstream was fetched once" eq "$(origin_count "$po" "/slow/$key")" 1
    check "docker run: the admin token comes from the environment" \
        eval 'eq "$(req s3 DELETE "$url")" 401 && eq "$(req s4 DELETE "$url" -H "Authorization: Bearer single-token")" 204'
    check "docker run: runs as a non-root user" eval '[ "$(docker exec "$c" id -u)" != 0 ]'
    check "docker run: the image HEALTHCHECK reports healthy" wait_for 40 healthy "$c"
    check "docker run: docker stop of jcached exits 0 (SIGTERM)" stopped_cleanly "$c"
    check "docker run: docker stop of jc-origin exits 0 (SIGTERM)" stopped_cleanly "$o"
    docker rm -f "$c" "$o" >/dev/null
    docker network rm "$net" >/dev/null
}

# ---- 2. docker-compose ------------------------------------------------------------

dc() {
    timeout "${DC_TIMEOUT:-120}" docker-compose -p "$PROJECT" -f "$SRC/docker-compose.yml" \
        -f "$W/compose-test.yml" "$@"
}
cid() { dc ps -q "$1"; }

compose_up() {
    check "docker-compose.yml passes docker-compose config -q" \
        docker-compose -f "$SRC/docker-compose.yml" config -q
    # The only test-specific setting: a bridge name this run can recognise.
    printf '%s\n' 'version: "2.4"' 'networks:' '  default:' '    driver_opts:' \
        "      com.docker.network.bridge.name: ${NET_TAG}b" >"$W/compose-test.yml"
    read -r P1 P2 P3 PO <<<"$(free_ports 4)"
    export JCACHED_PORT_1=$P1 JCACHED_PORT_2=$P2 JCACHED_PORT_3=$P3 JCACHED_ORIGIN_PORT=$PO
    export REDIS_PASSWORD=redis-$RANDOM$$ SENTINEL_PASSWORD=sentinel-$RANDOM$$
    export NATS_TOKEN=nats-$RANDOM$$ JCACHED_ADMIN_TOKEN=admin-$RANDOM$$
    COMPOSE_UP=1
    if ! DC_TIMEOUT=300 dc up -d --no-build >"$W/compose-up.log" 2>&1; then
        show "$W/compose-up.log"
        fatal "docker-compose up: every service starts and its dependencies turn healthy"
    fi
    local p
    for p in "$P1" "$P2" "$P3"; do
        wait_for 60 ready "$p" || fatal "docker-compose up: replica on port $p answers /readyz"
    done
    pass "docker-compose up: redis, replica, 3 sentinels, nats, origin, 3 jcached ready"
    check "docker-compose: the replicas' health checks report healthy" \
        wait_for 40 eval 'healthy "$(cid jcached-1)" && healthy "$(cid jcached-2)" && healthy "$(cid jcached-3)"'
}

# cold_key_everywhere KEY LABEL: nine concurrent requests, three through each
# replica, for one cold key.
cold_key_everywhere() {
    local key=$1 label=$2 n=0 p i pids=()
    for i in 1 2 3; do
        for p in "$P1" "$P2" "$P3"; do
            n=$((n + 1))
            req "c$n" GET "http://127.0.0.1:$p/caches/demo/$key" >"$W/c$n.code" &
            pids+=($!)
        done
    done
    wait "${pids[@]}"
    local codes stored=0
    codes=$(for i in 1 2 3 4 5 6 7 8 9; do
        cat "$W/c$i.code"
        echo
    done | sort -u | tr '\n' ' ')
    for i in 1 2 3 4 5 6 7 8 9; do
        [[ "$(header "c$i" Cache-Status)" == *stored* ]] && stored=$((stored + 1))
    done
    check "$label: 9 concurrent requests for a cold key over 3 replicas all get 200" eq "$codes" "200 "
    check "$label: they all get the same body" same_bodies c1 c2 c3 c4 c5 c6 c7 c8 c9
    check "$label: exactly one of them stored the fetch" eq "$stored" 1
    check "$label: the demo upstream was fetched exactly once" \
        eq "$(origin_count "$PO" "/slow/$key")" 1
}

delete_everywhere() {
    local key=$1 auth="Authorization: Bearer $JCACHED_ADMIN_TOKEN"
    local path="/caches/demo/$key"
    check "compose: another replica now answers with a hit" \
        eval 'eq "$(req h1 GET "http://127.0.0.1:$P2$path")" 200 && has "$(header h1 Cache-Status)" hit'
    check "compose: DELETE without the admin token is 401" \
        eq "$(req d1 DELETE "http://127.0.0.1:$P1$path")" 401
    check "compose: DELETE with the admin token is 204" \
        eq "$(req d2 DELETE "http://127.0.0.1:$P1$path" -H "$auth")" 204
    check "compose: after DELETE the status is EMPTY" \
        eval 'req d3 GET "http://127.0.0.1:$P3$path/status" -H "$auth" >/dev/null && has "$(cat "$W/d3.b")" EMPTY'
    check "compose: after DELETE no replica serves the key from cache (only-if-cached: 504)" \
        wait_for 10 eval 'not_cached o2 "http://127.0.0.1:$P2$path" && not_cached o3 "http://127.0.0.1:$P3$path"'
    check "compose: after DELETE the next request fetches again" \
        eval 'eq "$(req d4 GET "http://127.0.0.1:$P3$path")" 200 && eq "$(origin_count "$PO" "/slow/$key")" 2'
}

primary_addr() {
    docker exec "$(cid sentinel-1)" redis-cli -p 26379 --no-auth-warning -a "$SENTINEL_PASSWORD" \
        sentinel get-master-addr-by-name primary 2>/dev/null | head -n 1
}

# docker stop of the Redis primary: the Sentinels promote the replica, every
# jcached replica follows, and a cold key is again fetched exactly once.
failover() {
    local before
    before=$(primary_addr)
    check "compose: docker stop of the Redis primary exits 0 (SIGTERM)" stopped_cleanly "$(cid redis)"
    if ! wait_for 60 eval '[ -n "$(primary_addr)" ] && [ "$(primary_addr)" != "$before" ]'; then
        fail "compose: the Sentinels promote the Redis replica"
        return
    fi
    pass "compose: the Sentinels promote the Redis replica ($before -> $(primary_addr))"
    check "compose: every jcached replica follows the failover (/readyz)" \
        wait_for 60 eval 'ready "$P1" && ready "$P2" && ready "$P3"'
    cold_key_everywhere "failover-$$" "compose, after the failover"
}

# SIGTERM while a fetch is running: the fetch finishes, its client gets the
# answer, and the process exits 0.
stop_during_fetch() {
    local key="drain-$$" pid c
    c=$(cid jcached-1)
    req f1 GET "http://127.0.0.1:$P1/caches/demo/$key" >"$W/f1.code" &
    pid=$!
    wait_for 5 eval '[ "$(origin_count "$PO" "/slow/$key")" = 1 ]'
    check "compose: docker stop of a replica during a fetch exits 0 (SIGTERM)" stopped_cleanly "$c"
    wait "$pid"
    check "compose: the request of that fetch still got its 200" eq "$(cat "$W/f1.code")" 200
}

test_compose() {
    compose_up
    cold_key_everywhere "cold-$$" compose
    delete_everywhere "cold-$$"
    failover
    stop_during_fetch
    local s
    for s in jcached-2 jcached-3 origin; do
        check "compose: docker stop of $s exits 0 (SIGTERM)" stopped_cleanly "$(cid "$s")"
    done
}

# ---- main -----------------------------------------------------------------------

summary() {
    echo
    echo "==== jcached container test: $((SECONDS - T0)) s"
    local r
    for r in "${RESULTS[@]}"; do echo "  $r"; done
    for r in "${NOTES[@]}"; do echo "  note: $r"; done
    if [ "$FAILED" = 0 ] && [ ${#RESULTS[@]} -gt 0 ]; then
        echo "==== PASS (${#RESULTS[@]} checks)"
    else
        echo "==== FAIL"
    fi
}

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    # A signal may have arrived inside a redirected command (wait_for).
    exec 1>&7 2>&8
    if [ -n "$DOCKERD_PID" ]; then
        if [ -n "$COMPOSE_UP" ]; then
            [ "$FAILED" = 0 ] || dc logs --no-color --tail=30 >&2 2>&1
            dc down -v --remove-orphans -t 5 >"$W/compose-down.log" 2>&1
        fi
        local ids
        ids=$(docker ps -aq)
        # shellcheck disable=SC2086 # a list of container ids
    [ -z "$ids" ] || docker rm -f $ids >/dev/null
        docker network prune -f >/dev/null
        docker volume prune -f >/dev/null
        stop_engine
    fi
    if [ -n "$W" ]; then
        cleanup_mounts
        cleanup_network_state
        rm -rf "$W"
    fi
    [ "$rc" = 0 ] || FAILED=1
    summary
    [ "$FAILED" = 0 ] && exit 0
    exit 1
}

main() {
    exec 7>&1 8>&2
    trap cleanup EXIT
    trap 'NOTES+=("interrupted by a signal"); exit 130' INT TERM
    [ "$(id -u)" = 0 ] || fatal "runs as root (it starts a Docker engine)"
    install_missing || fatal "install docker.io, docker-compose, debootstrap, curl"
    find_docker_cli || fatal "find the docker command"
    mkdir -p "$CACHE"
    exec 9>"$CACHE/lock"
    flock -w 1200 9 || fatal "another container test holds $CACHE/lock"
    start_engine || fatal "start a private Docker engine"
    local t=$SECONDS
    make_base_image || fatal "make the debian:bookworm-slim base image"
    build_images || fatal "build the images (jcached, jc-origin, redis:7, nats:2-alpine stand-ins)"
    pass "images built in $((SECONDS - t)) s"
    NOTES+=("image jcached:latest: $(image_mb jcached:latest) MB, jc-origin:latest: $(image_mb jc-origin:latest) MB")
    t=$SECONDS
    test_standalone
    NOTES+=("docker run checks: $((SECONDS - t)) s")
    t=$SECONDS
    test_compose
    NOTES+=("docker-compose checks: $((SECONDS - t)) s")
}

main "$@"
