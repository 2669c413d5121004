# Sourced by the device scripts, with D set to their folder: it finds the
# libraries beside the binaries, says what machine this is, makes the replay
# benchmark's capture in $P unless it is there (PCAP= names another) and
# reads it once into the page cache. Then `run LABEL CMD...` runs CMD alone,
# output to /dev/null, and prints its wall time, CPU time and peak RSS (from
# rusage) and the end of its stderr on one line.
export LD_LIBRARY_PATH=$D/lib
echo "cores: $(nproc)"; lscpu | grep -E "Model name"
P=${PCAP:-/tmp/replay.pcap}
[ -s "$P" ] || "$D/ocellus-bench" gen -o "$P" 2>&1 | tail -1
cat "$P" > /dev/null
run() {
python3 - "$@" <<'PY'
import resource, subprocess, sys, time
label, argv = sys.argv[1], sys.argv[2:]
t = time.time()
p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
_, err = p.communicate()
wall = time.time() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{label} | rc={p.returncode} | wall_s={wall:.2f} | cpu_s={ru.ru_utime+ru.ru_stime:.2f} | maxrss_mb={ru.ru_maxrss/1024:.0f} | {err.decode(errors='replace').strip()[-200:]}", flush=True)
PY
}
