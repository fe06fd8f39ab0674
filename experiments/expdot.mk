# experiments/expdot.mk — experiment expdot (DESIGN §1.3, §5): exactness
# and operation counts of the exponential-domain dot product.  Included by
# the Makefile (`-include experiments/*.mk`).
#
#   make expdot    <resdir>/expdot/summary.{csv,md,tex} and <m>_layers.csv
#                  for every zoo model data/zoo/<m>.h5 with its DNA-TEQ plan
#                  <resdir>/dnateq/plans/<m>_dnateq.h5
#
# The plans come from the dnateq experiment (experiments/dnateq.mk), which
# writes them together with <resdir>/dnateq/<m>.csv; that file is the
# prerequisite, as in compare.mk, so a new zoo model gets its search first.
# QUICK=1 writes to results-quick and checks at most 100 test images.

EXPDOT_RESDIR := $(if $(QUICK),results-quick,results)
EXPDOT_MODELS ?= $(sort $(basename $(notdir $(wildcard data/zoo/*.h5))))
# rows in zoo order (as the dnateq summary), then any other model
EXPDOT_ZOO    := mlp alexnet resnet20 vit
EXPDOT_ORDER  := $(foreach m,$(EXPDOT_ZOO),$(filter $(m),$(EXPDOT_MODELS))) \
                 $(filter-out $(EXPDOT_ZOO),$(EXPDOT_MODELS))

.PHONY: expdot

expdot: $(EXPDOT_RESDIR)/expdot/summary.csv

$(EXPDOT_RESDIR)/expdot/summary.csv: $(EXPDOT_MODELS:%=data/zoo/%.h5) \
        $(EXPDOT_MODELS:%=$(EXPDOT_RESDIR)/dnateq/%.csv) \
        build/bin/dnateq-expdot configs/expdot.ini
	build/bin/dnateq-expdot configs/expdot.ini --out $(EXPDOT_RESDIR) \
	    --set "expdot.models=$(strip $(EXPDOT_ORDER))" \
	    --set expdot.plans_dir=$(EXPDOT_RESDIR)/dnateq/plans \
	    $(if $(QUICK),--set run.quick=true)

REPRODUCE_STEPS += expdot
