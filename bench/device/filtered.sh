#!/bin/bash
# One prepared run on a quiet multi-core machine: filtered reads, ra against
# ocellus before (ocellus-prev) and after the core-field filter test
# (ocellus), on record files both probes make with -S 1 from the replay
# benchmark's 10M-packet capture. Each command runs alone, measured by rusage.
set -u
D=$(cd "$(dirname "$0")" && pwd)
. "$D/rusage.sh"
run "argus -X -S 1" $D/argus -X -S 1 -r $P -w /tmp/f.argus
run "ocellus probe -S 1" $D/ocellus probe -S 1 -r $P -w /tmp/f.ocr
ls -la /tmp/f.argus /tmp/f.ocr
for f in "tcp and dst port 80" "udp and pkts gt 3" "src net 10.0.0.0/16 and not icmp"; do
  run "ra - $f" $D/ra -r /tmp/f.argus - $f
  run "ocellus-prev read - $f" $D/ocellus-prev read -r /tmp/f.ocr - $f
  run "ocellus read - $f" $D/ocellus read -r /tmp/f.ocr - $f
  $D/ra -n -r /tmp/f.argus - $f | wc -l
  $D/ocellus read -n -L -1 -r /tmp/f.ocr - $f | wc -l
done
run "ocellus-prev read (all)" $D/ocellus-prev read -r /tmp/f.ocr
run "ocellus read (all)" $D/ocellus read -r /tmp/f.ocr
