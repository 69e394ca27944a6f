package units

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ValidationError is bad operator input: one line that names the bad value.
// Nothing has been written when it is returned.
type ValidationError struct{ msg string }

func (e *ValidationError) Error() string { return e.msg }

func invalidf(format string, a ...any) error {
	return &ValidationError{msg: fmt.Sprintf(format, a...)}
}

// IsValidation reports whether err is (or wraps) a ValidationError.
func IsValidation(err error) bool {
	var v *ValidationError
	return errors.As(err, &v)
}

// checkText refuses what no unit file line can carry as a bare value.
func checkText(s string) error {
	if err := checkLine(s); err != nil {
		return err
	}
	if strings.HasSuffix(s, `\`) {
		// a trailing backslash continues a unit file line
		return errors.New("ends with a backslash")
	}
	return nil
}

// checkLine refuses what cannot be carried even quoted: NULs, newlines
// (refused although a quoted "\n" could carry them) and invalid UTF-8.
func checkLine(s string) error {
	switch {
	case strings.IndexByte(s, 0) >= 0:
		return errors.New("contains a NUL byte")
	case strings.ContainsAny(s, "\n\r"):
		return errors.New("contains a newline")
	case !utf8.ValidString(s):
		return errors.New("is not valid UTF-8")
	}
	return nil
}

const unitNameMax = 255

// validUnitName checks a full unit name (prefix + suffix) against systemd's
// rules for non-template units.
func validUnitName(u string) error {
	if len(u) > unitNameMax {
		return fmt.Errorf("unit name %q longer than %d characters", u, unitNameMax)
	}
	return nil
}

var unitPrefixRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9:_.\\-]*$`)

// ValidateName checks NAME, the unit name prefix: systemd's unit name
// characters (letters, digits, ":", "-", "_", ".", "\"), no template "@",
// not starting with "-" or "." (which read as options or hidden files), and
// short enough for NAME-LABEL.socket.
func ValidateName(name string) error {
	if err := checkText(name); err != nil {
		return invalidf("app name %q %v", name, err)
	}
	if name == "" {
		return invalidf("app name is empty")
	}
	if !unitPrefixRe.MatchString(name) {
		return invalidf("app name %q: use letters, digits, ':', '-', '_', '.' and '\\', starting with a letter, digit or '_'", name)
	}
	if strings.HasSuffix(name, ".service") || strings.HasSuffix(name, ".socket") {
		return invalidf("app name %q: give the name without a unit suffix", name)
	}
	if len(name)+len(".service") > unitNameMax-64 {
		return invalidf("app name %q is too long (max %d characters)", name, unitNameMax-64-len(".service"))
	}
	return nil
}

// ResolveCommand makes the app's executable absolute: a name without '/' is
// looked up in PATH, a relative path is taken from dir. The result must be an
// executable regular file.
func ResolveCommand(cmd, dir string) (string, error) {
	if err := checkText(cmd); err != nil {
		return "", invalidf("command %q %v", cmd, err)
	}
	if cmd == "" {
		return "", invalidf("command is empty")
	}
	var p string
	if !strings.Contains(cmd, "/") {
		lp, err := exec.LookPath(cmd)
		if err != nil {
			return "", invalidf("command %q not found in PATH; give an absolute path", cmd)
		}
		p = lp
	} else {
		p = cmd
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	p = filepath.Clean(p)
	fi, err := os.Stat(p)
	if err != nil {
		return "", invalidf("command %q: %v", cmd, errors.Unwrap(err))
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return "", invalidf("command %q (%s) is not an executable file", cmd, p)
	}
	return p, nil
}

var (
	sizeRe  = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?[KMGTPE]?|[0-9]+(\.[0-9]+)?%|infinity)$`)
	quotaRe = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?%$`)
	tasksRe = regexp.MustCompile(`^([0-9]+%?|infinity)$`)
	userRe  = regexp.MustCompile(`^[a-z_][a-z0-9_-]*\$?$|^[0-9]+$`)
)

func validUser(s string) bool { return len(s) <= 32 && userRe.MatchString(s) }

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// Validate checks everything about the app before anything is written.
// Errors are *ValidationError naming the bad value.
func (a *App) Validate() error {
	if err := ValidateName(a.Name); err != nil {
		return err
	}
	if _, err := ParseListeners(a.Name, a.Listen); err != nil {
		return invalidf("%v", err)
	}
	if err := checkText(a.SdlaunchPath); err != nil || !filepath.IsAbs(a.SdlaunchPath) || strings.Contains(a.SdlaunchPath, "$") {
		return invalidf("sdlaunch path %q: must be an absolute path without '$', newlines or NULs", a.SdlaunchPath)
	}
	for _, arg := range a.RunArgs {
		if err := checkLine(arg); err != nil {
			return invalidf("launcher option %q %v", arg, err)
		}
	}
	if len(a.Command) == 0 {
		return invalidf("no command: give the app's command line after --")
	}
	if !filepath.IsAbs(a.Command[0]) {
		return invalidf("command %q is not absolute (resolve it with ResolveCommand)", a.Command[0])
	}
	for _, arg := range a.Command[1:] {
		if err := checkLine(arg); err != nil {
			return invalidf("command argument %q %v", arg, err)
		}
	}
	if a.TimeoutStop <= 0 || a.TimeoutStart <= 0 {
		return invalidf("TimeoutStopSec= %s and TimeoutStartSec= %s must be positive", a.TimeoutStop, a.TimeoutStart)
	}
	if a.Watchdog < 0 || a.Watchdog > 0 && a.Watchdog < time.Second {
		return invalidf("--watchdog-sec %s: use at least 1s (or 0 for off)", a.Watchdog)
	}
	if a.RestartDelay < 0 {
		return invalidf("--restart-sec %s is negative", a.RestartDelay)
	}
	if err := a.validateIdentity(); err != nil {
		return err
	}
	if err := a.validatePaths(); err != nil {
		return err
	}
	if err := a.validateEnv(); err != nil {
		return err
	}
	if err := a.validateResources(); err != nil {
		return err
	}
	switch a.hardening() {
	case HardeningDefault, HardeningStrict, HardeningOff:
	default:
		return invalidf("--hardening %q: want default, strict or off", a.Hardening)
	}
	switch a.JIT {
	case "", JITAuto, JITYes, JITNo:
	default:
		return invalidf("--jit %q: want auto, yes or no", a.JIT)
	}
	if a.SystemdVersion < 0 || a.SystemdVersion > 0 && a.SystemdVersion < 230 {
		return invalidf("--systemd-version %d: sdlaunch units need systemd 230 or later (Debian 12 has 252)", a.SystemdVersion)
	}
	if a.Backlog < 0 || a.Backlog > 1<<20 {
		return invalidf("--backlog %d out of range", a.Backlog)
	}
	return a.validateSocketOwner()
}

func (a *App) validateIdentity() error {
	if a.UserManager && (a.RunAs != "" || a.SocketUser != "" || a.SocketGroup != "") {
		return invalidf("--user: a user manager runs everything as its own user; drop --run-as/--socket-user/--socket-group")
	}
	if a.RunAs == "" {
		return nil
	}
	user, group, hasGroup := strings.Cut(a.RunAs, ":")
	if !validUser(user) || hasGroup && !validUser(group) {
		return invalidf("--run-as %q: want USER or USER:GROUP (names or numeric ids)", a.RunAs)
	}
	if user == "root" || user == "0" {
		return invalidf("--run-as %q: refusing to run the app as root; drop it (DynamicUser) or name an unprivileged user", a.RunAs)
	}
	return nil
}

func (a *App) validatePaths() error {
	check := func(flag, p string) error {
		if p == "" {
			return nil
		}
		if err := checkText(p); err != nil {
			return invalidf("%s %q %v", flag, p, err)
		}
		if !filepath.IsAbs(p) {
			return invalidf("%s %q is not an absolute path", flag, p)
		}
		if p != strings.TrimSpace(p) {
			return invalidf("%s %q: whitespace at either end would be stripped by systemd", flag, p)
		}
		if a.hardening() != HardeningOff {
			for _, d := range [...]string{"/tmp", "/var/tmp"} { // PrivateTmp= hides both
				if under(filepath.Clean(p), d) {
					return invalidf("%s %q is under %s, which the hardened unit replaces with a private, empty one; move the app or use --hardening=off", flag, p, d)
				}
			}
		}
		return nil
	}
	if err := check("--chdir", a.Chdir); err != nil {
		return err
	}
	if err := check("command", a.Command[0]); err != nil {
		return err
	}
	if err := check("sdlaunch path", a.SdlaunchPath); err != nil {
		return err
	}
	return check("--env-file", a.EnvFile)
}

func (a *App) validateEnv() error {
	for _, kv := range a.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return invalidf("--env %q: want KEY=VALUE", kv)
		}
		if err := checkLine(kv); err != nil {
			return invalidf("--env %q %v", kv, err)
		}
		if _, err := EnvAssignment(k, v); err != nil {
			return invalidf("--env %q: %v", kv, err)
		}
	}
	if err := checkText(a.Description); err != nil {
		return invalidf("--description %q %v", a.Description, err)
	}
	for _, deps := range [][]string{a.After, a.Wants, a.Requires} {
		for _, u := range deps {
			if err := validDepUnit(u); err != nil {
				return err
			}
		}
	}
	return nil
}

var depUnitRe = regexp.MustCompile(`^[A-Za-z0-9:_.\\@-]+\.(service|socket|target|mount|path|timer|device|swap|slice|scope|automount)$`)

func validDepUnit(u string) error {
	if len(u) > unitNameMax || !depUnitRe.MatchString(u) {
		return invalidf("unit %q: want a full unit name such as postgresql.service or network-online.target", u)
	}
	return nil
}

func (a *App) validateResources() error {
	if a.MemoryMax != "" && (!sizeRe.MatchString(a.MemoryMax) || !positiveLimit(a.MemoryMax)) {
		return invalidf("--memory-max %q: want a size above 0 (bytes with an optional K/M/G/T suffix), a percentage from 1%% to 100%%, or infinity", a.MemoryMax)
	}
	if a.CPUQuota != "" && (!quotaRe.MatchString(a.CPUQuota) || !positiveLimit(strings.TrimSuffix(a.CPUQuota, "%"))) {
		return invalidf("--cpu-quota %q: want a percentage above 0 such as 150%%", a.CPUQuota)
	}
	if a.TasksMax != "" && (!tasksRe.MatchString(a.TasksMax) || !positiveLimit(a.TasksMax)) {
		return invalidf("--tasks-max %q: want a number above 0, a percentage from 1%% to 100%%, or infinity", a.TasksMax)
	}
	return nil
}

// positiveLimit reports whether a size, count or percentage that matched
// its pattern is above zero (and a percentage at most 100%): a limit of 0
// would let nothing start, which systemd accepts without a word.
func positiveLimit(s string) bool {
	if s == "infinity" {
		return true
	}
	pct := strings.HasSuffix(s, "%")
	num := strings.TrimRight(s, "KMGTPE%")
	v, err := strconv.ParseFloat(num, 64)
	return err == nil && v > 0 && (!pct || v <= 100)
}

var socketModeRe = regexp.MustCompile(`^0?[0-7]{3}$`)

func (a *App) validateSocketOwner() error {
	if a.SocketMode != "" && !socketModeRe.MatchString(a.SocketMode) {
		return invalidf("--socket-mode %q: want an octal mode such as 0660", a.SocketMode)
	}
	if a.SocketUser != "" && !validUser(a.SocketUser) {
		return invalidf("--socket-user %q is not a valid user name", a.SocketUser)
	}
	if a.SocketGroup != "" && !validUser(a.SocketGroup) {
		return invalidf("--socket-group %q is not a valid group name", a.SocketGroup)
	}
	return nil
}
