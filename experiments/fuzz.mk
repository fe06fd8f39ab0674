# experiments/fuzz.mk — libFuzzer harnesses of the loaders (tests/fuzz/).
# Included by the Makefile (`-include experiments/*.mk`).
#
#   make fuzz             build the four harnesses, write their seed corpora
#                         from valid inputs, then run each for FUZZ_SECONDS
#                         (idx reader, model loader + validator, plan
#                         loader, config parser)
#   make fuzz-build       only build them (build/fuzz/fuzz_<name>)
#   make fuzz-<name>      build and run one harness
#
# Built with clang -fsanitize=fuzzer,address,undefined against the library
# sources (objects in build/fuzz/obj/).  Corpora live in
# build/fuzz/corpus-<name>/ (seeded by build/fuzz/dnateq-fuzz-seeds, then
# grown by the fuzzer); a crash input goes to build/fuzz/crashes-<name>/
# and fails the run.  Needs clang and libclang-rt-14-dev (`bash
# .ci/deps.sh fuzz`).  LeakSanitizer reads tests/lsan.supp (HDF5's own
# leak on corrupt files).  The runs are single-threaded (OMP_NUM_THREADS=1)
# and niced; `make -j2 fuzz-idx fuzz-model` runs two at once.
# FUZZ_EXTRA adds libFuzzer flags, e.g. "-fork=1 -ignore_crashes=1
# -ignore_timeouts=1 -ignore_ooms=1" to keep going after a crash and
# count crashes instead.  Crashes inside libhdf5 come back as clean errors
# through the forked probe (src/h5io.h dq_h5_probe; README "Fuzzing").

FUZZ_SECONDS ?= 600
FUZZ_NAMES   := idx model plan config
FUZZ_CC      ?= clang
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer
# The library is written for gcc -Werror (the main build checks it); clang
# warns about other things (e.g. an `omp simd` it does not vectorize), so
# only the harnesses are built with -Werror here.
FUZZ_CFLAGS  := -std=c11 -O1 -g -Wall -Wextra -fopenmp -D_DEFAULT_SOURCE \
                -Wno-pass-failed $(FUZZ_SAN)
FUZZ_OBJ     := $(LIB_SRC:src/%.c=build/fuzz/obj/%.o)
FUZZ_SUPPORT := build/fuzz/obj/fuzzutil.o build/fuzz/obj/testmodels.o
FUZZ_BINS    := $(FUZZ_NAMES:%=build/fuzz/fuzz_%)
FUZZ_ENV     := OMP_NUM_THREADS=1 \
                ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
                UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
                LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0
FUZZ_EXTRA   ?=
FUZZ_FLAGS   := -max_total_time=$(FUZZ_SECONDS) -timeout=30 -rss_limit_mb=2048 \
                -print_final_stats=1 $(FUZZ_EXTRA)

# Keep the objects: they are intermediate files of the pattern rules.
.SECONDARY: $(FUZZ_OBJ) $(FUZZ_SUPPORT)

.PHONY: fuzz fuzz-deps fuzz-build fuzz-seeds $(FUZZ_NAMES:%=fuzz-%)

fuzz-deps:
	@bash .ci/deps.sh fuzz

fuzz-build: $(FUZZ_BINS) build/fuzz/dnateq-fuzz-seeds

build/fuzz/obj/%.o: src/%.c | fuzz-deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -Isrc \
	    $(EXTRA) -MMD -MP -c $< -o $@

build/fuzz/obj/fsutil.o: build/gitrev.h
build/fuzz/obj/fsutil.o: EXTRA = -include build/gitrev.h

build/fuzz/obj/fuzzutil.o: tests/fuzz/fuzzutil.c | fuzz-deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Werror $(PKG_CFLAGS) -Isrc -MMD -MP -c $< -o $@

build/fuzz/obj/testmodels.o: tests/testmodels.c | fuzz-deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(PKG_CFLAGS) -Isrc -MMD -MP -c $< -o $@

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ) $(FUZZ_SUPPORT)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Werror -fsanitize=fuzzer $(PKG_CFLAGS) -Isrc -Itests \
	    -Itests/fuzz -MMD -MP $< $(FUZZ_OBJ) $(FUZZ_SUPPORT) $(LDLIBS) -o $@

# The seed writer is an ordinary (gcc, uninstrumented) program.
build/fuzz/dnateq-fuzz-seeds: tests/fuzz/fuzz_seeds.c tests/testmodels.c \
        build/libdnateq.a
	@mkdir -p build/fuzz
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Isrc -Itests -MMD -MP $< tests/testmodels.c \
	    build/libdnateq.a $(LDLIBS) -o $@

fuzz-seeds: build/fuzz/dnateq-fuzz-seeds
	build/fuzz/dnateq-fuzz-seeds build/fuzz

# One harness: its corpus directory holds the seeds and what it finds.
$(FUZZ_NAMES:%=fuzz-%): fuzz-%: build/fuzz/fuzz_% fuzz-seeds
	@mkdir -p build/fuzz/crashes-$*
	$(FUZZ_ENV) nice -n 10 build/fuzz/fuzz_$* $(FUZZ_FLAGS) \
	    -artifact_prefix=build/fuzz/crashes-$*/ build/fuzz/corpus-$* \
	    2>&1 | tee build/fuzz/fuzz_$*.log | grep -v '^#[0-9]*.*\(NEW\|REDUCE\|pulse\)'; \
	    exit $${PIPESTATUS[0]}

fuzz: fuzz-deps
	$(MAKE) fuzz-build
	$(MAKE) -k $(FUZZ_NAMES:%=fuzz-%)

-include $(FUZZ_OBJ:.o=.d) $(FUZZ_SUPPORT:.o=.d) $(FUZZ_BINS:%=%.d) \
    build/fuzz/dnateq-fuzz-seeds.d
