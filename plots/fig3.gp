# Figure 3: AUROC on partial generations against the fraction p of the solution generated.
# Left: scored by the reward at the prefix's last token; right: by the Q-value cos(h, goal).
# Lines: AUROC of the seed-averaged standardised scores, bands: bootstrap 95% CI over questions;
# points with whiskers: mean over seeds and its t-based 95% CI. Columns are read by the names in
# the data file's header line (<variant>_<score>_<statistic>, replicate/claims/schema.h).
# usage: gnuplot -e "datafile='DIR/fig3.dat'; outprefix='DIR/fig3'" plots/fig3.gp
if (!exists("datafile")) datafile = 'fig3.dat'
if (!exists("outprefix")) outprefix = 'fig3'
set datafile columnheaders
set xrange [-0.02:1.02]
set yrange [0.3:1.0]
set xlabel "fraction p of the solution generated"
set grid
set key bottom right
base = "#8c8c8c"; goal = "#1f77b4"
col(v, s, stat) = column(v."_".s."_".stat)
do for [fmt in "pngcairo svg"] {
    if (fmt eq "pngcairo") { set terminal pngcairo size 1200,480 font "sans,11"; set output outprefix.'.png' }
    else { set terminal svg size 1200,480 font "sans,11"; set output outprefix.'.svg' }
    set multiplot layout 1,2 title "AUROC on partial generations (band: bootstrap over questions; whiskers: seeds)"
    do for [panel = 0:1] {
        s = panel == 0 ? "reward" : "q"
        set title (panel == 0 ? "reward at the prefix's last token" : "Q-value cos(h_t, g)")
        set ylabel "AUROC (correct vs incorrect)"
        plot datafile using "p":(col("baseline", s, "boot_lo")):(col("baseline", s, "boot_hi")) with filledcurves lc rgb base fs transparent solid 0.2 notitle, \
             '' using "p":(col("goal", s, "boot_lo")):(col("goal", s, "boot_hi")) with filledcurves lc rgb goal fs transparent solid 0.2 notitle, \
             '' using "p":(col("baseline", s, "boot_auroc")) with lines lw 2 lc rgb base title "baseline", \
             '' using "p":(col("goal", s, "boot_auroc")) with lines lw 2 lc rgb goal title "goal-conditioned", \
             '' using (column("p")-0.005):(col("baseline", s, "mean")):(col("baseline", s, "lo")):(col("baseline", s, "hi")) with yerrorbars pt 7 ps 0.5 lc rgb base notitle, \
             '' using (column("p")+0.005):(col("goal", s, "mean")):(col("goal", s, "lo")):(col("goal", s, "hi")) with yerrorbars pt 7 ps 0.5 lc rgb goal notitle
    }
    unset multiplot
    unset output
}
