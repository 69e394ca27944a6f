package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sdlaunch/sdlaunch/integration/load"
	"golang.org/x/sys/unix"
)

// logResult is the log-forwarding part: bursts of lines through the
// launcher to a terminal and to journald, and a worker that logs one line
// per request (Werkzeug) at the bench's request rates.
type logResult struct {
	terminal, journal, journalLimited *burst
	werkzeug                          *werkzeugRun
}

// burst is one worker writing lines as fast as its pipe takes them.
type burst struct {
	lines    int           // written
	received int           // forwarded and seen at the sink
	took     time.Duration // first line to last, at the sink
	cpu      time.Duration // launcher CPU (user+system) meanwhile
	note     string
	err      error
}

func (b *burst) rate() float64 {
	if b.took <= 0 {
		return 0
	}
	return float64(b.received) / b.took.Seconds()
}

func (b *burst) cpuPer100k() time.Duration {
	if b.received == 0 {
		return 0
	}
	return time.Duration(float64(b.cpu) * 100000 / float64(b.received))
}

// werkzeugRun is Flask's dev server under sdlaunch under systemd against
// the same server as a plain systemd unit, both logging to journald, in a
// closed loop.
type werkzeugRun struct {
	bare, sdl        []float64 // req/s of each round, in pairs
	requests         int       // served under sdlaunch
	journaled        int       // access-log lines journald kept meanwhile
	samples, blocked int       // worker threads sampled / found blocked writing stdout/stderr
	// CPU over the rounds of each side: journald's, the server's (the
	// plain unit's process, the sdlaunch worker), the launcher's; and the
	// requests served.
	plainCPU, sdlCPU cpuSplit
	plainReqs        int
	err              error
}

type cpuSplit struct{ journald, server, launcher time.Duration }

func (c cpuSplit) json(n int) map[string]float64 {
	j, s, l := c.perRequest(n)
	return map[string]float64{"journald": j, "server": s, "launcher": l}
}

// perRequest renders CPU per request in µs.
func (c cpuSplit) perRequest(n int) (journald, server, launcher float64) {
	if n == 0 {
		return 0, 0, 0
	}
	us := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
	return us(c.journald), us(c.server), us(c.launcher)
}

func (w *werkzeugRun) ratio() float64 { return pairedRatio(w.bare, w.sdl) }

// cpuText says where each side's CPU per request went.
func (w *werkzeugRun) cpuText() string {
	pj, ps, _ := w.plainCPU.perRequest(w.plainReqs)
	sj, ss, sl := w.sdlCPU.perRequest(w.requests)
	return fmt.Sprintf("CPU per request: the server %.0f µs plain, %.0f under sdlaunch; journald %.0f µs plain, %.0f under sdlaunch; the launcher %.0f µs", ps, ss, pj, sj, sl)
}

func burstLines(cfg *config) int {
	if cfg.quick {
		return 50000
	}
	return 200000
}

// openPTY returns a terminal's master and slave ends.
func openPTY() (*os.File, *os.File, error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("pty: %w", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("pty: unlock: %w", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("pty: %w", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("pty: %w", err)
	}
	return m, s, nil
}

// measureLogsTerminal: the launcher's stderr is a terminal that the bench
// reads as fast as it can.
func measureLogsTerminal(ctx context.Context, cfg *config, res *results) {
	b := &burst{lines: burstLines(cfg)}
	res.logs.terminal = b
	b.err = func() error {
		m, s, err := openPTY()
		if err != nil {
			return err
		}
		defer m.Close()
		port, err := freePort()
		if err != nil {
			s.Close()
			return err
		}
		var env []string
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, "JOURNAL_STREAM=") && !strings.HasPrefix(e, "NOTIFY_SOCKET=") {
				env = append(env, e)
			}
		}
		cmd := exec.Command(cfg.sdlaunch, "run", "-w", "1", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--ready-after", "100ms",
			"--", cfg.goapp, "-lines", strconv.Itoa(b.lines))
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = s, s
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
		if err := cmd.Start(); err != nil {
			s.Close()
			return fmt.Errorf("start sdlaunch: %w", err)
		}
		s.Close()
		p := &proc{name: "sdlaunch (terminal)", cmd: cmd, done: make(chan struct{})}
		go func() { p.err = cmd.Wait(); close(p.done) }()
		defer func() {
			if err := p.stop(syscall.SIGTERM, 40*time.Second); err != nil {
				cfg.logf("%v", err)
			}
		}()
		type seen struct {
			first, done time.Time
			cpu0        time.Duration
			cpuErr      error
			n           int
		}
		result := make(chan seen, 1)
		go func() {
			var st seen
			r := bufio.NewReaderSize(m, 1<<16)
			for {
				line, err := r.ReadSlice('\n')
				if bytes.HasPrefix(line, []byte("[w0] line ")) {
					if st.n == 0 {
						st.first = time.Now()
						st.cpu0, st.cpuErr = guardedCPU(cmd.Process.Pid)
					}
					st.n++
				}
				if bytes.Contains(line, []byte("goapp: lines done")) {
					st.done = time.Now()
					result <- st
					// Keep draining so that the launcher never blocks.
					for {
						if _, err := r.ReadSlice('\n'); err != nil && err != bufio.ErrBufferFull {
							return
						}
					}
				}
				if err != nil && err != bufio.ErrBufferFull {
					result <- st
					return
				}
			}
		}()
		select {
		case st := <-result:
			if st.done.IsZero() {
				return fmt.Errorf("the terminal closed after %d lines", st.n)
			}
			if st.cpuErr != nil {
				return st.cpuErr
			}
			cpu1, err := guardedCPU(cmd.Process.Pid)
			if err != nil {
				return err
			}
			b.received, b.took, b.cpu = st.n, st.done.Sub(st.first), cpu1-st.cpu0
		case <-time.After(120 * time.Second):
			return fmt.Errorf("no 'lines done' on the terminal within 120s")
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}()
	if b.err != nil {
		res.fail("logs to a terminal", b.err)
		return
	}
	cfg.progress("logs to a terminal: %s lines in %s, %.0f lines/s, launcher CPU %s per 100k lines", thousands(b.received), dur(b.took), b.rate(), dur(b.cpuPer100k()))
}

// measureLogsJournal runs the bursts and the Werkzeug app under systemd.
func measureLogsJournal(ctx context.Context, cfg *config, res *results, c *container) {
	for _, limited := range []bool{false, true} {
		b := journalBurst(ctx, cfg, c, limited)
		what := "logs to journald (rate limit lifted)"
		if limited {
			what = "logs to journald (journald's default rate limit)"
			res.logs.journalLimited = b
		} else {
			res.logs.journal = b
		}
		if b.err != nil {
			res.fail(what, b.err)
			continue
		}
		cfg.progress("%s: %s of %s lines arrived, %.0f lines/s, launcher CPU %s per 100k lines%s", what, thousands(b.received), thousands(b.lines), b.rate(), dur(b.cpuPer100k()), b.note)
	}
	w := werkzeugUnderLoad(ctx, cfg, c)
	res.logs.werkzeug = w
	if w.err != nil {
		res.fail("logs: Werkzeug under load", w.err)
		return
	}
	cfg.progress("logs: Werkzeug (one line per request) %.0f req/s bare, %.0f under sdlaunch+systemd (%.3f); journald kept %s of %s access lines; worker blocked writing its log in %d of %d samples; %s",
		medianF(w.bare), medianF(w.sdl), w.ratio(), thousands(w.journaled), thousands(w.requests), w.blocked, w.samples, w.cpuText())
}

const logsUnit = "logs-bench"

// journalBurst runs the burst worker as a unit of its own and counts what
// journald stored, with journald's default rate limit or none.
func journalBurst(ctx context.Context, cfg *config, c *container, limited bool) *burst {
	b := &burst{lines: burstLines(cfg)}
	b.err = func() error {
		port, err := freePort()
		if err != nil {
			return err
		}
		unit := fmt.Sprintf("%s-%d", logsUnit, port)
		// LogRateLimitIntervalSec=0 in a unit means "journald's default",
		// not "no limit": a short interval with a big burst lifts it.
		limit := "LogRateLimitIntervalSec=1s\nLogRateLimitBurst=1000000\n"
		if limited {
			limit = ""
		}
		dir := filepath.Join(cfg.dir, "systemd")
		// The worker writes its lines a second after it started, then
		// sends READY=1.
		if _, err := writeFile(dir, unit+".service", fmt.Sprintf(`[Service]
Type=notify
ExecStart=%s run -w 1 --listen 127.0.0.1:%d --ready notify -- %s -lines-after 1s -lines %d
%s`, cfg.sdlaunch, port, cfg.goapp, b.lines, limit)); err != nil {
			return err
		}
		if _, err := c.exec(ctx, "sh", "-c", fmt.Sprintf("cp %s/%s.service /etc/systemd/system/ && systemctl daemon-reload && systemctl start --no-block %s.service", dir, unit, unit)); err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			_, _ = c.exec(sctx, "systemctl", "stop", unit+".service")
		}()
		var pid int
		for wait := time.Now().Add(60 * time.Second); pid == 0; {
			pid, err = mainPID(ctx, c, unit)
			if err != nil && (time.Now().After(wait) || sleepUntil(ctx, time.Now().Add(20*time.Millisecond)) != nil) {
				return fmt.Errorf("%s did not start: %w", unit, err)
			}
		}
		cpu0, err := cpuTime(pid)
		if err != nil {
			return err
		}
		// Wait for the last line, which the launcher forwards after all
		// the others; where journald drops lines it may drop that one:
		// then wait for READY=1 (the worker wrote everything) and a second.
		deadline := time.Now().Add(180 * time.Second)
		var readyAt time.Time
		for {
			out, _ := c.exec(ctx, "sh", "-c", fmt.Sprintf("journalctl --no-pager -u %[1]s.service -o cat -g 'lines done'; systemctl is-active %[1]s.service", unit))
			if strings.Contains(out, "goapp: lines done") {
				break
			}
			if readyAt.IsZero() && slices.Contains(strings.Fields(out), "active") {
				readyAt = time.Now()
			}
			if !readyAt.IsZero() && time.Since(readyAt) > time.Second {
				b.note = " (journald dropped the last line)"
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: no 'lines done' in the journal within 180s", unit)
			}
			if err := sleepUntil(ctx, time.Now().Add(100*time.Millisecond)); err != nil {
				return err
			}
		}
		cpu1, err := cpuTime(pid)
		if err != nil {
			return err
		}
		b.cpu = cpu1 - cpu0
		out, err := c.exec(ctx, "sh", "-c", fmt.Sprintf(`journalctl --no-pager -u %s.service -o short-unix | grep ' line [0-9]' > /tmp/lines; grep -c . /tmp/lines; sed -n '1p;$p' /tmp/lines | cut -d' ' -f1`, unit))
		if err != nil {
			return err
		}
		var first, last float64
		if _, err := fmt.Sscan(out, &b.received, &first, &last); err != nil {
			return fmt.Errorf("journal count %q: %w", out, err)
		}
		b.took = time.Duration((last - first) * float64(time.Second))
		if sup, _ := c.exec(ctx, "sh", "-c", fmt.Sprintf("journalctl --no-pager -u systemd-journald -o cat | grep 'Suppressed.*%s' | tail -1", unit)); strings.TrimSpace(sup) != "" {
			b.note += "; journald: " + strings.TrimSpace(sup)
		}
		return nil
	}()
	return b
}

// werkzeugUnderLoad compares Flask's dev server as a plain systemd unit and
// under sdlaunch in systemd (both log to journald), in alternating
// closed-loop rounds, while sampling the sdlaunch worker's threads for a
// blocked write(2) to stdout or stderr (its pipe to the launcher full).
func werkzeugUnderLoad(ctx context.Context, cfg *config, c *container) *werkzeugRun {
	w := &werkzeugRun{}
	rounds, each := 8, 1500*time.Millisecond
	if cfg.quick {
		rounds, each = 4, 500*time.Millisecond
	}
	argv := []string{"/usr/bin/python3", "app.py"}
	w.err = func() error {
		// The same dev server as a plain socket-activated unit: its stderr
		// goes to journald directly (systemd's stdout stream), not through
		// a launcher. Both setups log to the same journald.
		bport, err := freePort()
		if err != nil {
			return err
		}
		uport, err := freePort()
		if err != nil {
			return err
		}
		bunit := fmt.Sprintf("werkzeug-plain-%d", bport)
		unit := fmt.Sprintf("werkzeug-bench-%d", uport)
		dir := filepath.Join(cfg.dir, "systemd")
		files := map[string]string{
			bunit + ".socket": fmt.Sprintf("[Socket]\nListenStream=127.0.0.1:%d\n", bport),
			bunit + ".service": fmt.Sprintf(`[Service]
WorkingDirectory=%s
Environment=WERKZEUG_RUN_MAIN=true WERKZEUG_SERVER_FD=3
ExecStart=%s
KillSignal=SIGINT
`, cfg.appDir, strings.Join(argv, " ")),
			unit + ".service": fmt.Sprintf(`[Service]
Type=notify
WorkingDirectory=%s
ExecStart=%s run -w 1 --listen 127.0.0.1:%d --stop-signal INT --ready-after 500ms -- %s
`, cfg.appDir, cfg.sdlaunch, uport, strings.Join(argv, " ")),
		}
		for name, text := range files {
			if _, err := writeFile(dir, name, text); err != nil {
				return err
			}
		}
		if _, err := c.exec(ctx, "sh", "-c", fmt.Sprintf("cp %[1]s/%[2]s.socket %[1]s/%[2]s.service %[1]s/%[3]s.service /etc/systemd/system/ && systemctl daemon-reload && systemctl start %[2]s.socket %[2]s.service %[3]s.service", dir, bunit, unit)); err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			_, _ = c.exec(sctx, "systemctl", "stop", unit+".service", bunit+".service", bunit+".socket")
		}()
		bareURL := fmt.Sprintf("http://127.0.0.1:%d/", bport)
		url := fmt.Sprintf("http://127.0.0.1:%d/", uport)
		for _, u := range []string{bareURL, url} {
			if err := waitServing(ctx, u, 60*time.Second); err != nil {
				return err
			}
		}
		launcher, err := mainPID(ctx, c, unit)
		if err != nil {
			return err
		}
		plain, err := mainPID(ctx, c, bunit)
		if err != nil {
			return err
		}
		journald, err := mainPID(ctx, c, "systemd-journald")
		if err != nil {
			return err
		}
		workers := children(launcher)
		// cpuOf adds the CPU that journald, the server's processes and
		// the launcher (0: none) spend while f runs.
		cpuOf := func(into *cpuSplit, server []int, launcher int, f func()) {
			sum := func(pids []int) time.Duration {
				var t time.Duration
				for _, p := range pids {
					c, _ := cpuTime(p)
					t += c
				}
				return t
			}
			j0, s0, l0 := sum([]int{journald}), sum(server), sum([]int{launcher})
			f()
			into.journald += sum([]int{journald}) - j0
			into.server += sum(server) - s0
			if launcher > 0 {
				into.launcher += sum([]int{launcher}) - l0
			}
		}
		since := time.Now()
		var bare, sdl []float64
		plainRound := func() error {
			var r load.Result
			cpuOf(&w.plainCPU, []int{plain}, 0, func() {
				r, _, _ = sampleLogWrites(ctx, []int{plain}, func() load.Result {
					return load.Run(ctx, load.Options{URL: bareURL, Clients: cfg.clients, Duration: each, Timeout: cfg.timeout})
				})
			})
			if r.Err != nil || r.Failed > 0 {
				return fmt.Errorf("bare: %v", r)
			}
			bare = append(bare, float64(r.OK)/r.Elapsed.Seconds())
			w.plainReqs += r.OK
			return nil
		}
		sdlRound := func() error {
			var r load.Result
			var n, blocked int
			cpuOf(&w.sdlCPU, workers, launcher, func() {
				r, n, blocked = sampleLogWrites(ctx, workers, func() load.Result {
					return load.Run(ctx, load.Options{URL: url, Clients: cfg.clients, Duration: each, Timeout: cfg.timeout})
				})
			})
			w.samples += n
			w.blocked += blocked
			if r.Err != nil || r.Failed > 0 {
				return fmt.Errorf("under sdlaunch: %v", r)
			}
			sdl = append(sdl, float64(r.OK)/r.Elapsed.Seconds())
			w.requests += r.OK
			return nil
		}
		for i := range rounds {
			// Both rounds carry the same sampler (its reads of /proc
			// take CPU from the server), each aimed at its own server,
			// and their order alternates (see measureRequestPath).
			order := []func() error{plainRound, sdlRound}
			if i%2 == 1 {
				slices.Reverse(order)
			}
			for _, f := range order {
				if err := f(); err != nil {
					return err
				}
			}
		}
		w.bare, w.sdl = bare, sdl
		time.Sleep(time.Second) // the last lines reach journald
		out, err := c.exec(ctx, "sh", "-c", fmt.Sprintf(`journalctl --no-pager -u %s.service --since @%.6f -o cat | grep -c '"GET / HTTP/1.1" 200'`, unit, float64(since.UnixMicro())/1e6))
		if err != nil && strings.TrimSpace(out) != "0" {
			return err
		}
		w.journaled, _ = strconv.Atoi(strings.TrimSpace(out))
		return nil
	}()
	return w
}

// sampleLogWrites runs the load f while it looks, every 2 ms, at each
// thread of pids for a write(2) to stdout or stderr that blocks: how many
// thread samples it took, and in how many one was blocked.
func sampleLogWrites(ctx context.Context, pids []int, f func() load.Result) (r load.Result, samples, blocked int) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-time.After(2 * time.Millisecond):
			}
			for _, pid := range pids {
				for _, t := range threads(pid) {
					samples++
					if blockedWritingLog(pid, t) {
						blocked++
					}
				}
			}
		}
	}()
	r = f()
	close(stop)
	<-done
	return r, samples, blocked
}

func threads(pid int) []int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var out []int
	for _, e := range ents {
		if t, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, t)
		}
	}
	return out
}

// blockedWritingLog says whether thread tid of pid sleeps in write(2) to
// fd 1 or 2: its pipe to the launcher is full.
func blockedWritingLog(pid, tid int) bool {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(st, ')')
	if i < 0 || i+2 >= len(st) || (st[i+2] != 'S' && st[i+2] != 'D') {
		return false
	}
	sc, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/syscall", pid, tid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(sc))
	return len(f) >= 2 && f[0] == strconv.Itoa(unix.SYS_WRITE) && (f[1] == "0x1" || f[1] == "0x2")
}
