#!/usr/bin/python3
# A pre-forking master in the style of a small CGI or prefork server: the
# master forks CHILDREN children that accept on the socket passed as fd 3 and
# serve one request at a time; the master itself never accepts, forwards no
# signal, and dies at once on SIGTERM (no handler). A signal sent to the
# whole process group kills the children mid-request.
import http.server
import os
import socket
import time
import urllib.parse


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        if u.path == '/slow':
            ms = int(urllib.parse.parse_qs(u.query).get('ms', ['1000'])[0])
            time.sleep(ms / 1000.0)
            body = ('slept %d ms in pid %d\n' % (ms, os.getpid())).encode()
        else:
            body = ('hello from pid %d\n' % os.getpid()).encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(sock):
    srv = http.server.HTTPServer(sock.getsockname(), Handler, bind_and_activate=False)
    srv.socket = sock
    srv.serve_forever()


sock = socket.socket(fileno=3)
for _ in range(int(os.environ.get('CHILDREN', '2'))):
    if os.fork() == 0:
        serve(sock)
        os._exit(0)
print('forking_master: pid %d forked its children' % os.getpid(), flush=True)
while True:
    try:
        os.wait()
    except ChildProcessError:
        time.sleep(3600)
