#!/usr/bin/python3
"""Serve a WSGI app with waitress on the sockets sdlaunch (or systemd) passes.

waitress-serve has no option for an inherited socket, but waitress.serve()
takes ready-made sockets (sockets=). This wrapper hands it fds 3.. as
sd_listen_fds(3) describes them:

    sdlaunch run -w 4 -l :8000 -- /usr/bin/python3 serve.py myapp:app [threads=8 ...]

Extra NAME=VALUE arguments are waitress options (see `waitress-serve --help`),
passed on as strings, which waitress converts itself. Nothing else is
needed: waitress does not handle SIGTERM, and sdlaunch sends it only at a
moment when the worker has no request in progress.
"""
import importlib
import os
import socket
import struct
import sys

import waitress

SD_LISTEN_FDS_START = 3


def listen_fds():
    """The sockets passed to this process (LISTEN_PID is our pid), as socket objects."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        sys.exit("serve.py: no sockets passed (LISTEN_PID is not this process): run it under sdlaunch or systemd")
    n = int(os.environ.get("LISTEN_FDS", "0"))
    for k in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(k, None)  # not for our children
    if n < 1:
        sys.exit("serve.py: LISTEN_FDS=%d: no sockets passed" % n)
    return [socket.socket(fileno=fd) for fd in range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + n)]


def listen_backlog(sock):
    """The backlog the socket listens with (the kernel reports it in
    tcpi_sacked for a listening TCP socket), or None for other sockets.

    waitress calls listen() again on the sockets it gets, which would
    replace the backlog sdlaunch or systemd chose (4096 by default) by
    waitress's own (1024), for every worker sharing the socket."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 32)
    return struct.unpack_from("I", info, 28)[0]


def load(spec):
    """module:attribute, as waitress-serve takes it (attribute defaults to app)."""
    module, _, attr = spec.partition(":")
    sys.path.insert(0, os.getcwd())
    obj = importlib.import_module(module)
    for name in (attr or "app").split("."):
        obj = getattr(obj, name)
    return obj


def main(argv):
    if len(argv) < 2 or "=" in argv[1]:
        sys.exit("usage: serve.py MODULE:APP [NAME=VALUE ...]")
    options = dict(a.split("=", 1) for a in argv[2:])
    app = load(argv[1])
    sockets = listen_fds()
    backlog = listen_backlog(sockets[0])
    if backlog and "backlog" not in options:
        options["backlog"] = str(backlog)
    waitress.serve(app, sockets=sockets, **options)


if __name__ == "__main__":
    main(sys.argv)
