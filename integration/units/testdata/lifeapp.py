# lifeapp: a plain-socket HTTP worker for the lifecycle tests, standard
# library only. It serves on the inherited fd 3, answers every request with
# "worker=W generation=G pid=P", and speaks sd_notify with raw datagrams on
# the launcher's private NOTIFY_SOCKET (READY=1 once it accepts).
#
# Options (after the script name):
#   --exit-at-boot N   print one line and exit N before serving
#   --log-demo         at boot, log a "<3>" line and a multi-line traceback
#   --slow-boot S      take S seconds to boot, sending EXTEND_TIMEOUT_USEC=10s
#                      and a STATUS= every second
#   --boot-delay S     wait S seconds before READY=1
#   --access-log       print a line for every request served
# and, read from the working directory at boot:
#   wedge              while this file exists, hang before READY=1
#
# SIGTERM: stop accepting, finish the request in hand, exit 0.
import os
import select
import signal
import socket
import sys
import time
import traceback

WORKER = os.environ.get("SDLAUNCH_WORKER", "?")
GENERATION = os.environ.get("SDLAUNCH_GENERATION", "?")
PID = os.getpid()


def notify(msg):
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    if path.startswith("@"):
        path = "\0" + path[1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.sendto(msg.encode(), path)
    finally:
        s.close()


def level2():
    raise ValueError("lifeapp traceback marker worker %s pid %d" % (WORKER, PID))


def level1():
    level2()


def log_demo():
    print("<3>lifeapp: database down (worker %s pid %d)" % (WORKER, PID), flush=True)
    try:
        level1()
    except ValueError:
        traceback.print_exc()
        sys.stderr.flush()


def serve(listener, access_log=False):
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    listener.setblocking(False)
    body = ("worker=%s generation=%s pid=%d\n" % (WORKER, GENERATION, PID)).encode()
    resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    while not stopping:
        ready, _, _ = select.select([listener], [], [], 0.1)
        if not ready:
            continue
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            continue  # another worker took it
        with conn:
            conn.setblocking(True)
            conn.settimeout(10)
            try:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if data:
                    conn.sendall(resp)
                    if access_log:
                        print("lifeapp worker %s: GET / 200" % WORKER, flush=True)
            except OSError as e:
                print("lifeapp worker %s: %s" % (WORKER, e), flush=True)
    print("lifeapp worker %s pid %d: SIGTERM, stopped" % (WORKER, PID), flush=True)


def main(argv):
    opts = {}
    i = 0
    while i < len(argv):
        if argv[i] in ("--log-demo", "--access-log"):
            opts[argv[i].lstrip("-")] = True
            i += 1
        else:
            opts[argv[i].lstrip("-")] = argv[i + 1]
            i += 2
    if "exit-at-boot" in opts:
        print("lifeapp worker %s: config missing: /etc/lifeapp.toml, exiting %s" % (WORKER, opts["exit-at-boot"]), flush=True)
        sys.exit(int(opts["exit-at-boot"]))
    if opts.get("log-demo"):
        log_demo()
    while os.path.exists("wedge"):
        time.sleep(0.05)
    if "slow-boot" in opts:
        end = time.monotonic() + float(opts["slow-boot"])
        while time.monotonic() < end:
            notify("EXTEND_TIMEOUT_USEC=10000000\nSTATUS=booting, %.0fs to go" % (end - time.monotonic()))
            time.sleep(min(1.0, max(0.0, end - time.monotonic())))
    if "boot-delay" in opts:
        time.sleep(float(opts["boot-delay"]))
    listener = socket.socket(fileno=3)
    print("lifeapp worker %s generation %s pid %d ready" % (WORKER, GENERATION, PID), flush=True)
    notify("READY=1\nSTATUS=serving")
    serve(listener, opts.get("access-log", False))


if __name__ == "__main__":
    main(sys.argv[1:])
