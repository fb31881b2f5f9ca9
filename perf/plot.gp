# perf/plot.gp - frame-rate chart of a bench run.
#   gnuplot -e "datafile='X.dat'; outfile='X.png'; title='...'" perf/plot.gp
# datafile columns: frame size (B), bridge Mpps, memif Mpps, pvnet pv2pv Mpps
# (NaN where not measured).
if (!exists("title")) title = 'pvnet bench'
set terminal pngcairo size 900,520 noenhanced
set output outfile
set title title
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set ylabel 'Mpps (frames delivered per second, millions)'
set xlabel 'frame size (bytes, without FCS)'
set grid ytics
set key top right
set yrange [0:*]
set datafile missing 'NaN'
plot datafile using 2:xtic(1) title 'Linux bridge (veth, AF_PACKET pktgen)', \
     '' using 3 title 'DPDK testpmd over memif', \
     '' using 4 title 'pvnet pv2pv (AF_PACKET pktgen in guests)'
