#!/bin/sh
# bench/smoke.sh - a quick correctness run of secho-bench against secho:
# every mode for about a second, failing on any echoed byte that differs, on
# a run with no completed operation, or on a lost datagram; then every mode
# against an echo that corrupts bytes, where secho-bench must report the
# mismatch (status 2).  No timing
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
	rc=$?
	if [ -n "${XP:-}" ]; then
		pkill -P "$XP" 2>/dev/null || :
		kill "$XP" 2>/dev/null || :
	fi
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
limits = { max_connections = 10000; max_connections_per_host = 10000; udp_rate_per_host = 0; };
tls = { certificate = "$ROOT/certs/server.pem"; private_key = "$ROOT/certs/server.key"; };
listeners = (
  { proto = "tcp"; address = "127.0.0.1"; port = $P; },
  { proto = "tls"; address = "127.0.0.1"; port = $((P + 1)); },
  { proto = "udp"; address = "127.0.0.1"; port = $P; },
  { proto = "dtls"; address = "127.0.0.1"; port = $((P + 1)); }
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
run $P -m conn -c 4 -t 2 -H 127.0.0.1
run $P -m pingpong -c 4 -s 4096
run $P -m bulk -c 2 -s 256k
run $((P + 1)) -m tls-conn -c 2
run $((P + 1)) -m tls-resume -c 2
run $((P + 1)) -m tls-pingpong -c 4 -s 1000
run $((P + 1)) -m tls-bulk -c 1 -s 256k
run $P -m udp -c 4 -s 1400 -T 1000
run $P -m udp -c 1 -s 65507 -T 1000
run $((P + 1)) -m dtls-conn -c 2
run $((P + 1)) -m dtls-pingpong -c 4 -s 16384 -T 1000

# The check itself: against an echo that changes one byte in 4096 (plain,
# TLS and UDP, on the same ports once secho is gone), every mode must fail
# with status 2 (mismatch).
kill "$SP" 2>/dev/null || :
wait "$SP" 2>/dev/null || :
SP=""
cat >"$T/corrupt.py" <<'PY'
import socket, ssl, sys, threading
port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def flip(data, seen):
    b = bytearray(data)
    for i in range(len(b)):
        if (seen + i) % 4096 == 100:
            b[i] ^= 0x5a
    return bytes(b)
def serve(conn):
    seen = 0
    try:
        while True:
            d = conn.recv(65536)
            if not d:
                break
            conn.sendall(flip(d, seen))
            seen += len(d)
    except OSError:
        pass
    conn.close()
def tcp(p, ctx):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", p))
    ls.listen(64)
    while True:
        c, _ = ls.accept()
        if ctx is not None:
            try:
                c = ctx.wrap_socket(c, server_side=True)
            except OSError:
                c.close()
                continue
        threading.Thread(target=serve, args=(c,), daemon=True).start()
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
threading.Thread(target=tcp, args=(port, None), daemon=True).start()
threading.Thread(target=tcp, args=(port + 1, ctx), daemon=True).start()
us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
us.bind(("127.0.0.1", port))
print("ready", flush=True)
while True:
    d, a = us.recvfrom(65536)
    us.sendto(flip(d, 0) if len(d) > 100 else d[:-1] + bytes([d[-1] ^ 1]), a)
PY
python3 "$T/corrupt.py" "$P" "$ROOT/certs/server.pem" "$ROOT/certs/server.key" >"$T/corrupt.out" 2>&1 &
SP=$!
i=0
until grep -q ready "$T/corrupt.out" 2>/dev/null; do
	kill -0 "$SP" 2>/dev/null || { cat "$T/corrupt.out" >&2; exit 1; }
	i=$((i + 1))
	[ $i -le 200 ] || { echo "smoke: the corrupting echo did not start" >&2; exit 1; }
	sleep 0.1
done
must_mismatch() {	# port args...
	port=$1
	shift
	set +e
	line=$("$BIN" -p "$port" -d 1 -w 0 -C "$ROOT/certs/ca.pem" -q "$@" 2>"$T/err")
	rc=$?
	set -e
	if [ $rc -ne 2 ]; then
		echo "smoke: FAIL: status $rc, not 2, against a corrupting echo: $*: $line" >&2
		fail=1
	else
		echo "smoke: ok mismatch found (status 2) $*"
	fi
}
must_mismatch $P -m conn -c 2 -s 200
must_mismatch $P -m pingpong -c 2 -s 4096
must_mismatch $P -m bulk -c 1 -s 64k
must_mismatch $((P + 1)) -m tls-conn -c 1 -s 200
must_mismatch $((P + 1)) -m tls-resume -c 1 -s 200
must_mismatch $((P + 1)) -m tls-pingpong -c 2 -s 4096
must_mismatch $((P + 1)) -m tls-bulk -c 1 -s 64k
must_mismatch $P -m udp -c 2 -s 1400 -T 1000

# DTLS: socat's DTLS server (a process per association) with a filter
# that changes the same bytes, on the dtls port.
cat >"$T/flip.py" <<'PY'
import os
seen = 0
while True:
    d = os.read(0, 65536)
    if not d:
        break
    b = bytearray(d)
    for i in range(len(b)):
        if (seen + i) % 4096 == 100:
            b[i] ^= 0x5a
    seen += len(b)
    os.write(1, bytes(b))
PY
socat -T 5 "OPENSSL-DTLS-SERVER:$((P + 1)),fork,reuseaddr,bind=127.0.0.1,cert=$ROOT/certs/server.pem,key=$ROOT/certs/server.key,verify=0" \
    EXEC:"python3 -u $T/flip.py" >/dev/null 2>"$T/socat.log" &
XP=$!
sleep 1
must_mismatch $((P + 1)) -m dtls-conn -c 1 -s 200
must_mismatch $((P + 1)) -m dtls-pingpong -c 2 -s 4096 -T 2000
# socat's processes for the associations, then socat.
pkill -P "$XP" 2>/dev/null || :
kill "$XP" 2>/dev/null || :
wait "$XP" 2>/dev/null || :
XP=""
exit $fail
