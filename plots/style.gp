# plots/style.gp — the shared look of every dnateq figure (loaded by the
# plot scripts that want it; `make figures` skips this file itself).
set encoding utf8
set grid lt 0 lw 0.5
set border lw 1
set tics nomirror
set key noopaque
#
# Conventions (distfit, and every script that loads this file):
#   - read data from <resdir>/<experiment>/ (resdir = "results" or
#     "results-quick", passed by `make figures` as -e "resdir='...'"), and
#     write each figure there as both .pdf and .png;
#   - terminals: pdfcairo (size in inches) and pngcairo (about 140 px per
#     inch), both with font ",10"; key and tick labels may go down to ",8";
#   - colours: the linetypes below (a colour-blind-safe qualitative
#     palette, Okabe-Ito first, then Tableau); line width 2 for curves.
set linetype 1 lc rgb "#0072B2" lw 2 pt 7 ps 0.6
set linetype 2 lc rgb "#D55E00" lw 2 pt 5 ps 0.6
set linetype 3 lc rgb "#009E73" lw 2 pt 9 ps 0.6
set linetype 4 lc rgb "#CC79A7" lw 2 pt 11 ps 0.6
set linetype 5 lc rgb "#E69F00" lw 2 pt 13 ps 0.6
set linetype 6 lc rgb "#56B4E9" lw 2 pt 3 ps 0.6
set linetype 7 lc rgb "#8C564B" lw 2 pt 1 ps 0.6
set linetype 8 lc rgb "#7F7F7F" lw 2 pt 2 ps 0.6
set linetype 9 lc rgb "#BCBD22" lw 2 pt 4 ps 0.6
set linetype 10 lc rgb "#000000" lw 2 pt 6 ps 0.6
set linetype cycle 10
