#!/bin/sh
# Build the secho .deb from a clean copy of the source tree, leaving the
# tree itself untouched:
#
#   build/deb/secho-VERSION/   the sources, with packaging/debian as debian/
#   build/deb/secho_VERSION_ARCH.deb (+ .buildinfo, .changes, build log)
#
#   sh packaging/build-deb.sh [--version V] [--out DIR] [--nocheck]
#
# --version V builds the same sources as version V (the top changelog entry
# renamed; piuparts' upgrade test uses it for an "older" build), --out DIR
# puts everything in DIR instead of build/deb, --nocheck skips the unit
# tests of the package build.  Run from the top of the source tree.
set -eu

out=build/deb
version=""
nocheck=""
while [ $# -gt 0 ]; do
	case $1 in
	--version) version=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--nocheck) nocheck=1; shift ;;
	*) echo "usage: build-deb.sh [--version V] [--out DIR] [--nocheck]" >&2
	   exit 64 ;;
	esac
done

[ -f packaging/debian/control ] && [ -f Makefile ] || {
	echo "build-deb.sh: run from the top of the secho source tree" >&2
	exit 1
}

# The package version follows the Makefile's VERSION.
upstream=$(sed -n 's/^VERSION *= *//p' Makefile)
chversion=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
case $chversion in
"$upstream"|"$upstream"[-+~]*) ;;
*)	echo "build-deb.sh: packaging/debian/changelog is at $chversion but" \
	    "the Makefile's VERSION is $upstream: add a changelog entry" >&2
	exit 1 ;;
esac
[ -n "$version" ] || version=$chversion
arch=$(dpkg-architecture -qDEB_HOST_ARCH)

mkdir -p "$out"
out=$(cd "$out" && pwd)
src="$out/secho-$version"
rm -rf "$src"
mkdir -p "$src"

# The files of the tree: git's list when there is one (tracked and new, not
# ignored), otherwise everything but build products.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard |
	    xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
	    tar --null -T - -cf - | tar -xf - -C "$src"
else
	tar --exclude=./build --exclude=./.git -cf - . | tar -xf - -C "$src"
fi
rm -rf "$src/debian" "$src/build" "$src"/certs/*.pem "$src"/certs/*.key
cp -a packaging/debian "$src/debian"
if [ "$version" != "$chversion" ]; then
	sed -i "1s/^secho ([^)]*)/secho ($version)/" "$src/debian/changelog"
fi

rm -f "$out"/secho_"$version"_*.deb "$out"/secho-dbgsym_"$version"_*.deb \
    "$out"/secho_"$version"_*.buildinfo "$out"/secho_"$version"_*.changes
log="$out/secho_${version}_$arch.build"
echo "== dpkg-buildpackage secho $version (log: $log)"
start=$(date +%s)
if [ -n "$nocheck" ]; then
	DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}"
	DEB_BUILD_PROFILES="nocheck ${DEB_BUILD_PROFILES:-}"
	export DEB_BUILD_OPTIONS DEB_BUILD_PROFILES
fi
if ! (cd "$src" && dpkg-buildpackage -us -uc -b) > "$log" 2>&1; then
	tail -n 60 "$log" >&2
	echo "build-deb.sh: dpkg-buildpackage failed; full log: $log" >&2
	exit 1
fi
deb="$out/secho_${version}_$arch.deb"
[ -f "$deb" ] || { echo "build-deb.sh: $deb was not built" >&2; exit 1; }
echo "== built $deb in $(( $(date +%s) - start )) s"
dpkg-deb -c "$deb" | awk '{ print "   ", $1, $2, $6, $7, $8 }'
