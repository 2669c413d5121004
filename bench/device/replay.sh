#!/bin/bash
# One prepared run on a quiet multi-core machine: the replay benchmark's
# input, then ocellus (1..12 workers), argus and tcpdump on it, one after
# the other, each measured by rusage (CPU) and wall clock.
set -u
D=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH=$D/lib
echo "cores: $(nproc)"; lscpu | grep -E "Model name"
$D/ocellus-bench gen -o /tmp/replay.pcap 2>&1 | tail -1
cat /tmp/replay.pcap > /dev/null
. "$D/rusage.sh"
run tcpdump $D/tcpdump -Z root -r /tmp/replay.pcap -w /dev/null
for w in 1 2 4 8 12; do
  run "ocellus-workers=$w" $D/ocellus probe --stats --workers $w -r /tmp/replay.pcap -w /tmp/x.ocr
  rm -f /tmp/x.ocr
done
run argus $D/argus -X -r /tmp/replay.pcap -w /tmp/x.argus
ls -la /tmp/x.argus
