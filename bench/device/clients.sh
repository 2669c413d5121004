#!/bin/bash
# One prepared run on a quiet multi-core machine: the client comparison
# (ra/rasort/racluster vs ocellus read/sort/cluster) on record files both
# probes make with -S 1 from the replay benchmark's 10M-packet capture.
set -u
D=$(cd "$(dirname "$0")" && pwd)
. "$D/rusage.sh"
run "argus -X -S 1" $D/argus -X -S 1 -r $P -w /tmp/f.argus
run "ocellus probe -S 1" $D/ocellus probe -S 1 -r $P -w /tmp/f.ocr
ls -la /tmp/f.argus /tmp/f.ocr
run "ra - tcp and dst port 80" $D/ra -r /tmp/f.argus - tcp and dst port 80
run "ocellus read - tcp and dst port 80" $D/ocellus read -r /tmp/f.ocr - tcp and dst port 80
run "ra (all records, default columns)" $D/ra -r /tmp/f.argus
run "ocellus read (all records, default columns)" $D/ocellus read -r /tmp/f.ocr
run "racluster -m saddr daddr" $D/racluster -m saddr daddr -r /tmp/f.argus
run "ocellus cluster -m saddr daddr" $D/ocellus cluster -m saddr daddr -r /tmp/f.ocr
run "ocellus sort -m bytes" $D/ocellus sort -m bytes -r /tmp/f.ocr
timeout 200 python3 - $D <<'PY' || echo "rasort did not finish within 200 s"
import resource, subprocess, sys, time
d = sys.argv[1]
t = time.time()
p = subprocess.run([d + "/rasort", "-m", "bytes", "-r", "/tmp/f.argus"], stdout=subprocess.DEVNULL)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"rasort -m bytes | rc={p.returncode} | wall_s={time.time()-t:.2f} | cpu_s={ru.ru_utime+ru.ru_stime:.2f} | maxrss_mb={ru.ru_maxrss/1024:.0f}", flush=True)
PY
