# experiments/energy.mk — experiment energy (DESIGN §3, §5): energy per
# inference against the INT8 baseline (compute, SRAM, DRAM), its DRAM and
# combine sensitivity, and HCM BOPs.  Included by the Makefile
# (`-include experiments/*.mk`).
#
#   make energy    <resdir>/energy/summary.{csv,md,tex}, sensitivity.csv,
#                  bops.{csv,md,tex}, <m>_layers.csv, <m>_bars.dat for every
#                  zoo model data/zoo/<m>.h5 with its plans
#                  <resdir>/dnateq/plans/<m>_dnateq.h5 and <m>_mpu.h5, then
#                  the figure <resdir>/energy/energy.{pdf,png}
#
# The plans come from the dnateq experiment (experiments/dnateq.mk), which
# writes them together with <resdir>/dnateq/<m>.csv: that file is the
# prerequisite, as in compare.mk.  The experiment only counts and prices,
# so QUICK=1 changes nothing but the directory (results-quick) and the
# plans it reads.

ENERGY_RESDIR := $(if $(QUICK),results-quick,results)
ENERGY_MODELS ?= $(sort $(basename $(notdir $(wildcard data/zoo/*.h5))))
# rows in zoo order (as the dnateq summary), then any other model
ENERGY_ZOO    := mlp alexnet resnet20 vit
ENERGY_ORDER  := $(foreach m,$(ENERGY_ZOO),$(filter $(m),$(ENERGY_MODELS))) \
                 $(filter-out $(ENERGY_ZOO),$(ENERGY_MODELS))

.PHONY: energy

energy: $(ENERGY_RESDIR)/energy/summary.csv
	gnuplot -e "resdir='$(ENERGY_RESDIR)'" plots/energy.gp

$(ENERGY_RESDIR)/energy/summary.csv: $(ENERGY_MODELS:%=data/zoo/%.h5) \
        $(ENERGY_MODELS:%=$(ENERGY_RESDIR)/dnateq/%.csv) \
        build/bin/dnateq-energy configs/energy.ini configs/energy/horowitz45.ini
	build/bin/dnateq-energy configs/energy.ini --out $(ENERGY_RESDIR) \
	    --set "energy_run.models=$(strip $(ENERGY_ORDER))" \
	    --set energy_run.plans_dir=$(ENERGY_RESDIR)/dnateq/plans \
	    $(if $(QUICK),--set run.quick=true)

REPRODUCE_STEPS += energy
