# plots/energy.gp — energy per inference against the INT8 baseline, split
# into compute, on-chip SRAM and off-chip DRAM (experiment energy, DESIGN
# §3, §5).
#
# One panel per model, from <resdir>/energy/<model>_bars.dat (written by
# dnateq-energy): for each scheme (FP32, INT8, DNA-TEQ, mixed-precision
# uniform, log2) a bar stacked from its compute, SRAM and DRAM energy,
# each divided by the INT8 total, so INT8's bar ends at 1.  The y axis is
# cut at ymax; the total is printed above every bar (FP32 runs off it,
# and so does DNA-TEQ where its FP32 combine dominates).  Panels: one row
# for up to two models, else two rows.
# Output: <resdir>/energy/energy.pdf and .png.
#
#   gnuplot -e "resdir='results'" plots/energy.gp   (make figures does this)

if (!exists("resdir")) resdir = "results"
if (system("test -f plots/style.gp && echo y") eq "y") { load "plots/style.gp" }
files = system("ls " . resdir . "/energy/*_bars.dat 2>/dev/null")
if (words(files) == 0) { print "energy.gp: no " . resdir . "/energy/*_bars.dat"; exit }

# _bars.dat columns: 1 scheme label, 2 compute, 3 SRAM, 4 DRAM, 5 total
# (all divided by INT8's total energy per inference)
ymax = 1.6
n = words(files)
rows = n > 2 ? 2 : 1           # 3 or 4 models: two rows
cols = (n + rows - 1) / rows   # integer division
set style data histograms
set style histogram rowstacked
set style fill solid 0.8 border -1
set boxwidth 0.65
set yrange [0:ymax]
set ytics 0.2
set ylabel "energy per inference / INT8 total"
set grid ytics lt 0 lw 0.5
set xtics rotate by 30 right font ",9" nomirror noenhanced
set key top right font ",9" samplen 1.5 opaque

do for [term in "pdf png"] {
    if (term eq "pdf") {
        set terminal pdfcairo size (3.6 * cols)in,(3.6 * rows)in font ",10"
    } else {
        set terminal pngcairo size (500 * cols),(500 * rows) font ",10"
    }
    set output resdir . "/energy/energy." . term
    set multiplot layout rows,cols title "energy: per inference, relative to INT8 (compute, SRAM, DRAM)"
    do for [f in files] {
        model = system("basename " . f . " _bars.dat")
        set title model noenhanced
        plot f using 2:xtic(1) lt 1 title "compute", \
             '' using 3 lt 2 title "SRAM", \
             '' using 4 lt 3 title "DRAM", \
             '' using 0:($5 < ymax ? $5 : ymax):(sprintf("%.2f", $5)) \
                 with labels offset 0,0.7 font ",8" notitle
    }
    unset multiplot
    set output
}
