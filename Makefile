# Thin wrapper over CMake. `make demo` and `make test` install what is missing first.
BUILD ?= build
SAN_BUILD ?= build-san
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
ifdef CI
CMAKE_FLAGS += -DEF_WERROR=ON
endif

.PHONY: all setup build demo test test-san bench format clean

all: build

setup:
	@bash scripts/setup.sh

build:
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: setup build
	@bash scripts/demo.sh $(BUILD)

test: setup build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600
	@bash scripts/summarize_tests.sh $(BUILD)

test-san: setup
	@cmake -S . -B $(SAN_BUILD) $(CMAKE_FLAGS) -DEF_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(SAN_BUILD) -j $(JOBS)
	@cd $(SAN_BUILD) && EF_SANITIZED=1 ctest --output-on-failure -j $(JOBS) --timeout 900 -LE nosan
	@bash scripts/summarize_tests.sh $(SAN_BUILD)

bench: build
	@bash scripts/setup.sh --bench
	@bash tests/bench/run_all.sh $(BUILD)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h' '*.cu')

clean:
	rm -rf $(BUILD) $(SAN_BUILD)
