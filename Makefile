# SPDX-License-Identifier: Apache-2.0
# Thin wrapper: deps, build, test, demo, bench, deb. The real build is CMake (build/).
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

# golang-github-osrg-gobgp-dev: GoBGP's API .proto files (the agent's gobgpd client is generated from
# them); gobgpd, bird2, nftables: e2e_bgp_ecmp_* (balancers' BGP speaker, router, fault injection);
# frr: e2e_bgp_frr (the README's FRR router config, zebra + bgpd); systemd: e2e_bgp_systemd (the
# deploy/ units run by a systemd 252 in namespaces; PID 1 need not be systemd).
# libc-ares-dev: the agent's asynchronous resolver for backends by name (also pulled in by gRPC);
# dnsmasq-base: the DNS server the discovery e2e test runs in a namespace (the binary only, no
# system service).
DEB_PACKAGES := build-essential cmake pkg-config clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev \
	libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev libabsl-dev \
	libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev libspdlog-dev libfmt-dev libyaml-cpp-dev libyaml-dev \
	libsystemd-dev libcpp-httplib-dev libssl-dev openssl iproute2 ethtool curl socat python3 procps util-linux \
	dpkg-dev gobgpd golang-github-osrg-gobgp-dev bird2 nftables frr systemd \
	libc-ares-dev dnsmasq-base
# make bench only: the end-to-end wrk comparison (bench/e2e-wrk.sh) and its backends' HTTP server.
BENCH_PACKAGES := wrk nginx-light
# make bench: extra xlb-scale-bench flags, e.g. SCALE_BENCH_FLAGS='--sizes 300x16,1000x16'.
SCALE_BENCH_FLAGS ?=

.PHONY: all deps bench-deps build test test-unit test-bpf test-e2e test-package demo bench deb clean

all: build

# $(call apt_install,TARGET,PACKAGES): apt-get install the PACKAGES that are missing.
define apt_install
	@missing=$$(for p in $(2); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "make $(1): installing $$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "make $(1): need root to apt-get install: $$missing" >&2; exit 1; fi; \
		DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	else echo "make $(1): all packages present"; fi
endef

deps:
	$(call apt_install,deps,$(DEB_PACKAGES))

bench-deps:
	$(call apt_install,bench-deps,$(BENCH_PACKAGES))

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release -DXLB_WARNINGS_AS_ERRORS=ON $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure --no-tests=error

test-unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L unit

test-bpf: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L bpf

test-e2e: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L e2e

test-package: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L package

demo: build
	bash tests/e2e/demo.sh $(BUILD_DIR)

bench: build bench-deps
	$(BUILD_DIR)/bench/xlb-bench --out BENCHMARKS.md
	$(BUILD_DIR)/bench/health/xlb-health-bench --targets 1000 --interval-ms 1000 --seconds 10 --append BENCHMARKS.md
	bash bench/e2e-wrk.sh $(BUILD_DIR) --append BENCHMARKS.md
	$(BUILD_DIR)/bench/scale/xlb-scale-bench --append BENCHMARKS.md $(SCALE_BENCH_FLAGS)
	$(BUILD_DIR)/bench/scale/xlb-churn-bench --vips 10000 --backends 10 --rate 100 --seconds 10 --append BENCHMARKS.md
	$(BUILD_DIR)/bench/scale/xlb-reconcile-bench --flows 1000000 --append BENCHMARKS.md

# $(BUILD_DIR)/xlb_<version>_<arch>.deb (README "Packaging").
deb: build
	cd $(BUILD_DIR) && cpack -G DEB

clean:
	rm -rf $(BUILD_DIR)
