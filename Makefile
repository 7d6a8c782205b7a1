# Entry points. `make demo` and `make test` work on a fresh Debian machine: each installs the
# missing Debian packages first (apt-get, idempotent), then configures and builds.
BUILD      ?= build
BUILD_SAN  ?= build-san
BUILD_FUZZ ?= build-fuzz
FUZZ_SECONDS ?= 20
JOBS       ?= $(shell nproc)
MOZART     := $(BUILD)/apps/mozart/mozart

# Debian packages the build, the tests and the formatter need. matplotlib and numpy draw the
# report's figures, chromium renders the report in its test, OpenMPI runs sweeps across ranks:
# the build works without the last three (their tests are skipped), but CI has them all.
DEB_PACKAGES := cmake make g++ pkg-config clang-format \
  libfmt-dev libyaml-cpp-dev nlohmann-json3-dev libcli11-dev \
  googletest libgtest-dev libgmock-dev libbenchmark-dev libsimgrid-dev \
  libsimdjson-dev libxxhash-dev clang coinor-libcbc-dev libmetis-dev \
  python3 python3-matplotlib python3-numpy chromium libopenmpi-dev openmpi-bin

.PHONY: all deps build demo test test-sanitize fuzz fuzz-long format format-check bench clean

all: build

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:" $$missing; \
	  if [ "$$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

# The main job (the Mozart study, simulated), after a tour of the stages that feed it.
demo: build
	$(MOZART) model list
	$(MOZART) hw list
	$(MOZART) model show qwen3-30b-a3b
	$(MOZART) hw show mozart-nop-tree-ucie
	$(MOZART) hw check configs/hw/wsc-mesh-8x8.yaml
	$(MOZART) hw cost mozart-paper-qwen3
	$(MOZART) model cost qwen3-30b-a3b --seq-len 256 --sequences 8 --micro-batches 4
	$(MOZART) net collective mozart-nop-tree-ucie --kind all-reduce-in-network --bytes '64 MB'
	$(MOZART) net collective mozart-nop-tree-ucie --kind all-reduce-ring --bytes '64 MB'
	$(MOZART) net collective wsc-mesh-8x8 --kind all-to-all --bytes '1 MB' --timeline $(BUILD)/a2a-timeline.json
	$(MOZART) trace gen --model olmoe-1b-7b --tokens 8192 --seed 1 -o $(BUILD)/olmoe.mzt
	$(MOZART) trace stats $(BUILD)/olmoe.mzt
	$(MOZART) trace gen --token-experts data/routing-counts/token-experts/olmoe-1b-7b-arxiv.json \
	  --tokens 8192 -o $(BUILD)/olmoe-arxiv.mzt
	$(MOZART) trace stats $(BUILD)/olmoe-arxiv.mzt
	$(MOZART) trace gen --token-experts data/routing-counts/token-experts/olmoe-1b-7b-arxiv.json \
	  --tokens 8192 --seed 2 -o $(BUILD)/olmoe-arxiv-heldout.mzt
	$(MOZART) place compare --trace $(BUILD)/olmoe-arxiv.mzt --eval $(BUILD)/olmoe-arxiv-heldout.mzt \
	  --hw mozart-nop-tree-ucie --model olmoe-1b-7b
	$(MOZART) place --trace $(BUILD)/olmoe-arxiv.mzt --eval $(BUILD)/olmoe-arxiv-heldout.mzt \
	  --hw mozart-nop-tree-ucie --model olmoe-1b-7b --placer mozart --refine -o $(BUILD)/olmoe-placement.json
	$(MOZART) simulate --model olmoe-1b-7b --hw mozart-paper-olmoe --policy C \
	  -o $(BUILD)/olmoe-step.json --timeline $(BUILD)/olmoe-step-trace.json
	$(MOZART) map show --hw wsc-mesh-8x8 --mapping er --tp 16
	$(MOZART) serve --model qwen3-235b-a22b --hw wsc-mesh-8x8 --mapping er --tp 16 --batch 64 \
	  --context 4096 -o $(BUILD)/serve.json
	$(MOZART) reproduce mozart --markdown $(BUILD)/mozart-study.md -o $(BUILD)/mozart-study.json \
	  --out-dir $(BUILD)/mozart-study
	$(MOZART) report $(BUILD)/mozart-study
	$(MOZART) reproduce moentwine --quick --markdown $(BUILD)/moentwine-study.md

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The same tests under AddressSanitizer and UndefinedBehaviorSanitizer.
test-sanitize: deps
	cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DMOZART_SANITIZE=ON
	cmake --build $(BUILD_SAN) -j $(JOBS)
	cd $(BUILD_SAN) && ctest --output-on-failure -j $(JOBS)

# Each reader of a user file under libFuzzer (clang), from its seed corpus (fuzz/corpus/NAME,
# NAME without the trace_ prefix), for FUZZ_SECONDS each; `make fuzz-long`: 10 minutes each.
# The last lines of each run give its executions ("Done N runs in S second(s)"); a crash stops
# the loop and prints the report's last 60 lines (the failing input is left as ./crash-*).
FUZZ_TARGETS := trace_native trace_jsonl trace_npy trace_csv hw model hf placement placement_csv
fuzz: deps
	CC=clang CXX=clang++ cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DMOZART_FUZZ=ON -DMOZART_BUILD_TESTS=OFF
	cmake --build $(BUILD_FUZZ) -j $(JOBS) $(addprefix --target fuzz_,$(FUZZ_TARGETS))
	@for f in $(FUZZ_TARGETS); do \
	  work=$$(mktemp -d); \
	  echo "fuzzing the $$f reader for $(FUZZ_SECONDS) s"; \
	  $(BUILD_FUZZ)/fuzz/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
	    -max_len=65536 $$work fuzz/corpus/$${f#trace_} >$$work.log 2>&1; rc=$$?; \
	  if [ $$rc -eq 0 ]; then tail -2 $$work.log; else tail -60 $$work.log; fi; \
	  rm -rf $$work $$work.log; [ $$rc -eq 0 ] || exit $$rc; \
	done

fuzz-long:
	$(MAKE) fuzz FUZZ_SECONDS=600

SOURCES = $(shell git ls-files '*.cpp' '*.hpp' 2>/dev/null)

format: deps
	clang-format -i $(SOURCES)

format-check: deps
	clang-format --dry-run -Werror $(SOURCES)

bench: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DMOZART_BUILD_BENCH=ON
	cmake --build $(BUILD) -j $(JOBS)
	@for b in $(BUILD)/bench/*_bench; do [ -x "$$b" ] && "$$b"; done; true

clean:
	rm -rf $(BUILD) $(BUILD_SAN) $(BUILD_FUZZ)
