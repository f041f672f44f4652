#!/bin/sh
# piuparts on the built package (make deb-test): install, remove and purge
# in a minimal Debian chroot, then an upgrade from a previous build of the
# same sources (version VERSION~prev1, made here and served from a local
# apt repository built with apt-ftparchive), remove and purge again.
#
#   sh packaging/test-deb.sh [DIR]      (DIR: default build/deb)
#
# The mirror is the one apt uses here (apt-get indextargets); piuparts
# reads only one sources.list line, so it is passed explicitly.  The base
# chroot is kept in $SECHO_PIUPARTS_CACHE (default /var/cache/secho-piuparts)
# for a week: the first run makes it with debootstrap (about 75 s), later
# runs take about 25 s less.
set -eu

out=${1:-build/deb}
cache=${SECHO_PIUPARTS_CACHE:-/var/cache/secho-piuparts}
version=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb="$out/secho_${version}_$arch.deb"
[ -f "$deb" ] || sh packaging/build-deb.sh --out "$out"
out=$(cd "$out" && pwd)
deb="$out/secho_${version}_$arch.deb"

[ "$(id -u)" -eq 0 ] || { echo "test-deb.sh: piuparts needs root" >&2; exit 1; }

# The distribution of this machine and the archive apt takes it from.
. /etc/os-release
dist=${SECHO_PIUPARTS_DIST:-$VERSION_CODENAME}
mirror=${SECHO_PIUPARTS_MIRROR:-$(apt-get indextargets \
    --format '$(RELEASE) $(REPO_URI)' "Created-By: Packages" 2>/dev/null |
    awk -v d="$dist" '$1 == d { print $2; exit }')}
[ -n "$mirror" ] || {
	echo "test-deb.sh: no apt source for $dist (apt-get update first?)" >&2
	exit 1
}

# The previous version, in a local repository (file: URIs need no server;
# the directory is bind-mounted into the chroot at the same path).
prev="$version~prev1"
echo "== building the previous version $prev for the upgrade test"
sh packaging/build-deb.sh --version "$prev" --out "$out/prev" --nocheck |
    sed -n '1,2p'
repo="$out/repo"
rm -rf "$repo"
mkdir -p "$repo"
cp "$out/prev/secho_${prev}_$arch.deb" "$repo/"
(cd "$repo" && apt-ftparchive packages . > Packages &&
    apt-ftparchive release . > Release)

mkdir -p "$cache"
base="$cache/debian-$dist-$arch.tgz"
if [ -f "$base" ] && [ -n "$(find "$base" -mtime -7)" ]; then
	tgz="-b $base"
else
	rm -f "$base"
	tgz="-s $base"
fi

log="$out/piuparts.log"
echo "== piuparts $(basename "$deb") on $dist from $mirror ($tgz)"
start=$(date +%s)
rc=0
# shellcheck disable=SC2086
piuparts -d "$dist" -m "$mirror" $tgz \
    --bindmount "$repo" \
    --extra-repo "deb [trusted=yes] file://$repo ./" \
    -l "$log" "$deb" > "$out/piuparts.out" 2>&1 || rc=$?
took=$(( $(date +%s) - start ))

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $*"; }
notok() { fail=$((fail + 1)); echo "FAIL - $*"; }
if [ "$rc" -eq 0 ] && grep -q '^.*PASS: All tests' "$log"; then
	ok "piuparts: all tests passed ($took s)"
else
	tail -n 80 "$log" >&2
	notok "piuparts failed (status $rc, $took s); log: $log"
fi
# Both tests must have run, not only the first.
if grep -q 'PASS: Installation and purging test' "$log"; then
	ok "install, remove and purge"
else
	notok "no install/purge test in $log"
fi
if grep -q "PASS: Installation, upgrade and purging tests" "$log" &&
    grep -qF "Unpacking secho ($version) over ($prev)" "$log"; then
	ok "upgrade from $prev (local repository), remove and purge"
else
	notok "no upgrade test from $prev in $log"
fi

echo "deb-test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
