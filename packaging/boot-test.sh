#!/bin/sh
# The package under a real systemd (make deb-boot-test): a Debian root made
# with debootstrap (plus systemd and the clients the test uses) boots in
# systemd-nspawn without network but loopback; inside it
# packaging/boot-test-inside.sh installs the previous build, upgrades to the
# current one, echoes over TCP, UDP and TLS, reloads, refuses a broken
# configuration, stops, removes and purges.
#
#   sh packaging/boot-test.sh [DIR]      (DIR: default build/deb)
#
# The pristine root is kept in $SECHO_BOOT_CACHE (default
# /var/cache/secho-boot) for 30 days; each run boots a throw-away copy of it
# (systemd-nspawn --ephemeral).  Needs root, debootstrap, systemd-container.
set -eu

out=${1:-build/deb}
cache=${SECHO_BOOT_CACHE:-/var/cache/secho-boot}
version=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
prev="$version~prev1"
[ -f "$out/secho_${version}_$arch.deb" ] || sh packaging/build-deb.sh --out "$out"
[ -f "$out/prev/secho_${prev}_$arch.deb" ] ||
    sh packaging/build-deb.sh --version "$prev" --out "$out/prev" --nocheck
out=$(cd "$out" && pwd)
here=$(cd packaging && pwd)

[ "$(id -u)" -eq 0 ] || { echo "boot-test.sh: needs root" >&2; exit 1; }

. /etc/os-release
dist=$VERSION_CODENAME
mirror=${SECHO_BOOT_MIRROR:-$(apt-get indextargets \
    --format '$(RELEASE) $(REPO_URI)' "Created-By: Packages" 2>/dev/null |
    awk -v d="$dist" '$1 == d { print $2; exit }')}

root="$cache/debian-$dist-$arch"
if [ ! -f "$root/.secho-complete" ] ||
    [ -n "$(find "$root/.secho-complete" -mtime +30)" ]; then
	echo "== debootstrap $dist into $root (from $mirror)"
	start=$(date +%s)
	rm -rf "$root" "$root.new"
	mkdir -p "$cache"
	debootstrap --variant=minbase \
	    --include=systemd,systemd-sysv,procps,openssl,adduser,libconfig9,libssl3,netcat-openbsd,socat,iproute2 \
	    "$dist" "$root.new" "$mirror" > "$cache/debootstrap.log" 2>&1 || {
		tail -n 30 "$cache/debootstrap.log" >&2
		exit 1
	}
	# No getty on the console: the container has no terminal.
	ln -sf /dev/null "$root.new/etc/systemd/system/console-getty.service"
	echo secho-boot > "$root.new/etc/hostname"
	touch "$root.new/.secho-complete"
	mv "$root.new" "$root"
	echo "   made in $(( $(date +%s) - start )) s"
fi

# debootstrap's minbase has no /etc/hosts: "localhost" would not resolve.
[ -s "$root/etc/hosts" ] ||
    printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
    > "$root/etc/hosts"

console="$out/boot-console.log"
echo "== booting $root (ephemeral copy; console: $console)"
start=$(date +%s)
systemd-nspawn -b --register=no --keep-unit --private-network --ephemeral \
    --console=pipe -D "$root" \
    --bind-ro="$out:/secho-debs" --bind-ro="$here:/secho-packaging" \
    < /dev/null > "$console" 2>&1 &
npid=$!
leader=""
cleanup() {
	if kill -0 "$npid" 2>/dev/null; then
		[ -n "$leader" ] && in_ct systemctl poweroff >/dev/null 2>&1 || true
		i=0
		while kill -0 "$npid" 2>/dev/null && [ $i -lt 100 ]; do
			sleep 0.2
			i=$((i + 1))
		done
		kill -0 "$npid" 2>/dev/null && kill -KILL "$npid" 2>/dev/null || true
	fi
	wait "$npid" 2>/dev/null || true
}
trap cleanup EXIT
in_ct() {
	nsenter -t "$leader" -m -u -i -n -p -- \
	    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"
}

# The container's init is the child of systemd-nspawn in another PID
# namespace; wait for it, then for the boot to finish.
i=0
while [ $i -lt 150 ]; do
	for p in $(ps -o pid= --ppid "$npid" 2>/dev/null); do
		if [ "$(readlink "/proc/$p/ns/pid")" != "$(readlink /proc/self/ns/pid)" ]; then
			leader=$p
		fi
	done
	[ -n "$leader" ] && break
	kill -0 "$npid" 2>/dev/null || break
	sleep 0.2
	i=$((i + 1))
done
if [ -z "$leader" ]; then
	tail -n 30 "$console" >&2
	echo "boot-test.sh: the container did not start" >&2
	exit 1
fi
state=""
i=0
while [ $i -lt 300 ]; do
	state=$(in_ct systemctl is-system-running 2>/dev/null || true)
	case $state in running|degraded) break ;; esac
	sleep 0.2
	i=$((i + 1))
done
echo "   booted in $(( $(date +%s) - start )) s (system $state)"
case $state in
running|degraded) ;;
*)	tail -n 30 "$console" >&2
	echo "boot-test.sh: the container did not finish booting" >&2
	exit 1 ;;
esac
[ "$state" = running ] || in_ct systemctl --failed --no-legend --plain || true

start=$(date +%s)
rc=0
in_ct sh /secho-packaging/boot-test-inside.sh \
    "/secho-debs/secho_${version}_$arch.deb" \
    "/secho-debs/prev/secho_${prev}_$arch.deb" > "$out/boot-test.out" 2>&1 || rc=$?
cat "$out/boot-test.out"
echo "== tests took $(( $(date +%s) - start )) s"
if [ "$rc" -ne 0 ]; then
	echo "== journal of secho.service" >&2
	in_ct journalctl -u secho --no-pager -n 60 >&2 || true
fi
# The summary last.
grep '^boot-test: ' "$out/boot-test.out" | tail -n 1
[ "$rc" -eq 0 ] || grep -q '^boot-test: ' "$out/boot-test.out" ||
    echo "boot-test: 0 passed, 1 failed"
exit "$rc"
