# Reward-model training curves: per epoch, the training accuracy (mean over the epoch's steps)
# and, on the held-out synthetic-corruption set, the pair accuracy and the AUROC of the reward
# (reference vs corrupted solutions); one line per RM (variant and seed), epoch 0 = before
# training. Columns are read by the names in each block's header line (replicate/claims/schema.h).
# usage: gnuplot -e "datafile='DIR/fig2-rm-training.dat'; outprefix='DIR/fig2-rm-training'" plots/rm-training.gp
if (!exists("datafile")) datafile = 'rm-training.dat'
if (!exists("outprefix")) outprefix = 'rm-training'
set datafile columnheaders
stats datafile using 1 nooutput
blocks = STATS_blocks
set xlabel "epoch"
set xtics 1
set grid
set key bottom right font ",8"
set yrange [0.3:1.0]
do for [fmt in "pngcairo svg"] {
    if (fmt eq "pngcairo") { set terminal pngcairo size 1200,450 font "sans,10"; set output outprefix.'.png' }
    else { set terminal svg size 1200,450 font "sans,10"; set output outprefix.'.svg' }
    set multiplot layout 1,3 title "Reward-model training (held-out: reference vs corrupted training-split problems)"
    set title "training pair accuracy"
    plot for [b=0:blocks-1] datafile index b using (column("epoch")):(column("train_accuracy")) \
        with linespoints title columnhead(7) lc b+1
    set title "held-out pair accuracy"
    plot for [b=0:blocks-1] datafile index b using (column("epoch")):(column("heldout_accuracy")) \
        with linespoints notitle lc b+1
    set title "held-out AUROC"
    plot for [b=0:blocks-1] datafile index b using (column("epoch")):(column("heldout_auroc")) \
        with linespoints notitle lc b+1
    unset multiplot
    unset output
}
