// faye 1.4 as a plain Bayeux server on 127.0.0.1, mounted at /faye (long-polling and
// WebSocket), with its default in-memory engine. Prints "listening on URL" once ready.
'use strict';
const http = require('http');
const faye = require('faye');

const port = Number(process.argv[2] || 0);
const bayeux = new faye.NodeAdapter({ mount: '/faye', timeout: 45 });
const server = http.createServer();
bayeux.attach(server);
server.listen(port, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}/faye`);
});
process.on('SIGTERM', () => process.exit(0));
