// A Node server with no signal handling, on the inherited fd 3.
require("http")
  .createServer((req, res) => res.end("ok\n"))
  .listen({ fd: 3 }, () => console.log("waiting"));
