# plots/dnateq_bits.gp — the bitwidths the adaptive searches chose, per
# layer (experiment dnateq, DESIGN §1.2).
#
# One panel per model, from <resdir>/dnateq/<model>_layers.csv (written by
# dnateq-dnateq): for every quantizable layer (x, in node order) the bits
# of its weight ("W"; the first input for an attention matmul) and of its
# input activation ("A"; the second input for a matmul), as bars for
# DNA-TEQ and as points for the mixed-precision uniform search.
# Output: <resdir>/dnateq/bits.pdf and .png.
#
#   gnuplot -e "resdir='results'" plots/dnateq_bits.gp   (make figures does this)

if (!exists("resdir")) resdir = "results"
if (system("test -f plots/style.gp && echo y") eq "y") { load "plots/style.gp" }
# the zoo's order (mlp, alexnet, resnet20, vit), then any other model
files = system("ls " . resdir . "/dnateq/*_layers.csv 2>/dev/null | awk '{r = 5; " . \
               "if (/\\/mlp_/) r = 1; else if (/\\/alexnet_/) r = 2; " . \
               "else if (/\\/resnet20_/) r = 3; else if (/\\/vit_/) r = 4; print r, $0}' " . \
               "| sort -k1,1n -k2 | cut -d' ' -f2-")
if (words(files) == 0) { print "dnateq_bits.gp: no " . resdir . "/dnateq/*_layers.csv"; exit }

set datafile separator comma
# layers.csv columns: 1 model, 2 search, 3 index, 4 layer, 5 op,
# 6 operand0, 7 operand1, 8 elems0, 9 elems1, 10 bits0, 11 bits1,
# 12 rmae0, 13 rmae1, 14 shared_base
sel(s, c) = strcol(2) eq s ? column(c) : NaN
nlayers(f) = int(system("awk -F, 'NR > 1 && $2 == \"dnateq\"' " . f . " | wc -l"))
n = words(files)
cols = (n > 1) ? 2 : 1
rows = int((n + cols - 1) / cols)

set yrange [0:10]
set ytics 1
set ylabel "bits"
set grid ytics lt 0 lw 0.5
set style fill solid 0.75 border -1
set boxwidth 0.38
set key top right horizontal font ",8"
set xtics rotate by 60 right font ",7" nomirror noenhanced

do for [term in "pdf png"] {
    if (term eq "pdf") {
        set terminal pdfcairo size 7.2in,(2.6 * rows)in font ",9"
    } else {
        set terminal pngcairo size 1500,(460 * rows) font ",10"
    }
    set output resdir . "/dnateq/bits." . term
    set multiplot layout rows,cols title "dnateq: bits per layer chosen on val (bars: DNA-TEQ, points: mixed-precision uniform)"
    do for [f in files] {
        model = system("basename " . f . " _layers.csv")
        set title model
        set xrange [-0.7:nlayers(f) - 0.3]
        plot f using 3:(NaN):xtic(4) with points notitle, \
             f using ($3 - 0.2):(sel("dnateq", 10)) \
                 with boxes lc rgb "#1f77b4" title "DNA-TEQ W", \
             f using ($3 + 0.2):(sel("dnateq", 11)) \
                 with boxes lc rgb "#ff7f0e" title "DNA-TEQ A", \
             f using ($3 - 0.2):(sel("mpu", 10)) \
                 with points pt 7 ps 0.6 lc rgb "#08306b" title "MP-uniform W", \
             f using ($3 + 0.2):(sel("mpu", 11)) \
                 with points pt 9 ps 0.7 lc rgb "#7f2704" title "MP-uniform A"
    }
    unset multiplot
    set output
}
