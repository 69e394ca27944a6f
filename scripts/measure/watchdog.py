# Worker watchdog: SIGSTOP a worker of `sdlaunch run --worker-watchdog 1s` and
# measure the time until the launcher logs the missed watchdog (detection), and
# until its replacement has sent READY=1.
import subprocess, time, os, sys, statistics, signal, threading, urllib.request, queue
TESTAPP = os.environ.get("TESTAPP", "bin/testapp")
exe, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
wd = 1.0
env = dict(os.environ, TESTAPP_MODE="notify")
env.pop("NOTIFY_SOCKET", None)
pr = subprocess.Popen([exe, "run", "-w", "2", "-l", "127.0.0.1:%d" % port, "--ready", "notify",
                       "--worker-watchdog", "%gs" % wd, "--graceful-timeout", "2s", "--", TESTAPP],
                      env=env, stderr=subprocess.PIPE, text=True)
lines = queue.Queue()
threading.Thread(target=lambda: [lines.put((time.monotonic(), l)) for l in pr.stderr], daemon=True).start()
def wait_for(pat, timeout=15):
    end = time.monotonic() + timeout
    while True:
        t, l = lines.get(timeout=max(0.01, end - time.monotonic()))
        if pat in l:
            return t, l
wait_for("ready: 2/2 ready")
url = "http://127.0.0.1:%d/pid" % port
detect, replace = [], []
for i in range(n):
    victim = int(urllib.request.urlopen(url, timeout=5).read())
    t0 = time.monotonic(); os.kill(victim, signal.SIGSTOP)
    t1, _ = wait_for("pid %d," % victim + " generation 1) sent no WATCHDOG=1")
    t2, _ = wait_for("READY=1 sent=true")
    detect.append(t1 - t0); replace.append(t2 - t0)
    time.sleep(0.3)
pr.send_signal(signal.SIGTERM); pr.wait()
print("worker watchdog %gs, SIGSTOP -> detected: median %.0f ms, max %.0f ms (bound: interval + 1 s = %.0f ms); -> replacement READY=1: median %.0f ms, max %.0f ms (n=%d)" % (
    wd, statistics.median(detect)*1e3, max(detect)*1e3, (wd+1)*1e3, statistics.median(replace)*1e3, max(replace)*1e3, n))
