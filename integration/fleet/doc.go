// Package fleet tests the operator tooling of contrib/ against real hosts:
// the Ansible role (contrib/ansible) rolls releases over three systemd 252
// containers behind HAProxy, and contrib/deploy/deploy.sh deploys on one.
//
// Each host is a systemd-nspawn container booted from this machine's /usr
// (made writable by an overlay, with a copy-on-write copy of the dpkg
// database, so that the play really installs the .deb), with its own
// loopback address in 127.0.0.0/8 for its sshd and its app: the containers
// share this machine's network, and Ansible reaches them over ssh, as it
// reaches real hosts. HAProxy runs on this machine, in front.
//
// The tests need root, systemd-container, openssh-server, haproxy,
// ansible, gunicorn and python3-flask, and the package: they run under
// `make fleet`, which builds it with `make deb` and passes its path in
// SDLAUNCH_DEB. Without SDLAUNCH_DEB they skip (`make test` does not run
// them twice); under CI, missing tools fail them.
package fleet
