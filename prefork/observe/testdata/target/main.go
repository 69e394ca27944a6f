// Command target is the test program of package observe: it waits for
// connections on fd 3 in the way its first argument names, printing
// "waiting" just before it blocks, so that tests can look at it from outside.
// It is built by the tests (go build ./testdata/target).
package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

const lfd = 3

func init() { runtime.LockOSThread() } // main goroutine on the main thread (tid == pid)

func say(s string) { fmt.Fprintln(os.Stdout, s) }

func die(err error) {
	fmt.Fprintln(os.Stderr, "target:", err)
	os.Exit(1)
}

func must(err error) {
	if err != nil {
		die(err)
	}
}

func main() {
	if len(os.Args) < 2 {
		die(fmt.Errorf("usage: target MODE"))
	}
	mode := os.Args[1]
	switch mode {
	case "accept": // accept(2) itself, not accept4
		say("waiting")
		for {
			nfd, _, errno := unix.Syscall(unix.SYS_ACCEPT, lfd, 0, 0)
			if errno != 0 {
				die(errno)
			}
			unix.Close(int(nfd))
		}
	case "accept4":
		say("waiting")
		for {
			nfd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
			must(err)
			unix.Close(nfd)
		}
	case "poll", "ppoll", "poll-other":
		var p [2]int
		must(unix.Pipe2(p[:], unix.O_CLOEXEC))
		fds := []unix.PollFd{{Fd: int32(p[0]), Events: unix.POLLIN}, {Fd: lfd, Events: unix.POLLIN}}
		if mode == "poll-other" {
			fds[1].Events = unix.POLLOUT
		}
		say("waiting")
		for {
			var err error
			if mode == "ppoll" {
				_, err = unix.Ppoll(fds, nil, nil)
			} else {
				err = rawPoll(fds)
			}
			if err != nil && err != unix.EINTR {
				die(err)
			}
			acceptOne()
		}
	case "select", "pselect":
		say("waiting")
		for {
			var r unix.FdSet
			r.Zero()
			r.Set(lfd)
			var err error
			if mode == "pselect" {
				_, err = unix.Pselect(lfd+1, &r, nil, nil, nil, nil)
			} else {
				err = rawSelect(lfd+1, &r)
			}
			if err != nil && err != unix.EINTR {
				die(err)
			}
			acceptOne()
		}
	case "epoll", "epoll_pwait", "epoll_pwait2", "epoll-nested", "epoll-oneshot", "epoll-out":
		ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		must(err)
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: lfd}
		switch mode {
		case "epoll-oneshot":
			ev.Events |= unix.EPOLLONESHOT
		case "epoll-out":
			ev.Events = unix.EPOLLOUT
		}
		must(unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, lfd, &ev))
		wait := ep
		if mode == "epoll-nested" {
			outer, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
			must(err)
			must(unix.EpollCtl(outer, unix.EPOLL_CTL_ADD, ep, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(ep)}))
			wait = outer
		}
		say("waiting")
		for {
			evs := make([]unix.EpollEvent, 4)
			var errno unix.Errno
			switch mode {
			case "epoll_pwait":
				_, _, errno = unix.Syscall6(unix.SYS_EPOLL_PWAIT, uintptr(wait), uintptr(unsafe.Pointer(&evs[0])), 4, ^uintptr(0), 0, 8)
			case "epoll_pwait2":
				_, _, errno = unix.Syscall6(unix.SYS_EPOLL_PWAIT2, uintptr(wait), uintptr(unsafe.Pointer(&evs[0])), 4, 0, 0, 8)
			default:
				err = rawEpollWait(wait, evs)
				if e, ok := err.(unix.Errno); ok {
					errno = e
				}
			}
			if errno != 0 && errno != unix.EINTR {
				die(errno)
			}
			if mode == "epoll-nested" {
				_, err := unix.EpollWait(ep, evs, 0)
				must(err)
			}
			acceptOne()
			if mode == "epoll-oneshot" {
				say("fired") // not re-armed: the next wait does not include fd 3
			}
		}
	case "hold": // holds the listener, never waits on it
		say("waiting")
		for {
			rawPause()
		}
	case "iouring", "iouring-accept":
		if mode == "iouring-accept" {
			ready := make(chan struct{})
			go func() {
				runtime.LockOSThread()
				ioUringWait(ready)
			}()
			<-ready
			say("waiting")
			for {
				nfd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
				must(err)
				unix.Close(nfd)
			}
		}
		ioUringWait(nil)
	case "http": // a Go net/http server; "http N" adds N threads blocked in read(2)
		if len(os.Args) > 2 {
			n, err := strconv.Atoi(os.Args[2])
			must(err)
			blockThreads(n)
		}
		l, err := net.FileListener(os.NewFile(lfd, "listener"))
		must(err)
		say("waiting")
		die(http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })))
	case "conn":
		connServer()
	default:
		die(fmt.Errorf("unknown mode %q", mode))
	}
}

func acceptOne() {
	nfd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK)
	if err == nil {
		unix.Close(nfd)
	}
}

// ioUringWait blocks in io_uring_enter(min_complete=1) on a ring with
// nothing submitted: a wait that never completes.
func ioUringWait(ready chan struct{}) {
	var params [120]byte // struct io_uring_params
	ring, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, 4, uintptr(unsafe.Pointer(&params[0])), 0)
	if errno != 0 {
		die(fmt.Errorf("io_uring_setup: %w", errno))
	}
	if ready != nil {
		close(ready)
	} else {
		say("waiting")
	}
	for {
		const getEvents = 1
		_, _, errno = unix.Syscall6(unix.SYS_IO_URING_ENTER, ring, 0, 1, getEvents, 0, 0)
		if errno != 0 && errno != unix.EINTR {
			die(fmt.Errorf("io_uring_enter: %w", errno))
		}
	}
}

// blockThreads starts n OS threads each blocked in read(2) on a pipe.
func blockThreads(n int) {
	var p [2]int
	must(unix.Pipe2(p[:], unix.O_CLOEXEC))
	started := make(chan struct{})
	for range n {
		go func() {
			runtime.LockOSThread()
			started <- struct{}{}
			var b [1]byte
			unix.Syscall(unix.SYS_READ, uintptr(p[0]), uintptr(unsafe.Pointer(&b[0])), 1)
		}()
	}
	for range n {
		<-started
	}
}

// connServer holds accepted connections and acts on commands from stdin,
// one per line, answering each on stdout so that tests sequence exactly:
//
//	accept          accept one connection  -> "accepted ID"
//	read ID N       read exactly N bytes    -> "read ID"
//	echo ID N       read N bytes, write them back at once -> "echoed ID"
//	write ID TEXT   write TEXT              -> "wrote ID"
//	writen ID N     write up to N bytes, not blocking -> "wrote ID K"
//	dial ADDR       connect out             -> "dialed ID"
//	threads N       N more threads blocked in read(2) -> "threads N"
//	await ID        a thread blocked in read(2) on it, for good -> "awaiting ID"
//	close ID        close it                -> "closed ID"
func connServer() {
	var conns []int
	var keep []any
	in := bufio.NewScanner(os.Stdin)
	say("waiting")
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		id := func() int {
			n, err := strconv.Atoi(f[1])
			must(err)
			return conns[n]
		}
		switch f[0] {
		case "accept":
			nfd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
			must(err)
			conns = append(conns, nfd)
			say("accepted " + strconv.Itoa(len(conns)-1))
		case "read":
			n, err := strconv.Atoi(f[2])
			must(err)
			buf := make([]byte, n)
			for got := 0; got < n; {
				m, err := unix.Read(id(), buf[got:])
				must(err)
				if m == 0 {
					die(fmt.Errorf("EOF"))
				}
				got += m
			}
			say("read " + f[1])
		case "echo": // read N bytes and write them back at once
			n, err := strconv.Atoi(f[2])
			must(err)
			buf := make([]byte, n)
			for got := 0; got < n; {
				m, err := unix.Read(id(), buf[got:])
				must(err)
				if m == 0 {
					die(fmt.Errorf("EOF"))
				}
				got += m
			}
			_, err = unix.Write(id(), buf)
			must(err)
			say("echoed " + f[1])
		case "write":
			_, err := unix.Write(id(), []byte(strings.Join(f[2:], " ")))
			must(err)
			say("wrote " + f[1])
		case "writen": // write up to N bytes without blocking
			n, err := strconv.Atoi(f[2])
			must(err)
			b := make([]byte, n)
			off := 0
			for off < n {
				m, err := unix.SendmsgN(id(), b[off:], nil, nil, unix.MSG_DONTWAIT)
				if err == unix.EAGAIN {
					break
				}
				must(err)
				off += m
			}
			say("wrote " + f[1] + " " + strconv.Itoa(off))
		case "dial": // an outgoing connection, which is not an accepted one
			c, err := net.Dial("tcp", f[1])
			must(err)
			fc, err := c.(*net.TCPConn).File()
			must(err)
			conns = append(conns, int(fc.Fd()))
			keep = append(keep, c, fc) // their finalizers would close the fds
			say("dialed " + strconv.Itoa(len(conns)-1))
			_ = keep
		case "threads": // start N more threads blocked in read(2)
			n, err := strconv.Atoi(f[1])
			must(err)
			blockThreads(n)
			say("threads " + f[1])
		case "await": // a thread waiting for the connection's next request
			fd := id()
			go func() {
				runtime.LockOSThread() // the read blocks this thread, not the command loop's
				buf := make([]byte, 1)
				_, _ = unix.Read(fd, buf)
				select {}
			}()
			say("awaiting " + f[1])
		case "close":
			must(unix.Close(id()))
			say("closed " + f[1])
		default:
			die(fmt.Errorf("unknown command %q", f[0]))
		}
	}
}
