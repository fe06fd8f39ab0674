# dnateq — build, test, reproduce.  `make help` lists the targets.
#
# Layout: src/*.c and src/quant/*.c -> build/libdnateq.a;
#         experiments/<name>.c       -> build/bin/dnateq-<name>;
#         tests/test_<name>.c        -> build/test/test_<name> (ASan+UBSan).

SHELL   := /bin/bash
CC      ?= cc
PKGS    := openblas gsl hdf5 inih zlib
OPT     ?= -O2
CFLAGS  := -std=c11 $(OPT) -Wall -Wextra -Werror -fopenmp -D_DEFAULT_SOURCE
# pkg-config is queried lazily so that `make deps` works before it exists.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# GSL is linked without its reference CBLAS so that cblas_* bind to OpenBLAS.
PKG_LIBS   = $(filter-out -lgslcblas,$(shell pkg-config --libs $(PKGS) 2>/dev/null))
LDLIBS   = $(PKG_LIBS) -lm
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
THREADS ?= 2
QUICK   ?=

LIB_SRC  := $(sort $(wildcard src/*.c src/quant/*.c))
DRV_SRC  := $(sort $(wildcard experiments/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_SUPPORT := $(sort $(filter-out $(TEST_SRC),$(wildcard tests/*.c)))

LIB_OBJ  := $(LIB_SRC:src/%.c=build/obj/%.o)
SAN_OBJ  := $(LIB_SRC:src/%.c=build/san/obj/%.o)
BINS     := $(DRV_SRC:experiments/%.c=build/bin/dnateq-%)
SAN_BINS := $(DRV_SRC:experiments/%.c=build/san/bin/dnateq-%)
TESTS    := $(TEST_SRC:tests/%.c=build/test/%)

# The revision every result file records: HEAD, "-dirty" when a tracked
# input differs from it.  The outputs (results/ and the committed paper PDF)
# are not inputs, so a reproduce run that rewrites them does not turn its
# own revision dirty (which would also relink every binary mid-run).
GITREV := $(shell r=$$(git rev-parse --short=12 HEAD 2>/dev/null) || { echo unknown; exit 0; }; \
    git diff --quiet HEAD -- . ':(exclude)results' ':(exclude)paper/dnateq-repro.pdf' 2>/dev/null \
    && echo $$r || echo $$r-dirty)

.PHONY: all deps deps-torch test bench bench-engine reproduce check-outputs figures paper zoo clean help run
.DEFAULT_GOAL := all

all: deps build/libdnateq.a $(BINS)

help:
	@echo "dnateq make targets:"
	@echo "  make              build build/libdnateq.a and build/bin/dnateq-* (runs deps)"
	@echo "  make deps         check / install the Debian packages (apt-get as root)"
	@echo "  make test         build and run the cmocka suite under ASan+UBSan"
	@echo "  make bench        run the benchmarks (see README)"
	@echo "  make reproduce    run every experiment, then figures and paper (QUICK=1: reduced)"
	@echo "  make check-outputs  check every table, figure and the paper exist (QUICK=1 too)"
	@echo "  make run CONFIG=configs/X.ini   run one experiment from its config"
	@echo "  make figures      regenerate every figure from plots/*.gp"
	@echo "  make paper        rebuild paper/dnateq-repro.pdf from the results present"
	@echo "  make macros       regenerate <resdir>/macros.tex (the paper's numbers)"
	@echo "  make config-docs  regenerate configs/README.md from the drivers' key tables"
	@echo "  make fuzz         run the libFuzzer harnesses (FUZZ_SECONDS each)"
	@echo "  make dnateq / compare / distfit / qerror / expdot / energy / dump"
	@echo "                    one experiment for every zoo model (QUICK=1: reduced)"
	@echo "  make zoo          retrain the model zoo with PyTorch and re-export it"
	@echo "  make clean        remove build/ (results stay)"

deps:
	@bash .ci/deps.sh core

deps-torch:
	@bash .ci/deps.sh torch

# The revision is rewritten only when it changes, so fsutil.o rebuilds then.
build/gitrev.h: FORCE
	@mkdir -p build
	@echo '#define DQ_GIT_REV "$(GITREV)"' > build/gitrev.h.new
	@cmp -s build/gitrev.h.new build/gitrev.h || mv build/gitrev.h.new build/gitrev.h
	@rm -f build/gitrev.h.new
FORCE:

build/obj/fsutil.o build/san/obj/fsutil.o: build/gitrev.h
build/obj/fsutil.o build/san/obj/fsutil.o: EXTRA = -include build/gitrev.h

build/obj/%.o: src/%.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Isrc $(EXTRA) -MMD -MP -c $< -o $@

build/libdnateq.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/bin/dnateq-%: experiments/%.c build/libdnateq.a
	@mkdir -p build/bin
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Isrc -MMD -MP $< build/libdnateq.a $(LDLIBS) -o $@

# ---- sanitizer build for tests -----------------------------------------
build/san/obj/%.o: src/%.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS:-O2=-O1) -g $(SAN) $(PKG_CFLAGS) -Isrc $(EXTRA) -MMD -MP -c $< -o $@

build/san/libdnateq.a: $(SAN_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/san/bin/dnateq-%: experiments/%.c build/san/libdnateq.a
	@mkdir -p build/san/bin
	$(CC) $(CFLAGS:-O2=-O1) -g $(SAN) $(PKG_CFLAGS) -Isrc -MMD -MP $< build/san/libdnateq.a $(LDLIBS) -o $@

build/test/test_%: tests/test_%.c $(TEST_SUPPORT) build/san/libdnateq.a
	@mkdir -p build/test
	$(CC) $(CFLAGS:-O2=-O1) -g $(SAN) $(PKG_CFLAGS) -Isrc -Itests -MMD -MP $< $(TEST_SUPPORT) \
	    build/san/libdnateq.a $(LDLIBS) $(shell pkg-config --libs cmocka) -o $@

# Each test binary runs from the repository root; drivers under test are the
# sanitizer builds in build/san/bin.
test: deps $(TESTS) $(SAN_BINS)
	@bash tests/run.sh $(TESTS)

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(SAN_OBJ:.o=.d) $(BINS:%=%.d) $(TESTS:%=%.d)

# ---- model zoo (needs PyTorch; `make reproduce` never does) -------------
ZOO := mlp alexnet resnet20 vit
PY  := /usr/bin/python3

# Retrain every zoo model from scratch, then export each to data/zoo/NAME.h5
# (about an hour at 2 threads; see data/zoo/train_log.json for the times).
zoo: deps-torch
	$(PY) data/zoo/train.py --threads $(THREADS)
	@for m in $(ZOO); do $(PY) data/zoo/export.py --model $$m --threads $(THREADS) || exit 1; done

# C engine vs PyTorch images/s on the test split (batch 256, $(THREADS) threads).
bench: bench-engine

# Both sides run on the OpenBLAS kernels every driver pins itself to
# (src/blas.h), so PyTorch's linear layers use the same BLAS code.
bench-engine: export OPENBLAS_CORETYPE := $(or $(OPENBLAS_CORETYPE),$(shell grep -qw avx2 /proc/cpuinfo && echo Haswell))
bench-engine: all
	@printf '%-9s %12s %12s %7s\n' model 'C img/s' 'torch img/s' ratio
	@for m in $(ZOO); do \
	    f=data/zoo/$$m.h5; [ -f $$f ] || { echo "$$m: $$f missing, skipped"; continue; }; \
	    c=$$(build/bin/dnateq-bench_engine --model $$f --threads $(THREADS) -q | sed -n 's/^images_per_s=//p'); \
	    t=$$($(PY) data/zoo/bench_torch.py --model $$m --threads $(THREADS) | sed -n 's/^images_per_s=//p'); \
	    [ -n "$$c" ] && [ -n "$$t" ] || { echo "$$m: benchmark failed"; exit 1; }; \
	    awk -v m=$$m -v c=$$c -v t=$$t 'BEGIN { printf "%-9s %12.0f %12.0f %6.2fx\n", m, c, t, c / t }'; \
	done

# ---- experiments: registered by mk/ fragments in experiments/ ----------
# The tensor dumps the experiments read (experiments/dump.mk).
TENSOR_DIR := $(if $(QUICK),results-quick/tensors,data/tensors)
-include $(sort $(wildcard experiments/*.mk))

# Each experiment fragment appends its step to REPRODUCE_STEPS; they run in
# this order (make's dependency tracking skips steps whose inputs did not
# change), with one progress line per step (experiments/reproduce.sh).
REPRODUCE_RESDIR := $(if $(QUICK),results-quick,results)
REPRODUCE_ORDER  := dump distfit qerror dnateq compare expdot energy figures paper
reproduce: all
	@bash experiments/reproduce.sh $(REPRODUCE_RESDIR) \
	    $(filter $(REPRODUCE_STEPS) figures $(if $(filter paper,$(REPRODUCE_STEPS)),paper),$(REPRODUCE_ORDER))
	@$(MAKE) --no-print-directory check-outputs

# Every expected table, figure and the paper exist and are non-empty, and
# the paper found every value (experiments/check_outputs.sh).
check-outputs:
	@bash experiments/check_outputs.sh $(REPRODUCE_RESDIR) $(PAPER_PDF) $(PAPER_BUILD)/dnateq-repro.log

figures:
	@for gp in $(sort $(wildcard plots/*.gp)); do [ "$$(basename $$gp)" = style.gp ] && continue; \
	    echo "gnuplot $$gp"; gnuplot -e "resdir='$(if $(QUICK),results-quick,results)'" $$gp || exit 1; done
