#!/bin/sh
# bench/smoke.sh - a quick correctness run of secho-bench against secho:
# every mode for about a second, failing on any echoed byte that differs, on
# a run with no completed operation, or on a lost datagram.  No timing
# assertions (those belong in "make bench").  Usage (after the builds):
#   sh bench/smoke.sh            ("make bench-smoke" builds and runs it)
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/build/bench/secho-bench
SECHO=${SECHO_BIN:-$ROOT/build/secho}
# A random free high port P (TCP and UDP) with P + 1 free for TLS, unless
# BENCH_PORT names one.
P=${BENCH_PORT:-$(python3 -c '
import random, socket
for _ in range(200):
    p = random.randint(20000, 59000)
    try:
        for port, kind in ((p, socket.SOCK_STREAM), (p + 1, socket.SOCK_STREAM), (p, socket.SOCK_DGRAM)):
            s = socket.socket(socket.AF_INET, kind)
            s.bind(("127.0.0.1", port))
            s.close()
    except OSError:
        continue
    print(p)
    break
')}
[ -n "$P" ] || { echo "smoke: no free port found" >&2; exit 1; }
for f in "$BIN" "$SECHO" certs/server.pem certs/ca.pem; do
	[ -e "$f" ] || { echo "smoke: $f is missing" >&2; exit 1; }
done
T=$(mktemp -d /tmp/secho-smoke.XXXXXX)
SP=""
cleanup() {
	[ -n "$SP" ] && kill "$SP" 2>/dev/null && wait "$SP" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat >"$T/secho.cfg" <<EOF
daemon = { shutdown_timeout = 1; };
log = { level = "warning"; };
limits = { max_connections = 10000; max_connections_per_host = 10000; udp_rate_per_host = 0; };
tls = { certificate = "$ROOT/certs/server.pem"; private_key = "$ROOT/certs/server.key"; };
listeners = (
  { proto = "tcp"; address = "127.0.0.1"; port = $P; },
  { proto = "tls"; address = "127.0.0.1"; port = $((P + 1)); },
  { proto = "udp"; address = "127.0.0.1"; port = $P; }
);
EOF
"$SECHO" -f -c "$T/secho.cfg" 2>"$T/secho.log" &
SP=$!
# Up once the TCP listener answers (all are bound before it accepts);
# bounded: 20 s.
i=0
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $P), 1).close()" 2>/dev/null; do
	kill -0 "$SP" 2>/dev/null || { cat "$T/secho.log" >&2; exit 1; }
	i=$((i + 1))
	[ $i -le 200 ] || { echo "smoke: secho did not start" >&2; exit 1; }
	sleep 0.1
done

fail=0
run() {	# port args...
	port=$1
	shift
	set +e
	line=$("$BIN" -p "$port" -d 1 -w 0 -C "$ROOT/certs/ca.pem" "$@" 2>"$T/err")
	rc=$?
	set -e
	lost=$(echo "$line" | sed -n 's/.* lost=\([0-9]*\).*/\1/p')
	if [ $rc -ne 0 ] || [ "${lost:-0}" != 0 ]; then
		echo "smoke: FAIL ($rc) $*: $line" >&2
		head -5 "$T/err" >&2
		fail=1
	else
		echo "smoke: ok $line"
	fi
}
run $P -m conn -c 4
run $P -m pingpong -c 4 -s 4096
run $P -m bulk -c 2 -s 256k
run $((P + 1)) -m tls-conn -c 2
run $((P + 1)) -m tls-resume -c 2
run $((P + 1)) -m tls-pingpong -c 4 -s 1000
run $((P + 1)) -m tls-bulk -c 1 -s 256k
run $P -m udp -c 4 -s 1400 -T 1000
run $P -m udp -c 1 -s 65507 -T 1000
exit $fail
