package units

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"
)

// UnitStatus is the state of one unit.
type UnitStatus struct {
	Unit        string
	LoadState   string
	ActiveState string
	SubState    string
	Since       time.Time // ActiveEnterTimestamp or InactiveEnterTimestamp
}

// ServiceStatus adds what only the service has.
type ServiceStatus struct {
	UnitStatus
	MainPID      int
	StatusText   string // the launcher's STATUS=
	ControlGroup string
	NRestarts    int
	Result       string
	// How the last main process ended: ExecMainCode (a CLD_* code: 1
	// exited, 2 killed, 3 dumped core) and ExecMainStatus (the exit status
	// or the signal).
	ExecMainCode   int
	ExecMainStatus int
}

// mainExit renders how the last main process ended as systemd passes it
// to ExecStopPost= ($EXIT_CODE, $EXIT_STATUS).
func (s *ServiceStatus) mainExit() (code, status string) {
	switch s.ExecMainCode {
	case 1:
		return "exited", strconv.Itoa(s.ExecMainStatus)
	case 2, 3:
		code = "killed"
		if s.ExecMainCode == 3 {
			code = "dumped"
		}
		return code, strings.TrimPrefix(unix.SignalName(syscall.Signal(s.ExecMainStatus)), "SIG")
	}
	return "", ""
}

// Process is one process of the service.
type Process struct {
	PID        int
	Worker     int // SDLAUNCH_WORKER slot, -1 when unknown (the launcher, helpers)
	Generation int // SDLAUNCH_GENERATION, -1 when unknown
	Role       string
	State      string // from the launcher, when it answered
	Command    string
}

// WorkerLister lists the processes of a running service. CgroupWorkers reads
// them from the cgroup; the launcher's control socket may offer a richer
// view (state, readiness) behind the same interface.
type WorkerLister interface {
	Workers(ctx context.Context, svc *ServiceStatus) ([]Process, error)
}

// Status is what `sdlaunch status` shows.
type Status struct {
	Name      string
	Service   ServiceStatus
	Sockets   []UnitStatus
	Processes []Process
	// WorkersErr says why the processes could not be listed.
	WorkersErr error
}

// Status gathers the app's unit states over D-Bus and its processes from
// lister (CgroupWorkers when nil).
func (m *Manager) Status(ctx context.Context, name string, lister WorkerLister) (*Status, error) {
	sockets, service, err := m.installedUnits(ctx, name)
	if err != nil {
		return nil, err
	}
	st := &Status{Name: name}
	u, err := m.unitStatus(ctx, service)
	if err != nil {
		return nil, err
	}
	st.Service.UnitStatus = u
	p, err := m.conn.GetUnitTypePropertiesContext(ctx, service, "Service")
	if err != nil {
		return nil, fmt.Errorf("service properties of %s: %w", service, err)
	}
	st.Service.MainPID = int(asUint(p["MainPID"]))
	st.Service.StatusText, _ = p["StatusText"].(string)
	st.Service.ControlGroup, _ = p["ControlGroup"].(string)
	st.Service.NRestarts = int(asUint(p["NRestarts"]))
	st.Service.Result, _ = p["Result"].(string)
	st.Service.ExecMainCode = int(asUint(p["ExecMainCode"]))
	st.Service.ExecMainStatus = int(asUint(p["ExecMainStatus"]))
	for _, s := range sockets {
		us, err := m.unitStatus(ctx, s)
		if err != nil {
			return nil, err
		}
		st.Sockets = append(st.Sockets, us)
	}
	if lister == nil {
		lister = CgroupWorkers{}
	}
	if st.Service.ControlGroup != "" {
		st.Processes, st.WorkersErr = lister.Workers(ctx, &st.Service)
	}
	return st, nil
}

func asUint(v any) uint64 {
	switch x := v.(type) {
	case uint32:
		return uint64(x)
	case uint64:
		return x
	case int32:
		return uint64(x)
	case int64:
		return uint64(x)
	}
	return 0
}

func (m *Manager) unitStatus(ctx context.Context, u string) (UnitStatus, error) {
	p, err := m.conn.GetUnitPropertiesContext(ctx, u)
	if err != nil {
		return UnitStatus{}, fmt.Errorf("properties of %s: %w", u, err)
	}
	s := func(k string) string { v, _ := p[k].(string); return v }
	us := UnitStatus{Unit: u, LoadState: s("LoadState"), ActiveState: s("ActiveState"), SubState: s("SubState")}
	ts := asUint(p["ActiveEnterTimestamp"])
	if us.ActiveState != "active" {
		ts = asUint(p["InactiveEnterTimestamp"])
	}
	if ts > 0 {
		us.Since = time.UnixMicro(int64(ts))
	}
	return us, nil
}

// CgroupWorkers lists the processes of the service's cgroup (including
// sub-cgroups) and reads SDLAUNCH_WORKER/SDLAUNCH_GENERATION from
// /proc/PID/environ where readable.
type CgroupWorkers struct {
	// Root is the mount point of the hierarchy systemd manages; "" tries
	// /sys/fs/cgroup (unified), /sys/fs/cgroup/unified (hybrid) and
	// /sys/fs/cgroup/systemd (legacy), in that order.
	Root string
	// Proc is the proc mount point; "" means /proc.
	Proc string
}

// Workers implements WorkerLister.
func (c CgroupWorkers) Workers(_ context.Context, svc *ServiceStatus) ([]Process, error) {
	roots := []string{c.Root}
	if c.Root == "" {
		roots = []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"}
	}
	proc := c.Proc
	if proc == "" {
		proc = "/proc"
	}
	var dir string
	for _, r := range roots {
		d := filepath.Join(r, filepath.Clean("/"+svc.ControlGroup))
		if _, err := os.Stat(filepath.Join(d, "cgroup.procs")); err == nil {
			dir = d
			break
		}
	}
	if dir == "" {
		return nil, fmt.Errorf("cgroup %s not found under %s", svc.ControlGroup, strings.Join(roots, ", "))
	}
	var pids []int
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if d.Name() != "cgroup.procs" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if pid, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list processes of %s: %w", svc.ControlGroup, err)
	}
	sort.Ints(pids)
	var out []Process
	for _, pid := range pids {
		pr := Process{PID: pid, Worker: -1, Generation: -1, Role: "other"}
		if pid == svc.MainPID {
			pr.Role = "launcher"
		}
		pdir := filepath.Join(proc, strconv.Itoa(pid))
		if b, err := os.ReadFile(filepath.Join(pdir, "cmdline")); err == nil {
			pr.Command = strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
		}
		if b, err := os.ReadFile(filepath.Join(pdir, "environ")); err == nil {
			for _, kv := range bytes.Split(b, []byte{0}) {
				k, v, _ := strings.Cut(string(kv), "=")
				n, err := strconv.Atoi(v)
				if err != nil {
					continue
				}
				switch k {
				case "SDLAUNCH_WORKER":
					pr.Worker = n
				case "SDLAUNCH_GENERATION":
					pr.Generation = n
				}
			}
		}
		if pr.Worker >= 0 && pr.Role == "other" {
			pr.Role = "worker"
		}
		out = append(out, pr)
	}
	return out, nil
}

// Format writes the status for people.
func (s *Status) Format(w io.Writer) error {
	bw := &errWriter{w: w}
	line := func(u UnitStatus) string {
		l := fmt.Sprintf("%s: %s (%s)", u.Unit, u.ActiveState, u.SubState)
		if u.LoadState != "loaded" {
			l += ", " + u.LoadState
		}
		if !u.Since.IsZero() {
			l += " since " + u.Since.Format(time.RFC3339)
		}
		return l
	}
	svc := s.Service
	fmt.Fprintln(bw, line(svc.UnitStatus))
	if svc.MainPID > 0 {
		fmt.Fprintf(bw, "  main pid: %d (sdlaunch)\n", svc.MainPID)
	}
	if svc.StatusText != "" {
		fmt.Fprintf(bw, "  status: %s\n", svc.StatusText)
	}
	if svc.Result != "" && svc.Result != "success" {
		code, status := svc.mainExit()
		switch code {
		case "exited":
			fmt.Fprintf(bw, "  result: %s (exit status %s)\n", svc.Result, status)
		case "killed", "dumped":
			fmt.Fprintf(bw, "  result: %s (%s by SIG%s)\n", svc.Result, code, status)
		default:
			fmt.Fprintf(bw, "  result: %s\n", svc.Result)
		}
		if why := s.stayDown(); why != "" {
			fmt.Fprintf(bw, "  down: %s\n", why)
		}
	}
	fmt.Fprintf(bw, "  restarts: %d\n", svc.NRestarts)
	for _, u := range s.Sockets {
		fmt.Fprintln(bw, line(u))
	}
	if s.WorkersErr != nil {
		fmt.Fprintf(bw, "workers: unknown (%v)\n", s.WorkersErr)
	} else if len(s.Processes) > 0 {
		fmt.Fprintln(bw, "processes:")
		tw := tabwriter.NewWriter(bw, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  PID\tROLE\tWORKER\tGEN\tSTATE\tCOMMAND")
		for _, p := range s.Processes {
			state := p.State
			if state == "" {
				state = "-"
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\n", p.PID, p.Role, dashIfNeg(p.Worker), dashIfNeg(p.Generation), state, p.Command)
		}
		_ = tw.Flush()
	}
	return bw.err
}

// stayDown explains a service that stays down after an exit restarting
// cannot help (see afterexit.go), or returns "".
func (s *Status) stayDown() string {
	svc := s.Service
	code, status := svc.mainExit()
	reason := StayDownReason(svc.Result, code, status)
	if svc.ActiveState != "failed" || reason == "" {
		return ""
	}
	var listening, stopped []string
	for _, u := range s.Sockets {
		if u.ActiveState == "active" {
			listening = append(listening, u.Unit)
		} else {
			stopped = append(stopped, u.Unit)
		}
	}
	if len(listening) > 0 {
		return fmt.Sprintf("%s (exit status %s), but %s still listening: the next connection starts it again", reason, status, strings.Join(listening, " "))
	}
	return fmt.Sprintf("%s (exit status %s); %s stopped, so clients are refused. `sdlaunch logs %s` says why; "+
		"once fixed, `sdlaunch restart %s` (or a new install, or `systemctl start %s`) starts it again",
		reason, status, strings.Join(stopped, " "), s.Name, s.Name, strings.Join(stopped, " "))
}

func dashIfNeg(n int) string {
	if n < 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
