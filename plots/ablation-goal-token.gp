# Goal-state ablation: Q-value filtering with the goal state from a random response token. Each
# point is one threshold of the sweep (labelled tau=T, or qQ: the threshold that cuts a share Q of
# the solutions): x = % of generated tokens saved, y = voting
# accuracy, mean over reward-model seeds; the dashed line is voting without filtering. Compare with
# table1.png (goal state from the last token).
# usage: gnuplot -e "datafile='DIR/ablation-goal-token.dat'; outprefix='DIR/ablation-goal-token'" plots/ablation-goal-token.gp
if (!exists("datafile")) datafile = 'ablation-goal-token.dat'
if (!exists("outprefix")) outprefix = 'ablation-goal-token'
set xlabel "generated tokens saved (%)"
set ylabel "majority-vote accuracy"
set grid
set key bottom left
set offsets graph 0.05, graph 0.05, 0, 0
stats datafile using 4 nooutput
unfiltered = STATS_mean
set title "Filtering with a goal state from a random token (goal-conditioned RM, mean over seeds)"
do for [fmt in "pngcairo svg"] {
    if (fmt eq "pngcairo") { set terminal pngcairo size 960,540 font "sans,11"; set output outprefix.'.png' }
    else { set terminal svg size 960,540 font "sans,11"; set output outprefix.'.svg' }
    plot datafile using 2:3 with linespoints lw 2 pt 7 lc rgb "#d62728" title "goal state: random token", \
         '' using 2:3:(stringcolumn(1)) with labels offset 0,0.8 tc rgb "#d62728" font ",8" notitle, \
         unfiltered with lines dt 2 lw 1.5 lc rgb "black" title "no filtering"
    unset output
}
