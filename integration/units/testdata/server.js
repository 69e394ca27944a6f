// A node app on the inherited socket (fd 3). V8 JITs: the unit must leave
// MemoryDenyWriteExecute= off for it.
const http = require("http");
http.createServer((req, res) => {
  res.end(`node worker=${process.env.SDLAUNCH_WORKER}\n`);
}).listen({ fd: 3 });
