# Ablations: AUROC on partial generations of each reward-model variant of the run (baseline, goal,
# then the ablations), left by the reward, right by the Q-value; lines are the AUROC of the
# seed-averaged standardised scores (p = 1 is the final reward). The variants come from the run
# (names='...'), the columns by the names in the data file's header line.
# usage: gnuplot -e "datafile='DIR/ablations.dat'; outprefix='DIR/ablations'; names='baseline goal ...'" plots/ablations.gp
if (!exists("datafile")) datafile = 'ablations.dat'
if (!exists("outprefix")) outprefix = 'ablations'
if (!exists("names")) names = "baseline goal"
n = words(names)
set datafile columnheaders
set xrange [-0.02:1.02]
set yrange [0.3:1.0]
set xlabel "fraction p of the solution generated"
set ylabel "AUROC (correct vs incorrect)"
set grid
set key bottom right font ",9"
do for [fmt in "pngcairo svg"] {
    if (fmt eq "pngcairo") { set terminal pngcairo size 1200,480 font "sans,11"; set output outprefix.'.png' }
    else { set terminal svg size 1200,480 font "sans,11"; set output outprefix.'.svg' }
    set multiplot layout 1,2 title "Reward-model ablations: AUROC on partial generations"
    do for [panel = 0:1] {
        s = panel == 0 ? "reward" : "q"
        set title (panel == 0 ? "reward at the prefix's last token" : "Q-value cos(h_t, g)")
        plot for [k = 1:n] datafile using "p":(column(word(names, k)."_".s."_boot_auroc")) \
             with linespoints lw (k <= 2 ? 2.5 : 1.2) pt 7 ps 0.5 title word(names, k)
    }
    unset multiplot
    unset output
}
