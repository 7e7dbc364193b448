// The official CometD JavaScript client in its default configuration — every transport
// registered, WebSocket first — authenticating as Salesforce documents it, with
// `requestHeaders: {Authorization: "OAuth <token>"}`. CometD sends those headers on its HTTP
// requests only, never on the WebSocket upgrade. Bayou answers that unauthenticated upgrade
// with HTTP 401 before upgrading, as Salesforce does, so CometD falls back to long-polling by
// itself and streams; it must not be locked out by a handshake denied over the socket.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { CometDTestClient } from "./clients/cometd.mjs";
import { JsforceOrg } from "./clients/jsforce.mjs";
import { TEST_TIMEOUT_MS } from "./scenarios.mjs";

const opts = { timeout: TEST_TIMEOUT_MS };

describe("CometD with its default transports against an org that requires logins", () => {
  test("falls back to long-polling when the upgrade is refused, then streams", opts, async (t) => {
    const org = await JsforceOrg.start(t);
    const { conn } = await org.oauthLogin();
    const client = new CometDTestClient(org.server.url, { name: "cometd defaults" });
    t.after(() => client.close());
    assert.deepEqual(client.cometd.getTransportTypes().slice(0, 2), ["websocket", "long-polling"]);
    client.cometd.configure({ requestHeaders: { Authorization: `OAuth ${conn.accessToken}` } });

    const reply = await client.handshake();
    assert.equal(reply.successful, true);

    const handle = await client.subscribe("/chat/defaults");
    await client.publish("/chat/defaults", { text: "through the fallback" });
    const message = await handle.inbox.waitFor((m) => m.data.text === "through the fallback", "the event");
    assert.equal(message.channel, "/chat/defaults");
    // It got there over long-polling: CometD's connects say which transport carries them.
    const connects = client.sent.items.filter((m) => m.channel === "/meta/connect");
    assert.ok(connects.length > 0);
    assert.ok(connects.every((m) => m.connectionType === "long-polling"), JSON.stringify(connects));
  });
});
