#!/usr/bin/python3
# A plain Python HTTP server on the socket passed as fd 3, threaded, with no
# signal handling and no drain code: SIGTERM ends it at once.
import http.server
import os
import socket
import socketserver
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


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


sock = socket.socket(fileno=3)
srv = Server(sock.getsockname(), Handler, bind_and_activate=False)
srv.socket = sock
srv.serve_forever()
