# Goal-state ablation: Q-value filtering with the goal state from a random response token; the
# same frontier as table1's (one point per threshold of the sweep: x = % of generated tokens saved,
# y = voting accuracy, mean over reward-model seeds; dashed: no filtering). Compare with
# table1.png (goal state from the last token).
# usage: gnuplot -e "datafile='DIR/ablation-goal-token.dat'; outprefix='DIR/ablation-goal-token'; names='goal'" plots/ablation-goal-token.gp
if (!exists("datafile")) datafile = 'ablation-goal-token.dat'
if (!exists("outprefix")) outprefix = 'ablation-goal-token'
if (!exists("names")) names = "goal"
n = words(names)
set datafile columnheaders
set xlabel "generated tokens saved (%)"
set ylabel "majority-vote accuracy"
set grid
set key bottom left
set offsets graph 0.05, graph 0.05, 0, 0
stats datafile using "unfiltered_accuracy" nooutput
unfiltered = STATS_mean
set title "Filtering with a goal state from a random token (mean over seeds)"
do for [fmt in "pngcairo svg"] {
    if (fmt eq "pngcairo") { set terminal pngcairo size 960,540 font "sans,11"; set output outprefix.'.png' }
    else { set terminal svg size 960,540 font "sans,11"; set output outprefix.'.svg' }
    plot for [k = 1:n] datafile using (column(word(names, k)."_saved_pct")):(column(word(names, k)."_accuracy")) \
             with linespoints lw 2 pt 7 lc rgb "#d62728" title word(names, k)." RM, goal state: random token", \
         for [k = 1:n] '' using (column(word(names, k)."_saved_pct")):(column(word(names, k)."_accuracy")):(stringcolumn("point")) \
             with labels offset 0,0.8 tc rgb "#d62728" font ",8" notitle, \
         unfiltered with lines dt 2 lw 1.5 lc rgb "black" title "no filtering"
    unset output
}
