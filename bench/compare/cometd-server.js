// cometd-nodejs-server 1.2 as a plain Bayeux server on 127.0.0.1 (long-polling only; it has no
// WebSocket transport), with its default options (timeout 30 s, maxInterval 10 s). Prints
// "listening on URL" once ready.
'use strict';
const http = require('http');
const cometd = require('cometd-nodejs-server');

const port = Number(process.argv[2] || 0);
const cometdServer = cometd.createCometDServer();
const server = http.createServer(cometdServer.handle);
server.listen(port, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}/cometd`);
});
process.on('SIGTERM', () => process.exit(0));
