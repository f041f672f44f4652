#!/bin/sh
# bench/scale.sh - one secho holding SCALE_CONNS (25000) plain TCP
# connections, each echoing 16 bytes once a second, every byte checked
# (issue 11).  The clients (bench/scale.c) are SCALE_CLIENTS processes
# from source addresses 127.0.0.1, 127.0.0.2, ...: here a process may
# hold 20,000 descriptors and one source address has 28,000 ports.
# Prints the memory per connection (PSS and page tables of the whole
# secho tree), the CPU of the master and of secho-tcp while the
# connections echo, the clients' counts, and how long SIGTERM takes.
#
#   make bench-scale    (SCALE_CONNS, SCALE_CLIENTS, SCALE_SECONDS, SCALE_PORT)
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${SCALE_CONNS:-25000}
K=${SCALE_CLIENTS:-2}
SECS=${SCALE_SECONDS:-120}
PORT=${SCALE_PORT:-27300}
HZ=$(getconf CLK_TCK)
T=$(mktemp -d /tmp/secho-scale.XXXXXX)
SPID="" CPIDS=""

say() { printf 'scale: %s\n' "$*" >&2; }
cleanup() {
	for p in $CPIDS $SPID; do kill -KILL "$p" 2>/dev/null || :; done
	wait 2>/dev/null || :
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# PIDs of the tree under $1 (the master, its engines, their children).
tree() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v r="$1" '
	{ s = $0; sub(/^.*\) /, "", s); split(s, f, " "); pp[$1] = f[2] }
	END { t[r] = 1; do { c = 0; for (p in pp) if (!(p in t) && (pp[p] in t)) { t[p] = 1; c = 1 } } while (c)
	      for (p in t) print p }'
}
# "PSS_KiB PTE_KiB processes" of the tree (one pass: 25,000 processes)
mem() {
	tree "$1" | python3 -c '
import sys
pss = pte = n = 0
for p in sys.stdin.read().split():
    try:
        with open("/proc/%s/smaps_rollup" % p) as f:
            a = [l for l in f if l.startswith("Pss:")]
        with open("/proc/%s/status" % p) as f:
            b = [l for l in f if l.startswith("VmPTE:")]
    except OSError:
        continue
    pss += int(a[0].split()[1]) if a else 0
    pte += int(b[0].split()[1]) if b else 0
    n += 1
print(pss, pte, n)'
}
ticks() { awk '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " "); print f[12] + f[13] }' "/proc/$1/stat"; }

cat >"$T/secho.cfg" <<CFG
daemon = { shutdown_timeout = 2; };
log = { level = "warning"; };
limits = { max_connections = $((N + 1000)); max_connections_per_host = $((N + 1000));
           idle_timeout = 600; };
listeners = ( { proto = "tcp"; address = "127.0.0.1"; port = $PORT; } );
CFG
"$ROOT/build/secho" -f -c "$T/secho.cfg" >"$T/secho.log" 2>&1 &
SPID=$!
sleep 1
kill -0 "$SPID" || { cat "$T/secho.log"; exit 1; }
ENG=$(ps -o pid=,comm= --ppid "$SPID" | awk '$2 == "secho-tcp" { print $1 }')
[ -n "$ENG" ] || { say "no secho-tcp"; exit 1; }
set -- $(mem "$SPID")
pss0=$1 pte0=$2
say "secho $SPID, secho-tcp $ENG; $N connections from $K clients for $SECS s"

i=1
per=$((N / K))
while [ $i -le "$K" ]; do
	"$ROOT/build/bench/scale" -p "$PORT" -b "127.0.0.$i" -n "$per" -d "$SECS" \
	    -r 3000 >"$T/c$i.out" 2>&1 &
	CPIDS="$CPIDS $!"
	i=$((i + 1))
done
t0=$(date +%s)
while [ "$(cat "$T"/c*.out 2>/dev/null | grep -c '^ready')" -lt "$K" ]; do
	sleep 0.5
	[ $(( $(date +%s) - t0 )) -lt 300 ] || { say "clients not ready in 300 s"; exit 1; }
done
est=$(sed -n 's/^ready established=//p' "$T"/c*.out | awk '{ s += $1 } END { print s }')
say "established $est (TCP) in $(( $(date +%s) - t0 )) s"
# Established is the kernel's; each connection counts once its process
# runs (the rest wait in the listen backlog).
while [ "$(pgrep -c -P "$ENG")" -lt "$est" ]; do
	sleep 1
	[ $(( $(date +%s) - t0 )) -lt 400 ] || break
done
say "$(pgrep -c -P "$ENG") connection processes after $(( $(date +%s) - t0 )) s"
sleep 5
set -- $(mem "$SPID")
pss1=$1 pte1=$2 nproc=$3
m0=$(ticks "$SPID") e0=$(ticks "$ENG") w0=$(date +%s%N)
sleep 30
m1=$(ticks "$SPID") e1=$(ticks "$ENG") w1=$(date +%s%N)
for p in $CPIDS; do wait "$p" || :; done
CPIDS=""
wall=$(( (w1 - w0) / 1000000 ))
t1=$(date +%s%N)
kill -TERM "$SPID"
wait "$SPID" || :
stop_ms=$(( ($(date +%s%N) - t1) / 1000000 ))
SPID=""
left=$(pgrep -f "$T/secho.cfg" | wc -l)
echo "connections=$est processes=$nproc pss_kib_per_conn=$(( (pss1 - pss0) / est )) pte_kib_per_conn=$(( (pte1 - pte0) / est ))"
echo "master_cpu_pct=$(awk -v t=$((m1 - m0)) -v hz="$HZ" -v w="$wall" 'BEGIN { printf "%.2f", 100 * t / hz / (w / 1000) }') secho_tcp_cpu_pct=$(awk -v t=$((e1 - e0)) -v hz="$HZ" -v w="$wall" 'BEGIN { printf "%.2f", 100 * t / hz / (w / 1000) }') (over ${wall} ms of echoing)"
for f in "$T"/c*.out; do grep -v '^ready' "$f"; done
echo "sigterm_to_exit_ms=$stop_ms processes_left=$left"
grep -c . "$T/secho.log" >/dev/null && { echo "secho log:"; sort "$T/secho.log" | uniq -c | sort -rn | head -5; }
