// Durable replay (Salesforce semantics) with faye, the client jsforce uses, and a replay
// extension in the shape of jsforce's `StreamingExtension.Replay` (replay.mjs), over WebSocket
// and long-polling against a real bayou process.
//
// Events are published by a separate faye client, one at a time, each waited for until the
// server acknowledged it (the publish reply carries its replay id). Every check of "exactly
// these events" publishes a later sentinel on the same channel and compares everything the
// server delivered before it. Transport checks (/metrics) cover windows that open after the
// clients of the window have connected: faye handshakes over HTTP before it upgrades.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { FayeTestClient } from "./clients/faye.mjs";
import {
  assertEvents,
  assertIncreasing,
  eventsOn,
  FayeReplayExtension,
  invalidReplayIdError,
  missingChannelError,
  publishEvent,
} from "./replay.mjs";
import { fixture, TEST_TIMEOUT_MS } from "./scenarios.mjs";
import { richPayload, waitFor } from "./util.mjs";

const HANDSHAKE_EXT = { replay: true, "payload.format": true };

/** Publishes `count` events on `channel`, each acknowledged; returns `[{replayId, data}]`. */
async function publishMany(publisher, channel, tag, count, { interleave } = {}) {
  const events = [];
  for (let i = 0; i < count; i++) {
    const data = { ...richPayload(`${tag} ${i}`), seq: i };
    events.push({ replayId: await publishEvent(publisher, channel, data), data });
    // Events on another channel in between: a channel's ids increase but are not contiguous.
    if (interleave && i % 2 === 0) await publishEvent(publisher, interleave, { tag: `${tag} elsewhere ${i}` });
  }
  assertIncreasing(events.map((e) => e.replayId), `replay ids of ${tag}`);
  return events;
}

/** Publishes one small event; returns `{replayId, data}`. */
async function publishOne(publisher, channel, tag) {
  const data = { tag, at: channel };
  return { replayId: await publishEvent(publisher, channel, data), data };
}

for (const transport of ["websocket", "long-polling"]) {
  describe(`faye with jsforce's replay extension over ${transport}`, () => {
    const opts = { timeout: TEST_TIMEOUT_MS };

    /**
     * A new faye client with `extensions`, handshaken and connecting on the transport under
     * test; cleaned up with the fixture.
     */
    async function connectWith(f, name, extensions = []) {
      const client = new FayeTestClient(f.server.url, { transport, name, extensions });
      f.clients.push(client);
      const reply = await client.handshake();
      await f.connected(client);
      return { client, reply };
    }

    /** A client with the replay extension for `channel`, checking the handshake turned it on. */
    async function connectReplaying(f, name, channel, replayId) {
      const extension = new FayeReplayExtension(channel, replayId);
      const { client, reply } = await connectWith(f, name, [extension]);
      assert.deepEqual(reply.ext, HANDSHAKE_EXT, `handshake reply: ${JSON.stringify(reply)}`);
      assert.equal(extension._extensionEnabled, true, "the handshake ext did not turn the replay extension on");
      return client;
    }

    /** Asserts the last /meta/subscribe `client` sent for `channel` carried `ext.replay = map`. */
    function assertSubscribeSent(client, channel, map) {
      const sent = client.sent.filter((m) => m.channel === "/meta/subscribe" && m.subscription === channel);
      assert.ok(sent.length > 0, `${client.name} sent no subscribe to ${channel}`);
      assert.deepEqual(sent.at(-1).ext?.replay, map, JSON.stringify(sent.at(-1)));
    }

    /** Waits until `client` received the event tagged `tag` on `channel`. */
    function received(client, channel, tag) {
      return client.raw.waitFor((m) => m.channel === channel && m.data?.tag === tag, `${tag} on ${channel}`);
    }

    test("-2 replays every stored event in order, then live ones, exactly once", opts, async (t) => {
      const f = await fixture(t, FayeTestClient, transport);
      const channel = "/replay/all";
      const other = "/replay/other";
      const { client: publisher } = await f.connect("publisher");
      const publishing = await f.traffic();
      const stored = await publishMany(publisher, channel, "stored", 6, { interleave: other });
      assert.ok(
        stored.some((e, i) => i > 0 && e.replayId > stored[i - 1].replayId + 1),
        `ids on one channel skip the other channel's: ${JSON.stringify(stored.map((e) => e.replayId))}`,
      );
      await publishing.check();

      const replayer = await connectReplaying(f, "replayer", channel, -2);
      const traffic = await f.traffic();
      const handle = await replayer.subscribe(channel);
      assertSubscribeSent(replayer, channel, { [channel]: -2 });
      await received(replayer, channel, stored.at(-1).data.tag);

      const live = await publishOne(publisher, channel, "live");
      const sentinel = await publishOne(publisher, channel, "sentinel");
      assert.ok(live.replayId > stored.at(-1).replayId && sentinel.replayId > live.replayId);
      await received(replayer, channel, "sentinel");

      const expected = [...stored, live, sentinel];
      assertEvents(eventsOn(replayer, channel), expected, channel, "the backlog, then the live events, once each");
      // faye handed every one of them to the application, in order.
      assert.deepEqual(handle.inbox.items, expected.map((e) => ({ channel, data: e.data })));
      assert.deepEqual(replayer.raw.filter((m) => m.channel === other), [], "events of another channel were replayed");
      await traffic.check();
    });

    test("-2 while events keep coming: the backlog switches to live with no gap and no duplicate", opts, async (t) => {
      const f = await fixture(t, FayeTestClient, transport);
      const channel = "/replay/busy";
      const { client: publisher } = await f.connect("publisher");
      const backlog = await publishMany(publisher, channel, "backlog", 40);
      const replayer = await connectReplaying(f, "replayer", channel, -2);
      const traffic = await f.traffic();

      // Publish without pause from before the subscribe until well after it is acknowledged, so
      // that events are appended while the server replays the backlog.
      const during = [];
      let stop = false;
      const loop = (async () => {
        for (let i = 0; !stop; i++) {
          const data = { tag: `during ${i}`, seq: i };
          during.push({ replayId: await publishEvent(publisher, channel, data), data });
        }
      })();
      try {
        await waitFor(() => during.length >= 5, "5 events published before the subscribe");
        await replayer.subscribe(channel);
        const acknowledgedAt = during.length;
        await waitFor(() => during.length >= acknowledgedAt + 15, "15 events published after the subscribe");
      } finally {
        stop = true;
        await loop;
      }
      const sentinel = await publishOne(publisher, channel, "sentinel");
      await received(replayer, channel, "sentinel");

      assertIncreasing(during.map((e) => e.replayId), "ids of the events published during the replay");
      assertEvents(
        eventsOn(replayer, channel),
        [...backlog, ...during, sentinel],
        channel,
        "every event once, in order, across the switch from backlog to live",
      );
      await traffic.check();
    });

    test("resumes from the last replay id it saw: exactly the missed events, then live ones", opts, async (t) => {
      const f = await fixture(t, FayeTestClient, transport);
      const channel = "/replay/resume";
      const other = "/replay/resume-other";
      const { client: publisher } = await f.connect("publisher");
      const first = await connectReplaying(f, "first", channel, -1);
      let traffic = await f.traffic();

      await first.subscribe(channel);
      const seen = await publishMany(publisher, channel, "seen", 3, { interleave: other });
      await received(first, channel, seen.at(-1).data.tag);
      assertEvents(eventsOn(first, channel), seen, channel, "the live events before leaving");
      // What a jsforce application stores: the replay id of the last event it processed.
      const lastSeen = eventsOn(first, channel).at(-1).ext.replayId;
      await first.disconnect();

      const missed = await publishMany(publisher, channel, "missed", 4, { interleave: other });
      await traffic.check();

      // One resumes with the id as a number, the other as a numeric string.
      const resumers = [
        { client: await connectReplaying(f, "resumer", channel, lastSeen), replay: lastSeen },
        { client: await connectReplaying(f, "resumer-string", channel, String(lastSeen)), replay: String(lastSeen) },
      ];
      traffic = await f.traffic();
      for (const { client, replay } of resumers) {
        await client.subscribe(channel);
        assertSubscribeSent(client, channel, { [channel]: replay });
      }
      const live = await publishOne(publisher, channel, "live");
      const sentinel = await publishOne(publisher, channel, "sentinel");
      for (const { client } of resumers) {
        await received(client, channel, "sentinel");
        assertEvents(
          eventsOn(client, channel),
          [...missed, live, sentinel],
          channel,
          `${client.name}: the missed events, none seen before, then the live ones`,
        );
      }
      await traffic.check();
    });

    test("resumes after a server restart on the same port and data directory", opts, async (t) => {
      const f = await fixture(t, FayeTestClient, transport);
      const channel = "/replay/restart";
      const other = "/replay/restart-other";
      const { client: publisher } = await f.connect("publisher");
      const watcher = await connectReplaying(f, "watcher", channel, -2);
      let traffic = await f.traffic();
      const before = await publishMany(publisher, channel, "before", 4, { interleave: other });
      const newestBefore = await publishEvent(publisher, other, { tag: "newest before the restart" });

      await watcher.subscribe(channel);
      await received(watcher, channel, before.at(-1).data.tag);
      const seenBefore = eventsOn(watcher, channel);
      assertEvents(seenBefore, before, channel, "the events before the restart");
      const resumeFrom = seenBefore[1].ext.replayId; // received before the restart
      await traffic.check();
      await watcher.disconnect();
      await publisher.disconnect();

      const { port, dataDir } = f.server;
      await f.server.restart();
      assert.equal(f.server.port, port);
      assert.equal(f.server.dataDir, dataDir, "the restart must keep the data directory");

      const { client: publisher2 } = await f.connect("publisher-after");
      const resumer = await connectReplaying(f, "resumer", channel, resumeFrom);
      const everything = await connectReplaying(f, "everything", channel, -2);
      traffic = await f.traffic();

      const after = await publishMany(publisher2, channel, "after", 2, { interleave: other });
      assert.ok(after[0].replayId > newestBefore, `ids keep increasing after the restart: ${after[0].replayId} <= ${newestBefore}`);
      for (const client of [resumer, everything]) await client.subscribe(channel);
      assertSubscribeSent(resumer, channel, { [channel]: resumeFrom });

      const live = await publishOne(publisher2, channel, "live");
      const sentinel = await publishOne(publisher2, channel, "sentinel");
      await received(resumer, channel, "sentinel");
      await received(everything, channel, "sentinel");
      assertEvents(
        eventsOn(resumer, channel),
        [...before.slice(2), ...after, live, sentinel],
        channel,
        "the events after the id received before the restart, then live ones",
      );
      const all = eventsOn(everything, channel);
      assertEvents(all, [...before, ...after, live, sentinel], channel, "-2 after the restart");
      // The stored events are the same events: same ids, same createdDate.
      assert.deepEqual(
        all.slice(0, before.length).map((m) => m.ext),
        seenBefore.map((m) => m.ext),
        "an event's ext is the same before and after the restart",
      );
      await traffic.check();
    });

    test("-1, and no replay extension at all, get only new events", opts, async (t) => {
      const f = await fixture(t, FayeTestClient, transport);
      const channel = "/replay/new-only";
      const { client: publisher } = await f.connect("publisher");
      await publishMany(publisher, channel, "stored", 3);
      const newOnly = await connectReplaying(f, "minus-one", channel, -1);
      const { client: plain, reply } = await connectWith(f, "plain");
      assert.deepEqual(reply.ext, HANDSHAKE_EXT);
      const traffic = await f.traffic();

      const handles = [await newOnly.subscribe(channel), await plain.subscribe(channel)];
      assertSubscribeSent(newOnly, channel, { [channel]: -1 });
      assertSubscribeSent(plain, channel, undefined);

      const live = await publishOne(publisher, channel, "live");
      const sentinel = await publishOne(publisher, channel, "sentinel");
      for (const [i, client] of [newOnly, plain].entries()) {
        await received(client, channel, "sentinel");
        assertEvents(eventsOn(client, channel), [live, sentinel], channel, `${client.name}: nothing stored, only new events`);
        assert.deepEqual(handles[i].inbox.items.map((d) => d.data), [live.data, sentinel.data]);
      }
      await traffic.check();
    });

    test("replay errors, byte-exact as faye reports them", opts, async (t) => {
      const f = await fixture(t, FayeTestClient, transport);
      const channel = "/replay/errors";
      const elsewhere = "/replay/elsewhere";
      const { client: publisher } = await f.connect("publisher");
      const stored = await publishMany(publisher, channel, "stored", 2);
      const newest = stored.at(-1).replayId; // the newest event of the whole log

      const atNewest = await connectReplaying(f, "at-newest", channel, newest);
      const tooNew = await connectReplaying(f, "too-new", channel, newest + 1);
      // jsforce's extension sends its map with every subscribe, whatever the channel.
      const otherMap = await connectReplaying(f, "other-map", elsewhere, -2);
      const emptyMap = (await connectWith(f, "empty-map", [
        {
          outgoing(message, callback) {
            if (message.channel === "/meta/subscribe") message.ext = { ...message.ext, replay: {} };
            callback(message);
          },
        },
      ])).client;
      const traffic = await f.traffic();

      const failures = [
        [tooNew, invalidReplayIdError(newest + 1)],
        [otherMap, missingChannelError(channel, `{${elsewhere}=-2}`)],
        [emptyMap, missingChannelError(channel, "{}")],
      ];
      for (const [client, expected] of failures) {
        await assert.rejects(client.subscribe(channel), (error) => {
          // The message does not fit faye's error grammar, so faye keeps it whole.
          assert.equal(error.message, expected, `${client.name}: the error faye reports`);
          return true;
        });
        const replies = client.raw.filter((m) => m.channel === "/meta/subscribe");
        assert.equal(replies.length, 1, JSON.stringify(replies));
        assert.equal(replies[0].successful, false, JSON.stringify(replies[0]));
        assert.equal(replies[0].subscription, channel, JSON.stringify(replies[0]));
        assert.equal(replies[0].error, expected, `${client.name}: the error on the wire`);
      }
      assert.equal(missingChannelError(channel, "{}").includes("replay ID map {{}}. Ensure"), true);
      assert.equal(invalidReplayIdError(7).includes(`{7} you provided was invalid.  Please`), true);

      // The newest id itself is valid: nothing to replay, then live events.
      const handle = await atNewest.subscribe(channel);
      assertSubscribeSent(atNewest, channel, { [channel]: newest });
      const live = await publishOne(publisher, channel, "live");
      await received(atNewest, channel, "live");
      assertEvents(eventsOn(atNewest, channel), [live], channel, "after the newest id: only the live event");
      assert.equal(handle.inbox.items.length, 1);
      await traffic.check();
    });
  });
}
