# SIGKILL a worker of `sdlaunch run -w 1`; measure kill -> a replacement answers a
# request (the request made right after the kill waits in the kernel backlog).
import socket, subprocess, time, os, sys, statistics, signal, urllib.request
TESTAPP = os.environ.get("TESTAPP", "bin/testapp")
exe, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
p = "/tmp/sdlaunch-measure-kt.sock"
try: os.unlink(p)
except FileNotFoundError: pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(p)
env = dict(os.environ, NOTIFY_SOCKET=p, TESTAPP_MODE="notify")
pr = subprocess.Popen([exe, "run", "-w", "4", "-l", "127.0.0.1:%d" % port, "--ready", "notify", "--graceful-timeout", "2s", "--", TESTAPP], env=env, stderr=subprocess.DEVNULL)
while "READY=1" not in s.recv(4096).decode(): pass
time.sleep(0.5)
rss = [l for l in open("/proc/%d/status" % pr.pid) if l.startswith("VmRSS")][0].split()[1]
print("launcher RSS with 4 workers: %s kB" % rss)
pr.send_signal(signal.SIGTERM); pr.wait()
# one worker: the request made right after the kill waits for the replacement.
# A fresh launcher per sample: the first crash of a slot backs off 100 ms.
url = "http://127.0.0.1:%d/pid" % port
times = []
for i in range(n):
    pr = subprocess.Popen([exe, "run", "-w", "1", "-l", "127.0.0.1:%d" % port, "--ready", "notify", "--graceful-timeout", "2s", "--", TESTAPP], env=env, stderr=subprocess.DEVNULL)
    while "READY=1" not in s.recv(4096).decode(): pass
    old = int(urllib.request.urlopen(url, timeout=5).read())
    t0 = time.monotonic(); os.kill(old, signal.SIGKILL)
    new = int(urllib.request.urlopen(url, timeout=10).read())
    times.append(time.monotonic() - t0)
    assert new != old
    pr.send_signal(signal.SIGTERM); pr.wait()
print("SIGKILL -> replacement answers (w=1; includes the 100 ms first backoff): n=%d median %.0f ms, min %.0f ms, max %.0f ms" % (n, statistics.median(times)*1e3, min(times)*1e3, max(times)*1e3))
