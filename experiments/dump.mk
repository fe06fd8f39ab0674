# experiments/dump.mk — the tensor dumps every quantization experiment reads.
# Included by the Makefile (`-include experiments/*.mk`).
#
#   make dump        data/tensors/<model>.h5 for every zoo model
#
# Each dump is FP32 inference on the calib split (configs/dump.ini:
# run.calib_size, run.seed, dump.max_samples); schema in the README.
# The files are generated and git-ignored; `make reproduce` makes them.
# QUICK=1 dumps the first QUICK_DUMP_IMAGES calib images to
# results-quick/tensors instead (TENSOR_DIR, set in the Makefile, which distfit, qerror and
# compare read), so a quick run never touches data/tensors.

DUMP_MODELS := $(sort $(basename $(notdir $(wildcard data/zoo/*.h5))))
QUICK_DUMP_IMAGES := 128

.PHONY: dump

dump: $(DUMP_MODELS:%=$(TENSOR_DIR)/%.h5)

$(TENSOR_DIR)/%.h5: data/zoo/%.h5 build/bin/dnateq-dump configs/dump.ini
	build/bin/dnateq-dump configs/dump.ini --model $< -q --set dump.dir=$(TENSOR_DIR) \
	    $(if $(QUICK),--set run.calib_size=$(QUICK_DUMP_IMAGES))

REPRODUCE_STEPS += dump
