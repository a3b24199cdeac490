# Figure 2: AUROC of the reward as a classifier of correct vs incorrect solutions, per split,
# baseline vs goal-conditioned RM, mean over seeds with 95% CI whiskers.
# usage: gnuplot -e "datafile='DIR/fig2.dat'; outprefix='DIR/fig2'" plots/fig2.gp
if (!exists("datafile")) datafile = 'fig2.dat'
if (!exists("outprefix")) outprefix = 'fig2'
set style data histogram
set style histogram errorbars gap 2 lw 1.5
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0.3:1.0]
set ylabel "AUROC (correct vs incorrect)"
set xlabel "evaluation split (ID: arith-easy, arith-hard; OOD: the rest)"
set key top right
set grid ytics
set title "Reward-model AUROC: baseline vs goal-conditioned (mean over seeds, 95% CI)"
do for [fmt in "pngcairo svg"] {
    if (fmt eq "pngcairo") { set terminal pngcairo size 960,540 font "sans,11"; set output outprefix.'.png' }
    else { set terminal svg size 960,540 font "sans,11"; set output outprefix.'.svg' }
    plot datafile using 2:3:4:xtic(1) title "baseline (preference loss)" lc rgb "#8c8c8c", \
         '' using 5:6:7 title "goal-conditioned (+ contrastive, lambda 0.5)" lc rgb "#1f77b4"
    unset output
}
