# Figure 2: AUROC of the reward as a classifier of correct vs incorrect solutions, per split,
# baseline vs goal-conditioned RM, mean over seeds with 95% CI whiskers. Columns are read by the
# names in the data file's header line (replicate/claims/schema.h).
# usage: gnuplot -e "datafile='DIR/fig2.dat'; outprefix='DIR/fig2'; lambda='0.5'" plots/fig2.gp
if (!exists("datafile")) datafile = 'fig2.dat'
if (!exists("outprefix")) outprefix = 'fig2'
if (!exists("lambda")) lambda = '?'
set datafile columnheaders
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
    plot datafile using (column("baseline_mean")):(column("baseline_lo")):(column("baseline_hi")):xtic(stringcolumn("split")) \
             title "baseline (preference loss)" lc rgb "#8c8c8c", \
         '' using (column("goal_mean")):(column("goal_lo")):(column("goal_hi")) \
             title "goal-conditioned (+ contrastive, lambda ".lambda.")" lc rgb "#1f77b4"
    unset output
}
