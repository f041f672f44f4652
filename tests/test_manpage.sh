#!/bin/sh
# Every setting the configuration loader knows is documented in
# secho.cfg(5), under the subsection of its group; every option of
# secho-ping has an entry in secho-ping(1); and the man pages format
# without warnings.
#
#   sh tests/test_manpage.sh [src/config.c] [doc/secho.cfg.5] [doc/secho.8]
#       [src/ping_args.c] [doc/secho-ping.1]
#
# The settings come from the tables of src/config.c and of the files that
# parse some groups for it (src/config_*.c: the tls group, sni entries): each
# "static const struct field GROUP_fields[] = { ... };" lists its settings
# as F...("name", ...) entries, and parse_root() names the top-level groups
# with strcmp(name, "GROUP") or config_setting_get_member(root, "GROUP").
# A setting counts as documented when the subsection (.SS) whose first word
# starts with GROUP has a ".TP" entry whose tag line is ".B name".
set -u
src=${1:-src/config.c}
cfgman=${2:-doc/secho.cfg.5}
man8=${3:-doc/secho.8}
pingsrc=${4:-src/ping_args.c}
man1=${5:-doc/secho-ping.1}
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok - $*"; }
notok() { fail=$((fail + 1)); echo "FAIL - $*"; }

for f in "$src" "$cfgman" "$man8" "$pingsrc" "$man1"; do
	[ -r "$f" ] || { echo "test_manpage: cannot read $f" >&2; exit 2; }
done

# The loader and its helper files (config_tls.c, config_sni.c, ...).
srcs="$src $(ls "$(dirname "$src")"/config_*.c 2>/dev/null)"

# "group name" for every entry of every *_fields table.
settings=$(awk '
	/^static const struct field [a-z_]+_fields\[\] = \{/ {
		t = $5; sub(/_fields\[\]$/, "", t); intable = 1; next
	}
	intable && /^\};/ { intable = 0; next }
	intable {
		line = $0
		while (match(line, /F[A-Z]+\("[A-Za-z0-9_]+"/)) {
			e = substr(line, RSTART, RLENGTH)
			sub(/^F[A-Z]+\("/, "", e); sub(/"$/, "", e)
			print t, e
			line = substr(line, RSTART + RLENGTH)
		}
	}' $srcs)

# Top-level groups that parse_root() accepts.
groups=$(awk '
	/^parse_root\(/ { inroot = 1 }
	inroot && /^}/ { inroot = 0 }
	inroot {
		line = $0
		while (match(line, /(strcmp\(name, |get_member\(root, )"[a-z_]+"/)) {
			e = substr(line, RSTART, RLENGTH)
			sub(/^.*"([a-z_]+)"$/, "&", e); sub(/^[^"]*"/, "", e)
			sub(/"$/, "", e)
			print e
			line = substr(line, RSTART + RLENGTH)
		}
	}' "$src" | sort -u)

# "section name" for every .TP entry tagged ".B name" in the man page.
documented=$(awk '
	/^\.SS / { s = $0; sub(/^\.SS "?/, "", s); split(s, w, /[ "]/); sec = w[1]; next }
	/^\.SH / { sec = ""; next }
	/^\.TP/ { tp = 1; next }
	tp { if (sec != "" && $1 == ".B" && NF == 2) print sec, $2; tp = 0 }
	' "$cfgman")

nset=$(printf '%s\n' "$settings" | grep -c . || true)
ntab=$(printf '%s\n' "$settings" | awk 'NF { print $1 }' | sort -u | grep -c . || true)
if [ "$nset" -ge 20 ] && [ "$ntab" -ge 5 ]; then
	ok "found $nset settings in $ntab tables of $srcs"
else
	notok "found only $nset settings in $ntab tables of $srcs (has its layout changed?)"
fi

sections=$(printf '%s\n' "$documented" | awk 'NF { print $1 }' | sort -u)

# The section of a group: the first one whose name starts with it.
section_of() {
	for s in $sections; do
		case $s in "$1"*) echo "$s"; return 0 ;; esac
	done
	return 1
}

for g in $groups; do
	if section_of "$g" >/dev/null; then
		ok "group $g has a subsection in $cfgman"
	else
		notok "group $g (parse_root in $src) has no subsection in $cfgman"
	fi
done

printf '%s\n' "$settings" | { while read -r t name; do
	[ -n "$t" ] || continue
	if ! sec=$(section_of "$t"); then
		notok "$t.$name: no subsection for group $t in $cfgman"
		continue
	fi
	if printf '%s\n' "$documented" | grep -qx "$sec $name"; then
		ok "$t.$name is documented in $cfgman ($sec)"
	else
		notok "$t.$name is not documented in $cfgman (no .TP/.B $name under .SS $sec)"
	fi
done
echo "$pass $fail" > "${TMPDIR:-/tmp}/secho-manpage.$$"
}
read -r pass fail < "${TMPDIR:-/tmp}/secho-manpage.$$"
rm -f "${TMPDIR:-/tmp}/secho-manpage.$$"

# secho-ping(1): each short option of short_opts[] and each long option of
# long_opts[] in src/ping_args.c is the tag (the line after .TP) of an
# entry under .SH OPTIONS, written \-x or \-\-name.
shorts=$(sed -n 's/^static const char short_opts\[\] = "\(.*\)";$/\1/p' "$pingsrc" |
    tr -d ':')
longs=$(awk '/^static const struct option long_opts\[\]/ { in_l = 1; next }
	in_l && /^\};/ { in_l = 0 }
	in_l && match($0, /\{ "[a-z-]+"/) { s = substr($0, RSTART + 3, RLENGTH - 4); print s }' "$pingsrc")
tags=$(awk '/^\.SH / { opt = ($2 == "OPTIONS") ; next }
	opt && /^\.TP/ { tp = 1; next }
	tp { print; tp = 0 }' "$man1")
if [ ${#shorts} -ge 10 ] && [ "$(printf '%s\n' "$longs" | grep -c .)" -ge 10 ]; then
	ok "found ${#shorts} short and $(printf '%s\n' "$longs" | grep -c .) long options in $pingsrc"
else
	notok "found only \"$shorts\" and \"$longs\" in $pingsrc (has its layout changed?)"
fi
i=1
while [ $i -le ${#shorts} ]; do
	c=$(printf '%s' "$shorts" | cut -c $i)
	i=$((i + 1))
	if printf '%s\n' "$tags" | grep -q -- "\\\\-$c\\([^A-Za-z0-9]\\|\$\\)"; then
		ok "secho-ping -$c is documented in $man1"
	else
		notok "secho-ping -$c has no .TP entry under OPTIONS in $man1"
	fi
done
for l in $longs; do
	esc=$(printf '%s' "$l" | sed 's/-/\\\\-/g')
	if printf '%s\n' "$tags" | grep -q -- "\\\\-\\\\-$esc\\([^A-Za-z0-9\\]\\|\$\\)"; then
		ok "secho-ping --$l is documented in $man1"
	else
		notok "secho-ping --$l has no .TP entry under OPTIONS in $man1"
	fi
done

# The pages must format cleanly (what lintian checks), where man-db is here.
if command -v man >/dev/null 2>&1; then
	for page in "$man8" "$cfgman" "$man1"; do
		out=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
		    man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null)
		if [ -z "$out" ]; then
			ok "$page formats without warnings"
		else
			notok "$page: man --warnings: $out"
		fi
	done
else
	echo "skip - man is not installed: formatting not checked"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
