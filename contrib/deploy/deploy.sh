#!/usr/bin/env bash
# Deploys SRC as a new release of an app that `sdlaunch install` set up, on
# the host itself (as root): copy SRC to BASE/releases/<time>, point
# BASE/current at it, and roll it in with `sdlaunch reload`. If the new code
# cannot boot, sdlaunch keeps the old workers serving and exits 1; we point
# current back at the previous release and exit 1, so the job fails loudly.
#
#   deploy.sh NAME SRC [BASE]     BASE defaults to /srv/NAME; KEEP=5 releases
#
# The unit must be installed with --chdir through the symlink (see
# README.md), e.g.: sdlaunch install --chdir /srv/NAME/current ... NAME -- /usr/bin/gunicorn --preload ...
# The first deploy, before NAME.service exists, only makes the release and
# the link, and says so: install the app once then.
set -euo pipefail

usage="usage: deploy.sh NAME SRC [BASE]"
name=${1:?$usage}
src=${2:?$usage}
base=${3:-/srv/$name}
keep=${KEEP:-5}

mkdir -p "$base/releases"
exec 9>"$base/.deploy.lock"
flock -n 9 || { echo "deploy: another deploy of $name is running" >&2; exit 1; }

release=$base/releases/$(date -u +%Y%m%dT%H%M%SZ)-${BUILD_NUMBER:-$$}
mkdir "$release"
cp -a "$src/." "$release/"
rm -rf "$release/.git"
chmod -R a+rX "$release" # readable by the unit's DynamicUser

# Atomic flip: rename(2) a new symlink over the old one.
flip() { ln -sfn "$1" "$base/current.new" && mv -T "$base/current.new" "$base/current"; }
previous=$(readlink "$base/current" || true)

flip "$release"
if [[ $(systemctl show --property=LoadState --value "$name.service") != loaded ]]; then
	echo "deploy: $base/current -> $release; $name.service is not installed yet, so nothing was reloaded:"
	echo "deploy: install it once with: sdlaunch install --chdir $base/current [options] $name -- COMMAND..."
	exit 0
fi
if ! sdlaunch reload "$name"; then
	echo "deploy: $release could not boot; $name keeps serving ${previous:-nothing}" >&2
	if [[ -n $previous ]]; then flip "$previous"; else rm -f "$base/current"; fi
	exit 1
fi
echo "deploy: $name now serves $release"

# Keep the newest $keep releases (names sort by time).
current=$(readlink -f "$base/current")
find "$base/releases" -mindepth 1 -maxdepth 1 -type d | LC_ALL=C sort | head -n -"$keep" |
	while read -r old; do
		[[ $old == "$current" ]] || rm -rf -- "$old"
	done
