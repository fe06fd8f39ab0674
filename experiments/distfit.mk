# experiments/distfit.mk — experiment distfit (DESIGN §5): which distribution
# family fits each weight and activation tensor best.  Included by the
# Makefile (`-include experiments/*.mk`).
#
#   make distfit      <resdir>/distfit/<model>.csv for every zoo model with a
#                     model file, summary.{csv,md,tex}, shares_*.dat,
#                     hist_<model>_<tensor>.dat, then the figures
#                     shares.{pdf,png} and hist_*.{pdf,png}
#
# Input: the tensor dumps data/tensors/<model>.h5 (made by dump.mk's rule
# from build/bin/dnateq-dump).  One run covers every model, because the
# summary pools them.  QUICK=1 writes to results-quick and runs with
# run.quick (fits on at most 16,384 values per tensor).

DISTFIT_RESDIR := $(if $(QUICK),results-quick,results)
DISTFIT_MODELS ?= $(sort $(basename $(notdir $(wildcard data/zoo/*.h5))))
DISTFIT_DUMPS  := $(DISTFIT_MODELS:%=$(TENSOR_DIR)/%.h5)
DISTFIT_EMPTY  :=
DISTFIT_SPACE  := $(DISTFIT_EMPTY) $(DISTFIT_EMPTY)
DISTFIT_COMMA  := ,
DISTFIT_LIST   := $(subst $(DISTFIT_SPACE),$(DISTFIT_COMMA),$(DISTFIT_MODELS))
DISTFIT_OUT    := $(DISTFIT_RESDIR)/distfit/summary.csv

.PHONY: distfit

distfit: $(DISTFIT_OUT)
	gnuplot -e "resdir='$(DISTFIT_RESDIR)'" plots/distfit_shares.gp
	gnuplot -e "resdir='$(DISTFIT_RESDIR)'" plots/distfit_hist.gp

# The per-model CSVs, tables and plot data are written by the same run.
$(DISTFIT_OUT): $(DISTFIT_DUMPS) build/bin/dnateq-distfit configs/distfit.ini
	build/bin/dnateq-distfit configs/distfit.ini --out $(DISTFIT_RESDIR) \
	    --set distfit.models=$(DISTFIT_LIST) --set distfit.dump_dir=$(TENSOR_DIR) $(if $(QUICK),--set run.quick=true)

REPRODUCE_STEPS += distfit
