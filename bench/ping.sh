#!/bin/sh
# bench/ping.sh - secho-ping is never the bottleneck (issue 12): against
# one secho on loopback, "secho-ping -q -i 0 -c 100000" must finish at a
# rate within 80 % of "secho-bench -m pingpong -c 1" in the same run, and
# the average round trip it reports must agree with secho-bench's p50
# within 20 %.  The two clients take turns, BENCH_REPS times (which one
# goes first alternates); each round gives a rate ratio and a round-trip
# deviation, and their medians go into a section of bench/RESULTS.md
# (replaced when it is there, the rest of the file kept).
#
# secho and both clients run on one CPU (BENCH_PIN, default the last one;
# empty: no pinning): a client that shares the core with the server costs
# the rate whatever it spends, and the figures do not jump between the
# scheduler's placements (same core about 0.02 ms, two cores about 0.08 ms
# per round trip here), which made unpinned rounds incomparable.
#
# A benchmark, not a test: it reports, and exits 0 unless something failed
# to run.
#
#   sh bench/ping.sh [RESULTS]     ("make bench-ping" builds and runs it;
#                                   "BENCH_ONLY=ping make bench" too)
# Knobs: BENCH_REPS=5, PING_COUNT=100000, BENCH_DURATION=3 (secho-bench's
# measured seconds), BENCH_PIN, BENCH_PORT (default: a random free port).
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${1:-${BENCH_RESULTS:-bench/RESULTS.md}}
REPS=${BENCH_REPS:-5}
COUNT=${PING_COUNT:-100000}
DUR=${BENCH_DURATION:-3}
PIN=${BENCH_PIN-$(($(nproc) - 1))}
ON=""
if [ -n "$PIN" ] && command -v taskset >/dev/null 2>&1; then
	ON="taskset -c $PIN"
else
	PIN=""
fi
SECHO=$ROOT/build/secho
PING=$ROOT/build/secho-ping
BENCH=$ROOT/build/bench/secho-bench
SECTION="## secho-ping against secho-bench"

say() { printf 'bench-ping: %s\n' "$*" >&2; }
for f in "$SECHO" "$PING" "$BENCH"; do
	[ -x "$f" ] || { say "$f is missing (run: make bench-ping)"; exit 1; }
done
P=${BENCH_PORT:-$(python3 -c '
import random, socket
for _ in range(200):
    p = random.randint(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break
')}
[ -n "$P" ] || { say "no free port"; exit 1; }

T=$(mktemp -d /tmp/secho-bench-ping.XXXXXX)
SP=""
cleanup() {
	rc=$?
	if [ -n "$SP" ]; then
		kill "$SP" 2>/dev/null || :
		wait "$SP" 2>/dev/null || :
	fi
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat >"$T/secho.cfg" <<EOF
daemon = { shutdown_timeout = 1; };
log = { level = "warning"; };
listeners = ( { proto = "tcp"; address = "127.0.0.1"; port = $P; } );
EOF
$ON "$SECHO" -f -c "$T/secho.cfg" 2>"$T/secho.log" &
SP=$!
i=0
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $P), 1).close()" 2>/dev/null; do
	kill -0 "$SP" 2>/dev/null || { cat "$T/secho.log" >&2; exit 1; }
	i=$((i + 1))
	[ $i -le 200 ] || { say "secho did not start"; exit 1; }
	sleep 0.1
done

busy() {	# % of all CPUs busy over 1 s (everyone's load)
	a=$(awk '/^cpu / { print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8 }' /proc/stat)
	sleep 1
	b=$(awk '/^cpu / { print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8 }' /proc/stat)
	echo "$a $b" | awk '{ d = $4 - $2; printf "%.0f\n", d ? 100 * ($3 - $1) / d : 0 }'
}
BUSY=$(busy)
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
say "secho on 127.0.0.1:$P; background load $BUSY %; $REPS rounds"

: >"$T/runs"
bench_run() {
	b=$($ON "$BENCH" -m pingpong -c 1 -s 64 -p "$P" -d "$DUR" -w 0.5 -q)
	brate=$(echo " $b" | sed -n 's/.* rate=\([^ ]*\).*/\1/p')
	bp50=$(echo " $b" | sed -n 's/.* p50_ms=\([^ ]*\).*/\1/p')
}
ping_run() {
	o=$($ON "$PING" -q -i 0 -c "$COUNT" 127.0.0.1 "$P") || { say "secho-ping failed: $o"; exit 1; }
	ms=$(echo "$o" | sed -n 's/.* loss, time \([0-9]*\) ms$/\1/p')
	rtt=$(echo "$o" | sed -n 's/^rtt min\/avg\/max\/mdev = \(.*\) ms$/\1/p')
	sent=$(echo "$o" | sed -n 's/^\([0-9]*\) probes sent, \([0-9]*\) echoed.*/\1 \2/p')
	avg=$(echo "$rtt" | cut -d/ -f2)
	prate=$(awk -v n="$COUNT" -v t="$ms" 'BEGIN { printf "%.1f", (t > 0) ? n * 1000 / t : 0 }')
}
r=1
while [ $r -le "$REPS" ]; do
	if [ $((r % 2)) -eq 1 ]; then bench_run; ping_run; else ping_run; bench_run; fi
	ratio=$(awk -v a="$prate" -v b="$brate" 'BEGIN { printf "%.2f", b ? a / b : 0 }')
	dev=$(awk -v a="$avg" -v b="$bp50" 'BEGIN { printf "%+.0f", b ? (a - b) / b * 100 : 0 }')
	echo "$brate $bp50 $prate $avg $ratio $dev $ms $rtt $sent" >>"$T/runs"
	say "round $r: secho-bench $brate/s p50 $bp50 ms; secho-ping $prate/s avg $avg ms (rtt $rtt; sent/echoed $sent); ratio $ratio, rtt $dev %"
	r=$((r + 1))
done

med() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
BRATE=$(cut -d' ' -f1 "$T/runs" | med)
BP50=$(cut -d' ' -f2 "$T/runs" | med)
PRATE=$(cut -d' ' -f3 "$T/runs" | med)
PAVG=$(cut -d' ' -f4 "$T/runs" | med)
RATIO=$(cut -d' ' -f5 "$T/runs" | med)
DEV=$(cut -d' ' -f6 "$T/runs" | med)
MET1=$(awk -v r="$RATIO" 'BEGIN { print (r >= 0.8) ? "yes" : "no" }')
MET2=$(awk -v d="$DEV" 'BEGIN { print (d <= 20 && d >= -20) ? "yes" : "no" }')
WHERE="no pinning"
[ -n "$PIN" ] && WHERE="secho and the clients on CPU $PIN"

{
	echo "$SECTION"
	echo
	echo "Generated by \`make bench-ping\` (bench/ping.sh) on $DATE; background CPU load $BUSY % (other users included). One secho (release build, log level warning) on 127.0.0.1, $WHERE. Each round runs \`secho-bench -m pingpong -c 1 -s 64 -d $DUR\` and \`secho-ping -q -i 0 -c $COUNT\` (64-byte probes, each verified; its rate is the probes over the run's time) one after the other; $REPS rounds. The ratio and the deviation are the medians of the rounds' own figures (the machine's speed drifts between rounds; within a round both clients see the same)."
	echo
	echo "| | secho-bench pingpong c=1 | secho-ping -q -i 0 | secho-ping ÷ secho-bench | target | met |"
	echo "|---|---:|---:|---:|---|---|"
	echo "| rate (/s), medians | $BRATE | $PRATE | $RATIO | ≥ 0.8 | $MET1 |"
	echo "| round trip (ms), medians | p50 $BP50 | avg $PAVG | $DEV % | within ±20 % | $MET2 |"
	echo
	echo "Rounds (secho-bench rate /s, p50 ms; secho-ping rate /s, avg ms; ratio; deviation %; secho-ping time ms, min/avg/max/mdev ms, sent, echoed):"
	echo
	echo '```'
	cat "$T/runs"
	echo '```'
} >"$T/section"

# Replace the section (up to the next "## " heading), keep the rest.
if [ -f "$OUT" ]; then
	awk -v s="$SECTION" '
		$0 == s { skip = 1; next }
		skip && /^## / { skip = 0 }
		!skip' "$OUT" >"$T/rest"
	# no blank lines piling up at the end
	sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' "$T/rest" >"$T/new"
	{ cat "$T/new"; echo; cat "$T/section"; } >"$OUT"
else
	cp "$T/section" "$OUT"
fi
say "rate ratio $RATIO (target >= 0.8: $MET1); avg vs p50 $DEV % (within 20 %: $MET2); section in $OUT"
