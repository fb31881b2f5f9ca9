# perf/plot.gp - frame-rate chart of a bench run.
#   gnuplot -e "datafile='X.dat'; outfile='X.png'; title='...'" perf/plot.gp
# datafile columns: frame size (B), bridge Mpps, memif Mpps, pvnet pv2pv
# AF_PACKET Mpps, pvnet pv2pv in-ring pktgen -> sink Mpps, DPDK plugin wire
# (memif to testpmd macswap, frames back) Mpps (NaN where not measured).
# Files from before the pktgen/wire columns (4 columns) still plot.
if (!exists("title")) title = 'pvnet bench'
set terminal pngcairo size 1000,620 noenhanced
set output outfile
set title title
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set ylabel 'Mpps (frames delivered per second, millions)'
set xlabel 'frame size (bytes, without FCS)'
set grid ytics
set key below left Left reverse
set yrange [0:*]
set datafile missing 'NaN'
stats datafile using 0 nooutput
ncol = STATS_columns
plot datafile using 2:xtic(1) title 'Linux bridge (veth, AF_PACKET pktgen)', \
     '' using 3 title 'DPDK testpmd over memif (txonly -> rxonly)', \
     '' using 4 title 'pvnet pv2pv.afpacket (AF_PACKET pktgen in guests)', \
     for [c=5:(ncol >= 5 ? 5 : 4)] '' using (ncol >= 5 ? column(5) : NaN) title 'pvnet pv2pv.pktgen (netfront in-ring generator -> sink)', \
     for [c=6:(ncol >= 6 ? 6 : 5)] '' using (ncol >= 6 ? column(6) : NaN) title 'pvnet wire.memif (DPDK plugin -> testpmd macswap, back)'
