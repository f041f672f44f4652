#!/bin/sh
# bench/dtls.sh - DTLS against TLS, socat and the ceiling (issue 14):
# handshakes/s (dtls-conn; tls-conn beside it on the same secho) and
# ping-pong (dtls-pingpong), medians of BENCH_REPS runs, on loopback.
# Prints a Markdown section for bench/RESULTS.md on standard output.
#
#   sh bench/dtls.sh            ("make bench-dtls" builds and runs it)
#
#   BENCH_REPS=5        repetitions per workload and server (median taken)
#   BENCH_DURATION=3    measured seconds per run (after 0.5 s of warm-up)
#   BENCH_CONC=16       concurrent clients (threads of secho-bench)
#   BENCH_PP_CONC2=4    ping-pong again with this many (less client-bound)
#
# Needs build/secho (release), build/bench/{secho-bench,ceiling} and
# certs/; socat (installed with apt-get when missing).  Every process it
# starts it stops by its PID.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/build/bench"
SECHO="$ROOT/build/secho"
CERT="$ROOT/certs/server.pem"
KEY="$ROOT/certs/server.key"
CA="$ROOT/certs/ca.pem"
REPS=${BENCH_REPS:-5}
DUR=${BENCH_DURATION:-3}
CONC=${BENCH_CONC:-16}
PP_CONC2=${BENCH_PP_CONC2:-4}

for f in "$SECHO" "$BIN/secho-bench" "$BIN/ceiling" "$CERT" "$KEY" "$CA"; do
	[ -e "$f" ] || { echo "dtls.sh: $f is missing" >&2; exit 1; }
done
command -v socat >/dev/null 2>&1 || apt-get install -y socat >/dev/null

# Free ports (TCP and UDP) from a random start, away from the ephemeral range.
port_free() {
	python3 - "$1" <<'EOF'
import socket, sys
p = int(sys.argv[1])
for t in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
    s = socket.socket(socket.AF_INET, t)
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
EOF
}
P=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 10000 ))
while ! port_free "$P" || ! port_free $((P + 1)) || ! port_free $((P + 2)); do
	P=$((P + 3))
done
S_PORT=$P; C_PORT=$((P + 1)); X_PORT=$((P + 2))

T=$(mktemp -d /tmp/secho-bench-dtls.XXXXXX)
PIDS=""
cleanup() {
	for p in $PIDS; do
		kill "$p" 2>/dev/null || :
		wait "$p" 2>/dev/null || :
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat >"$T/secho.cfg" <<EOF
log = { level = "warning"; };
limits = { max_connections = 100000; max_connections_per_host = 100000;
  udp_rate_per_host = 0; };
tls = { certificate = "$CERT"; private_key = "$KEY"; };
listeners = (
  { proto = "tls"; address = "127.0.0.1"; port = $S_PORT; },
  { proto = "dtls"; address = "127.0.0.1"; port = $S_PORT; }
);
EOF
"$SECHO" -f -c "$T/secho.cfg" 2>"$T/secho.log" &
SECHO_PID=$!
PIDS="$PIDS $!"
"$BIN/ceiling" -a 127.0.0.1 -P "$C_PORT" -D "$C_PORT" -c "$CERT" -k "$KEY" \
    2>"$T/ceiling.log" &
CEIL_PID=$!
PIDS="$PIDS $!"
# socat: a process per association (fork), PIPE echoes each record.
socat "OPENSSL-DTLS-SERVER:$X_PORT,fork,reuseaddr,bind=127.0.0.1,cert=$CERT,key=$KEY,verify=0" \
    PIPE 2>"$T/socat.log" &
SOCAT_PID=$!
PIDS="$PIDS $!"
sleep 1
HZ=$(getconf CLK_TCK)

# CPU ticks (user + system; reaped children are in their parent's count)
# of the process tree of a pid.
cpu_of() {
	python3 -c '
import os, sys
def kids(p):
    out = []
    try:
        for t in os.listdir("/proc/%d/task" % p):
            with open("/proc/%d/task/%s/children" % (p, t)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out
total, todo = 0, [int(sys.argv[1])]
while todo:
    p = todo.pop()
    try:
        with open("/proc/%d/stat" % p) as f:
            v = f.read().rsplit(")", 1)[1].split()
        total += sum(int(x) for x in v[11:15])
    except OSError:
        continue
    todo += kids(p)
print(total)' "$1"
}

one() {	# port mode pid [conc] -> "rate cpu_us_per_op" of one run (or "- -")
	c0=$(cpu_of "$3")
	line=$("$BIN/secho-bench" -m "$2" -p "$1" -c "${4:-$CONC}" -d "$DUR" -w 0.5 \
	    -C "$CA" -q -T 1000 2>>"$T/bench.err") || :
	c1=$(cpu_of "$3")
	echo "$line" >>"$T/raw"
	rate=$(echo "$line" | sed -n 's/.* rate=\([0-9.]*\) .*/\1/p')
	all=$(echo "$line" | sed -n 's/.* all_ops=\([0-9]*\) .*/\1/p')
	awk -v r="${rate:--}" -v a="${all:-0}" -v d=$((c1 - c0)) -v hz="$HZ" \
	    'BEGIN { if (r == "-" || a == 0) print "- -"; else
	    printf "%s %.1f\n", r, d * 1e6 / hz / a }'
}

median() {
	tr ' ' '\n' | grep -v '^-$' | grep . | sort -g |
	    awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else
	    if (NR % 2) print v[(NR + 1) / 2]; else
	    printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

row() {	# label port mode pid
	runs=""
	cpus=""
	i=1
	while [ $i -le "$REPS" ]; do
		r=$(one "$2" "$3" "$4")
		runs="$runs ${r% *}"
		cpus="$cpus ${r#* }"
		i=$((i + 1))
	done
	echo "$1|$3|$(echo "$runs" | median)|$(echo "$cpus" | median)|$runs"
}

# Ping-pong: the three servers in turn within each repetition (each
# repetition starting with the next one), so that a change of the
# machine's load during the run falls on all of them.
pingpong() {	# conc mode-label
	for s in secho socat ceiling; do
		eval "runs_$s=''; cpus_$s=''"
	done
	i=1
	while [ $i -le "$REPS" ]; do
		case $((i % 3)) in
		1) order="secho socat ceiling" ;;
		2) order="socat ceiling secho" ;;
		0) order="ceiling secho socat" ;;
		esac
		for s in $order; do
			case $s in
			secho) r=$(one "$S_PORT" dtls-pingpong "$SECHO_PID" "$1") ;;
			socat) r=$(one "$X_PORT" dtls-pingpong "$SOCAT_PID" "$1") ;;
			ceiling) r=$(one "$C_PORT" dtls-pingpong "$CEIL_PID" "$1") ;;
			esac
			eval "runs_$s=\"\$runs_$s ${r% *}\"; cpus_$s=\"\$cpus_$s ${r#* }\""
		done
		i=$((i + 1))
	done
	for s in secho socat ceiling; do
		eval "runs=\$runs_$s; cpus=\$cpus_$s"
		echo "$s|$2|$(echo "$runs" | median)|$(echo "$cpus" | median)|$runs"
	done
}

# tls-conn and dtls-conn of secho in turn, as the ping-pong servers.
handshakes() {
	tr=""; tc=""; dr=""; dc=""
	i=1
	while [ $i -le "$REPS" ]; do
		if [ $((i % 2)) -eq 1 ]; then
			t=$(one "$S_PORT" tls-conn "$SECHO_PID")
			d=$(one "$S_PORT" dtls-conn "$SECHO_PID")
		else
			d=$(one "$S_PORT" dtls-conn "$SECHO_PID")
			t=$(one "$S_PORT" tls-conn "$SECHO_PID")
		fi
		tr="$tr ${t% *}"; tc="$tc ${t#* }"
		dr="$dr ${d% *}"; dc="$dc ${d#* }"
		i=$((i + 1))
	done
	echo "secho|tls-conn|$(echo "$tr" | median)|$(echo "$tc" | median)|$tr"
	echo "secho|dtls-conn|$(echo "$dr" | median)|$(echo "$dc" | median)|$dr"
}

{
	handshakes
	row socat "$X_PORT" dtls-conn "$SOCAT_PID"
	row ceiling "$C_PORT" dtls-conn "$CEIL_PID"
	pingpong "$CONC" dtls-pingpong
	if [ "$PP_CONC2" -gt 0 ]; then
		pingpong "$PP_CONC2" "dtls-pingpong c=$PP_CONC2"
	fi
} >"$T/rows"

get() {	# server mode field
	awk -F'|' -v s="$1" -v m="$2" -v f="$3" '$1 == s && $2 == m { print $f }' "$T/rows"
}

echo "## DTLS (issue 14)"
echo
echo "$(date -u +%Y-%m-%d), $(nproc) cores shared with other work (load average at the end $(cut -d' ' -f1-3 /proc/loadavg)); secho $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), OpenSSL $(openssl version | cut -d' ' -f2), socat $(dpkg-query -W -f '${Version}' socat 2>/dev/null || echo '?'). Medians of $REPS runs of $DUR s (0.5 s warm-up), secho-bench with $CONC client threads (one blocking DTLS client each; the second ping-pong with $PP_CONC2), tls-conn and dtls-conn of secho, and the ping-pong servers, in turn within each repetition, ECDSA P-256, 64-byte records, loopback (\`make bench-dtls\`, bench/dtls.sh). Server CPU: user + system time of the server's whole process tree during the run, divided by every operation of the run."
echo
echo "| workload | server | median (/s) | server CPU per operation, median (µs) | runs (/s) |"
echo "|---|---|---:|---:|---|"
awk -F'|' '{ printf "| %s | %s | %s | %s |%s |\n", $2, $1, $3, $4, $5 }' "$T/rows"
echo
awk -v d="$(get secho dtls-conn 3)" -v t="$(get secho tls-conn 3)" \
    -v p="$(get secho dtls-pingpong 3)" -v x="$(get socat dtls-pingpong 3)" \
    -v cp="$(get secho dtls-pingpong 4)" -v cx="$(get socat dtls-pingpong 4)" \
    -v p2="$(get secho "dtls-pingpong c=$PP_CONC2" 3)" \
    -v x2="$(get socat "dtls-pingpong c=$PP_CONC2" 3)" -v c2="$PP_CONC2" 'BEGIN {
	if (d != "-" && t != "-" && t > 0)
		printf "- dtls-conn ÷ tls-conn (secho): %.2f (target ≥ 0.8: %s)\n", d / t, ((d / t >= 0.8) ? "met" : "not met")
	if (p != "-" && x != "-" && x > 0)
		printf "- dtls-pingpong rate, secho ÷ socat: %.2f (target > 1: %s)\n", p / x, ((p / x > 1) ? "met" : "not met")
	if (p2 != "-" && x2 != "-" && x2 > 0)
		printf "- dtls-pingpong c=%s rate, secho ÷ socat: %.2f\n", c2, p2 / x2
	if (cp != "-" && cx != "-" && cp > 0)
		printf "- dtls-pingpong server CPU per echo, socat ÷ secho: %.2f\n", cx / cp
}'
echo "- secho-bench errors on standard error: $(grep -c . "$T/bench.err" 2>/dev/null || :) lines; lost= of the runs: $(sed -n 's/.* lost=\([0-9]*\).*/\1/p' "$T/raw" | sort -n | uniq -c | awk '{ printf "%s×%s ", $1, $2 }')"
