#!/bin/sh
# Install the Debian packages that building and checking the secho .deb
# needs, when missing.  Silent and fast when everything is present.  Used
# by "make deb" (build), "make deb-test" (test) and "make deb-boot-test"
# (boot); "make check" never installs these.
#
#   sh scripts/deps-deb.sh [build|test|boot]...
set -eu

# build: dpkg-buildpackage, dh, lintian, systemd-analyze and the
# Build-Depends of packaging/debian/control (with the nocheck ones).
# test: piuparts and apt-ftparchive.  boot: debootstrap and systemd-nspawn.
build="dpkg-dev debhelper lintian systemd man-db
       libconfig-dev libssl-dev pkg-config libcmocka-dev openssl"
test="$build piuparts debootstrap apt-utils"
boot="$build debootstrap systemd-container"

PKGS=""
[ $# -gt 0 ] || set -- build
for what in "$@"; do
	case $what in
	build) PKGS="$PKGS $build" ;;
	test) PKGS="$PKGS $test" ;;
	boot) PKGS="$PKGS $boot" ;;
	*) echo "usage: deps-deb.sh [build|test|boot]..." >&2; exit 64 ;;
	esac
done

exec sh "$(dirname "$0")/deps.sh" $PKGS
