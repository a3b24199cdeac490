# Table 1 companion: the cost/accuracy frontier of Q-value filtering in majority voting. Each point
# is one threshold of the sweep (labelled tau=T, or qQ: the threshold that cuts a share Q of the
# solutions), x = % of generated tokens saved, y = voting accuracy,
# mean over reward-model seeds; the dashed line is voting without filtering.
# usage: gnuplot -e "datafile='DIR/table1.dat'; outprefix='DIR/table1'" plots/table1.gp
if (!exists("datafile")) datafile = 'table1.dat'
if (!exists("outprefix")) outprefix = 'table1'
set xlabel "generated tokens saved (%)"
set ylabel "majority-vote accuracy"
set grid
set key bottom left
set offsets graph 0.05, graph 0.05, 0, 0
stats datafile using 6 nooutput
unfiltered = STATS_mean
set title "Q-value filtering: tokens saved vs accuracy over the tau sweep (mean over seeds)"
do for [fmt in "pngcairo svg"] {
    if (fmt eq "pngcairo") { set terminal pngcairo size 960,540 font "sans,11"; set output outprefix.'.png' }
    else { set terminal svg size 960,540 font "sans,11"; set output outprefix.'.svg' }
    plot datafile using 2:3 with linespoints lw 2 pt 7 lc rgb "#8c8c8c" title "baseline RM", \
         '' using 2:3:(stringcolumn(1)) with labels offset 0,0.8 tc rgb "#8c8c8c" font ",8" notitle, \
         '' using 4:5 with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "goal-conditioned RM", \
         '' using 4:5:(stringcolumn(1)) with labels offset 0,-0.8 tc rgb "#1f77b4" font ",8" notitle, \
         unfiltered with lines dt 2 lw 1.5 lc rgb "black" title "no filtering"
    unset output
}
