#!/bin/bash
# One prepared run on a quiet multi-core machine: the clients reading on
# 1, 4 and every core (--threads) against ra/rasort/racluster, on record files
# both probes make with -S 1 from the replay benchmark's 10M-packet capture.
# About 6 minutes on 16 cores (rasort alone takes about 80 s).
set -u
D=$(cd "$(dirname "$0")" && pwd)
. "$D/rusage.sh"
# --threads N, or nothing for the default (one per core, at most 16).
th() { [ "$1" = all ] || echo "--threads $1"; }
run "argus -X -S 1" $D/argus -X -S 1 -r $P -w /tmp/f.argus
run "ocellus probe -S 1" $D/ocellus probe -S 1 -r $P -w /tmp/f.ocr
for f in "tcp and dst port 80" "udp and pkts gt 3" "src net 10.0.0.0/16 and not icmp"; do
  run "ra - $f" $D/ra -r /tmp/f.argus - $f
  for t in 1 4 all; do
    run "ocellus read --threads $t - $f" $D/ocellus read $(th $t) -r /tmp/f.ocr - $f
  done
done
run "racluster -m saddr daddr" $D/racluster -m saddr daddr -r /tmp/f.argus
for t in 1 4 all; do
  run "ocellus cluster --threads $t -m saddr daddr" $D/ocellus cluster $(th $t) -m saddr daddr -r /tmp/f.ocr
  run "ocellus sort --threads $t -m bytes" $D/ocellus sort $(th $t) -m bytes -r /tmp/f.ocr
done
run "rasort -m bytes" timeout 200 $D/rasort -m bytes -r /tmp/f.argus
