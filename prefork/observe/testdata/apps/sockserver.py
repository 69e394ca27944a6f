# A plain socketserver on the inherited fd 3 (serve_forever's selector).
import socket
import socketserver


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        self.rfile.readline()
        self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n")


srv = socketserver.TCPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
srv.socket.close()
srv.socket = socket.socket(fileno=3)
print("waiting", flush=True)
srv.serve_forever()
