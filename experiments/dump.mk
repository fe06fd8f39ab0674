# experiments/dump.mk — the tensor dumps every quantization experiment reads.
# Included by the Makefile (`-include experiments/*.mk`).
#
#   make dump        data/tensors/<model>.h5 for every zoo model
#
# Each dump is FP32 inference on the calib split (configs/dump.ini:
# run.calib_size, run.seed, dump.max_samples); schema in the README.
# The files are generated and git-ignored; `make reproduce` makes them.

DUMP_MODELS := $(sort $(basename $(notdir $(wildcard data/zoo/*.h5))))

.PHONY: dump

dump: $(DUMP_MODELS:%=data/tensors/%.h5)

data/tensors/%.h5: data/zoo/%.h5 build/bin/dnateq-dump configs/dump.ini
	build/bin/dnateq-dump configs/dump.ini --model $< -q

REPRODUCE_STEPS += dump
