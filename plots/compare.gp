# plots/compare.gp — accuracy against average bits (experiment compare).
#
# One figure per model, from <resdir>/compare/<model>.csv and
# <model>_pareto.dat (written by dnateq-compare): test top-1 against the
# element-weighted average bits of weights and activations, one point
# style per scheme family, the Pareto front as a line, DNA-TEQ drawn large
# and labelled, FP32 as a dashed horizontal line.
# Output: <resdir>/compare/<model>_acc_bits.pdf and .png.
#
#   gnuplot -e "resdir='results'" plots/compare.gp      (make figures does this)

if (!exists("resdir")) resdir = "results"
if (strlen(system("ls plots/style.gp 2>/dev/null")) > 0) load "plots/style.gp"
files = system("ls " . resdir . "/compare/*.csv 2>/dev/null | grep -v '/summary.csv$'")
if (words(files) == 0) { print "compare.gp: no " . resdir . "/compare/<model>.csv"; exit }

set datafile separator comma
set datafile missing "nan"
set xlabel "average bits per element (weights and activations, element-weighted)"
set ylabel "test top-1 (%)"
set grid lt 0 lw 0.5
set key outside right top vertical font ",8" spacing 0.9

# CSV columns: 2 family, 3 label, 12 avg_bits, 16 top1, 17 ci_low, 18 ci_high
families(f) = system("awk -F, 'NR > 1 && $2 != \"FP32\" && !s[$2]++ {printf \"%s%s\", (n++ ? \"|\" : \"\"), $2}' " . f)
fam(list, i) = system(sprintf("echo '%s' | cut -d'|' -f%d", list, i))
nfam(list) = int(system(sprintf("echo '%s' | awk -F'|' '{print NF}'", list)))
fp32(f) = real(system("awk -F, '$2 == \"FP32\" {print 100 * $16; exit}' " . f))
sel(name, c) = (strcol(2) eq name) ? column(c) : NaN
array C[14] = ["#7f7f7f", "#1f77b4", "#aec7e8", "#17becf", "#9edae5", \
               "#ff7f0e", "#ffbb78", "#8c564b", "#2ca02c", "#9467bd", \
               "#e377c2", "#bcbd22", "#d62728", "#98df8a"]
col(name, i) = (name eq "DNA-TEQ") ? "#d62728" : C[(i % 14) + 1]
ps(name) = (name eq "DNA-TEQ") ? 2.2 : 0.8
pt(name, i) = (name eq "DNA-TEQ") ? 7 : (i % 12) + 1

do for [f in files] {
    model = system("basename " . f . " .csv")
    pareto = resdir . "/compare/" . model . "_pareto.dat"
    fl = families(f)
    n = nfam(fl)
    array F[n]   # the family names, looked up once (not per data point)
    do for [i=1:n] { F[i] = fam(fl, i) }
    top = fp32(f)
    set yrange [top - 12 : top + 1.5]
    set xrange [1.5 : 9]
    set arrow 1 from graph 0, first top to graph 1, first top nohead dt 2 lc rgb "#555555"
    set label 1 sprintf("FP32 %.2f%%", top) at graph 0.02, first top + 0.4 font ",8"
    do for [term in "pdf png"] {
        if (term eq "pdf") {
            set terminal pdfcairo size 7.2in,3.6in font ",9"
        } else {
            set terminal pngcairo size 1100,620 font ",10"
        }
        set output resdir . "/compare/" . model . "_acc_bits." . term
        set title "compare: " . model . " (test split; points below the range omitted)"
        plot pareto using 1:($2 * 100) with lines lw 1.5 lc rgb "#444444" title "Pareto front", \
             for [i=1:n] f using (sel(F[i], 12)):(100 * sel(F[i], 16)) \
                 with points pt pt(F[i], i) ps ps(F[i]) \
                 lc rgb col(F[i], i) title F[i], \
             f using (sel("DNA-TEQ", 12)):(100 * sel("DNA-TEQ", 16)):(sprintf(" DNA-TEQ %.2f b", column(12))) \
                 with labels left offset 2,0 font ",9" tc rgb "#d62728" notitle
        set output
    }
    unset arrow 1
    unset label 1
}
