# PPO training curves of table2 (the paper's Figure 7 and Table 14): per iteration, the reward
# model's mean score of the rollout, the KL to the reference policy (per sequence), the rollout's
# accuracy (sampled responses that solve their training question) and the response length; one
# line per PPO run (reward model and seed). Columns are read by the names in each block's header
# line (replicate/claims/schema.h).
# usage: gnuplot -e "datafile='DIR/table2-ppo.dat'; outprefix='DIR/table2-ppo'" plots/table2-ppo.gp
if (!exists("datafile")) datafile = 'table2-ppo.dat'
if (!exists("outprefix")) outprefix = 'table2-ppo'
set datafile columnheaders
stats datafile using 1 nooutput
blocks = STATS_blocks
set xlabel "PPO iteration"
set grid
set key bottom right font ",8"
do for [fmt in "pngcairo svg"] {
    if (fmt eq "pngcairo") { set terminal pngcairo size 1200,800 font "sans,10"; set output outprefix.'.png' }
    else { set terminal svg size 1200,800 font "sans,10"; set output outprefix.'.svg' }
    set multiplot layout 2,2 title "PPO against each reward model (one line per reward model and seed)"
    set title "reward model's score (raw, mean over the rollout)"
    plot for [b=0:blocks-1] datafile index b using (column("iteration")):(column("reward")) \
        with lines title columnhead(6) lc b+1
    set title "KL to the reference policy (per sequence)"
    plot for [b=0:blocks-1] datafile index b using (column("iteration")):(column("kl")) \
        with lines notitle lc b+1
    set title "rollout accuracy (training questions, sampled)"
    plot for [b=0:blocks-1] datafile index b using (column("iteration")):(column("rollout_accuracy")) \
        with lines notitle lc b+1
    set title "response length (tokens)"
    plot for [b=0:blocks-1] datafile index b using (column("iteration")):(column("response_len")) \
        with lines notitle lc b+1
    unset multiplot
    unset output
}
