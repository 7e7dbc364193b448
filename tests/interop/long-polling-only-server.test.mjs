// Salesforce's setup: the server offers long-polling only (`--transports long-polling`, WebSocket
// upgrades get HTTP 405). faye and CometD keep their default transports (WebSocket first) and
// must settle on long-polling by themselves, as jsforce and the CometD apps do against
// Salesforce.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { CometDTestClient } from "./clients/cometd.mjs";
import { FayeTestClient } from "./clients/faye.mjs";
import { fixture, TEST_TIMEOUT_MS } from "./scenarios.mjs";
import { richPayload } from "./util.mjs";

for (const Client of [FayeTestClient, CometDTestClient]) {
  describe(`${Client.kind} with default transports, long-polling-only server`, () => {
    test("falls back to long-polling: handshake, publish, receive", { timeout: TEST_TIMEOUT_MS }, async (t) => {
      const f = await fixture(t, Client, "auto", {
        expected: "long-polling",
        server: { transports: "long-polling" },
      });
      const { client: subscriber, reply } = await f.connect("subscriber");
      const { client: publisher } = await f.connect("publisher");
      assert.deepEqual(reply.supportedConnectionTypes, ["long-polling"]);
      const traffic = await f.traffic();

      const handle = await subscriber.subscribe("/chat/fallback");
      const data = richPayload("fallback");
      await publisher.publish("/chat/fallback", data);
      const got = await handle.inbox.waitFor(() => true, "the event");
      assert.deepEqual(got, { channel: "/chat/fallback", data });

      // Every Bayeux message went over long-polling; no upgrade was ever accepted.
      assert.deepEqual(
        [subscriber, publisher].flatMap((c) => c.sent.filter((m) => m.channel === "/meta/connect").map((m) => m.connectionType)).filter((type) => type !== "long-polling"),
        [],
      );
      await traffic.check();
    });
  });
}
