# plots/distfit_shares.gp — which distribution family fits the tensors best
# (experiment distfit).
#
# Reads <resdir>/distfit/shares_signed.dat and shares_magnitude.dat (written
# by dnateq-distfit: one row per model and tensor kind, W = weights, A =
# activations, "all" pools the models; one column per family) and draws the
# shares as stacked bars, signed analysis left, magnitude analysis right.
# Output: <resdir>/distfit/shares.pdf and .png.
#
#   gnuplot -e "resdir='results'" plots/distfit_shares.gp   (make figures does this)

if (!exists("resdir")) resdir = "results"
dir = resdir . "/distfit"
if (system("test -f " . dir . "/shares_signed.dat && echo y") ne "y") {
    print "distfit_shares.gp: no " . dir . "/shares_signed.dat"; exit
}
if (system("test -f plots/style.gp && echo y") eq "y") { load "plots/style.gp" }

ncols(f) = int(system("awk '!/^#/ {print NF; exit}' " . f))
crit = system("sed -n 's/^#   criterion = //p' " . dir . "/shares_signed.dat | head -n 1")

set style data histograms
set style histogram rowstacked
set style fill solid 0.9 border lc rgb "white"
set boxwidth 0.75
set yrange [0:1]
set ytics 0.2
set ytics ("0%%" 0, "20%%" 0.2, "40%%" 0.4, "60%%" 0.6, "80%%" 0.8, "100%%" 1)
set ylabel "share of tensors"
set xtics rotate by 45 right font ",8"
set grid ytics
set key outside right top vertical font ",8"

do for [term in "pdf png"] {
    if (term eq "pdf") {
        set terminal pdfcairo size 7.2in,3in font ",9"
    } else {
        set terminal pngcairo size 1400,560 font ",10"
    }
    set output dir . "/shares." . term
    set multiplot layout 1,2 title "Best-fitting family per tensor (criterion: " . crit . ")"
    f = dir . "/shares_signed.dat"
    set title "signed analysis (x)"
    plot for [i=3:ncols(f)] f using i:xtic(1) title columnhead(i) noenhanced
    f = dir . "/shares_magnitude.dat"
    set title "magnitude analysis (|x|, exact zeros removed)"
    plot for [i=3:ncols(f)] f using i:xtic(1) title columnhead(i) noenhanced
    unset multiplot
    set output
}
