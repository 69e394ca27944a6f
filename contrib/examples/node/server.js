// A socket-activated Node.js HTTP server: listen({fd: 3}) takes the socket that
// sdlaunch (or systemd) passes, instead of binding a port.
//
//   sdlaunch run -w 4 --listen 127.0.0.1:8000 -- /usr/bin/node server.js
'use strict';

const http = require('http');

const SD_LISTEN_FDS_START = 3;

if (process.env.LISTEN_PID !== String(process.pid) || !(Number(process.env.LISTEN_FDS) >= 1)) {
  console.error(`server.js: no socket for me (LISTEN_PID=${process.env.LISTEN_PID}, my pid ${process.pid}): run me under sdlaunch or systemd`);
  process.exit(1);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname === '/') {
    res.end(`hello from pid ${process.pid} (sdlaunch worker ${process.env.SDLAUNCH_WORKER ?? '?'})\n`);
  } else if (url.pathname === '/slow') {
    const ms = Number(url.searchParams.get('ms') ?? 1000);
    setTimeout(() => res.end(`slept ${ms} ms in pid ${process.pid}\n`), ms);
  } else {
    res.statusCode = 404;
    res.end('not found\n');
  }
});

server.listen({ fd: SD_LISTEN_FDS_START }, () => {
  console.error(`server.js: pid ${process.pid} serving on fd ${SD_LISTEN_FDS_START}`);
});

function stop(signal) {
  console.error(`server.js: pid ${process.pid} got ${signal}, finishing in-flight requests`);
  // close() stops accepting and waits for open connections; idle keep-alive
  // connections are closed at once so they cannot hold the exit up.
  server.close(() => process.exit(0));
  server.closeIdleConnections();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
