// Package observe looks at a worker's process group from outside, through
// what the kernel shows in /proc, instead of trusting the app:
//
//   - Readiness: FS.Accepting says whether a thread of the group is blocked
//     waiting for connections on one of the launcher's listening sockets
//     (identified by socket inode, see Describe): in accept/accept4 on it, in
//     poll/ppoll or select/pselect6 with it in the set (read from the
//     process's memory), or in epoll_wait/epoll_pwait/epoll_pwait2 on an
//     epoll instance with it registered for input (fdinfo; nested instances
//     followed). A thread in io_uring_enter, or in restart_syscall, could be
//     waiting on anything: that, and any permission problem, is reported in
//     Wait.Unknown, never as "not accepting".
//   - Lossless stop: FS.Freeze stops the group (SIGSTOP) and waits until
//     every thread has stopped; FS.Connections lists the accepted
//     connections the group holds, read with pidfd_getfd (LiveSockets);
//     InProgress says whether one may carry a request in progress; Thaw.
//
// FS reads a /proc root: the live one, or a fixture recorded with
// FS.Snapshot (internal/record), so the decoding is tested on what real
// servers showed. Seen here (Linux 6.x, amd64): gunicorn's sync worker and
// Python's select.select in pselect6 (glibc's select), Werkzeug's and
// socketserver's serve_forever in poll, Python's socket.accept in accept4,
// uvicorn (asyncio) in epoll_wait, Node (libuv) and Go's net/http in
// epoll_pwait; a gunicorn arbiter in pselect6 on its pipe only.
//
// The package keeps no state and starts no goroutines; every function is a
// look at one instant. A thread handling a request is not waiting, so
// readiness is "seen accepting once", and Accepting == false means only
// "not at this instant". Go registers a listener with its netpoller when it
// is created, not when Accept is called, so for Go "registered and a thread
// waits in epoll" is the best the kernel can show.
//
// # Permissions
//
// /proc/PID/fd, fdinfo and the fd links need PTRACE_MODE_READ over the
// target; /proc/PID/task/TID/syscall and /proc/PID/mem need
// PTRACE_MODE_ATTACH_FSCREDS, and pidfd_getfd PTRACE_MODE_ATTACH_REALCREDS:
// the same uid as a dumpable target (a process that changed its uid without
// exec is not dumpable), or CAP_SYS_PTRACE. NoNewPrivileges does not matter
// (tested: observer and target both uid 65534 with no_new_privs, the
// observer the target's parent). With Yama's kernel.yama.ptrace_scope=1 the
// observer must also be an ancestor of the target: the launcher is, being
// every worker's parent and the subreaper of their orphans; ptrace_scope=2
// needs CAP_SYS_PTRACE and 3 forbids it. Under systemd 252,
// SystemCallFilter=@system-service allows pidfd_open (@process) but not
// pidfd_getfd, which is in @debug: allow it by name. ProtectProc= must
// leave the unit's own processes visible (default and invisible do).
//
// Socket inodes and fd numbers in Detail strings are the target's; pids are
// in the caller's pid namespace.
package observe
