#!/usr/bin/env bash
# Builds OUTDIR/sdlaunch_<version>_<arch>.deb (OUTDIR defaults to dist) from a
# staging tree, and prints its path. Used by `make deb` and packaging/deb_test.go.
#
#   /usr/bin/sdlaunch                                 static (CGO_ENABLED=0)
#   /usr/share/man/man1/sdlaunch.1.gz                 `sdlaunch __manpage`
#   /usr/share/bash-completion/completions/sdlaunch   `sdlaunch __bash-completion`
#   /usr/share/doc/sdlaunch/{copyright,changelog.Debian.gz}
#
# Environment: GO (go), VERSION (default: from git describe),
# DEB_MAINTAINER (Maintainer: field). Needs go, git, dpkg-deb, gzip.
set -euo pipefail

out=${1:-dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
GO=${GO:-go}
maintainer=${DEB_MAINTAINER:-sdlaunch maintainers <sdlaunch@example.invalid>}

die() { echo "build-deb: $*" >&2; exit 1; }

# A Debian version from git describe --tags --always --dirty:
#   v1.2.3 -> 1.2.3   v1.2.3-rc1 -> 1.2.3~rc1   v1.2.3-4-gabc1234 -> 1.2.3+git4.abc1234
#   no tag yet: 0.1.0~git<commit count>.<sha>   uncommitted changes: +dirty (.dirty after a +)
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

version=${VERSION:-$(debian_version)}
[[ $version =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || die "'$version' is not a valid Debian version (no epoch or revision)"

goarch=$("$GO" env GOARCH)
case $goarch in
amd64 | arm64 | riscv64 | s390x) arch=$goarch ;;
386) arch=i386 ;;
ppc64le) arch=ppc64el ;;
*) die "no Debian architecture for GOARCH=$goarch" ;;
esac

# Reproducible: every timestamp is the commit's.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/root
doc=$root/usr/share/doc/sdlaunch
install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/usr/share/man/man1" \
	"$root/usr/share/bash-completion/completions" "$doc"

# -X main.version takes effect once cmd/sdlaunch declares `var version string`.
CGO_ENABLED=0 "$GO" build -trimpath -ldflags "-s -w -X main.version=$version" \
	-o "$root/usr/bin/sdlaunch" ./cmd/sdlaunch
chmod 0755 "$root/usr/bin/sdlaunch"

"$root/usr/bin/sdlaunch" __manpage | gzip -9n >"$root/usr/share/man/man1/sdlaunch.1.gz"
"$root/usr/bin/sdlaunch" __bash-completion >"$root/usr/share/bash-completion/completions/sdlaunch"

# copyright: sdlaunch's own terms, then the license texts of everything
# statically linked into the binary (BSD/MIT/Apache require them in binary
# distributions).
{
	echo "sdlaunch $version"
	echo
	if [[ -f LICENSE ]]; then
		cat LICENSE
	else
		echo "Copyright: the sdlaunch authors. No license has been stated yet."
	fi
	echo
	echo "/usr/bin/sdlaunch is statically linked and contains code from the Go"
	echo "distribution and the Go modules below, under the licenses that follow."
	echo
	echo "==> Go $("$GO" env GOVERSION) (https://go.dev)"
	cat "$("$GO" env GOROOT)/LICENSE" "$("$GO" env GOROOT)/PATENTS"
	CGO_ENABLED=0 "$GO" list -deps -f '{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}} {{.Dir}}{{end}}{{end}}' ./cmd/sdlaunch |
		sort -u | while read -r path ver dir; do
			echo
			echo "==> $path $ver"
			shopt -s nullglob nocaseglob
			files=("$dir"/LICEN[CS]E* "$dir"/COPYING* "$dir"/NOTICE* "$dir"/PATENTS*)
			((${#files[@]})) || die "no license file in $dir"
			cat "${files[@]}"
		done
} >"$doc/copyright"

{
	echo "sdlaunch ($version) unstable; urgency=medium"
	echo
	echo "  * Built from git commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
	echo
	echo " -- $maintainer  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$doc/changelog.Debian.gz"

find "$root/usr" -type d -exec chmod 0755 {} +
find "$root/usr" -type f ! -path "$root/usr/bin/*" -exec chmod 0644 {} +
(cd "$root" && find usr -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"

cat >"$root/DEBIAN/control" <<EOF
Package: sdlaunch
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk "$root/usr" | cut -f1)
Depends: systemd (>= 252)
Section: admin
Priority: optional
Description: let systemd own an app's sockets and pre-fork its workers
 sdlaunch makes systemd own a service's listening sockets and pre-forks
 workers of any language (Go, Python, Flask, gunicorn, Node) on them.
 .
 "sdlaunch install" writes a hardened .socket and .service pair, enables and
 starts them, and waits until the app is ready. "sdlaunch run", the
 service's main process, supervises the workers and rolls new code in on
 "sdlaunch reload", rolling back when it cannot boot. Since systemd holds
 the port, a restart never hits EADDRINUSE and connections wait in the
 backlog instead of being refused. Exit statuses are reliable for Ansible,
 Jenkins or a shell &&.
EOF
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

deb=$out/sdlaunch_${version}_${arch}.deb
dpkg-deb --build --root-owner-group "$root" "$deb" >/dev/null
echo "$deb"
