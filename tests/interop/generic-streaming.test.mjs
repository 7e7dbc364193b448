// Generic streaming (docs/events.md) with unchanged clients: the official CometD JavaScript
// client, over WebSocket, subscribes to a `/u/` StreamingChannel with a Salesforce-style replay
// extension and receives what the REST push resource sends — targeted by `userIds` and
// broadcast — then replays it with -2; jsforce pushes with `conn.streaming.channel(name).push()`.
//
// Two users log in (the org's own and one more from a `[[users]]` config table), each with its
// own CometD client; the server requires logins. CometD in Node opens its WebSocket through the
// `ws` package, which, unlike a browser's WebSocket, can send an Authorization header with the
// upgrade; the adapter below gives each client its user's token that way.

import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import * as ws from "ws";

import { CometDTestClient } from "./clients/cometd.mjs";
import { CREATED_DATE, JsforceOrg } from "./clients/jsforce.mjs";
import { cometdReplayExtension } from "./replay.mjs";
import { TEST_TIMEOUT_MS } from "./scenarios.mjs";
import { withTimeout } from "./util.mjs";

const opts = { timeout: TEST_TIMEOUT_MS };
const CHANNEL = "/u/interop/Team";
const SECOND = { username: "second@bayou.local", password: "a second password" };

// Each client's Bayeux URL carries a query naming its user; the WebSocket constructor CometD
// calls looks the token up by that URL (CometD itself is unchanged).
const tokensByUrl = new Map();
global.window.WebSocket = class AuthorizedWebSocket extends ws.WebSocket {
  constructor(url, protocols) {
    const token = tokensByUrl.get(String(url).replace(/^ws/, "http"));
    super(url, protocols, token ? { headers: { Authorization: `OAuth ${token}` } } : {});
  }
};

async function secondUserConfig() {
  const dir = await mkdtemp(path.join(tmpdir(), "bayou-generic-"));
  const file = path.join(dir, "bayou.toml");
  await writeFile(file, `[[users]]\nusername = "${SECOND.username}"\npassword = "${SECOND.password}"\n`);
  return file;
}

/** A CometD client over WebSocket for `conn`'s user, with a replay extension for CHANNEL. */
async function cometdFor(t, org, conn, name, replayId) {
  const url = `${org.server.url}?user=${encodeURIComponent(name)}`;
  tokensByUrl.set(url, conn.accessToken);
  const client = new CometDTestClient(url, { transport: "websocket", name });
  t.after(() => client.close());
  if (replayId !== undefined) client.cometd.registerExtension("salesforce-replay", cometdReplayExtension(CHANNEL, replayId));
  await client.handshake();
  const handle = await client.subscribe(CHANNEL);
  return { client, handle };
}

async function push(org, conn, channelId, pushEvents) {
  const response = await fetch(`${org.server.origin}/services/data/v66.0/sobjects/StreamingChannel/${channelId}/push`, {
    method: "POST",
    headers: { Authorization: `Bearer ${conn.accessToken}`, "Content-Type": "application/json" },
    body: JSON.stringify({ pushEvents }),
  });
  assert.equal(response.status, 200);
  return response.json();
}

const payloads = (handle) => handle.inbox.items.map((m) => m.data.payload);

describe("generic streaming with CometD over WebSocket and jsforce", () => {
  // In the suite's cluster pass the pushes go to node B and the subscribers are on node A: the
  // online counts then come from the other node's answer.
  test("targeted and broadcast pushes reach the right users, live and by replay -2", opts, async (t) => {
    const org = await JsforceOrg.start(t, { extraArgs: ["--config", await secondUserConfig()] });
    const { conn: first } = await org.oauthLogin();
    const { conn: second } = await org.oauthLogin(SECOND);
    const created = await withTimeout(first.sobject("StreamingChannel").create({ Name: CHANNEL }), "create the channel");
    assert.equal(created.success, true, JSON.stringify(created));

    const a = await cometdFor(t, org, first, "first user", -1);
    const b = await cometdFor(t, org, second, "second user", -1);
    for (const { client } of [a, b]) {
      // CometD sends its first connect once the handshake reply is in, perhaps after the subscribe.
      await client.sent.waitFor((m) => m.channel === "/meta/connect", `${client.name}'s first connect`);
      const connects = client.sent.filter((m) => m.channel === "/meta/connect");
      assert.ok(connects.every((m) => m.connectionType === "websocket"), JSON.stringify(connects));
      const subscribe = client.sent.filter((m) => m.channel === "/meta/subscribe");
      assert.deepEqual(subscribe[0].ext?.replay, { [CHANNEL]: -1 });
    }

    const results = await push(org, first, created.id, [
      { payload: "only for the first user", userIds: [first.userInfo.id] },
      { payload: "for everyone", userIds: [] },
    ]);
    assert.deepEqual(results, [
      { fanoutCount: 1, userOnlineStatus: { [first.userInfo.id]: true } },
      { fanoutCount: -1, userOnlineStatus: {} },
    ]);
    // jsforce's own push: it finds the channel by name with SOQL, then POSTs.
    const pushed = await withTimeout(
      first.streaming.channel(CHANNEL).push({ payload: "for the second user", userIds: [second.userInfo.id] }),
      "jsforce push",
    );
    assert.deepEqual(pushed, { fanoutCount: 1, userOnlineStatus: { [second.userInfo.id]: true } });

    await a.handle.inbox.waitFor((m) => m.data.payload === "for everyone", "the broadcast at the first user");
    await b.handle.inbox.waitFor((m) => m.data.payload === "for the second user", "the last push at the second user");
    assert.deepEqual(payloads(a.handle), ["only for the first user", "for everyone"]);
    assert.deepEqual(payloads(b.handle), ["for everyone", "for the second user"]);
    const event = a.handle.inbox.items[0];
    assert.equal(event.channel, CHANNEL);
    assert.match(event.data.event.createdDate, CREATED_DATE);
    assert.ok(Number.isSafeInteger(event.data.event.replayId) && event.data.event.replayId > 0);

    // Replay with -2: each user gets what was meant for them, in order, nothing else.
    const replayA = await cometdFor(t, org, first, "first user replaying", -2);
    const replayB = await cometdFor(t, org, second, "second user replaying", -2);
    await replayA.handle.inbox.waitFor((m) => m.data.payload === "for everyone", "first user's replay");
    await replayB.handle.inbox.waitFor((m) => m.data.payload === "for the second user", "second user's replay");
    assert.deepEqual(payloads(replayA.handle), payloads(a.handle));
    assert.deepEqual(payloads(replayB.handle), payloads(b.handle));
    assert.deepEqual(
      replayA.handle.inbox.items.map((m) => m.data.event.replayId),
      a.handle.inbox.items.map((m) => m.data.event.replayId),
    );
    // Nobody got anything more in the meantime.
    assert.equal(a.handle.inbox.items.length, 2);
    assert.equal(b.handle.inbox.items.length, 2);
  });

  test("a /u/ channel that does not exist is 404::Unknown channel", opts, async (t) => {
    const org = await JsforceOrg.start(t);
    const { conn } = await org.oauthLogin();
    const url = `${org.server.url}?user=missing`;
    tokensByUrl.set(url, conn.accessToken);
    const client = new CometDTestClient(url, { transport: "websocket", name: "missing channel" });
    t.after(() => client.close());
    await client.handshake();
    await assert.rejects(client.subscribe("/u/interop/Nowhere"), /404::Unknown channel/);
  });
});
