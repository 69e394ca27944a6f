# A gunicorn config that makes READY=1 tell the truth under `sdlaunch run
# --ready notify`: gunicorn 20.1's arbiter sends READY=1 in Arbiter.start(),
# before it has forked its worker, so the launcher would retire the old
# generation while no new process accepts yet. Here the arbiter sends
# nothing (it finds no NOTIFY_SOCKET) and the worker sends READY=1 from
# post_worker_init, just before its accept loop. The launcher accepts it:
# the worker is in the arbiter's process group.
import os
import socket

_notify = os.environ.pop("NOTIFY_SOCKET", None)


def post_worker_init(worker):
    if not _notify:
        return
    addr = "\0" + _notify[1:] if _notify.startswith("@") else _notify
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    try:
        s.sendto(b"READY=1", addr)
    finally:
        s.close()
