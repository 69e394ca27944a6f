# A blocking accept loop on fd 3; "select" as argv[1] waits in select first,
# "zombie" leaves an unreaped child behind first.
import os
import select
import socket
import sys

s = socket.socket(fileno=3)
s.setblocking(True)
if sys.argv[1:] == ["zombie"]:
    if os.fork() == 0:
        os._exit(0)
print("waiting", flush=True)
while True:
    if sys.argv[1:] == ["select"]:
        select.select([s], [], [])
    c, _ = s.accept()
    c.close()
