#!/bin/sh
# Installs the Debian packages the tests and benchmarks use, when missing.
# Idempotent and quiet when everything is already there.
set -eu
# iproute2 .. python3-twisted: the third-party server recipes (integration/launcher/servers_test.go).
# ansible, openssh-*, haproxy: make fleet (Ansible reaches the containers over ssh).
# gcc, libc6-dev: go test -race needs cgo.
pkgs="gcc libc6-dev systemd systemd-container dbus python3-flask python3-systemd gunicorn supervisor nodejs curl man-db groff-base lintian bash-completion zsh fish iproute2 python3-uvicorn python3-hypercorn python3-waitress puma uwsgi uwsgi-plugin-python3 lighttpd python3-twisted ansible openssh-server openssh-client haproxy"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing Debian packages:$missing (run as root, or: sudo apt-get install$missing)" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
