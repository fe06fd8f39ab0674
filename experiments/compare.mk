# experiments/compare.mk — experiment compare (DESIGN §5): accuracy against
# average bits for DNA-TEQ and every baseline.  Included by the Makefile
# (`-include experiments/*.mk`).
#
#   make compare      <resdir>/compare/<model>.csv (+ _pareto.dat, .ini) for
#                     every zoo model, summary.{csv,md,tex}, and the figures
#                     <resdir>/compare/<model>_acc_bits.{pdf,png}
#
# Inputs: the model, its tensor dump data/tensors/<model>.h5 (experiments/
# dump.mk; the activation calibration samples) and the DNA-TEQ and
# mixed-precision uniform plans <resdir>/dnateq/plans/<model>_dnateq.h5 and
# <model>_mpu.h5, written by the dnateq experiment together with
# <resdir>/dnateq/<model>.csv (experiments/dnateq.mk), which is therefore a
# prerequisite.  QUICK=1 writes to results-quick with run.quick, a smoke
# test: the end bitwidths of each sweep, every row on the first 300 test
# images, calibrators chosen on 64 val images, INT8's on 128.

COMPARE_RESDIR := $(if $(QUICK),results-quick,results)
COMPARE_MODELS ?= $(sort $(basename $(notdir $(wildcard data/zoo/*.h5))))
COMPARE_CSV    := $(COMPARE_MODELS:%=$(COMPARE_RESDIR)/compare/%.csv)

.PHONY: compare

compare: $(COMPARE_RESDIR)/compare/summary.csv
	gnuplot -e "resdir='$(COMPARE_RESDIR)'" plots/compare.gp

# The summary is rebuilt from every per-model CSV.
$(COMPARE_RESDIR)/compare/summary.csv: $(COMPARE_CSV) build/bin/dnateq-compare
	build/bin/dnateq-compare configs/compare.ini --out $(COMPARE_RESDIR) \
	    --set compare.summary_only=true -q

$(COMPARE_RESDIR)/compare/%.csv: data/zoo/%.h5 $(TENSOR_DIR)/%.h5 \
        $(COMPARE_RESDIR)/dnateq/%.csv build/bin/dnateq-compare configs/compare.ini
	build/bin/dnateq-compare configs/compare.ini --model $< \
	    --set compare.tensors=$(TENSOR_DIR)/$*.h5 \
	    --set compare.plans_dir=$(COMPARE_RESDIR)/dnateq/plans \
	    --out $(COMPARE_RESDIR) $(if $(QUICK),--set run.quick=true)

REPRODUCE_STEPS += compare
