# Table 1 companion: the cost/accuracy frontier of Q-value filtering in majority voting. Each point
# is one threshold of the sweep (labelled tau=T, or qQ: the threshold that cuts a share Q of the
# solutions), x = % of generated tokens saved, y = voting accuracy, mean over reward-model seeds;
# the dashed line is voting without filtering. One curve per variant of the run (names='...');
# columns by the names in the data file's header line (<variant>_saved_pct, <variant>_accuracy).
# usage: gnuplot -e "datafile='DIR/table1.dat'; outprefix='DIR/table1'; names='baseline goal'" plots/table1.gp
if (!exists("datafile")) datafile = 'table1.dat'
if (!exists("outprefix")) outprefix = 'table1'
if (!exists("names")) names = "baseline goal"
n = words(names)
set datafile columnheaders
set xlabel "generated tokens saved (%)"
set ylabel "majority-vote accuracy"
set grid
set key bottom left
set offsets graph 0.05, graph 0.05, 0, 0
stats datafile using "unfiltered_accuracy" nooutput
unfiltered = STATS_mean
colours = "#8c8c8c #1f77b4 #d62728 #2ca02c #9467bd #ff7f0e #8c564b"
set title "Q-value filtering: tokens saved vs accuracy over the tau sweep (mean over seeds)"
do for [fmt in "pngcairo svg"] {
    if (fmt eq "pngcairo") { set terminal pngcairo size 960,540 font "sans,11"; set output outprefix.'.png' }
    else { set terminal svg size 960,540 font "sans,11"; set output outprefix.'.svg' }
    plot for [k = 1:n] datafile using (column(word(names, k)."_saved_pct")):(column(word(names, k)."_accuracy")) \
             with linespoints lw 2 pt 7 lc rgb word(colours, k) title word(names, k)." RM", \
         for [k = 1:n] '' using (column(word(names, k)."_saved_pct")):(column(word(names, k)."_accuracy")):(stringcolumn("point")) \
             with labels offset 0,(k % 2 ? 0.8 : -0.8) tc rgb word(colours, k) font ",8" notitle, \
         unfiltered with lines dt 2 lw 1.5 lc rgb "black" title "no filtering"
    unset output
}
