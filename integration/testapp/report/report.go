// Package report defines the JSON answers of the test app's /env and /fds
// endpoints: the app encodes them, the launcher tests decode them.
package report

// Env is the answer of /env.
type Env struct {
	PID  int               `json:"pid"`
	PPID int               `json:"ppid"`
	PGID int               `json:"pgid"`
	Env  map[string]string `json:"env"` // the variables the tests check, as received
}

// FD describes one open file descriptor.
type FD struct {
	FD       int    `json:"fd"`
	Target   string `json:"target"`
	SockName string `json:"sockname,omitempty"`
	SockType string `json:"socktype,omitempty"`
	Listen   bool   `json:"listening,omitempty"`
	// CloExec is the FD_CLOEXEC flag. At startup, descriptors without it are
	// exactly those inherited across execve; the Go runtime's own (for example
	// the cgroup files it reads for GOMAXPROCS) have it set.
	CloExec bool `json:"cloexec"`
}

// FDs is the answer of /fds.
type FDs struct {
	PID int `json:"pid"`
	// Startup is the descriptor table taken first thing in main, before the
	// app opened anything; the entries with cloexec=false are the inherited
	// ones.
	Startup []FD `json:"startup"`
	// Now is the current table (it includes the runtime's epoll/eventfd, the
	// request's connection and the directory being listed).
	Now []FD `json:"now"`
}

// Inherited returns the descriptors the app received across execve.
func (r FDs) Inherited() []FD {
	var out []FD
	for _, f := range r.Startup {
		if !f.CloExec {
			out = append(out, f)
		}
	}
	return out
}
