// The helper's contract with the bayou binary: the readiness line, and a graceful stop on
// SIGTERM (exit code 0), which the restart scenarios rely on.
import assert from "node:assert/strict";
import { test } from "node:test";

import { startServer } from "./server.mjs";

test("restarts on the same port and serves again", { timeout: 20_000 }, async (t) => {
  const server = await startServer();
  t.after(() => server.dispose());
  const port = server.port;
  assert.deepEqual(await server.health(), { status: "ok", sessions: 0, websockets: 0 });
  await server.restart();
  assert.equal(server.port, port);
  assert.deepEqual(await server.health(), { status: "ok", sessions: 0, websockets: 0 });
  await server.stop(); // SIGTERM, exit code 0
});

// TODO(server bug): `bayou serve` prints "listening on ..." before it installs its SIGTERM
// handler (shutdown_signal() in crates/bayou/src/serve.rs is only polled once serve() runs), so
// a SIGTERM right after the readiness line kills it by the default action: no graceful
// shutdown, exit by signal instead of code 0. Remove the `todo` once fixed.
test(
  "a SIGTERM right after the readiness line still stops gracefully",
  { timeout: 20_000, todo: "SERVER BUG: SIGTERM handler installed after the readiness line" },
  async () => {
    for (let i = 0; i < 5; i++) {
      const server = await startServer();
      try {
        await server.stop();
      } finally {
        await server.dispose().catch(() => {});
      }
    }
  },
);
