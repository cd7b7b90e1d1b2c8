# Thin wrapper over CMake. The README's two commands are `make run` and `make test`.
JOBS ?= $(shell nproc)
DB ?= var/callhook.db
LISTEN ?= 127.0.0.1:8080

.PHONY: all build run test unit fuzz bench format clean deps deps-test

all: build

deps:
	@scripts/deps.sh run

deps-test:
	@scripts/deps.sh test

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	@echo "building build/callhook …"
	@cmake --build build -j$(JOBS) >build/.build.log 2>&1 || { cat build/.build.log; exit 1; }

# Build, create ./var/callhook.db with a demo tenant (credentials printed), serve on 127.0.0.1:8080.
run: build
	@mkdir -p var
	@./build/callhook demo --db $(DB) --listen $(LISTEN)
	@exec ./build/callhook serve --db $(DB) --listen $(LISTEN)

# Sanitized build (ASan+UBSan), unit + black-box + crash tests, short fuzz runs. The Release
# build of `make run` (gcc, whose warnings differ from clang's) is built first, so CI keeps it
# compiling.
test: deps-test build
	@scripts/check-format.sh
	@CC=clang CXX=clang++ cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DCH_SANITIZE=ON -DCH_TESTS=ON -DCH_FUZZ=ON >/dev/null
	@cmake --build build-test -j$(JOBS)
	@scripts/check-layers.sh build-test
	@cd build-test && ctest --output-on-failure -j2

fuzz: deps-test
	@bench/fuzz $(or $(SECONDS),300)

bench:
	@bench/ingest/run.sh

format:
	@clang-format -i src/*.c src/*/*.c src/*/*.h src/*/*.cc tests/unit/*.c fuzz/*.c fuzz/*.h bench/*/*.c

clean:
	rm -rf build build-test build-fuzz
