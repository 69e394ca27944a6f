#!/usr/bin/env bash
# Prints the version that `make build` and `make deb` stamp into sdlaunch
# (-ldflags -X main.version=...), or with --commit the commit
# (-X main.commit=...). Run from anywhere inside the checkout.
#
# The version is a Debian version made from git describe --tags --dirty:
#   v1.2.3 -> 1.2.3   v1.2.3-rc1 -> 1.2.3~rc1   v1.2.3-4-gabc1234 -> 1.2.3+git4.abc1234
#   no tag yet: 0.1.0~git<commit count>.<sha>   uncommitted changes: +dirty (.dirty after a +)
# outside a git checkout: 0.1.0~unknown. The commit is the 12-digit
# abbreviated hash, with -dirty for uncommitted changes; "unknown" outside git.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "version.sh: $*" >&2; exit 1; }

commit() {
	local c
	c=$(git rev-parse --short=12 HEAD 2>/dev/null) || { echo unknown; return; }
	git diff --quiet HEAD -- 2>/dev/null || c+=-dirty
	echo "$c"
}

debian_version() {
	local desc dirty='' v
	desc=$(git describe --tags --always --dirty 2>/dev/null) || { echo 0.1.0~unknown; return; }
	if [[ $desc == *-dirty ]]; then
		desc=${desc%-dirty}
		dirty=dirty
	fi
	if ! git describe --tags --abbrev=0 >/dev/null 2>&1; then
		v="0.1.0~git$(git rev-list --count HEAD).$desc"
	elif [[ $desc =~ ^v?([0-9][0-9A-Za-z.~+-]*)-([0-9]+)-g([0-9a-f]+)$ ]]; then
		v="$(tr - '~' <<<"${BASH_REMATCH[1]}")+git${BASH_REMATCH[2]}.${BASH_REMATCH[3]}"
	elif [[ $desc =~ ^v?([0-9][0-9A-Za-z.~+-]*)$ ]]; then
		v=$(tr - '~' <<<"${BASH_REMATCH[1]}")
	else
		die "cannot make a Debian version of git describe's '$desc'; set VERSION"
	fi
	if [[ -n $dirty ]]; then
		if [[ $v == *+* ]]; then v+=.$dirty; else v+=+$dirty; fi
	fi
	echo "$v"
}

case ${1:-} in
"") debian_version ;;
--commit) commit ;;
*) die "usage: version.sh [--commit]" ;;
esac
