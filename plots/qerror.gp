# plots/qerror.gp — quantization error against bitwidth (experiment qerror).
#
# One figure per model, from <resdir>/qerror/<model>_summary.csv (written by
# dnateq-qerror): mean RMAE over the model's tensors against bits, one line
# per scheme variant, with the layer spread drawn as a band (interquartile
# range over tensors); weights left, activations right.
# Output: <resdir>/qerror/<model>_rmae.pdf and .png.
#
#   gnuplot -e "resdir='results'" plots/qerror.gp      (make figures does this)

if (!exists("resdir")) resdir = "results"
files = system("ls " . resdir . "/qerror/*_summary.csv 2>/dev/null")
if (words(files) == 0) { print "qerror.gp: no " . resdir . "/qerror/*_summary.csv"; exit }

set datafile separator comma
set datafile missing "nan"
set logscale y
set format y "10^{%L}"
set xlabel "bits"
set ylabel "mean RMAE over tensors"
set xtics 1
set grid ytics mytics lt 0 lw 0.5
set key outside right top vertical font ",8" spacing 0.9
set style fill transparent solid 0.12 noborder

# summary columns: 1 model, 2 series_id, 3 series, 7 kind, 8 bits,
# 10 mean_rmae, 11 min, 12 q25, 13 median, 14 q75, 15 max
nseries(f) = int(system("awk -F, '!/^#/ && NR > 1 && $2 ~ /^[0-9]+$/ {s[$2]} END {print length(s)}' " . f))
sname(f, i) = system(sprintf("awk -F, '!/^#/ && $2==\"%d\" {print $3; exit}' %s", i, f))
sel(i, k, c) = (column(2) == i && strcol(7) eq k) ? column(c) : NaN
# 12 distinguishable colours; DNA-TEQ drawn thicker
array C[12] = ["#1f77b4", "#aec7e8", "#17becf", "#9edae5", "#d62728", \
               "#ff7f0e", "#8c564b", "#2ca02c", "#9467bd", "#e377c2", \
               "#7f7f7f", "#bcbd22"]
col(i) = C[(i % 12) + 1]
lw(f, i) = (sname(f, i) eq "DNA-TEQ") ? 3 : 1.2

do for [f in files] {
    model = system("basename " . f . " _summary.csv")
    n = nseries(f)
    do for [term in "pdf png"] {
        if (term eq "pdf") {
            set terminal pdfcairo size 7.2in,3.4in font ",8"
        } else {
            set terminal pngcairo size 1500,560 font ",10"
        }
        set output resdir . "/qerror/" . model . "_rmae." . term
        set multiplot layout 1,2 title "qerror: " . model . " (band: interquartile range over tensors)"
        do for [k in "weight activation"] {
            set title k . "s"
            if (k eq "weight") { unset key } else { set key }
            plot for [i=0:n-1] f using 8:(sel(i, k, 12)):(sel(i, k, 14)) \
                     with filledcurves lc rgb col(i) notitle, \
                 for [i=0:n-1] f using 8:(sel(i, k, 10)) \
                     with linespoints lc rgb col(i) lw lw(f, i) pt (i % 7) + 1 \
                     ps 0.6 title sname(f, i)
        }
        unset multiplot
        set output
    }
}
