package prefork

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/sdlaunch/sdlaunch/activation"
)

// spawner starts workers. It runs on the supervisor loop's goroutine, which
// is locked to its OS thread for its whole life: Pdeathsig fires when the
// thread that forked dies, not the process.
type spawner struct {
	exe      string
	command  []string
	socks    []*activation.Socket
	baseEnv  []string
	devnull  int
	dir      string // private dir for worker notify sockets
	workDir  string // the workers' working directory ("" for the launcher's)
	watchdog time.Duration
	sink     *logSink
	seq      int
	// deliver and reject hand the worker's notify datagrams to the loop.
	deliver func(notifyMsg)
	reject  func(*workerID, string, int)
}

// realIO is a spawned worker's output forwarder and notify socket.
type realIO struct {
	fwd *forwarder
	ntf *workerNotify
}

func (r realIO) tail() string { return r.fwd.lastLines() }

func (r realIO) settle(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.fwd.done:
	case <-t.C:
	}
}

func (r realIO) close() { r.ntf.close() }

func (sp *spawner) spawn(slot, gen int) (*worker, error) {
	sp.seq++
	ntf, err := listenWorkerNotify(sp.dir, slot, sp.seq)
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		ntf.close()
		return nil, fmt.Errorf("output pipe: %w", err)
	}
	// Fd() puts the write end in blocking mode, which is what the worker's
	// stdout/stderr should be; it is a separate file description from r.
	wfd := w.Fd()
	env := make([]string, 0, len(sp.baseEnv)+10)
	env = append(env, sp.baseEnv...)
	env = append(env, activation.ChildEnv(sp.socks)...)
	env = append(env,
		"SDLAUNCH_WORKER="+strconv.Itoa(slot),
		"SDLAUNCH_GENERATION="+strconv.Itoa(gen),
		"NOTIFY_SOCKET="+ntf.path,
		// Werkzeug's dev server (Flask's app.run) serves on an inherited
		// fd instead of binding when these are set; nothing else reads them.
		"WERKZEUG_RUN_MAIN=true",
		"WERKZEUG_SERVER_FD="+strconv.Itoa(activation.ListenFDsStart),
	)
	if sp.watchdog > 0 {
		env = append(env, "WATCHDOG_USEC="+strconv.FormatInt(sp.watchdog.Microseconds(), 10))
	}
	files := append([]uintptr{uintptr(sp.devnull), wfd, wfd}, activation.ChildFDs(sp.socks)...)
	pid, err := syscall.ForkExec(sp.exe, activation.ShimArgv(sp.exe, sp.command), &syscall.ProcAttr{
		Dir:   sp.workDir,
		Env:   env,
		Files: files,
		Sys: &syscall.SysProcAttr{
			Setpgid:   true,
			Pdeathsig: syscall.SIGKILL,
		},
	})
	w.Close()
	if err != nil {
		r.Close()
		ntf.close()
		return nil, fmt.Errorf("start worker %d: %w", slot, err)
	}
	id := &workerID{slot: slot, gen: gen, pid: pid, prefix: fmt.Sprintf("[w%d] ", slot)}
	go ntf.serve(id, sp.deliver, func(why string, n int) { sp.reject(id, why, n) })
	return &worker{id: id, state: wStarting, io: realIO{fwd: startForwarder(id, r, sp.sink), ntf: ntf}}, nil
}
