# A thin wrapper over CMake.  `make run` and `make test` install what is
# missing (Debian packages, when run as root), build, then run or test.

BUILD      ?= build
ASAN_BUILD ?= build-asan
CMAKE_FLAGS ?=
JOBS       ?= 2
CONFIG     ?= config/jcached.example.json

DEB_PACKAGES = build-essential cmake pkg-config libmicrohttpd-dev libhttp-parser-dev libhiredis-dev libnats-dev \
               libjansson-dev libcurl4-openssl-dev libevent-dev uthash-dev check python3 curl \
               redis-server redis-sentinel nats-server

.PHONY: all deps build run test unit asan asan-test format format-check symbols-check clean container-test bench

all: build

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:" $$missing; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "missing Debian packages (run as root, or install them): $$missing" >&2; exit 1; \
	  fi; \
	fi

build: deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

# Starts the demo slow upstream (build/jc-origin on 127.0.0.1:9000) and
# jcached on the example config (127.0.0.1:8080), in the foreground.
run: build
	@$(BUILD)/jc-origin --listen 127.0.0.1:9000 & origin=$$!; \
	trap 'kill $$origin 2>/dev/null' EXIT INT TERM; \
	echo "demo upstream on http://127.0.0.1:9000 (pid $$origin); jcached on http://127.0.0.1:8080"; \
	$(BUILD)/jcached --config $(CONFIG)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L unit

asan: deps
	cmake -S . -B $(ASAN_BUILD) -DJC_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)

asan-test: asan
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

# A real Docker engine, the image and the whole docker-compose.yml, end to end.
# Root on Debian 12; installs docker.io, docker-compose and debootstrap when
# missing; caches the base rootfs and the image store under
# /var/cache/jcached-container.
container-test:
	tests/container/run.sh

# The benchmark against nginx and Varnish (run by hand; about 7 minutes).
bench:
	bench/run.sh

# Every exported symbol of the project's libraries is jc_-prefixed.
symbols-check: build
	@bad=$$(nm -g --defined-only $(BUILD)/libjc_core.a $(BUILD)/libjc_config.a $(BUILD)/libjc_server.a \
	  | grep -E ' [TDBRC] ' | grep -v ' jc_' || true); \
	if [ -n "$$bad" ]; then echo "symbols without the jc_ prefix:"; echo "$$bad"; exit 1; fi

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
