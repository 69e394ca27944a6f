// A Node server as its users write it: http.createServer on the socket
// passed as fd 3, and no signal handler at all, so SIGTERM ends the process
// at once, whatever it is doing.
'use strict';
const http = require('http');
http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname === '/slow') {
    const ms = Number(url.searchParams.get('ms') ?? 1000);
    setTimeout(() => res.end(`slept ${ms} ms in pid ${process.pid}\n`), ms);
    return;
  }
  res.end(`hello from pid ${process.pid}\n`);
}).listen({ fd: 3 });
