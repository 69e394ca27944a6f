#!/usr/bin/python3
"""A socket-activated HTTP server using only the Python standard library.

It serves one request at a time on the socket passed as fd 3 (LISTEN_FDS),
tells the service manager READY=1 by a raw datagram on $NOTIFY_SOCKET, pings
WATCHDOG=1 from its serving loop when $WATCHDOG_USEC is set, and finishes the
request in progress before exiting on SIGTERM or SIGINT.

    sdlaunch run -w 4 --listen 127.0.0.1:8000 -- /usr/bin/python3 server.py
"""
import http.server
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse

SD_LISTEN_FDS_START = 3


def sd_notify(state):
    """Send one datagram to $NOTIFY_SOCKET (a no-op without it)."""
    addr = os.environ.get('NOTIFY_SOCKET')
    if not addr:
        return False
    if addr[0] == '@':
        addr = '\0' + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        s.connect(addr)
        s.sendall(state.encode())
    return True


def watchdog_interval():
    """The watchdog interval in seconds, or None when no watchdog is asked for."""
    usec = os.environ.get('WATCHDOG_USEC')
    if not usec:
        return None
    pid = os.environ.get('WATCHDOG_PID')
    if pid and int(pid) != os.getpid():
        return None
    return int(usec) / 1e6


def inherited_socket():
    if os.environ.get('LISTEN_PID') != str(os.getpid()):
        sys.exit('server.py: no socket for me (LISTEN_PID=%r, my pid %d): run me under sdlaunch or systemd'
                 % (os.environ.get('LISTEN_PID'), os.getpid()))
    if int(os.environ.get('LISTEN_FDS', '0')) < 1:
        sys.exit('server.py: LISTEN_FDS is not set')
    return socket.socket(fileno=SD_LISTEN_FDS_START)  # family and type are detected


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == '/':
            body = 'hello from pid %d (sdlaunch worker %s)\n' % (
                os.getpid(), os.environ.get('SDLAUNCH_WORKER', '?'))
        elif url.path == '/slow':
            ms = int(urllib.parse.parse_qs(url.query).get('ms', ['1000'])[0])
            time.sleep(ms / 1000.0)
            body = 'slept %d ms in pid %d\n' % (ms, os.getpid())
        else:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def address_string(self):
        # Unix-socket clients have no address.
        return self.client_address[0] if self.client_address else 'unix'


class Server(http.server.HTTPServer):
    """HTTPServer on an already bound and listening socket."""

    def __init__(self, sock, handler, watchdog):
        # BaseServer, not HTTPServer: nothing to bind or listen.
        http.server.socketserver.BaseServer.__init__(self, sock.getsockname(), handler)
        self.socket = sock
        self.server_name = 'localhost'
        self.server_port = 0
        self.watchdog = watchdog
        self.last_ping = 0.0

    def service_actions(self):
        # Runs on every turn of serve_forever: pinging from here means a hung
        # loop stops the pings, which is the point of a watchdog.
        if self.watchdog and time.monotonic() - self.last_ping >= self.watchdog / 2:
            sd_notify('WATCHDOG=1')
            self.last_ping = time.monotonic()


def main():
    sock = inherited_socket()
    watchdog = watchdog_interval()
    server = Server(sock, Handler, watchdog)

    def stop(signum, _frame):
        print('server.py: pid %d got signal %d, finishing the current request' % (os.getpid(), signum),
              file=sys.stderr, flush=True)
        sd_notify('STOPPING=1')
        # shutdown() waits for serve_forever to return: call it from another thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    print('server.py: pid %d serving on %r' % (os.getpid(), sock.getsockname()), file=sys.stderr, flush=True)
    sd_notify('READY=1\nSTATUS=serving')
    poll = min(0.5, watchdog / 4) if watchdog else 0.5
    server.serve_forever(poll_interval=poll)
    server.server_close()
    print('server.py: pid %d stopped' % os.getpid(), file=sys.stderr, flush=True)


if __name__ == '__main__':
    main()
