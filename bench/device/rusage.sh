# Sourced by the device scripts: `run LABEL CMD...` runs CMD alone, output to
# /dev/null, and prints its wall time, CPU time and peak RSS (from rusage)
# and the end of its stderr on one line.
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
