package main

import (
	"errors"
	"fmt"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Standard output and error, by descriptor: (*os.File).Fd would switch a
// non-blocking descriptor to blocking for every process that shares it.
const (
	stdoutFD = 1
	stderrFD = 2
)

// console owns the app's standard output and error. Under sdlaunch both are
// the same pipe, so every write to either takes one lock: a /print burst
// stays contiguous and no log line lands inside one.
type console struct {
	mu sync.Mutex
}

// write writes all of b to fd, starting with one write(2) of the whole of
// it, and returns how many write(2) calls the kernel cut short.
//
// A blocking write(2) to a pipe, larger than PIPE_BUF, returns a short count
// when a signal arrives after some bytes went in, and every Go program gets
// signals: the runtime preempts goroutines with SIGURG. Ignoring the count
// drops the rest of the burst, and the next write's first line is glued to
// the cut one.
func (c *console) write(fd int, b []byte) (short int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if n > 0 {
			b = b[n:]
			if len(b) > 0 {
				short++
			}
		}
		switch {
		case len(b) == 0:
		case err == nil && n > 0, errors.Is(err, syscall.EINTR):
		case errors.Is(err, syscall.EAGAIN): // a non-blocking descriptor we inherited
			if err := waitWritable(fd); err != nil {
				return short, err
			}
		case err != nil:
			return short, fmt.Errorf("write fd %d: %w", fd, err)
		default:
			return short, fmt.Errorf("write fd %d: wrote nothing", fd)
		}
	}
	return short, nil
}

func waitWritable(fd int) error {
	for {
		_, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}, -1)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("poll fd %d: %w", fd, err)
		}
	}
}

// logf writes one line to stderr.
func (c *console) logf(format string, a ...any) {
	_, _ = c.write(stderrFD, []byte(fmt.Sprintf(format, a...)+"\n"))
}
