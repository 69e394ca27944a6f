package units

import (
	"path/filepath"
	"strings"
)

// Sandboxing profiles, measured with `systemd-analyze security --offline=yes`
// on systemd 252 (see hardening_test.go for the thresholds):
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
// "read-only" instead.
func (a *App) protectHome() string {
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
		{"SystemCallErrorNumber", "EPERM"},
		{"RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"},
	}
	if a.UserManager {
		// An unprivileged user manager has no capabilities to drop and
		// decides PrivateUsers= itself (it implies it for the mount
		// sandboxing above); setting them would fail the start.
		kept := opts[:0]
		for _, o := range opts {
			if o[0] != "CapabilityBoundingSet" && o[0] != "AmbientCapabilities" {
				kept = append(kept, o)
			}
		}
		opts = kept
	} else {
		opts = append(opts, [2]string{"PrivateUsers", "yes"})
	}
	if h == HardeningStrict {
		opts = append(opts,
			[2]string{"PrivateNetwork", "yes"},
			[2]string{"IPAddressDeny", "any"},
		)
	}
	return opts
}
