// Package activation obtains listening sockets — inherited from systemd
// (LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES) or bound from --listen addresses —
// describes them, and hands them to a child as fds 3, 4, ... with the
// LISTEN_* environment, through a re-exec shim that sets LISTEN_PID to the
// child's own pid just before execve.
//
// Sockets are kept as raw file descriptors, never as *os.File: calling
// (*os.File).Fd() on a shared listener can flip the open file description to
// blocking mode for every process that shares it.
package activation
