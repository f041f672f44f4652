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
PIDS="$PIDS $!"
"$BIN/ceiling" -a 127.0.0.1 -P "$C_PORT" -D "$C_PORT" -c "$CERT" -k "$KEY" \
    2>"$T/ceiling.log" &
PIDS="$PIDS $!"
# socat: a process per association (fork), PIPE echoes each record.
socat "OPENSSL-DTLS-SERVER:$X_PORT,fork,reuseaddr,bind=127.0.0.1,cert=$CERT,key=$KEY,verify=0" \
    PIPE 2>"$T/socat.log" &
PIDS="$PIDS $!"
sleep 1

one() {	# port mode -> the rate of one run (or "-")
	"$BIN/secho-bench" -m "$2" -p "$1" -c "$CONC" -d "$DUR" -w 0.5 -C "$CA" \
	    -q -T 1000 2>>"$T/bench.err" | tee -a "$T/raw" |
	    sed -n 's/.* rate=\([0-9.]*\) .*/\1/p' | grep . || echo -
}

median() {
	tr ' ' '\n' | grep -v '^-$' | grep . | sort -n |
	    awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else
	    if (NR % 2) print v[(NR + 1) / 2]; else
	    printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

row() {	# label port mode
	runs=""
	i=1
	while [ $i -le "$REPS" ]; do
		runs="$runs $(one "$2" "$3")"
		i=$((i + 1))
	done
	echo "$1|$3|$(echo "$runs" | median)|$runs"
}

{
	row secho "$S_PORT" tls-conn
	row secho "$S_PORT" dtls-conn
	row socat "$X_PORT" dtls-conn
	row ceiling "$C_PORT" dtls-conn
	row secho "$S_PORT" dtls-pingpong
	row socat "$X_PORT" dtls-pingpong
	row ceiling "$C_PORT" dtls-pingpong
} >"$T/rows"

tls=$(awk -F'|' '$1 == "secho" && $2 == "tls-conn" { print $3 }' "$T/rows")
dtls=$(awk -F'|' '$1 == "secho" && $2 == "dtls-conn" { print $3 }' "$T/rows")
pps=$(awk -F'|' '$1 == "secho" && $2 == "dtls-pingpong" { print $3 }' "$T/rows")
ppx=$(awk -F'|' '$1 == "socat" && $2 == "dtls-pingpong" { print $3 }' "$T/rows")

echo "## DTLS (issue 14)"
echo
echo "$(date -u +%Y-%m-%d), $(nproc) cores shared with other work (load average $(cut -d' ' -f1-3 /proc/loadavg)); secho $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), OpenSSL $(openssl version | cut -d' ' -f2), socat $(dpkg-query -W -f '${Version}' socat 2>/dev/null || echo '?'). Medians of $REPS runs of $DUR s (0.5 s warm-up), secho-bench with $CONC client threads, ECDSA P-256, 64-byte records, loopback (\`make bench-dtls\`, bench/dtls.sh)."
echo
echo "| workload | server | median (/s) | runs |"
echo "|---|---|---:|---|"
awk -F'|' '{ printf "| %s | %s | %s |%s |\n", $2, $1, $3, $4 }' "$T/rows"
echo
awk -v d="$dtls" -v t="$tls" -v p="$pps" -v x="$ppx" 'BEGIN {
	if (d != "-" && t != "-" && t > 0)
		printf "- dtls-conn ÷ tls-conn (secho): %.2f (target ≥ 0.8: %s)\n", d / t, d / t >= 0.8 ? "met" : "not met"
	if (p != "-" && x != "-" && x > 0)
		printf "- dtls-pingpong, secho ÷ socat: %.2f (target > 1: %s)\n", p / x, p / x > 1 ? "met" : "not met"
}'
echo "- Errors and losses of the runs: $(grep -c . "$T/bench.err" 2>/dev/null || echo 0) lines on standard error; lost= per run: $(sed -n 's/.* lost=\([0-9]*\).*/\1/p' "$T/raw" | sort -n | uniq -c | awk '{ printf "%s×%s ", $1, $2 }')"
