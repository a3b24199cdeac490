# Table 2: greedy accuracy per split of the SFT policy, the DPO policies and the PPO policies
# against the baseline and the goal-conditioned reward models (mean over seeds, 95% CI; an arm
# not run is absent). Columns are read by the names in the data file's header line
# (replicate/claims/schema.h).
# usage: gnuplot -e "datafile='DIR/table2.dat'; outprefix='DIR/table2'" plots/table2.gp
if (!exists("datafile")) datafile = 'table2.dat'
if (!exists("outprefix")) outprefix = 'table2'
set datafile columnheaders
set datafile missing NaN
set style data histogram
set style histogram errorbars gap 2 lw 1.5
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:1.0]
set ylabel "greedy accuracy"
set xlabel "evaluation split (in distribution: the first two; out of distribution: the rest)"
set key top right
set grid ytics
set title "Policy accuracy: SFT, DPO, PPO with each reward model (mean over seeds, 95% CI)"
do for [fmt in "pngcairo svg"] {
    if (fmt eq "pngcairo") { set terminal pngcairo size 960,540 font "sans,11"; set output outprefix.'.png' }
    else { set terminal svg size 960,540 font "sans,11"; set output outprefix.'.svg' }
    plot datafile using (column("sft")):(column("sft")):(column("sft")):xtic(stringcolumn("split")) \
             title "SFT policy" lc rgb "#8c8c8c", \
         '' using (column("dpo_mean")):(column("dpo_lo")):(column("dpo_hi")) \
             title "DPO" lc rgb "#2ca02c", \
         '' using (column("ppo_baseline_mean")):(column("ppo_baseline_lo")):(column("ppo_baseline_hi")) \
             title "PPO, baseline RM" lc rgb "#1f77b4", \
         '' using (column("ppo_goal_mean")):(column("ppo_goal_lo")):(column("ppo_goal_hi")) \
             title "PPO, goal-conditioned RM" lc rgb "#d62728"
    unset output
}
