#!/bin/sh
# Install the Debian packages secho needs to build and test, when missing.
# Silent and fast when everything is present.  Used by 'make deps', which
# 'make run' and 'make check' call first; with arguments, installs those
# packages instead (scripts/deps-deb.sh uses that).
#
#   sh scripts/deps.sh [PACKAGE...]
set -eu

# build: compiler, pkg-config and the libraries
# tests: real clients we did not write, and tools the tests use
PKGS="gcc make pkg-config libssl-dev libconfig-dev libcmocka-dev
      openssl socat netcat-openbsd python3 gnutls-bin procps
      util-linux iproute2 haproxy valgrind sslscan strace
      xinetd ncat stunnel4 tshark testssl.sh"

[ $# -gt 0 ] && PKGS="$*"

missing=""
for p in $PKGS; do
	case " $missing " in *" $p "*) continue ;; esac
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "secho: installing missing packages:$missing"
if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "secho: not root and no sudo; please install:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# An install from a fresh machine needs the package lists first.
if ! $SUDO apt-get install -y -q --no-install-recommends $missing; then
	$SUDO apt-get update -q
	$SUDO apt-get install -y -q --no-install-recommends $missing
fi
