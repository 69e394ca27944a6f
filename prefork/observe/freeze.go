package observe

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNotStopped: a thread of the group did not stop within Freeze's
// timeout (runnable on a busy machine, or in an uninterruptible sleep); a
// later try may succeed.
var ErrNotStopped = errors.New("not stopped")

// Freeze stops process group pgid (SIGSTOP to the group) and waits until
// every thread of every process of the group, among the descendants of
// launcher, is stopped ('T' or 't' in /proc/PID/task/TID/stat) or gone:
// delivery of SIGSTOP is asynchronous, and a thread in an uninterruptible
// sleep stops only when it leaves it. It returns the group's pids, read
// after the signal was sent: once kill(2) has returned no member can fork a
// process that escapes the stop (fork restarts when a group signal is
// pending), so the list is complete. On timeout the group stays stopped and
// the error (ErrNotStopped) names a thread that is not; the caller decides
// (Thaw, or kill).
func (fs FS) Freeze(launcher, pgid int, timeout time.Duration) ([]int, error) {
	if err := unix.Kill(-pgid, unix.SIGSTOP); err != nil {
		return nil, fmt.Errorf("freeze group %d: SIGSTOP: %w", pgid, err)
	}
	end := time.Now().Add(timeout)
	pause := 100 * time.Microsecond
	pids, err := fs.Group(launcher, pgid)
	if err != nil {
		return nil, fmt.Errorf("freeze group %d: %w", pgid, err)
	}
	for {
		running, err := fs.notStopped(pids)
		if err != nil {
			return nil, fmt.Errorf("freeze group %d: %w", pgid, err)
		}
		if running == "" {
			return pids, nil
		}
		if time.Now().After(end) {
			return pids, fmt.Errorf("freeze group %d: %s %w after %v", pgid, running, ErrNotStopped, timeout)
		}
		time.Sleep(pause)
		pause = min(2*pause, 5*time.Millisecond)
	}
}

// notStopped names the first thread of pids that is neither stopped nor gone.
func (fs FS) notStopped(pids []int) (string, error) {
	p := fs.proc()
	for _, pid := range pids {
		tids, err := p.readDir(strconv.Itoa(pid) + "/task")
		if err != nil {
			if gone(err) {
				continue
			}
			return "", err
		}
		for _, tid := range tids {
			b, err := p.readFile(strconv.Itoa(pid) + "/task/" + tid + "/stat")
			if err != nil {
				if gone(err) {
					continue
				}
				return "", err
			}
			st, err := parseStat(b)
			if err != nil {
				return "", fmt.Errorf("%s: %w", p.path(strconv.Itoa(pid)+"/task/"+tid+"/stat"), err)
			}
			switch st.State {
			case 'T', 't', 'Z', 'X':
			default:
				return fmt.Sprintf("pid %d thread %s (state %c)", pid, tid, st.State), nil
			}
		}
	}
	return "", nil
}

// Thaw continues a frozen group (SIGCONT).
func Thaw(pgid int) error {
	if err := unix.Kill(-pgid, unix.SIGCONT); err != nil {
		return fmt.Errorf("thaw group %d: SIGCONT: %w", pgid, err)
	}
	return nil
}

// GroupAlive reports whether process group pgid has any member, zombies
// included (kill(-pgid, 0): ESRCH means empty; EPERM means it exists).
func GroupAlive(pgid int) bool {
	err := unix.Kill(-pgid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
