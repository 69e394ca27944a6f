package activation

import (
	"strconv"
	"strings"
)

// ListenFDsStart is the first descriptor a child receives (SD_LISTEN_FDS_START).
const ListenFDsStart = 3

// ChildFDs returns the descriptors to install as 3, 4, ... in a child.
func ChildFDs(socks []*Socket) []uintptr {
	fds := make([]uintptr, len(socks))
	for i, s := range socks {
		fds[i] = uintptr(s.fd)
	}
	return fds
}

// ChildEnv returns LISTEN_FDS and LISTEN_FDNAMES for a child receiving socks.
// LISTEN_PID is set by the exec shim, in the child, to the child's own pid.
func ChildEnv(socks []*Socket) []string {
	names := make([]string, len(socks))
	for i, s := range socks {
		names[i] = s.Name
	}
	return []string{
		"LISTEN_FDS=" + strconv.Itoa(len(socks)),
		"LISTEN_FDNAMES=" + strings.Join(names, ":"),
	}
}

// launcherOnly reports whether the variable is meant for the launcher alone;
// a child must never see it (systemd's sockets, notify socket, watchdog and
// journal stream are the launcher's).
func launcherOnly(name string) bool {
	switch name {
	case "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES",
		"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
		"JOURNAL_STREAM",
		// set by a standalone launcher's guardian for the launcher (prefork.Guard)
		"SDLAUNCH_GUARDED", "SDLAUNCH_NOTIFY_DIR", "SDLAUNCH_CONTROL_PID":
		return true
	}
	return false
}

// StripLauncherEnv returns env without the variables meant for the launcher.
func StripLauncherEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !launcherOnly(name) {
			out = append(out, kv)
		}
	}
	return out
}
