# experiments/dnateq.mk — experiment dnateq (DESIGN §1.2, §5) and the
# search benchmark.  Included by the Makefile (`-include experiments/*.mk`).
#
#   make dnateq         <resdir>/dnateq/<model>.csv (+ _detail.csv,
#                       _layers.csv, .ini, plans/) for every zoo model, then
#                       summary.{csv,md,tex} (--merge) and the figure
#                       <resdir>/dnateq/bits.{pdf,png}
#   make bench-search   wall time of the full DNA-TEQ search per zoo model
#                       at 1 and 2 threads, and at 2 threads with prefix
#                       caching off (part of `make bench`; see
#                       DNATEQ_BENCH_SET below)
#
# A model runs with configs/dnateq_<model>.ini when that file exists, else
# with configs/dnateq.ini.  QUICK=1 writes to results-quick and sets
# run.quick, a smoke test: calibration on 256 calib images, each search on
# 128 val images, 3..6 bits, with at most 10 evaluations and coarse parameter
# searches, results on the first 300 val and test images.

DNATEQ_RESDIR := $(if $(QUICK),results-quick,results)
DNATEQ_MODELS ?= $(sort $(basename $(notdir $(wildcard data/zoo/*.h5))))
DNATEQ_CSV    := $(DNATEQ_MODELS:%=$(DNATEQ_RESDIR)/dnateq/%.csv)
# summary rows in zoo order, then any other model
DNATEQ_ZOO    := mlp alexnet resnet20 vit
DNATEQ_ORDER  := $(foreach m,$(DNATEQ_ZOO),$(filter $(m),$(DNATEQ_MODELS))) \
                 $(filter-out $(DNATEQ_ZOO),$(DNATEQ_MODELS))
dnateq_cfg     = $(firstword $(wildcard configs/dnateq_$(1).ini) configs/dnateq.ini)

.PHONY: dnateq bench-search

dnateq: $(DNATEQ_RESDIR)/dnateq/summary.csv
	gnuplot -e "resdir='$(DNATEQ_RESDIR)'" plots/dnateq_bits.gp

$(DNATEQ_RESDIR)/dnateq/summary.csv: $(DNATEQ_CSV) build/bin/dnateq-dnateq configs/dnateq.ini
	build/bin/dnateq-dnateq configs/dnateq.ini --merge --out $(DNATEQ_RESDIR) \
	    --set "dnateq.models=$(strip $(DNATEQ_ORDER))"

# One run writes every result file of the model; <model>.csv comes last.
define dnateq_model_rule
$(DNATEQ_RESDIR)/dnateq/$(1).csv: data/zoo/$(1).h5 build/bin/dnateq-dnateq $(call dnateq_cfg,$(1))
	build/bin/dnateq-dnateq $(call dnateq_cfg,$(1)) --model $$< \
	    --out $(DNATEQ_RESDIR) $(if $(QUICK),--set run.quick=true --set run.calib_size=256)
endef
$(foreach m,$(DNATEQ_MODELS),$(eval $(call dnateq_model_rule,$(m))))

REPRODUCE_STEPS += dnateq

bench: bench-search

# The benchmark searches on the first 1,000 val images (sensitivities on
# 500) so that three full searches per model stay affordable; override with
# DNATEQ_BENCH_SET= (empty: the experiment's own config).
DNATEQ_BENCH_SET ?= --set search.val_images=1000 --set search.sens_images=500

bench-search: build/bin/dnateq-dnateq
	@printf '%-9s %10s %10s %8s %12s %6s %14s\n' model 'search 1t' 'search 2t' \
	    speedup 'no-cache 2t' evals 'cache saves'
	@for m in $(DNATEQ_MODELS); do \
	    f=data/zoo/$$m.h5; cfg=configs/dnateq.ini; \
	    [ -f configs/dnateq_$$m.ini ] && cfg=configs/dnateq_$$m.ini; \
	    b="build/bin/dnateq-dnateq $$cfg --model $$f --bench -q $(DNATEQ_BENCH_SET)"; \
	    o1=$$($$b --threads 1) && o2=$$($$b --threads 2) && \
	    o0=$$($$b --threads 2 --set search.prefix_cache=false) || { echo "$$m: benchmark failed"; exit 1; }; \
	    v() { echo "$$1" | sed -n "s/^$$2=//p"; }; \
	    awk -v m=$$m -v a=$$(v "$$o1" search_s) -v b=$$(v "$$o2" search_s) \
	        -v c=$$(v "$$o0" search_s) -v e=$$(v "$$o2" evals) \
	        -v tb=$$(v "$$o2" table_s) -v tc=$$(v "$$o0" table_s) 'BEGIN { \
	        printf "%-9s %9.1fs %9.1fs %7.2fx %11.1fs %6d %5.1f%% (%4.1f%% of eval)\n", \
	            m, a, b, a / b, c, e, 100 * (1 - b / c), 100 * (1 - (b - tb) / (c - tc)) }'; \
	done
