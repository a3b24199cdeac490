# Table 3b: net win rate of guided decoding toward a goal state over the SFT baseline, per judged
# attribute ((wins - losses) / comparisons, 95% CI over prompts); 0 is no difference.
# usage: gnuplot -e "datafile='DIR/table3b.dat'; outprefix='DIR/table3b'" plots/table3b.gp
if (!exists("datafile")) datafile = 'table3b.dat'
if (!exists("outprefix")) outprefix = 'table3b'
set datafile columnheaders
set datafile missing NaN
set style data histogram
set style histogram errorbars gap 2 lw 1.5
set style fill solid 0.85 border -1
set boxwidth 0.6
set yrange [*<-0.3:0.3<*]
set ylabel "net win rate over SFT ((wins - losses) / comparisons)"
set grid ytics
set key off
set title "Guided decoding vs the SFT baseline, exact judges (95% CI over prompts)"
do for [fmt in "pngcairo svg"] {
    if (fmt eq "pngcairo") { set terminal pngcairo size 720,480 font "sans,11"; set output outprefix.'.png' }
    else { set terminal svg size 720,480 font "sans,11"; set output outprefix.'.svg' }
    plot datafile using (column("mean")):(column("lo")):(column("hi")):xtic(stringcolumn("attribute")) \
             lc rgb "#1f77b4", \
         0 with lines dt 2 lc rgb "#555555" notitle
    unset output
}
