// Durable replay with the official CometD JavaScript client over WebSocket, with a replay
// extension registered the way CometD applications (and Salesforce's samples) do it:
// `cometd.registerExtension(name, {incoming, outgoing})`, adding `ext.replay` to /meta/subscribe.
// See replay.mjs and faye-replay.test.mjs.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { CometDTestClient } from "./clients/cometd.mjs";
import { assertEvents, assertIncreasing, cometdReplayExtension, eventsOn, publishEvent } from "./replay.mjs";
import { fixture, TEST_TIMEOUT_MS } from "./scenarios.mjs";
import { richPayload } from "./util.mjs";

const transport = "websocket";

describe(`cometd with a replay extension over ${transport}`, () => {
  test("-2 replays every stored event in order, then live ones, exactly once", { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const f = await fixture(t, CometDTestClient, transport);
    const channel = "/replay/cometd";
    const other = "/replay/cometd-other";
    const { client: publisher } = await f.connect("publisher");
    const traffic = await f.traffic();

    const stored = [];
    for (let i = 0; i < 5; i++) {
      const data = { ...richPayload(`stored ${i}`), seq: i };
      stored.push({ replayId: await publishEvent(publisher, channel, data), data });
      await publishEvent(publisher, other, { tag: `elsewhere ${i}` });
    }
    assertIncreasing(stored.map((e) => e.replayId), "replay ids of the stored events");

    // A new client; the extension must be registered before the handshake, whose reply turns
    // it on. CometD handshakes over the WebSocket itself.
    const replayer = new CometDTestClient(f.server.url, { transport, name: "replayer" });
    f.clients.push(replayer);
    replayer.cometd.registerExtension("salesforce-replay", cometdReplayExtension(channel, -2));
    const hello = await replayer.handshake();
    assert.deepEqual(hello.ext, { replay: true, "payload.format": true }, JSON.stringify(hello));
    await f.connected(replayer);

    const handle = await replayer.subscribe(channel);
    const subscribe = replayer.sent.filter((m) => m.channel === "/meta/subscribe" && m.subscription === channel);
    assert.equal(subscribe.length, 1, JSON.stringify(subscribe));
    assert.deepEqual(subscribe[0].ext?.replay, { [channel]: -2 }, JSON.stringify(subscribe[0]));
    await replayer.raw.waitFor((m) => m.channel === channel && m.data?.tag === stored.at(-1).data.tag, "the last stored event");

    const live = { data: { tag: "live" } };
    live.replayId = await publishEvent(publisher, channel, live.data);
    const sentinel = { data: { tag: "sentinel" } };
    sentinel.replayId = await publishEvent(publisher, channel, sentinel.data);
    await replayer.raw.waitFor((m) => m.channel === channel && m.data?.tag === "sentinel", "the sentinel");

    const expected = [...stored, live, sentinel];
    assertEvents(eventsOn(replayer, channel), expected, channel, "the backlog, then the live events, once each");
    assert.deepEqual(handle.inbox.items, expected.map((e) => ({ channel, data: e.data })));
    assert.deepEqual(replayer.raw.filter((m) => m.channel === other), [], "events of another channel were replayed");
    await traffic.check();
  });
});
