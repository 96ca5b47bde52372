// Node's http server on the socket hupwatch passes as fd 3 (hupwatch --listen).
// SIGTERM: stop accepting, finish the requests in flight, exit 0.
"use strict";
const http = require("http");

const server = http.createServer((req, res) => {
  res.setHeader("Content-Type", "text/plain");
  res.end(`pid ${process.pid}\n`);
});

server.listen({ fd: 3 }, () => console.log(`pid ${process.pid} serving on fd 3`));

process.on("SIGTERM", () => server.close(() => process.exit(0)));
