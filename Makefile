# floodgate - the two commands of the README, and the benchmark.
#   make run    install what is missing, build, start floodgated with a copy of rules/floodgate.conf in run/
#   make test   install what is missing, build, run the whole suite (plain, then ASan+UBSan)
#   make fuzz   run every libFuzzer driver for FUZZ_SECONDS (default 300) each, with clang
#   make bench  compare floodgated with ../shared/bench/null-policy
BUILD ?= build
BUILD_ASAN ?= build-asan
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# -Werror (FG_WERROR) is ours: on for make test and CI, off for make run and for packagers' builds
WERROR ?= OFF
test test-plain test-asan test-fuzz: WERROR = ON

.PHONY: all deps build run test test-plain test-asan test-fuzz bench fuzz clean

all: build

deps:
	@sh tests/deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFG_WERROR=$(WERROR) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# make run's state (the lists floodgatectl edits, the snapshot) lives in ./run/, never in rules/: the lists
# are copied there when missing, and the configuration is copied at each start (its relative paths are
# relative to its own folder, so run/floodgate.conf reads run/lists/ and keeps its sockets in run/)
run: build
	mkdir -p run/lists
	for f in rules/lists/*; do [ -e "run/lists/$${f##*/}" ] || cp "$$f" run/lists/; done
	{ echo "# written by make run from rules/floodgate.conf at each start: edit that file, not this one"; \
	  cat rules/floodgate.conf; } > run/floodgate.conf
	./$(BUILD)/floodgated -c run/floodgate.conf

test: deps test-plain test-asan test-fuzz

test-plain: build
	cd $(BUILD) && ctest --output-on-failure

test-asan: deps
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DFG_SANITIZE=ON -DFG_WERROR=$(WERROR) >/dev/null
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure

bench: build
	sh tests/bench/run.sh $(BUILD)

# every fuzz driver on its corpus plus FUZZ_SECONDS of new inputs (20 in make test); a crash fails
test-fuzz:
	@sh tests/deps.sh clang libclang-rt-14-dev
	WERROR=$(WERROR) sh tests/fuzz/run.sh $${FUZZ_SECONDS:-20}

# long runs: make fuzz FUZZ_SECONDS=3600 (what the drivers find is kept in build-fuzz/corpus-NAME)
fuzz:
	@sh tests/deps.sh clang libclang-rt-14-dev
	sh tests/fuzz/run.sh $${FUZZ_SECONDS:-300}

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) build-fuzz run
