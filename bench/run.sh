#!/bin/sh
# bench/run.sh - secho side by side with the peers an operator would pick
# instead, and with a minimal epoll server as this machine's ceiling
# (issue 6).  Called by "make bench", which builds build/secho (release),
# build/bench/secho-bench, build/bench/ceiling and the certificates first.
#
# Everything listens on 127.0.0.1, ports BENCH_PORT (27100) and up.  Every
# process started here is stopped by PID at the end, also on Ctrl-C.
#
# Knobs (environment):
#   BENCH_REPS=3        repetitions per workload and server (median taken)
#   BENCH_DURATION=3    measured seconds per run (after BENCH_WARMUP=0.5)
#   BENCH_ONLY="conn udp mem"   run only these workloads (ids below)
#   BENCH_SERVERS="secho ceiling"  run only these servers
#   BENCH_RESULTS=bench/RESULTS.md  where the report goes
#   BENCH_PORT=27100    first port
#   BENCH_BASELINE=COMMIT  also run secho as built from COMMIT ("base"),
#                       side by side: "make bench BASELINE=f885142"
#
# Workload ids: conn pp64 pp4k bulk tls-conn tls-resume tls-pp tls-bulk udp
# mem (memory per idle connection), ping (secho-ping against secho-bench,
# bench/ping.sh; BENCH_ONLY=ping runs only that and keeps the rest of the
# report).
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/build/bench
SECHO=$ROOT/build/secho
CERT=$ROOT/certs/server.pem
KEY=$ROOT/certs/server.key
CA=$ROOT/certs/ca.pem
REPS=${BENCH_REPS:-3}
DUR=${BENCH_DURATION:-3}
WARM=${BENCH_WARMUP:-0.5}
ONLY=${BENCH_ONLY:-}
SERVERS=${BENCH_SERVERS:-}
OUT=${BENCH_RESULTS:-bench/RESULTS.md}
P=${BENCH_PORT:-27100}
HZ=$(getconf CLK_TCK)

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# secho-ping's own figures (issue 12) come from bench/ping.sh, which
# replaces only its section of the report.
if [ "$ONLY" = ping ]; then
	exec sh bench/ping.sh "$OUT"
fi

for f in "$SECHO" "$BIN/secho-bench" "$BIN/ceiling" "$CERT" "$KEY" "$CA"; do
	[ -e "$f" ] || die "$f is missing (run: make bench)"
done

# ---- the baseline: an earlier commit's secho, built once ----
BASE=${BENCH_BASELINE:-}
BASE_SECHO=""
if [ -n "$BASE" ]; then
	sha=$(git -C "$ROOT" rev-parse --short "$BASE^{commit}") ||
	    die "BENCH_BASELINE: no commit $BASE"
	BASEDIR=$ROOT/build/baseline-$sha
	if [ ! -x "$BASEDIR/build/secho" ]; then
		say "building the baseline $sha in $BASEDIR"
		rm -rf "$BASEDIR"
		mkdir -p "$BASEDIR"
		git -C "$ROOT" archive "$sha" | tar -x -C "$BASEDIR"
		make -C "$BASEDIR" SANITIZE= all >&2 || die "cannot build $sha"
	fi
	BASE_SECHO=$BASEDIR/build/secho
	BASE_NAME="$sha (\"$(git -C "$ROOT" log -1 --format=%s "$sha" | cut -c1-50)…\")"
fi

# ---- peers, from Debian packages ----
need=""
command -v xinetd >/dev/null 2>&1 || need="$need xinetd"
command -v tcpserver >/dev/null 2>&1 || need="$need ucspi-tcp"
command -v socat >/dev/null 2>&1 || need="$need socat"
command -v stunnel4 >/dev/null 2>&1 || need="$need stunnel4"
if [ -n "$need" ]; then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	say "installing the peers with apt-get:$need"
	# shellcheck disable=SC2086
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends $need >&2 ||
	{ $SUDO apt-get update -q >&2 &&
	  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends $need >&2; } ||
	die "could not install:$need"
fi

T=$(mktemp -d /tmp/secho-bench.XXXXXX)
PIDS=""
BENCHPID=""

# One snapshot of /proc: the process trees rooted at the given PIDs.
# MODE pids: their PIDs; MODE cpu: their CPU time in ms, utime+stime of every
# live process plus cutime+cstime (the children it has reaped).  Prints
# nothing when a root is missing from the snapshot.
scan() {
	mode=$1
	shift
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v roots="$*" -v mode="$mode" -v hz="$HZ" '
	{ s = $0; sub(/^.*\) /, "", s); split(s, f, " ")
	  pp[$1] = f[2]; tm[$1] = f[12] + f[13] + f[14] + f[15] }
	END {
		n = split(roots, r, " ")
		for (i = 1; i <= n; i++) {
			if (!(r[i] in pp)) exit 1
			t[r[i]] = 1
		}
		do {
			c = 0
			for (p in pp) if (!(p in t) && (pp[p] in t)) { t[p] = 1; c = 1 }
		} while (c)
		sum = 0
		for (p in t) { if (mode == "pids") print p; sum += tm[p] }
		if (mode == "cpu") printf "%.0f\n", sum * 1000 / hz
	}'
}
tree() { scan pids "$@"; }
cpu_ms() {
	for _ in 1 2 3; do
		v=$(scan cpu "$@") && [ -n "$v" ] && { echo "$v"; return; }
		sleep 0.05
	done
	say "cannot read the CPU time of PIDs $*"
	echo ""
}

# PSS and page tables (KiB) of the trees: "pss pte nprocs".
mem_kib() {
	pss=0 pte=0 n=0
	for p in $(tree "$@"); do
		a=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null) || continue
		b=$(awk '/^VmPTE:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || continue
		[ -n "$a" ] || continue
		pss=$((pss + a)) pte=$((pte + ${b:-0})) n=$((n + 1))
	done
	echo "$pss $pte $n"
}

# Stop every server started so far, and their children, by PID.
stop_servers() {
	all=""
	for p in $PIDS; do
		t=$(tree "$p") || t=$p	# already gone: no tree to scan
		all="$all $t"
	done
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null || :; done
	i=0
	while [ $i -lt 30 ]; do
		alive=""
		for p in $all; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
		[ -z "$alive" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	for p in $all; do kill -KILL "$p" 2>/dev/null || :; done
	for p in $PIDS; do wait "$p" 2>/dev/null || :; done
	PIDS=""
}

cleanup() {
	trap - EXIT INT TERM
	if [ -n "$BENCHPID" ]; then kill -TERM "$BENCHPID" 2>/dev/null || :; fi
	stop_servers
	wait 2>/dev/null || :
	rm -rf "$T"
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM

# start NAME CMD...: run in the background, output to $T/NAME.log
start() {
	name=$1
	shift
	"$@" >"$T/$name.log" 2>&1 &
	PIDS="$PIDS $!"
	eval "PID_$(echo "$name" | tr -c 'a-zA-Z0-9\n' _)=$!"
}
pid_of() { eval "echo \${PID_$(echo "$1" | tr -c 'a-zA-Z0-9\n' _)}"; }

# ---- ports ----
SECHO_TCP=$P SECHO_TLS=$((P + 1)) SECHO_UDP=$P
XINETD=$((P + 10))
TCPSRV=$((P + 20))
SOCAT_TCP=$((P + 30)) SOCAT_TLS=$((P + 31)) SOCAT_UDP=$((P + 30))
STUNNEL=$((P + 40)) STUNNEL_BACK=$((P + 41)) STUNNEL_EXEC=$((P + 42))
CEIL_TCP=$((P + 50)) CEIL_TLS=$((P + 51)) CEIL_UDP=$((P + 50))
BASE_TCP=$((P + 60)) BASE_TLS=$((P + 61)) BASE_UDP=$((P + 60))
# secho with parts of tlsmem.c turned off (SECHO_TLSMEM), memory only
TMNOHOT_TCP=$((P + 70)) TMNOHOT_TLS=$((P + 71))
TMOFF_TCP=$((P + 80)) TMOFF_TLS=$((P + 81))

for port in $SECHO_TCP $SECHO_TLS $XINETD $TCPSRV $SOCAT_TCP $SOCAT_TLS \
    $STUNNEL $STUNNEL_BACK $STUNNEL_EXEC $CEIL_TCP $CEIL_TLS $BASE_TCP $BASE_TLS \
    $TMNOHOT_TLS $TMOFF_TLS; do
	if ss -Hltun 2>/dev/null | awk '{ print $5 }' | grep -q ":$port\$"; then
		die "port $port is in use (set BENCH_PORT)"
	fi
done

# ---- configurations ----
secho_cfg() {	# tcp/udp port, tls port
	cat <<EOF
daemon = { shutdown_timeout = 1; };
log = { level = "warning"; };
limits = {
  max_connections = 100000;
  max_connections_per_host = 100000;
  udp_rate_per_host = 0;
};
tls = { certificate = "$CERT"; private_key = "$KEY"; };
listeners = (
  { proto = "tcp"; address = "127.0.0.1"; port = $1; },
  { proto = "tls"; address = "127.0.0.1"; port = $2; },
  { proto = "udp"; address = "127.0.0.1"; port = $1; }
);
EOF
}
secho_cfg "$SECHO_TCP" "$SECHO_TLS" >"$T/secho.cfg"
secho_cfg "$BASE_TCP" "$BASE_TLS" >"$T/base.cfg"
secho_cfg "$TMNOHOT_TCP" "$TMNOHOT_TLS" >"$T/tm-nohot.cfg"
secho_cfg "$TMOFF_TCP" "$TMOFF_TLS" >"$T/tm-off.cfg"

cat >"$T/xinetd.conf" <<EOF
defaults
{
	instances	= UNLIMITED
	per_source	= UNLIMITED
	cps		= 100000 1
	log_on_success	=
	log_on_failure	=
}
service echo
{
	type		= INTERNAL UNLISTED
	id		= echo-stream
	socket_type	= stream
	protocol	= tcp
	port		= $XINETD
	bind		= 127.0.0.1
	user		= root
	wait		= no
}
service echo
{
	type		= INTERNAL UNLISTED
	id		= echo-dgram
	socket_type	= dgram
	protocol	= udp
	port		= $XINETD
	bind		= 127.0.0.1
	user		= root
	wait		= yes
}
EOF

stunnel_conf() {	# NAME then service lines
	f=$T/$1.conf
	shift
	{
		echo "foreground = yes"
		echo "pid ="
		echo "debug = 3"
		echo "[echo]"
		echo "accept = 127.0.0.1:$1"
		echo "cert = $CERT"
		echo "key = $KEY"
		# secho's default order (stunnel prefers its own order)
		echo "ciphersuites = TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
		shift
		for l in "$@"; do echo "$l"; done
	} >"$f"
	echo "$f"
}

ALLSERVERS="secho xinetd tcpserver socat stunnel stunnel-exec ceiling"
[ -n "$BASE_SECHO" ] && ALLSERVERS="secho base xinetd tcpserver socat stunnel stunnel-exec ceiling"

# ---- servers ----
# start_server NAME: one server (stunnel with its back end)
start_server() {
	case $1 in
	secho) start secho "$SECHO" -f -c "$T/secho.cfg" ;;
	base) start base "$BASE_SECHO" -f -c "$T/base.cfg" ;;
	tm-nohot) start tm_nohot env SECHO_TLSMEM=nohot "$SECHO" -f -c "$T/tm-nohot.cfg" ;;
	tm-off) start tm_off env SECHO_TLSMEM=off "$SECHO" -f -c "$T/tm-off.cfg" ;;
	xinetd) start xinetd xinetd -f "$T/xinetd.conf" -dontfork -pidfile "$T/xinetd.pid" ;;
	# -HRl0: no DNS or ident look-ups (there is no resolver here, and
	# nobody benchmarks those); -b: a listen backlog like the others'
	# (default 20).
	tcpserver) start tcpserver tcpserver -HRl0 -b 1024 -c 1000 127.0.0.1 "$TCPSRV" cat ;;
	# backlog: socat's default of 5 drops SYNs (1 s retransmits) at c=16.
	socat)
		start socat_tcp socat "TCP-LISTEN:$SOCAT_TCP,fork,reuseaddr,bind=127.0.0.1,backlog=1024" PIPE
		start socat_tls socat "OPENSSL-LISTEN:$SOCAT_TLS,fork,reuseaddr,bind=127.0.0.1,backlog=1024,cert=$CERT,key=$KEY,verify=0" PIPE
		start socat_udp socat "UDP-RECVFROM:$SOCAT_UDP,fork,bind=127.0.0.1" PIPE ;;
	# stunnel (threads) in front of tcpserver+cat, and stunnel's
	# inetd-like mode (a process per connection running cat).
	stunnel)
		start stunnel_back tcpserver -HRl0 -b 1024 -c 1000 127.0.0.1 "$STUNNEL_BACK" cat
		start stunnel stunnel4 "$(stunnel_conf stunnel "$STUNNEL" "connect = 127.0.0.1:$STUNNEL_BACK")" ;;
	stunnel-exec) start stunnel_exec stunnel4 "$(stunnel_conf stunnel-exec "$STUNNEL_EXEC" "exec = /bin/cat" "execArgs = cat")" ;;
	ceiling) start ceiling "$BIN/ceiling" -a 127.0.0.1 -p "$CEIL_TCP" -P "$CEIL_TLS" -u "$CEIL_UDP" -c "$CERT" -k "$KEY" ;;
	esac
}

# Wait until the servers started since the last stop_servers listen.
servers_up() {
	sleep 1.5
	for p in $PIDS; do
		kill -0 "$p" 2>/dev/null || { cat "$T"/*.log >&2; die "a server did not start (PID $p)"; }
	done
}

say "starting the servers in $T"
for s in $ALLSERVERS; do start_server "$s"; done
servers_up

# server proto -> "port roots"
endpoint() {
	case "$1/$2" in
	secho/tcp) echo "$SECHO_TCP $(pid_of secho)" ;;
	secho/tls) echo "$SECHO_TLS $(pid_of secho)" ;;
	secho/udp) echo "$SECHO_UDP $(pid_of secho)" ;;
	base/tcp) echo "$BASE_TCP $(pid_of base)" ;;
	base/tls) echo "$BASE_TLS $(pid_of base)" ;;
	base/udp) echo "$BASE_UDP $(pid_of base)" ;;
	tm-nohot/tls) echo "$TMNOHOT_TLS $(pid_of tm_nohot)" ;;
	tm-off/tls) echo "$TMOFF_TLS $(pid_of tm_off)" ;;
	xinetd/tcp) echo "$XINETD $(pid_of xinetd)" ;;
	xinetd/udp) echo "$XINETD $(pid_of xinetd)" ;;
	tcpserver/tcp) echo "$TCPSRV $(pid_of tcpserver)" ;;
	socat/tcp) echo "$SOCAT_TCP $(pid_of socat_tcp)" ;;
	socat/tls) echo "$SOCAT_TLS $(pid_of socat_tls)" ;;
	socat/udp) echo "$SOCAT_UDP $(pid_of socat_udp)" ;;
	stunnel/tls) echo "$STUNNEL $(pid_of stunnel) $(pid_of stunnel_back)" ;;
	stunnel-exec/tls) echo "$STUNNEL_EXEC $(pid_of stunnel_exec)" ;;
	ceiling/tcp) echo "$CEIL_TCP $(pid_of ceiling)" ;;
	ceiling/tls) echo "$CEIL_TLS $(pid_of ceiling)" ;;
	ceiling/udp) echo "$CEIL_UDP $(pid_of ceiling)" ;;
	*) echo "" ;;
	esac
}

servers_for() {		# proto
	case $1 in
	tcp) l="secho xinetd tcpserver socat ceiling" ;;
	tls) l="secho socat stunnel stunnel-exec ceiling" ;;
	udp) l="secho xinetd socat ceiling" ;;
	esac
	[ -n "$BASE_SECHO" ] && l="secho base ${l#secho }"
	if [ -n "$SERVERS" ]; then
		r=""
		for s in $l; do
			case " $SERVERS " in *" $s "*) r="$r $s" ;; esac
		done
		l=$r
	fi
	echo $l
}

# id | proto | bench args | metric (rate|p50) | target kind | target value | title
WORKLOADS='conn|tcp|-m conn -c 32|rate|peer|2|plain conn, c=32 (/s)
pp64|tcp|-m pingpong -c 50 -s 64|rate|ceil|0.9|plain pingpong c=50, 64 B (/s)
pp4k|tcp|-m pingpong -c 1 -s 4096|p50|abs|1|plain pingpong c=1, 4 KiB: p50 ms
bulk|tcp|-m bulk -c 1 -s 1M|rate|peer|1|plain bulk c=1, 1 MiB in flight (MB/s)
tls-conn|tls|-m tls-conn -c 16|rate|ceil|0.8|tls-conn ECDSA P-256, c=16 (/s)
tls-resume|tls|-m tls-resume -c 16|rate|ceil|0.8|tls-resume c=16 (/s)
tls-pp|tls|-m tls-pingpong -c 50 -s 64|rate|ceil|0.9|tls-pingpong c=50, 64 B (/s)
tls-bulk|tls|-m tls-bulk -c 1 -s 1M|rate|ceil|0.9|tls-bulk c=1, 1 MiB in flight (MB/s)
udp|udp|-m udp -c 16 -s 64|rate|ceil|0.8|udp c=16, 64 B (/s), 0 loss'

selected() { [ -z "$ONLY" ] && return 0; case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

# ---- machine ----
cpu_busy_pct() {	# % of all CPUs busy over 1 s (everyone's load)
	a=$(awk '/^cpu / { print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8 }' /proc/stat)
	sleep 1
	b=$(awk '/^cpu / { print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8 }' /proc/stat)
	echo "$a $b" | awk '{ d = $4 - $2; printf "%.0f\n", d ? 100 * ($3 - $1) / d : 0 }'
}
BUSY_BEFORE=$(cpu_busy_pct)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
say "background CPU load before the run: $BUSY_BEFORE % (loadavg $LOAD_BEFORE)"

RES=$T/res
mkdir -p "$RES"

# one WORKLOAD-ID SERVER PROTO ARGS: a run, appended to $RES/ID.SERVER.
# The client runs in the background and the shell waits for it, so that a
# Ctrl-C or kill reaches the trap at once.
BENCHPID=""
LAST=""
one() {
	ep=$(endpoint "$2" "$3")
	port=${ep%% *}
	roots=${ep#* }
	c0=$(cpu_ms $roots)
	# shellcheck disable=SC2086
	"$BIN/secho-bench" $4 -p "$port" -d "$DUR" -w "$WARM" -C "$CA" -q \
	    >"$T/bench.out" 2>"$T/bench.err" &
	BENCHPID=$!
	rc=0
	wait "$BENCHPID" || rc=$?
	BENCHPID=""
	c1=$(cpu_ms $roots)
	line=$(cat "$T/bench.out")
	if [ $rc -eq 2 ]; then
		say "MISMATCH: $2 $1: $line"
		cat "$T/bench.err" >&2
	fi
	[ -n "$line" ] || line="rate=0 p50_ms=0 p99_ms=0 all_ops=0 errors=1 lost=0 mismatches=0 resumed=0 ops=0"
	cpu=x
	[ -n "$c0" ] && [ -n "$c1" ] && cpu=$((c1 - c0))
	echo "$line cpu_ms=$cpu rc=$rc" >>"$RES/$1.$2"
	LAST="$line cpu_ms=$cpu rc=$rc"
	sleep 0.3	# let closing children go
}

while IFS='|' read -r id proto args metric tkind tval title; do
	selected "$id" || continue
	srvs=$(servers_for "$proto")
	[ -n "$srvs" ] || continue
	rep=1
	while [ $rep -le "$REPS" ]; do
		# rotate the order so that no server always runs first
		# shellcheck disable=SC2086
		set -- $srvs
		k=1
		while [ $k -lt $rep ]; do s=$1; shift; set -- "$@" "$s"; k=$((k + 1)); done
		for s in "$@"; do
			one "$id" "$s" "$proto" "$args"
			say "$id rep $rep $s: $(echo "$LAST" | sed 's/.*rate=\([^ ]*\) unit=\([^ ]*\) p50_ms=\([^ ]*\) p99_ms=\([^ ]*\) errors=\([^ ]*\) lost=\([^ ]*\).*cpu_ms=\([^ ]*\).*/\1 \2 p50 \3 ms p99 \4 ms err \5 lost \6 cpu \7 ms/')"
		done
		rep=$((rep + 1))
	done
done <<EOF
$WORKLOADS
EOF

# ---- memory per idle connection ----
# Each server alone: PSS splits a shared page among all the processes that
# map it, so with the other servers (and their libssl, libcrypto, libc)
# running, the 50 new processes of a forking server would be charged a
# larger share of library pages that cost no new memory.
MEMSETS="secho/tcp xinetd/tcp tcpserver/tcp socat/tcp ceiling/tcp secho/tls socat/tls stunnel/tls stunnel-exec/tls ceiling/tls"
[ -n "$BASE_SECHO" ] && MEMSETS="secho/tcp base/tcp ${MEMSETS#secho/tcp } base/tls"
MEMSETS="$MEMSETS tm-nohot/tls tm-off/tls"
if selected mem; then
	stop_servers
	for sp in $MEMSETS; do
		s=${sp%/*} proto=${sp#*/}
		[ -z "$SERVERS" ] || case " $SERVERS " in *" $s "*) ;; *) continue ;; esac
		start_server "$s"
		servers_up
		ep=$(endpoint "$s" "$proto")
		port=${ep%% *}
		roots=${ep#* }
		sleep 0.5
		set -- $(mem_kib $roots)
		b_pss=$1 b_pte=$2 b_n=$3
		m=idle
		[ "$proto" = tls ] && m=tls-idle
		"$BIN/secho-bench" -m $m -c 50 -s 64 -p "$port" -d 8 -C "$CA" -q \
		    >"$T/idle.out" 2>&1 &
		bp=$!
		BENCHPID=$bp
		i=0
		while [ $i -lt 60 ] && ! grep -q '^ready' "$T/idle.out"; do
			sleep 0.1
			i=$((i + 1))
		done
		sleep 1
		set -- $(mem_kib $roots)
		l_pss=$1 l_pte=$2 l_n=$3
		est=$(sed -n 's/^ready established=//p' "$T/idle.out")
		wait $bp || :
		BENCHPID=""
		est=${est:-0}
		if [ "$est" -gt 0 ]; then
			d=$(( (l_pss - b_pss) / est ))
			[ $d -lt 0 ] && d=0	# below the noise of PSS sharing
			echo "$s $proto $est $d $(( (l_pte - b_pte) / est )) $b_n $l_n" >>"$RES/mem"
		else
			echo "$s $proto 0 - - $b_n $l_n" >>"$RES/mem"
		fi
		say "mem $s/$proto: $(tail -1 "$RES/mem")"
		stop_servers
	done
fi

BUSY_AFTER=$(cpu_busy_pct)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report ----
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p; s/^$1=\([^ ]*\).*/\1/p" | head -1; }
med() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }

# median of FIELD over the repetitions of workload ID on SERVER
median_of() {
	[ -f "$RES/$1.$2" ] || return 0
	while read -r l; do echo " $l" | field "$3"; done <"$RES/$1.$2" | med
}
# median CPU per operation: us (bulk: ms per GB)
cpu_per_op() {
	[ -f "$RES/$1.$2" ] || return 0
	while read -r l; do
		a=$(echo " $l" | field all_ops) c=$(echo " $l" | field cpu_ms)
		echo "$a $c" | awk -v bulk="$3" '{ if ($1 > 0 && $2 != "x") printf "%.2f\n", bulk ? $2 * 1e9 / $1 : $2 * 1000 / $1; else print "-" }'
	done <"$RES/$1.$2" | grep -v '^-' | med
}
fmt() { awk -v v="$1" 'BEGIN { if (v == "") print "–"; else if (v >= 100) printf "%.0f", v; else if (v >= 10) printf "%.1f", v; else printf "%.3g", v }'; }

{
	echo "# secho benchmark results"
	echo
	echo "Generated by \`make bench\` (bench/run.sh) on $START_DATE."
	echo
	echo "## Machine"
	echo
	echo "- CPUs: $(nproc) × $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "- Kernel: $(uname -sr)"
	echo "- OpenSSL: $(openssl version 2>/dev/null)"
	echo "- secho: $("$SECHO" -V 2>&1 | head -1) (release build, -O2)"
	echo "- Peers: xinetd $(dpkg-query -W -f '${Version}' xinetd 2>/dev/null), ucspi-tcp $(dpkg-query -W -f '${Version}' ucspi-tcp 2>/dev/null), socat $(dpkg-query -W -f '${Version}' socat 2>/dev/null), stunnel4 $(dpkg-query -W -f '${Version}' stunnel4 2>/dev/null)"
	echo "- Background CPU load (all CPUs, other users included): $BUSY_BEFORE % before, $BUSY_AFTER % after; loadavg $LOAD_BEFORE before, $LOAD_AFTER after."
	echo "- Client and servers share the same CPUs over loopback; the client is secho-bench (1 thread). Medians of $REPS runs of ${DUR} s (after ${WARM} s warm-up)."
	echo
	echo "## Rates (medians)"
	echo
	printf '| workload |'
	for s in $ALLSERVERS; do printf ' %s |' "$s"; done
	printf ' secho ÷ best peer | secho ÷ ceiling | target | met |\n'
	printf '|---|'
	for s in $ALLSERVERS; do printf -- '---:|'; done
	printf -- '---:|---:|---|---|\n'
	echo "$WORKLOADS" | while IFS='|' read -r id proto args metric tkind tval title; do
		selected "$id" || continue
		srvs=$(servers_for "$proto")
		[ -n "$srvs" ] || continue
		f=rate
		[ "$metric" = p50 ] && f=p50_ms
		printf '| %s |' "$title"
		best="" sv="" cv=""
		for s in $ALLSERVERS; do
			case " $srvs " in *" $s "*) ;; *) printf ' – |'; continue ;; esac
			v=$(median_of "$id" "$s" "$f")
			note=""
			e=$(median_of "$id" "$s" errors)
			[ "${e:-0}" != 0 ] && note="$note err $e"
			if [ "$proto" = udp ]; then
				lo=$(median_of "$id" "$s" lost)
				op=$(median_of "$id" "$s" ops)
				[ "${lo:-0}" != 0 ] && note="$note loss $(awk -v l="$lo" -v o="$op" 'BEGIN { printf "%.0f%%", 100 * l / (l + o) }')"
			fi
			if [ "$id" = tls-resume ]; then
				rs=$(median_of "$id" "$s" resumed)
				op=$(median_of "$id" "$s" ops)
				note="$note $(awk -v r="$rs" -v o="$op" 'BEGIN { printf "%.0f%% resumed", o ? 100 * r / o : 0 }')"
			fi
			grep -q 'rc=2' "$RES/$id.$s" 2>/dev/null && note="$note MISMATCH"
			[ -n "$note" ] && note=" ($(echo $note))"
			printf ' %s%s |' "$(fmt "$v")" "$note"
			case $s in
			secho) sv=$v ;;
			base) ;;	# not a peer: see "Before and after"
			ceiling) cv=$v ;;
			*)
				[ -n "$v" ] || continue
				if [ -z "$best" ]; then best=$v
				elif [ "$metric" = p50 ]; then best=$(awk -v a="$best" -v b="$v" 'BEGIN { print (b < a ? b : a) }')
				else best=$(awk -v a="$best" -v b="$v" 'BEGIN { print (b > a ? b : a) }')
				fi ;;
			esac
		done
		rp=$(awk -v a="$sv" -v b="$best" 'BEGIN { if (a == "" || b == "" || b == 0) print "–"; else printf "%.2f", a / b }')
		rc=$(awk -v a="$sv" -v b="$cv" 'BEGIN { if (a == "" || b == "" || b == 0) print "–"; else printf "%.2f", a / b }')
		case $tkind in
		peer) tgt="≥ ${tval}× best peer"; met=$(awk -v r="$rp" -v t="$tval" 'BEGIN { print (r != "–" && r >= t) ? "yes" : "no" }') ;;
		ceil) tgt="≥ $(awk -v t="$tval" 'BEGIN { print t * 100 }') % of ceiling"; met=$(awk -v r="$rc" -v t="$tval" 'BEGIN { print (r != "–" && r >= t) ? "yes" : "no" }') ;;
		abs) tgt="p50 < ${tval} ms, no stall"; met=$(awk -v a="$sv" -v t="$tval" 'BEGIN { print (a != "" && a < t) ? "yes" : "no" }') ;;
		esac
		if [ "$proto" = udp ]; then
			lo=$(median_of "$id" secho lost)
			[ "${lo:-0}" = 0 ] || { tgt="$tgt"; met=no; }
		fi
		grep -q 'rc=2' "$RES/$id.secho" 2>/dev/null && met="no (MISMATCH)"
		printf ' %s | %s | %s | %s |\n' "$rp" "$rc" "$tgt" "$met"
	done
	echo
	echo "For the 4 KiB ping-pong the figure is the median p50 latency in ms (lower is better, so a ratio below 1 is better)."
	echo
	if [ -n "$BASE_SECHO" ]; then
		echo "## Before and after"
		echo
		echo "secho as built from this tree against **base**, secho built from $BASE_NAME, in the same run (\`make bench BASELINE=$BASE\`). Rates: medians (a ratio above 1 is better); CPU: µs of server CPU per operation (below 1 is better); memory: PSS KiB per idle connection, each server alone (below 1 is better). Within 10 % of the baseline, or better: ratio ≥ 0.9 for rates, ≤ 1.1 for CPU and memory."
		echo
		echo "| figure | secho | base | secho ÷ base | within 10 % or better |"
		echo "|---|---:|---:|---:|---|"
		for id in conn pp64 tls-conn tls-resume tls-pp; do
			selected "$id" || continue
			a=$(median_of "$id" secho rate) b=$(median_of "$id" base rate)
			r=$(awk -v a="$a" -v b="$b" 'BEGIN { if (a == "" || b == "" || b == 0) print "–"; else printf "%.2f", a / b }')
			ok=$(awk -v r="$r" 'BEGIN { print (r != "–" && r >= 0.9) ? "yes" : "no" }')
			echo "| $id rate | $(fmt "$a") | $(fmt "$b") | $r | $ok |"
			a=$(cpu_per_op "$id" secho 0) b=$(cpu_per_op "$id" base 0)
			r=$(awk -v a="$a" -v b="$b" 'BEGIN { if (a == "" || b == "" || b == 0) print "–"; else printf "%.2f", a / b }')
			ok=$(awk -v r="$r" 'BEGIN { print (r != "–" && r <= 1.1) ? "yes" : "no" }')
			echo "| $id CPU µs/op | $(fmt "$a") | $(fmt "$b") | $r | $ok |"
		done
		if [ -f "$RES/mem" ]; then
			for proto in tcp tls; do
				a=$(awk -v p="$proto" '$1 == "secho" && $2 == p { print $4 }' "$RES/mem")
				b=$(awk -v p="$proto" '$1 == "base" && $2 == p { print $4 }' "$RES/mem")
				r=$(awk -v a="$a" -v b="$b" 'BEGIN { if (a == "" || b == "" || a == "-" || b == "-" || b == 0) print "–"; else printf "%.2f", a / b }')
				ok=$(awk -v r="$r" 'BEGIN { print (r != "–" && r <= 1.1) ? "yes" : "no" }')
				echo "| idle memory $proto, PSS KiB/conn | $a | $b | $r | $ok |"
			done
		fi
		echo
	fi
	echo "## Server CPU per operation (medians)"
	echo
	echo "CPU time (user + system) of all the server's processes, reaped children included, from /proc, divided by every operation of the run (warm-up included). µs per operation; bulk: ms per GB echoed. Steadier than the rates when the machine is noisy, but loopback softirq work is charged to whichever process happens to run, so differences of 10-20 % are noise."
	echo
	printf '| workload |'
	for s in $ALLSERVERS; do printf ' %s |' "$s"; done
	printf '\n|---|'
	for s in $ALLSERVERS; do printf -- '---:|'; done
	echo
	echo "$WORKLOADS" | while IFS='|' read -r id proto args metric tkind tval title; do
		selected "$id" || continue
		srvs=$(servers_for "$proto")
		[ -n "$srvs" ] || continue
		bulk=0
		case $id in *bulk) bulk=1 ;; esac
		printf '| %s |' "$id"
		for s in $ALLSERVERS; do
			case " $srvs " in *" $s "*) printf ' %s |' "$(fmt "$(cpu_per_op "$id" "$s" $bulk)")" ;; *) printf ' – |' ;; esac
		done
		echo
	done
	if [ -f "$RES/mem" ]; then
		echo
		echo "## Memory per idle connection"
		echo
		echo "50 idle connections (one 64-byte echo each, TLS handshake done), each server running alone (no other server mapping the same libraries): PSS of all the serving processes (smaps_rollup) minus the PSS before, divided by 50; page tables (VmPTE) likewise, beside it. Target: ≤ 64 KiB plain, ≤ 128 KiB TLS (PSS)."
		echo
		echo "| server | proto | PSS KiB/conn | page tables KiB/conn | processes idle → loaded | target met |"
		echo "|---|---|---:|---:|---|---|"
		grep -v '^tm-' "$RES/mem" | while read -r s proto est pss pte bn ln; do
			met=""
			if [ "$s" = secho ]; then
				lim=64
				[ "$proto" = tls ] && lim=128
				met=$(awk -v p="$pss" -v l="$lim" 'BEGIN { print (p != "-" && p <= l) ? "yes" : "no" }')
			fi
			echo "| $s | $proto | $pss | $pte | $bn → $ln | $met |"
		done
		full=$(awk '$1 == "secho" && $2 == "tls" { print $4 }' "$RES/mem")
		nohot=$(awk '$1 == "tm-nohot" { print $4 }' "$RES/mem")
		off=$(awk '$1 == "tm-off" { print $4 }' "$RES/mem")
		if [ -n "$full" ] && [ -n "$nohot" ] && [ -n "$off" ]; then
			echo
			echo "## tlsmem.c: what each part saves"
			echo
			echo "The same secho, measured alone as above with 50 idle TLS connections, with parts of src/tlsmem.c turned off (\`SECHO_TLSMEM\`). A part stays when it saves at least 10 % of the memory per idle TLS connection."
			echo
			echo "| secho | PSS KiB per idle TLS connection | saved by the part |"
			echo "|---|---:|---|"
			echo "| \`SECHO_TLSMEM=off\`: OpenSSL on malloc | $off | |"
			echo "| \`SECHO_TLSMEM=nohot\`: + arenas of the connection's process (small blocks packed, large ones given back when idle) | $nohot | $(awk -v a="$off" -v b="$nohot" 'BEGIN { if (a > 0) printf "%.0f %%", 100 * (a - b) / a }') of off |"
			echo "| full: + the master's objects that children write, in an arena of their own (by allocating source file) | $full | $(awk -v a="$nohot" -v b="$full" 'BEGIN { if (a > 0) printf "%.0f %%", 100 * (a - b) / a }') of nohot |"
		fi
	fi
	echo
	echo "## Set-up"
	echo
	echo "- secho: \`secho -f\`, log level warning, limits raised (max_connections and max_connections_per_host 100000, udp_rate_per_host 0), TLS certificate certs/server.pem (ECDSA P-256); plain TCP connections' processes come from build/secho-tcp (the static libc-only engine), TLS ones from secho-tls (a fork of the master); the CPU and memory figures include the engines."
	echo "- xinetd: internal echo-stream and echo-dgram, \`-dontfork\`, own config (instances/per_source unlimited, cps 100000, no logging)."
	echo "- tcpserver: \`tcpserver -HRl0 -b 1024 -c 1000 127.0.0.1 PORT cat\` (-HRl0: no DNS/ident look-ups, there is no resolver here; -b: listen backlog)."
	echo "- socat: \`TCP-LISTEN:P,fork,reuseaddr,backlog=1024 PIPE\`, \`OPENSSL-LISTEN:P,fork,reuseaddr,backlog=1024,cert,key,verify=0 PIPE\`, \`UDP-RECVFROM:P,fork PIPE\` (backlog raised from socat's 5, which drops SYNs)."
	echo "- stunnel: stunnel4 (threads) in front of its own \`tcpserver ... cat\`; stunnel-exec: stunnel4 with \`exec = /bin/cat\` (a process per connection)."
	echo "- ceiling: bench/ceiling.c, one thread, epoll, TCP_NODELAY, OpenSSL non-blocking with tickets, recvmmsg/sendmmsg for UDP."
	echo "- Client: bench/secho-bench.c (epoll, OpenSSL, verifies every echoed byte; the CA is checked in TLS modes; TLS 1.3 suites offered AES-128-GCM first)."
	printf -- '- Negotiated in tls-conn:'
	for s in $ALLSERVERS; do
		[ -f "$RES/tls-conn.$s" ] || continue
		printf ' %s %s;' "$s" "$(head -1 "$RES/tls-conn.$s" | sed -n 's/.* tls=\([^ ]*\).*/\1/p')"
	done
	echo " (X25519 key exchange, ECDSA P-256 certificate)."
	echo
	echo "## Raw runs"
	echo
	echo '```'
	for f in "$RES"/*; do
		[ -f "$f" ] || continue
		b=$(basename "$f")
		sed "s|^|$b: |" "$f"
	done
	echo '```'
} >"$T/RESULTS.md"

cp "$T/RESULTS.md" "$OUT"
if [ -z "$ONLY" ] || selected ping; then
	sh bench/ping.sh "$OUT" || say "bench/ping.sh failed"
fi
say "results in $OUT"
sed -n '/^## Rates/,/^## Set-up/p' "$OUT" | sed '$d'
