# Thin wrapper around CMake. Every target installs missing Debian packages
# first (scripts/install-deps), so a fresh Debian 12 machine needs nothing else.
JOBS    ?= $(shell nproc)
CMAKE   ?= cmake
FUZZ_SECONDS ?= 60

.PHONY: all deps build test test-unit test-full demo fuzz fuzz-run bench format format-check clean

all: build

deps:
	@scripts/install-deps

# build/: optimised, for the tools and the benchmarks (build/bench/*).
build: deps
	@$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@$(CMAKE) --build build -j$(JOBS)

# make test: what CI runs. Format check, the optimised build, gcc build with
# ASan+UBSan and every ctest test, the issue-size in-memory transfer, the
# clang -Werror build, then every fuzz target for a bounded time.
test: deps format-check build test-unit test-full fuzz-run

test-unit: deps
	@$(CMAKE) -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DPM_SANITIZE=ON >/dev/null
	@$(CMAKE) --build build-test -j$(JOBS)
	@cd build-test && ctest --output-on-failure -j$(JOBS) --timeout 900

# Two hosts in memory at issue 5's sizes: 1 GiB each way under 1% loss,
# duplication and reordering, then 100,000 churned connections. ctest runs
# the same test at 64 MiB / 20,000 under ASan (the full sizes take 6 min
# there); here it is the optimised build (about a minute).
test-full: build
	@PM_HOST_TRANSFER_MB=1024 PM_HOST_CHURN=100000 build/tests/test_host_transfer

# build-fuzz/: clang, libFuzzer + ASan + UBSan; also the clang -Werror build.
fuzz: deps
	@CC=clang $(CMAKE) -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DPM_FUZZ=ON >/dev/null
	@$(CMAKE) --build build-fuzz -j$(JOBS)

fuzz-run: fuzz
	@scripts/fuzz-run build-fuzz $(FUZZ_SECONDS)

demo: build
	@scripts/demo

bench: build
	@for b in build/bench/*; do echo "== $$b --quick"; $$b --quick --json || exit 1; done

format:
	@git ls-files -z -co --exclude-standard '*.c' '*.h' | xargs -0 clang-format -i

format-check:
	@scripts/check-format

clean:
	rm -rf build build-test build-fuzz
