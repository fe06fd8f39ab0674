# plots/distfit_hist.gp — histograms of representative tensors with the
# fitted pdfs overlaid (experiment distfit).
#
# For every <resdir>/distfit/hist_<model>_<tensor>.dat (written by
# dnateq-distfit for the tensors in distfit.hist): block 0 = signed
# analysis, block 1 = magnitude analysis; columns x (bin centre), density,
# then one pdf per fitted family.  The histogram is drawn as boxes and each
# pdf as a line, on a log density axis (the tails matter for quantization).
# Output: <resdir>/distfit/hist_<model>_<tensor>.pdf and .png.
#
#   gnuplot -e "resdir='results'" plots/distfit_hist.gp    (make figures does this)

if (!exists("resdir")) resdir = "results"
dir = resdir . "/distfit"
files = system("ls " . dir . "/hist_*.dat 2>/dev/null")
if (words(files) == 0) { print "distfit_hist.gp: no " . dir . "/hist_*.dat"; exit }
if (system("test -f plots/style.gp && echo y") eq "y") { load "plots/style.gp" }

ncols(f, b) = int(system(sprintf("awk -v b=%d '/^x density/ {k++; if (k == b + 1) {print NF; exit}}' %s", b, f)))
best(f, b) = system(sprintf("awk -v b=%d '/analysis: n_sample/ {k++; if (k == b + 1) {print $NF; exit}}' %s", b, f))
# (not `stats`: after a plot that used columnhead, gnuplot 5.4's stats
# skips the first data row of the file)
maxdens(f, b) = real(system(sprintf("awk -v b=%d '/^x density/ {k++; next} !/^#/ && k == b + 1 && NF > 1 && $2 + 0 > m {m = $2 + 0} END {print m + 0}' %s", b, f)))
tensor(f) = system("sed -n 's/^# dnateq-distfit: histogram and fitted pdfs, //; s/; index 0.*//p' " . f)

set logscale y
set format y "10^{%L}"
set ylabel "density"
set key top right font ",8"
set style fill solid 0.35 noborder
set datafile missing "nan"

do for [f in files] {
    base = f[1:strlen(f) - 4]
    do for [term in "pdf png"] {
        if (term eq "pdf") {
            set terminal pdfcairo size 7.2in,3in font ",9"
        } else {
            set terminal pngcairo size 1400,560 font ",10"
        }
        set output base . "." . term
        set multiplot layout 1,2 title tensor(f) noenhanced
        do for [b=0:1] {
            top = maxdens(f, b)
            set yrange [top * 1e-5 : top * 3]
            set xlabel (b == 0 ? "x" : "|x|")
            set title (b == 0 ? "signed" : "magnitude") . " analysis, best: " . best(f, b) noenhanced
            plot f index b using 1:2 with boxes lc rgb "#999999" title "histogram", \
                 for [i=3:ncols(f, b)] f index b using 1:i with lines lt (i - 2) \
                     title columnhead(i) noenhanced
        }
        unset multiplot
        set output
    }
}
