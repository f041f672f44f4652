#!/bin/sh
# Runs inside the booted container of packaging/boot-test.sh (as root,
# systemd as PID 1, no network but loopback).  The packages are in
# /secho-debs: the previous build (prev/) and the current one.
#
#   sh boot-test-inside.sh CURRENT.deb PREVIOUS.deb
set -u
cur=$1
prev=$2
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $*"; }
notok() { fail=$((fail + 1)); echo "FAIL - $*"; }
check() {	# check "what" command...
	what=$1
	shift
	if "$@"; then ok "$what"; else notok "$what"; fi
}
# Poll a command until it succeeds, for up to $1 seconds.
until_ok() {
	end=$(( $(date +%s) + $1 ))
	shift
	while :; do
		"$@" && return 0
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.2
	done
}
prop() { systemctl show -P "$1" secho; }

tcp_echo() {	# tcp_echo PORT
	[ "$(printf 'hello tcp %s\n' "$1" | timeout 5 nc -N 127.0.0.1 "$1")" = "hello tcp $1" ]
}
tcp6_echo() {
	[ "$(printf 'hello tcp6\n' | timeout 5 nc -N ::1 7)" = "hello tcp6" ]
}
udp_echo() {
	[ "$(printf 'hello udp\n' | timeout 5 socat -t 2 - UDP:127.0.0.1:7)" = "hello udp" ]
}
tls_echo() {
	[ "$(printf 'hello tls\n' | timeout 8 socat -t 3 - \
	    OPENSSL:localhost:7443,cafile=/etc/secho/tls/cert.pem 2>/dev/null)" = "hello tls" ]
}
# openssl s_client verifies the self-signed certificate for the host name.
tls_verify() {
	(printf 'hello s_client\n'; sleep 2) | timeout 5 openssl s_client \
	    -connect 127.0.0.1:7443 -servername "$(uname -n)" \
	    -verify_hostname "$(uname -n)" -verify_return_error \
	    -CAfile /etc/secho/tls/cert.pem -quiet 2>/dev/null |
	    grep -qx 'hello s_client'
}
# The log lines of secho (by syslog identifier: journald may not tie the
# line of a short-lived child to the unit).
log_has() { journalctl -q -t secho --no-pager -o cat | grep -q -- "$1"; }

export DEBIAN_FRONTEND=noninteractive

echo "== install the previous build"
check "dpkg -i $(basename "$prev")" dpkg -i "$prev"
check "secho is active after install" until_ok 10 systemctl is-active -q secho
check "secho is enabled" systemctl is-enabled -q secho
check "user secho: system, /nonexistent, nologin" sh -c \
    'getent passwd secho | awk -F: "\$3 < 1000 && \$6 == \"/nonexistent\" && \$7 == \"/usr/sbin/nologin\" { f = 1 } END { exit !f }"'
check "group secho exists" sh -c 'getent group secho >/dev/null'
check "key.pem is 0600 root:root" \
    test "$(stat -c '%a %U %G' /etc/secho/tls/key.pem)" = "600 root root"
check "cert.pem is EC P-256 for $(uname -n)" sh -c \
    "openssl x509 -in /etc/secho/tls/cert.pem -noout -text | grep -q 'prime256v1' &&
     openssl x509 -in /etc/secho/tls/cert.pem -noout -subject | grep -q 'CN = $(uname -n)'"
check "key matches cert" sh -c \
    '[ "$(openssl x509 -in /etc/secho/tls/cert.pem -noout -pubkey)" = \
       "$(openssl pkey -in /etc/secho/tls/key.pem -pubout)" ]'
certsum=$(sha256sum /etc/secho/tls/cert.pem /etc/secho/tls/key.pem)
oldpid=$(prop MainPID)

echo "== upgrade to the current build"
check "dpkg -i $(basename "$cur")" dpkg -i "$cur"
check "secho is active after upgrade" until_ok 10 systemctl is-active -q secho
newpid=$(prop MainPID)
check "restarted on upgrade (MainPID $oldpid -> $newpid)" \
    test "$newpid" != "$oldpid" -a "$newpid" != 0
check "certificate and key kept on upgrade" \
    test "$(sha256sum /etc/secho/tls/cert.pem /etc/secho/tls/key.pem)" = "$certsum"
check "secho -V is the current version" sh -c \
    "secho -V | head -n 1 | grep -qx 'secho $(dpkg-query -W -f '${Version}' secho | sed 's/[-~+].*//')'"

echo "== echo"
check "TCP echo on 127.0.0.1:7" until_ok 5 tcp_echo 7
check "TCP echo on [::1]:7" tcp6_echo
check "UDP echo on 127.0.0.1:7" udp_echo
check "TLS echo on localhost:7443 (socat, certificate verified)" tls_echo
check "TLS echo with openssl s_client, host name verified" tls_verify
check "log: listening line" until_ok 5 log_has 'listening proto=tcp'
check "log: close line" until_ok 5 log_has 'close proto=tcp .* reason=eof'

# A connection held open: its child runs as secho, the master as root.
(printf 'x\n'; sleep 2) | timeout 5 nc -N 127.0.0.1 7 >/dev/null &
bg=$!
sleep 1
eng=$(ps -o pid=,comm= --ppid $newpid | awk '$2 == "secho-tcp" { print $1 }')
check "connection processes run as secho; the master and its engine as root" sh -c \
    "[ \"\$(ps -o user= -p $newpid)\" = root ] &&
     [ -n \"$eng\" ] && [ \"\$(ps -o user= -p $eng)\" = root ] &&
     ps -o user= --ppid $eng | grep -qx secho"
check "the plain TCP engine runs: /usr/lib/secho/secho-tcp, child of the master" sh -c \
    "[ \"\$(readlink /proc/$eng/exe)\" = /usr/lib/secho/secho-tcp ]"
wait "$bg"

echo "== reload"
cp /etc/secho.cfg /root/secho.cfg.orig
sed -i 's|^listeners = (|listeners = (\n  { proto = "tcp"; address = "127.0.0.1"; port = 7007; },|' \
    /etc/secho.cfg
check "secho -t accepts the edited file" secho -t -c /etc/secho.cfg
check "systemctl reload" systemctl reload secho
check "the new listener echoes (port 7007)" until_ok 10 tcp_echo 7007
check "log: reload result=ok" until_ok 5 log_has 'reload result=ok'
check "same MainPID after reload" test "$(prop MainPID)" = "$newpid"

echo "== broken configuration"
printf 'bogus_setting = 1;\n' >> /etc/secho.cfg
check "systemctl reload fails on a broken file" sh -c '! systemctl reload secho 2>/dev/null'
check "secho still active, same MainPID" sh -c \
    "systemctl is-active -q secho && [ \"\$(systemctl show -P MainPID secho)\" = $newpid ]"
check "still echoes on 7 and 7007" sh -c 'tcp_echo() { [ "$(printf "hi\n" | timeout 5 nc -N 127.0.0.1 $1)" = hi ]; }; tcp_echo 7 && tcp_echo 7007'
check "restart with the broken file fails" sh -c '! systemctl restart secho 2>/dev/null'
sleep 3
check "no restart loop after a configuration error (NRestarts=0, failed)" sh -c \
    "[ \"\$(systemctl show -P NRestarts secho)\" = 0 ] &&
     [ \"\$(systemctl show -P ActiveState secho)\" = failed ]"
cp /root/secho.cfg.orig /etc/secho.cfg
systemctl reset-failed secho
check "starts again with the original file" systemctl start secho
check "TCP echo after restart" until_ok 5 tcp_echo 7

echo "== signals"
check "systemctl kill -s USR1" systemctl kill -s USR1 --kill-whom=main secho
check "log: stats line" until_ok 5 log_has '^stats uptime_s='

echo "== sandbox: chroot, and open connections at stop"
# daemon.chroot needs CAP_SYS_CHROOT and the chroot system call; ending the
# children (another uid) at stop needs CAP_KILL.
mkdir -p /var/lib/secho-empty
sed -i 's|^  chroot = "";|  chroot = "/var/lib/secho-empty";|; s|^  shutdown_timeout = 10;|  shutdown_timeout = 1;|' \
    /etc/secho.cfg
check "config now has chroot and shutdown_timeout = 1" sh -c \
    'grep -q "chroot = \"/var/lib/secho-empty\"" /etc/secho.cfg &&
     grep -q "shutdown_timeout = 1;" /etc/secho.cfg'
check "restart with daemon.chroot" systemctl restart secho
check "TCP echo from a chrooted child" until_ok 5 tcp_echo 7
check "UDP echo from a chrooted worker" udp_echo
check "TLS echo from a chrooted child" tls_echo
timeout 30 nc -d 127.0.0.1 7 >/dev/null 2>&1 &
bg=$!
sleep 1
t0=$(date +%s)
check "systemctl stop with a connection open" systemctl stop secho
t1=$(date +%s)
check "stopped within 8 s (the master ended its child: $((t1 - t0)) s)" \
    test $((t1 - t0)) -le 8
check "clean exit after ending connections (status 0)" sh -c \
    '[ "$(systemctl show -P ExecMainStatus secho)" = 0 ] &&
     [ "$(systemctl show -P Result secho)" = success ]'
check "log: close reason=shutdown" until_ok 5 log_has 'close proto=tcp .* reason=shutdown'
kill "$bg" 2>/dev/null
wait "$bg" 2>/dev/null
cp /root/secho.cfg.orig /etc/secho.cfg
check "start with the original file" systemctl start secho

echo "== stop"
pid=$(prop MainPID)
check "systemctl stop" systemctl stop secho
check "inactive after stop" sh -c '[ "$(systemctl show -P ActiveState secho)" = inactive ]'
check "clean exit (status 0, result success)" sh -c \
    '[ "$(systemctl show -P ExecMainStatus secho)" = 0 ] &&
     [ "$(systemctl show -P Result secho)" = success ]'
check "no secho process left" sh -c '! ps -e -o comm= | grep -qx secho'
check "pidfile removed" test ! -e /run/secho/secho.pid
check "log: shutdown line" log_has 'shutdown active='
systemctl start secho

echo "== remove and purge"
check "dpkg -r secho" dpkg -r secho
check "service gone after remove" sh -c '! ps -e -o comm= | grep -qx secho'
check "certificate kept after remove" test -f /etc/secho/tls/key.pem
check "dpkg -P secho" dpkg -P secho
check "purge removed /etc/secho and /etc/secho.cfg" sh -c \
    '[ ! -e /etc/secho ] && [ ! -e /etc/secho.cfg ] && [ ! -e /var/lib/secho ]'
check "user secho kept after purge" sh -c 'getent passwd secho >/dev/null'

echo "== a certificate of one's own survives purge"
dpkg -i "$cur" >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj /CN=own -days 1 -keyout /etc/secho/tls/key.pem \
    -out /etc/secho/tls/cert.pem 2>/dev/null
dpkg -P secho >/dev/null 2>&1
check "own certificate and key kept" sh -c \
    'openssl x509 -in /etc/secho/tls/cert.pem -noout -subject | grep -q "CN = own" &&
     test -f /etc/secho/tls/key.pem'

echo "boot-test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
