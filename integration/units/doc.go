// Package units tests `sdlaunch install/status/logs/restart/reload/uninstall`
// against a real systemd 252 booted in a systemd-nspawn container that
// shares the host's /usr and network (see ../../../shared/SYSTEMD-IN-A-CONTAINER.md).
// The tests need root and systemd-nspawn (Debian package systemd-container);
// without them they skip, except under CI, where they fail.
package units
