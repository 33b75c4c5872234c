# Kiln's entry points. `make demo` and `make test` work on a fresh Debian machine: each installs
# what is missing first. Build outputs go to build/; downloaded and built tools (Kubernetes
# binaries, KWOK, Go modules) are cached outside the repository.
BUILD_DIR ?= build
JOBS ?= 2
CTEST_LABELS ?= unit|integration|e2e

.PHONY: all setup configure build k8s test test-unit test-integration test-e2e demo bench \
        cluster-up cluster-down format clean

all: build

setup:
	scripts/setup.sh

# Release (no debug info) keeps the 2-core build short; benchmarks are built by `make bench` only.
$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DKILN_BUILD_BENCH=OFF

configure: $(BUILD_DIR)/build.ninja

build: setup configure
	cmake --build $(BUILD_DIR) -j$(JOBS)

# Kubernetes components for every tier, built from Kubernetes' Go modules and cached.
k8s:
	scripts/k8s-binaries kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy >/dev/null

test: build k8s
	ctest --test-dir $(BUILD_DIR) -L '$(CTEST_LABELS)' --output-on-failure

test-unit: build
	ctest --test-dir $(BUILD_DIR) -L unit --output-on-failure

test-integration: build k8s
	ctest --test-dir $(BUILD_DIR) -L integration --output-on-failure

test-e2e: build k8s
	ctest --test-dir $(BUILD_DIR) -L e2e --output-on-failure

demo: build k8s
	scripts/demo

bench: setup configure
	cmake -S . -B $(BUILD_DIR) -DKILN_BUILD_BENCH=ON
	cmake --build $(BUILD_DIR) -j$(JOBS)
	scripts/bench $(BUILD_DIR)

cluster-up: k8s
	scripts/local-cluster up --tier $(or $(TIER),simulated)

cluster-down:
	scripts/local-cluster down

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)
