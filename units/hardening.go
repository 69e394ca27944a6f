package units

import (
	"path/filepath"
	"strings"
)

// Sandboxing profiles, measured with `systemd-analyze security --offline=yes`
// on systemd 252 (see security_test.go for the thresholds):
//
//   - default (≤ 2.0): everything an ordinary web app does not need is off,
//     while it may still make outbound connections (databases, APIs), read
//     the file system and write to its own private /tmp. Apps that need to
//     write elsewhere get StateDirectory=/ReadWritePaths= through a drop-in.
//   - strict (≤ 1.0): default plus a private network namespace
//     (PrivateNetwork=yes, IPAddressDeny=any). Inbound
//     traffic still works because the listening sockets are created by
//     systemd in the host namespace and handed in (systemd.exec(5),
//     PrivateNetwork=). Outbound connections, even to localhost, fail.
//   - off: no sandboxing at all (DynamicUser= still applies unless --run-as).
//
// Both profiles keep AF_UNIX (journald, sd_notify), AF_INET and AF_INET6
// (the inherited sockets are INET; the launcher may accept on them) in
// RestrictAddressFamilies=.
//
// Units for the user's service manager (--user) get the same profiles with
// three changes, found by running them under systemd 252's user manager
// (integration/units/user_test.go); each one otherwise fails the start:
//
//   - PrivateUsers=yes is required, not optional: an unprivileged manager can
//     set up the mount namespace (ProtectSystem=, PrivateTmp=, ...) and drop
//     the bounding set only inside a user namespace of its own
//     (systemd.exec(5): "only available ... in per-user instances of the
//     service manager when PrivateUsers= is enabled"). Without it the start
//     fails with 218/CAPABILITIES. The app still runs as the user's uid.
//   - ProtectHome=read-only, never yes: the user manager's notify socket
//     ($XDG_RUNTIME_DIR/systemd/notify) is under /run/user, which
//     ProtectHome=yes hides: READY=1 never arrives and the start times out.
//   - no ProtectKernelLogs=: masking /proc/kmsg from the service's user
//     namespace fails the start with 226/NAMESPACE ("Failed to mount
//     .../inaccessible/fifo to .../proc/kmsg") in systemd-nspawn, where
//     /proc/kmsg is itself an over-mount (not tried outside a container).
//     An unprivileged app cannot read the kernel log anyway: /proc/kmsg is
//     root's, and with kernel.dmesg_restrict=1 (Debian's default) syslog(2)
//     and /dev/kmsg need CAP_SYSLOG, which the app does not have.
//
// ProtectHostname= is skipped (with a notice) where the manager may not
// create a UTS namespace, as in containers.
//
// strict is refused for the user manager of systemd < 253 (see
// checkProfileForManager): the service runs in a private network namespace
// owned by the user namespace of its main process; ExecReload= (sdlaunch
// reload-wait, needed before Type=notify-reload) gets a user namespace of
// its own, cannot join that network namespace ("PrivateNetwork=yes is
// configured, but network namespace setup failed, ignoring: Operation not
// permitted") and so cannot reach the launcher's abstract control socket:
// every reload of a healthy app would fail.

// jitRuntime reports executables that generate machine code at run time and
// abort under MemoryDenyWriteExecute=yes (V8 in node/deno/bun, the JVM,
// .NET, PyPy, LuaJIT, PHP's opcache JIT). CPython, Go, Ruby (without YJIT)
// and Perl run fine with it, so default keeps it on for them: it blocks
// the classic "write shellcode, jump to it" exploit step.
func jitRuntime(base string) bool {
	switch base {
	case "node", "nodejs", "deno", "bun", "java", "dotnet", "pypy", "pypy3",
		"luajit", "php", "php-fpm", "beam.smp", "erl", "elixir", "mono", "julia":
		return true
	}
	return false
}

// needsJIT decides MemoryDenyWriteExecute= for JITAuto by the command's
// name; wrappers such as `env node` or `npm start` are looked through.
func (a *App) needsJIT() bool {
	switch a.JIT {
	case JITYes:
		return true
	case JITNo:
		return false
	}
	for i, w := range a.Command {
		if i > 0 && strings.HasPrefix(w, "-") {
			continue
		}
		base := filepath.Base(w)
		if jitRuntime(base) || strings.HasPrefix(base, "node") || strings.HasPrefix(base, "java") || strings.HasPrefix(base, "php") {
			return true
		}
		if base == "npm" || base == "npx" || base == "yarn" || base == "pnpm" {
			return true
		}
		if base != "env" {
			return false
		}
	}
	return false
}

// protectHome picks ProtectHome=: "yes" hides /home, /root and /run/user,
// so an app (or its working directory, or sdlaunch) living there gets
// "read-only" instead, as does every unit of the user manager (its notify
// socket is in /run/user).
func (a *App) protectHome() string {
	if a.UserManager {
		return "read-only"
	}
	paths := []string{a.Chdir, a.SdlaunchPath, a.EnvFile}
	paths = append(paths, a.Command...)
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			continue
		}
		p = filepath.Clean(p)
		if under(p, "/home") || under(p, "/root") || under(p, "/run/user") {
			return "read-only"
		}
	}
	return "yes"
}

// hardeningOptions returns the [Service] options of the selected profile.
func (a *App) hardeningOptions() [][2]string {
	h := a.hardening()
	if h == HardeningOff {
		return nil
	}
	mdwe := "yes"
	if a.needsJIT() {
		mdwe = "no"
	}
	opts := [][2]string{
		{"NoNewPrivileges", "yes"},
		{"CapabilityBoundingSet", ""},
		{"AmbientCapabilities", ""},
		{"ProtectSystem", "strict"},
		{"ProtectHome", a.protectHome()},
		{"PrivateTmp", "yes"},
		{"PrivateDevices", "yes"},
		{"DevicePolicy", "closed"},
		{"ProtectKernelTunables", "yes"},
		{"ProtectKernelModules", "yes"},
		{"ProtectKernelLogs", "yes"},
		{"ProtectControlGroups", "yes"},
		{"ProtectClock", "yes"},
		{"ProtectHostname", "yes"},
		{"PrivateMounts", "yes"},
		{"ProtectProc", "invisible"},
		{"ProcSubset", "pid"},
		{"RestrictNamespaces", "yes"},
		{"RestrictRealtime", "yes"},
		{"RestrictSUIDSGID", "yes"},
		{"LockPersonality", "yes"},
		{"MemoryDenyWriteExecute", mdwe},
		{"KeyringMode", "private"},
		{"RemoveIPC", "yes"},
		{"UMask", "0077"},
		{"SystemCallArchitectures", "native"},
		{"SystemCallFilter", "@system-service"},
		{"SystemCallFilter", "~@privileged @resources"},
		// gunicorn (and other pre-forking servers) call setuid()/setgid()
		// to their own ids when a worker boots; without capabilities and
		// with NoNewPrivileges= these cannot change identity anyway.
		{"SystemCallFilter", "@setuid"},
		// The launcher looks at its own workers' connections before it
		// stops them (a duplicate of the worker's socket, read with
		// TCP_INFO: prefork/observe); systemd 252 files pidfd_getfd under
		// @debug, which the rest of that set does not need. Like /proc/PID/mem,
		// it needs ptrace access to the target: same uid, and under Yama
		// ptrace_scope=1 an ancestor, which the launcher is.
		{"SystemCallFilter", "pidfd_getfd"},
		{"SystemCallErrorNumber", "EPERM"},
		{"RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"},
	}
	if a.Renice && !a.UserManager {
		// --reload-nice lowers a booting successor's group and raises it
		// back once ready (setpriority(PRIO_PGRP); LimitNICE=+0 allows the
		// raise down to nice 0 and no further). The rest of @resources
		// stays out. It costs 0.1 on systemd-analyze security: the user
		// manager's units, at 2.0 without it, go without (the launcher
		// says so).
		opts = append(opts, [2]string{"SystemCallFilter", "setpriority"})
	}
	if a.UserManager {
		// See the top of this file: /proc/kmsg cannot be masked from the
		// user manager's user namespace in a container.
		kept := opts[:0]
		for _, o := range opts {
			if o[0] != "ProtectKernelLogs" {
				kept = append(kept, o)
			}
		}
		opts = kept
	}
	// For the user manager this is what makes the rest work at all.
	opts = append(opts, [2]string{"PrivateUsers", "yes"})
	if h == HardeningStrict {
		opts = append(opts,
			[2]string{"PrivateNetwork", "yes"},
			[2]string{"IPAddressDeny", "any"},
		)
	}
	return opts
}

// checkProfileForManager refuses profiles the target manager cannot run
// (see the top of this file).
func (a *App) checkProfileForManager() error {
	if a.UserManager && a.hardening() == HardeningStrict && a.systemdVersion() < MinNotifyReloadVersion {
		return invalidf("--hardening=strict with --user needs systemd %d or later: systemd %d's user manager cannot run ExecReload= in the app's private network namespace, so every reload would fail; use --hardening=default, or the system manager",
			MinNotifyReloadVersion, a.systemdVersion())
	}
	return nil
}
