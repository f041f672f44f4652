#!/bin/sh
# bench/tls-certs.sh - full TLS handshakes per second (secho-bench -m
# tls-conn, c=16) against one secho with one ECDSA certificate, with an
# ECDSA and an RSA certificate (an ECDSA client and an RSA client,
# secho-bench -A), and with two sni entries (a client asking for the
# default name, and one asking for an entry's): issue 13.  Each set-up
# runs REPS times, interleaved, and the medians are printed as a
# Markdown table for bench/RESULTS.md.  Loopback only; every process
# started here is stopped by PID.
#
#   sh bench/tls-certs.sh [REPS] [SECONDS]     (make bench-tools certs first)
set -eu
cd "$(dirname "$0")/.."
REPS=${1:-5}
DUR=${2:-3}
P=${BENCH_PORT:-27300}
B=build/bench/secho-bench
T=$(mktemp -d)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT INT TERM
[ -x build/secho ] && [ -x "$B" ] && [ -s certs/server-rsa.pem ] ||
    { echo "tls-certs: run make build/secho bench-tools certs first" >&2; exit 1; }
# An sni entry's certificate: the development one under another name is
# enough for the cost of the choice (the client does not verify, -k).
cfg() {	# name port certificate-lines
	cat > "$T/$1.cfg" <<CFG
log = { level = "warning"; };
limits = { max_connections = 4096; max_connections_per_host = 4096; };
tls = {
$3
};
listeners = ( { proto = "tls"; address = "127.0.0.1"; port = $2; } );
CFG
	build/secho -f -c "$T/$1.cfg" 2>"$T/$1.err" &
	pids="$pids $!"
}
R=$PWD/certs
cfg one $P "certificate = \"$R/server.pem\"; private_key = \"$R/server.key\";"
cfg dual $((P + 1)) "certificate = [ \"$R/server.pem\", \"$R/server-rsa.pem\" ];
  private_key = [ \"$R/server.key\", \"$R/server-rsa.key\" ];"
cfg sni $((P + 2)) "certificate = \"$R/server.pem\"; private_key = \"$R/server.key\";
  sni = ( { names = [ \"echo.example.org\", \"*.example.net\" ];
            certificate = \"$R/server.pem\"; private_key = \"$R/server.key\"; },
          { names = [ \"other.example.org\" ];
            certificate = \"$R/server-rsa.pem\"; private_key = \"$R/server-rsa.key\"; } );"
sleep 2
run() {	# label port args...
	l=$1 port=$2
	shift 2
	"$B" -m tls-conn -p "$port" -c 16 -d "$DUR" -w 0.5 -k -q "$@" 2>/dev/null |
	    sed -n 's/.* rate=\([0-9.]*\) .*/\1/p' >> "$T/$l.rates"
}
i=0
while [ $i -lt "$REPS" ]; do
	run one $P -A ECDSA+SHA256
	run dual-ecdsa $((P + 1)) -A ECDSA+SHA256
	run dual-rsa $((P + 1)) -A rsa_pss_rsae_sha256
	run sni-default $((P + 2)) -N localhost
	run sni-entry $((P + 2)) -N echo.example.org
	i=$((i + 1))
done
median() { sort -n "$T/$1.rates" | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "-" }'; }
all() { tr '\n' ' ' < "$T/$1.rates"; }
echo "| set-up (tls-conn, c=16) | handshakes/s, median of $REPS | runs |"
echo "|---|---|---|"
echo "| one ECDSA P-256 certificate | $(median one) | $(all one)|"
echo "| ECDSA + RSA-2048, ECDSA client | $(median dual-ecdsa) | $(all dual-ecdsa)|"
echo "| ECDSA + RSA-2048, RSA client | $(median dual-rsa) | $(all dual-rsa)|"
echo "| one ECDSA, 2 sni entries, client asks for the default name | $(median sni-default) | $(all sni-default)|"
echo "| one ECDSA, 2 sni entries, client asks for an entry's name | $(median sni-entry) | $(all sni-entry)|"
