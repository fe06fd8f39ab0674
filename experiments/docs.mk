# experiments/docs.mk — documentation generated from the code.  Included
# by the Makefile (`-include experiments/*.mk`).
#
#   make config-docs        rewrite the config reference in configs/README.md
#                           (between <!-- config-keys:begin --> and
#                           <!-- config-keys:end -->) from every driver's
#                           `--config-keys` output (experiments/configdocs.sh)
#   make config-docs-check  fail when the committed reference is stale
#
# tests/test_configdocs.c runs the same check under `make test`.

CONFIG_DOCS := configs/README.md

.PHONY: config-docs config-docs-check

config-docs: $(BINS)
	@sh experiments/configdocs.sh update $(CONFIG_DOCS) $(BINS)

config-docs-check: $(BINS)
	@sh experiments/configdocs.sh check $(CONFIG_DOCS) $(BINS)
