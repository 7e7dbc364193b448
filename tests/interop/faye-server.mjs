// A plain faye server (the npm package's NodeAdapter), used by bayou-client's tests as a
// foreign Bayeux server. Listens on 127.0.0.1 at the port given as the first argument (0 or
// none: a free one), mounted at /faye, and prints `listening on PORT` once it accepts
// connections. Connects are held for `timeout` seconds (second argument, default 2).
//
//   node faye-server.mjs [port] [timeout-seconds]

import http from "node:http";
import faye from "faye";

const port = Number(process.argv[2] ?? 0);
const timeout = Number(process.argv[3] ?? 2);

const bayeux = new faye.NodeAdapter({ mount: "/faye", timeout });
const server = http.createServer();
bayeux.attach(server);
server.listen(port, "127.0.0.1", () => {
  console.log(`listening on ${server.address().port}`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => process.exit(0));
}
