#!/bin/bash
# One prepared run on a quiet multi-core machine, before and after the packed
# records (record version 2), the whole-flow prefetch and the smaller flow
# state: the replay comparison (tcpdump, argus, the previous ocellus and the
# current one with 1..12 workers), then the client comparison (ra, racluster,
# rasort against both ocellus binaries, each reading the record file its own
# probe wrote with -S 1). Each command alone; CPU and peak RSS from rusage.
set -u
D=$(cd "$(dirname "$0")" && pwd)
. "$D/rusage.sh"

echo "== replay"
run tcpdump $D/tcpdump -Z root -r $P -w /dev/null
run "ocellus-prev workers=1" $D/ocellus-prev probe --stats --workers 1 -r $P -w /tmp/x.ocr
ls -l /tmp/x.ocr | awk '{print "ocellus-prev record file bytes:", $5}'
for w in 1 2 4 8 12; do
  run "ocellus workers=$w" $D/ocellus probe --stats --workers $w -r $P -w /tmp/x.ocr
done
ls -l /tmp/x.ocr | awk '{print "ocellus record file bytes:", $5}'
rm -f /tmp/x.ocr
run argus $D/argus -X -r $P -w /tmp/x.argus
ls -l /tmp/x.argus | awk '{print "argus record file bytes:", $5}'
rm -f /tmp/x.argus

echo "== clients (records of -S 1 probes)"
run "argus -X -S 1" $D/argus -X -S 1 -r $P -w /tmp/f.argus
run "ocellus-prev probe -S 1" $D/ocellus-prev probe -S 1 -r $P -w /tmp/f1.ocr
run "ocellus probe -S 1" $D/ocellus probe -S 1 -r $P -w /tmp/f2.ocr
ls -l /tmp/f.argus /tmp/f1.ocr /tmp/f2.ocr | awk '{print $9, $5}'
for f in "tcp and dst port 80" "udp and pkts gt 3" "src net 10.0.0.0/16 and not icmp"; do
  run "ra - $f" $D/ra -r /tmp/f.argus - $f
  run "ocellus-prev read - $f" $D/ocellus-prev read -r /tmp/f1.ocr - $f
  run "ocellus read - $f" $D/ocellus read -r /tmp/f2.ocr - $f
done
run "ocellus-prev read (all)" $D/ocellus-prev read -r /tmp/f1.ocr
run "ocellus read (all)" $D/ocellus read -r /tmp/f2.ocr
run "racluster -m saddr daddr" $D/racluster -m saddr daddr -r /tmp/f.argus
run "ocellus-prev cluster -m saddr daddr" $D/ocellus-prev cluster -m saddr daddr -r /tmp/f1.ocr
run "ocellus cluster -m saddr daddr" $D/ocellus cluster -m saddr daddr -r /tmp/f2.ocr
run "ocellus-prev sort -m bytes" $D/ocellus-prev sort -m bytes -r /tmp/f1.ocr
run "ocellus sort -m bytes" $D/ocellus sort -m bytes -r /tmp/f2.ocr
# rc=124: rasort did not finish within 150 s.
run "rasort -m bytes" timeout 150 $D/rasort -m bytes -r /tmp/f.argus
