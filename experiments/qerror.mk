# experiments/qerror.mk — experiment qerror (DESIGN §5) and the expq search
# benchmark.  Included by the Makefile (`-include experiments/*.mk`).
#
#   make qerror       <resdir>/qerror/<model>.csv, <model>_summary.csv and
#                     <model>_expq_params.h5 for every zoo model, then the
#                     figures <resdir>/qerror/<model>_rmae.{pdf,png}
#   make bench-expq   the expq search benchmark (part of `make bench`)
#
# Input: the tensor dumps data/tensors/<model>.h5, made by the dump step
# (build/bin/dnateq-dump).  QUICK=1 writes to results-quick and runs
# dnateq-qerror with run.quick (uniform with minmax and mse only, 3..5 bits, coarse
# expq parameter searches).

QERROR_RESDIR := $(if $(QUICK),results-quick,results)
QERROR_MODELS ?= $(sort $(basename $(notdir $(wildcard data/zoo/*.h5))))
QERROR_CSV    := $(QERROR_MODELS:%=$(QERROR_RESDIR)/qerror/%.csv)

.PHONY: qerror bench-expq

qerror: $(QERROR_CSV)
	gnuplot -e "resdir='$(QERROR_RESDIR)'" plots/qerror.gp

# One run writes the model's three result files.
$(QERROR_RESDIR)/qerror/%.csv: $(TENSOR_DIR)/%.h5 build/bin/dnateq-qerror configs/qerror.ini
	build/bin/dnateq-qerror configs/qerror.ini --set qerror.dump=$< \
	    --out $(QERROR_RESDIR) $(if $(QUICK),--set run.quick=true)

REPRODUCE_STEPS += qerror

bench: bench-expq

bench-expq: build/bin/dnateq-bench_expq
	build/bin/dnateq-bench_expq --out $(QERROR_RESDIR)
