// The helper's contract with the bayou binary: the readiness line, and a graceful stop on
// SIGTERM (exit code 0), which the restart scenarios rely on.
import assert from "node:assert/strict";
import { test } from "node:test";

import { startServer } from "./server.mjs";

test("restarts on the same port and serves again", { timeout: 20_000 }, async (t) => {
  const server = await startServer();
  t.after(() => server.dispose());
  const port = server.port;
  const first = await server.health();
  assert.deepEqual(
    { status: first.status, sessions: first.sessions, websockets: first.websockets, events: first.log.events },
    { status: "ok", sessions: 0, websockets: 0, events: 0 },
  );
  // A fresh embedded log has assigned no replay id; in a cluster the ids are the stream's
  // sequence numbers, which the org's records (written when it was created) take too.
  if (!process.env.BAYOU_INTEROP_CLUSTER) assert.equal(first.log.head, 0);
  await server.restart();
  assert.equal(server.port, port);
  const again = await server.health();
  assert.deepEqual(
    { status: again.status, sessions: again.sessions, websockets: again.websockets },
    { status: "ok", sessions: 0, websockets: 0 },
  );
  await server.stop(); // SIGTERM, exit code 0
});

// `bayou serve` installs its signal handlers before it prints the readiness line, so a SIGTERM
// sent the moment it says "listening" is a graceful stop (exit code 0), not a kill.
test(
  "a SIGTERM right after the readiness line still stops gracefully",
  { timeout: 20_000 },
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
