# experiments/run.mk — run one experiment from its config file.  Included
# by the Makefile (`-include experiments/*.mk`).
#
#   make run CONFIG=configs/<experiment>[_<variant>].ini [MODEL=mlp|FILE.h5]
#            [EXPERIMENT=name] [ARGS='--set section.key=value ...'] [QUICK=1]
#
# The driver is build/bin/dnateq-<experiment> (built first), named by the
# config file: configs/compare.ini -> dnateq-compare, configs/dnateq_vit.ini
# -> dnateq-dnateq (the part before "_<variant>"; a driver whose whole name
# is the file's base name wins, so configs/bench_expq.ini ->
# dnateq-bench_expq).  EXPERIMENT= names the driver of a config file named
# otherwise.  MODEL= adds --model (a zoo name means data/zoo/<name>.h5),
# ARGS= any other options (e.g. ARGS=--merge), QUICK=1 writes to
# results-quick with run.quick.  The command is printed before it runs.

RUN_DRIVERS := $(DRV_SRC:experiments/%.c=%)
RUN_STEM    := $(basename $(notdir $(CONFIG)))
RUN_EXACT   := $(filter $(RUN_STEM),$(RUN_DRIVERS))
RUN_PREFIX  := $(strip $(foreach d,$(RUN_DRIVERS),$(if $(filter $(d)_%,$(RUN_STEM)),$(d))))
RUN_EXPERIMENT := $(strip $(or $(EXPERIMENT),$(RUN_EXACT),$(RUN_PREFIX)))
RUN_MODEL_ARG  := $(if $(MODEL),--model $(if $(findstring /,$(MODEL)),$(MODEL),data/zoo/$(MODEL:.h5=).h5))
RUN_USAGE := make run CONFIG=configs/<experiment>[_<variant>].ini [MODEL=name|FILE.h5] [EXPERIMENT=name] [ARGS='...'] [QUICK=1]

# Errors are raised only when `run` is a goal, so that other targets never
# see them.
ifneq ($(filter run,$(MAKECMDGOALS)),)
ifeq ($(strip $(CONFIG)),)
$(error make run: no config given. Usage: $(RUN_USAGE))
endif
ifeq ($(wildcard $(CONFIG)),)
$(error make run: $(CONFIG): no such file)
endif
ifeq ($(RUN_EXPERIMENT),)
$(error make run: $(CONFIG): no experiment named '$(firstword $(subst _, ,$(RUN_STEM)))' (name the file configs/<experiment>[_<variant>].ini, or set EXPERIMENT=); experiments: $(RUN_DRIVERS))
endif
ifneq ($(words $(RUN_EXPERIMENT)),1)
$(error make run: $(CONFIG): the file name fits several experiments ($(RUN_EXPERIMENT)): set EXPERIMENT=)
endif
ifeq ($(filter $(RUN_EXPERIMENT),$(RUN_DRIVERS)),)
$(error make run: EXPERIMENT=$(RUN_EXPERIMENT): no such experiment; experiments: $(RUN_DRIVERS))
endif
endif

run: build/bin/dnateq-$(RUN_EXPERIMENT)
	build/bin/dnateq-$(RUN_EXPERIMENT) $(CONFIG) $(RUN_MODEL_ARG) \
	    $(if $(QUICK),--out results-quick --set run.quick=true) $(ARGS)
