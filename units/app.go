package units

import "time"

// Hardening names a profile of sandboxing options (see hardening.go).
type Hardening string

// Hardening profiles.
const (
	HardeningDefault Hardening = "default"
	HardeningStrict  Hardening = "strict"
	HardeningOff     Hardening = "off"
)

// JIT says whether the app generates machine code at run time, which decides
// MemoryDenyWriteExecute= (see hardening.go).
type JIT string

// JIT modes.
const (
	JITAuto JIT = "auto" // decide from the command's name (node, java, ...)
	JITYes  JIT = "yes"  // the app needs W+X memory: MemoryDenyWriteExecute=no
	JITNo   JIT = "no"   // MemoryDenyWriteExecute=yes
)

// MinNotifyReloadVersion is the first systemd with Type=notify-reload.
const MinNotifyReloadVersion = 253

// FallbackSystemdVersion is assumed when the version cannot be detected
// (Debian 12 ships 252).
const FallbackSystemdVersion = 252

// App describes one app to install as systemd units. Zero values mean
// "the default" unless said otherwise.
type App struct {
	Name string // unit name prefix: NAME.service, NAME.socket

	Listen []string // --listen values as the operator wrote them

	// SdlaunchPath is the absolute path of the sdlaunch binary for ExecStart=.
	SdlaunchPath string
	// RunArgs are the `sdlaunch run` options the operator set, already
	// rendered and validated by the launcher's own parser (e.g.
	// "--workers=4"). The package knows nothing of the launcher's options.
	RunArgs []string
	// Command is the app's command line; Command[0] must be absolute (see
	// ResolveCommand).
	Command []string

	// Renice: the launcher lowers booting workers' CPU priority and raises
	// it back (run --reload-nice), which needs LimitNICE= and setpriority.
	Renice bool

	UserManager bool   // --user: units for the user's service manager
	RunAs       string // USER[:GROUP]; empty: DynamicUser=yes
	Chdir       string // WorkingDirectory=, absolute
	Env         []string
	EnvFile     string
	Description string
	After       []string
	Wants       []string
	Requires    []string

	MemoryMax string
	CPUQuota  string
	TasksMax  string
	Watchdog  time.Duration

	Hardening Hardening
	JIT       JIT

	SocketMode  string // unix sockets; default 0660
	SocketUser  string
	SocketGroup string
	Backlog     int // default DefaultBacklog

	// TimeoutStopSec= and TimeoutStartSec=, required: the caller derives
	// them from the launcher's graceful and start timeouts, which they must
	// exceed.
	TimeoutStop  time.Duration
	TimeoutStart time.Duration
	RestartDelay time.Duration

	// SystemdVersion selects features (Type=notify-reload from 253 on).
	SystemdVersion int
}

// Defaults used when the App leaves a value zero.
const (
	DefaultBacklog      = 4096
	DefaultSocketMode   = "0660"
	DefaultRestartDelay = 2 * time.Second
	startLimitInterval  = 60 * time.Second
	// A deploy script may restart an app many times a minute; the default
	// burst of 5 in 10s would lock it out. 30 starts a minute still stops a
	// crash loop (RestartSec=2s) from running forever.
	startLimitBurst = 30
)

func (a *App) systemdVersion() int {
	if a.SystemdVersion > 0 {
		return a.SystemdVersion
	}
	return FallbackSystemdVersion
}

func (a *App) hardening() Hardening {
	if a.Hardening == "" {
		return HardeningDefault
	}
	return a.Hardening
}

// ServiceName is NAME.service.
func (a *App) ServiceName() string { return a.Name + ".service" }
