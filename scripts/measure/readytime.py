# Measures start -> READY=1 of `sdlaunch run` over a test NOTIFY_SOCKET.
import socket, subprocess, time, os, sys, statistics, signal
TESTAPP = os.environ.get("TESTAPP", "bin/testapp")
exe, port = sys.argv[1], int(sys.argv[2]); mode = sys.argv[3]; n = int(sys.argv[4])
times = []
for i in range(n):
    p = "/tmp/sdlaunch-measure-rt.sock"
    try: os.unlink(p)
    except FileNotFoundError: pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(p)
    env = dict(os.environ, NOTIFY_SOCKET=p, TESTAPP_MODE=mode)
    args = [exe, "run", "-w", "4", "-l", "127.0.0.1:%d" % port, "--graceful-timeout", "2s"]
    if mode == "notify": args += ["--ready", "notify"]
    else: args += ["--ready-after", "0s"]
    t0 = time.monotonic()
    pr = subprocess.Popen(args + ["--", TESTAPP], env=env, stderr=subprocess.DEVNULL)
    while True:
        d = s.recv(4096).decode()
        if "READY=1" in d: break
    times.append(time.monotonic() - t0)
    pr.send_signal(signal.SIGTERM); pr.wait(); s.close()
print("%s: n=%d median %.1f ms, min %.1f ms, max %.1f ms" % (mode, n, statistics.median(times)*1e3, min(times)*1e3, max(times)*1e3))
