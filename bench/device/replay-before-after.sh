#!/bin/bash
# One prepared run on a quiet multi-core machine: the replay benchmark's
# input through tcpdump, the previous ocellus (ocellus-prev, 1 worker), the
# current one (1..12 workers) and argus, one after the other, each measured
# by rusage (CPU, peak RSS) and wall clock; --stats gives flows at once.
set -u
D=$(cd "$(dirname "$0")" && pwd)
. "$D/rusage.sh"
run tcpdump $D/tcpdump -Z root -r $P -w /dev/null
run "ocellus-prev workers=1" $D/ocellus-prev probe --stats --workers 1 -r $P -w /tmp/x.ocr
for w in 1 2 4 8 12; do
  run "ocellus workers=$w" $D/ocellus probe --stats --workers $w -r $P -w /tmp/x.ocr
done
rm -f /tmp/x.ocr
run argus $D/argus -X -r $P -w /tmp/x.argus
