# Figure 3: AUROC on partial generations against the fraction p of the solution generated.
# Left: scored by the reward at the prefix's last token; right: by the Q-value cos(h, goal).
# Lines: AUROC of the seed-averaged standardised scores, bands: bootstrap 95% CI over questions;
# points with whiskers: mean over seeds and its t-based 95% CI.
# usage: gnuplot -e "datafile='DIR/fig3.dat'; outprefix='DIR/fig3'" plots/fig3.gp
if (!exists("datafile")) datafile = 'fig3.dat'
if (!exists("outprefix")) outprefix = 'fig3'
set xrange [-0.02:1.02]
set yrange [0.3:1.0]
set xlabel "fraction p of the solution generated"
set grid
set key bottom right
base = "#8c8c8c"; goal = "#1f77b4"
do for [fmt in "pngcairo svg"] {
    if (fmt eq "pngcairo") { set terminal pngcairo size 1200,480 font "sans,11"; set output outprefix.'.png' }
    else { set terminal svg size 1200,480 font "sans,11"; set output outprefix.'.svg' }
    set multiplot layout 1,2 title "AUROC on partial generations (band: bootstrap over questions; whiskers: seeds)"
    do for [panel = 0:1] {
        c = 2 + 12 * panel  # first column of the baseline curve of this panel; goal is c + 6
        set title (panel == 0 ? "reward at the prefix's last token" : "Q-value cos(h_t, g)")
        set ylabel "AUROC (correct vs incorrect)"
        plot datafile using 1:(column(c+4)):(column(c+5)) with filledcurves lc rgb base fs transparent solid 0.2 notitle, \
             '' using 1:(column(c+10)):(column(c+11)) with filledcurves lc rgb goal fs transparent solid 0.2 notitle, \
             '' using 1:(column(c+3)) with lines lw 2 lc rgb base title "baseline", \
             '' using 1:(column(c+9)) with lines lw 2 lc rgb goal title "goal-conditioned", \
             '' using ($1-0.005):(column(c)):(column(c+1)):(column(c+2)) with yerrorbars pt 7 ps 0.5 lc rgb base notitle, \
             '' using ($1+0.005):(column(c+6)):(column(c+7)):(column(c+8)) with yerrorbars pt 7 ps 0.5 lc rgb goal notitle
    }
    unset multiplot
    unset output
}
