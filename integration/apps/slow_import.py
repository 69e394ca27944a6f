#!/usr/bin/python3
# An app that takes SLOW_IMPORT_SECONDS (default 3) to import, as a Django
# project does on a busy machine, before it serves on fd 3.
import os
import time

time.sleep(float(os.environ.get('SLOW_IMPORT_SECONDS', '3')))

import http.server  # noqa: E402
import socket  # noqa: E402


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ('hello from pid %d\n' % os.getpid()).encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


sock = socket.socket(fileno=3)
srv = http.server.HTTPServer(sock.getsockname(), Handler, bind_and_activate=False)
srv.socket = sock
srv.serve_forever()
