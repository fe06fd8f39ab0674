# experiments/paper.mk — the reproduction paper.  Included by the Makefile
# (`-include experiments/*.mk`), which declares `paper` phony.
#
#   make paper          <resdir>/macros.tex (build/bin/dnateq-macros from
#                       paper/macros.spec), then paper/dnateq-repro.tex with
#                       latexmk -> paper/dnateq-repro.pdf
#   make paper QUICK=1  the same from results-quick/
#                       -> results-quick/dnateq-repro.pdf
#   make macros         only <resdir>/macros.tex
#
# The paper builds from whatever results exist: a missing value, table or
# figure prints as a red box naming the make target that produces it, and
# the rule lists them after the build.  LaTeX runs from the repository root
# with \dqresdir set to the result directory; its auxiliary files go to
# build/paper[-quick]/.  TeX packages: `bash .ci/deps.sh tex`.
#
# `make reproduce` runs the paper as its last step (REPRODUCE_STEPS, see
# the Makefile), after every experiment and the figures.

PAPER_RESDIR := $(if $(QUICK),results-quick,results)
PAPER_PDF    := $(if $(QUICK),results-quick/dnateq-repro.pdf,paper/dnateq-repro.pdf)
PAPER_BUILD  := build/paper$(if $(QUICK),-quick)
PAPER_LATEXMK := max_print_line=10000 latexmk -pdf -interaction=nonstopmode -halt-on-error -file-line-error \
    -outdir=$(PAPER_BUILD) -usepretex='\def\dqresdir{$(PAPER_RESDIR)}'

.PHONY: paper macros deps-tex

deps-tex:
	@bash .ci/deps.sh tex

macros: build/bin/dnateq-macros
	build/bin/dnateq-macros --out $(PAPER_RESDIR) -q

paper: deps-tex macros
	@mkdir -p $(PAPER_BUILD) $(dir $(PAPER_PDF))
	@echo "latexmk paper/dnateq-repro.tex (results from $(PAPER_RESDIR)/; log: $(PAPER_BUILD)/latexmk.out)"
	@$(PAPER_LATEXMK) paper/dnateq-repro.tex > $(PAPER_BUILD)/latexmk.out 2>&1 || { \
	    grep -A3 '^[^ ]*:[0-9]*: \|^!' $(PAPER_BUILD)/latexmk.out | head -30; \
	    echo "dnateq: paper: LaTeX failed (full log: $(PAPER_BUILD)/latexmk.out)" >&2; exit 1; }
	@cp $(PAPER_BUILD)/dnateq-repro.pdf $(PAPER_PDF)
	@n=$$(grep -c '^dnateq paper: missing' $(PAPER_BUILD)/dnateq-repro.log || true); \
	if [ "$$n" -gt 0 ]; then \
	    echo "paper: $$n missing item(s), shown as red boxes:"; \
	    grep "^dnateq paper: missing" $(PAPER_BUILD)/dnateq-repro.log | sort -u | sed 's/^/  /'; \
	fi; \
	echo "paper: $(PAPER_PDF) ($$(pdfinfo $(PAPER_PDF) 2>/dev/null | sed -n 's/^Pages: *//p') pages)"

REPRODUCE_STEPS += paper
