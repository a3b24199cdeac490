# Pilot: per evaluation split, the policy's greedy accuracy and three AUROCs as classifiers of its
# correct solutions: the policy's own mean token log-probability (G0), its lowest log-probability
# over the digits of computed results (G0), and the baseline reward model's reward (G2, mean over
# seeds). Columns are read by the names in the data file's header line (replicate/claims/schema.h).
# usage: gnuplot -e "datafile='DIR/pilot.dat'; outprefix='DIR/pilot'" plots/pilot.gp
if (!exists("datafile")) datafile = 'pilot.dat'
if (!exists("outprefix")) outprefix = 'pilot'
set datafile columnheaders
set style data histogram
set style histogram clustered gap 1.5
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:1.0]
set ylabel "accuracy / AUROC"
set xlabel "evaluation split (ID: arith-easy, arith-hard; OOD: the rest)"
set key top right
set grid ytics
set arrow from graph 0, first 0.5 to graph 1, first 0.5 nohead dt 2 lc rgb "#444444"
set title "Pilot: what the policy knows (G0) and what the baseline RM reads (G2)"
do for [fmt in "pngcairo svg"] {
    if (fmt eq "pngcairo") { set terminal pngcairo size 960,540 font "sans,11"; set output outprefix.'.png' }
    else { set terminal svg size 960,540 font "sans,11"; set output outprefix.'.svg' }
    plot datafile using (column("policy_accuracy")):xtic(stringcolumn("split")) title "policy greedy accuracy" lc rgb "#bbbbbb", \
         '' using (column("g0_mean_logprob")) title "G0: policy mean log-prob" lc rgb "#2ca02c", \
         '' using (column("g0_min_result_logprob")) title "G0: policy min result-digit log-prob" lc rgb "#98df8a", \
         '' using (column("g2_baseline_rm")) title "G2: baseline RM reward" lc rgb "#1f77b4"
    unset output
}
