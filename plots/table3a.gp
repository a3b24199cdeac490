# Table 3a: pairwise accuracy of the baseline and the goal-conditioned reward model on the
# Helpful-Harmless pairs (mean over seeds, 95% CI over pairs); 0.5 is chance.
# usage: gnuplot -e "datafile='DIR/table3a.dat'; outprefix='DIR/table3a'" plots/table3a.gp
if (!exists("datafile")) datafile = 'table3a.dat'
if (!exists("outprefix")) outprefix = 'table3a'
set datafile columnheaders
set datafile missing NaN
set style data histogram
set style histogram errorbars gap 2 lw 1.5
set style fill solid 0.85 border -1
set boxwidth 0.6
set yrange [*<0.4:0.7<*]
set ylabel "pairwise accuracy (chosen scored above rejected)"
set grid ytics
set key off
set title "Helpful-Harmless pairs: reward-model accuracy (mean over seeds, 95% CI over pairs)"
do for [fmt in "pngcairo svg"] {
    if (fmt eq "pngcairo") { set terminal pngcairo size 720,480 font "sans,11"; set output outprefix.'.png' }
    else { set terminal svg size 720,480 font "sans,11"; set output outprefix.'.svg' }
    plot datafile using (column("mean")):(column("lo")):(column("hi")):xtic(stringcolumn("variant")) \
             lc rgb "#1f77b4", \
         0.5 with lines dt 2 lc rgb "#555555" notitle
    unset output
}
