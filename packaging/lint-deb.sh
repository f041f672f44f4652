#!/bin/sh
# Static checks of the built package (make deb-lint):
#   1. lintian --fail-on error,warning (info and pedantic tags are shown);
#   2. systemd-analyze verify of the packaged unit, pointed at the staged
#      binary and man pages: any output is a failure (it exits 0 on errors);
#   3. systemd-analyze security --offline=yes: the exposure score must stay
#      at or below SECHO_EXPOSURE_MAX (default 2.5; 0 is best, 10 worst).
# Uses build/deb/secho_VERSION_ARCH.deb, building it first when missing.
#
#   sh packaging/lint-deb.sh [DIR]      (DIR: default build/deb)
set -eu

out=${1:-build/deb}
max=${SECHO_EXPOSURE_MAX:-2.5}
version=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb="$out/secho_${version}_$arch.deb"
changes="$out/secho_${version}_$arch.changes"
[ -f "$deb" ] && [ -f "$changes" ] || sh packaging/build-deb.sh --out "$out"

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $*"; }
notok() { fail=$((fail + 1)); echo "FAIL - $*"; }

# 1. lintian (it warns about running as root; that is all right here).
echo "== lintian $changes"
start=$(date +%s)
lrc=0
lintian -I --pedantic --fail-on error,warning "$changes" \
    > "$out/lintian.log" 2>&1 || lrc=$?
grep -v '^running with root privileges is not recommended!$' "$out/lintian.log" || true
if [ "$lrc" -eq 0 ]; then
	ok "lintian: no error or warning tags ($(( $(date +%s) - start )) s)"
else
	notok "lintian reports error or warning tags, or failed (status $lrc)"
fi

# 2. and 3. need the unit pointed at real files: stage the .deb.
stage=$(mktemp -d "${TMPDIR:-/tmp}/secho-lint.XXXXXX")
trap 'rm -rf "$stage"' EXIT
dpkg-deb -x "$deb" "$stage/root"
unit="$stage/root/lib/systemd/system/secho.service"
[ -f "$unit" ] || unit="$stage/root/usr/lib/systemd/system/secho.service"
if [ ! -f "$unit" ]; then
	notok "no secho.service in $deb"
else
	mkdir -p "$stage/unit"
	sed -e "s|/usr/sbin/secho|$stage/root/usr/sbin/secho|g" "$unit" \
	    > "$stage/unit/secho.service"
	echo "== systemd-analyze verify secho.service"
	v=$(cd "$stage/unit" && MANPATH="$stage/root/usr/share/man" \
	    systemd-analyze verify --man=yes ./secho.service 2>&1) || true
	if [ -z "$v" ]; then
		ok "systemd-analyze verify: no output"
	else
		printf '%s\n' "$v"
		notok "systemd-analyze verify printed the lines above"
	fi

	echo "== systemd-analyze security --offline=yes secho.service"
	sec=$(cd "$stage/unit" &&
	    systemd-analyze security --offline=yes --no-pager ./secho.service 2>&1) || true
	printf '%s\n' "$sec" | grep -v '^✓' || true
	score=$(printf '%s\n' "$sec" |
	    sed -n 's/.*Overall exposure level for secho.service: \([0-9.]*\).*/\1/p')
	if [ -z "$score" ]; then
		notok "no exposure score in the output of systemd-analyze security"
	elif awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }'; then
		ok "exposure score $score <= $max"
	else
		notok "exposure score $score is above $max"
	fi
fi

echo "deb-lint: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
