// The scenarios every (client, transport) pair runs against a real bayou process.
//
// Each test starts its own server and stops it (and disconnects its clients) when it ends, so
// tests never share state. Nothing sleeps: tests wait for replies and deliveries with deadlines
// (util.mjs). "Must not arrive" checks publish a later sentinel that the same client does
// receive, and look at every message that arrived on the wire before it.
//
// Every test also checks, through the server's /metrics, that its traffic really travelled on
// the transport under test.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { startServer } from "./server.mjs";
import { richPayload, waitFor } from "./util.mjs";

/** Per-test deadline: a hang fails the test instead of blocking the run. */
export const TEST_TIMEOUT_MS = 30_000;

const isData = (m) => !m.channel.startsWith("/meta/") && m.data !== undefined;

/**
 * Opens a test fixture: a server, and a factory of connected clients, all torn down by `t.after`.
 *
 * `transport` is what the client is told to use; `expected` the transport its traffic must
 * really use ("auto" clients against a long-polling-only server must end up on long-polling).
 */
export async function fixture(t, Client, transport, { expected = transport, server: serverOptions } = {}) {
  const server = await startServer(serverOptions);
  const clients = [];
  t.after(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await server.dispose();
  });

  /**
   * Waits until `client` sends a /meta/connect for its current session on the expected
   * transport: from then on its messages travel on it (faye upgrades after handshaking).
   */
  const connected = (client, since = 0) =>
    client.sent.waitFor(
      (m) => m.channel === "/meta/connect" && m.connectionType === expected && m.clientId === client.clientId,
      `a /meta/connect with connectionType ${expected} for the current clientId`,
      { since },
    );

  /**
   * Waits until `client` has a /meta/connect outstanding that the server holds: sent on the
   * expected transport after some earlier connect was answered (the first one never is held).
   */
  const holding = (client) =>
    waitFor(() => {
      const answered = new Set(client.raw.filter((m) => m.channel === "/meta/connect").map((m) => m.id));
      return (
        answered.size > 0 &&
        client.sent.filter((m) => m.channel === "/meta/connect" && m.connectionType === expected && !answered.has(m.id))
          .length > 0
      );
    }, `${client.name}: a held /meta/connect`);

  /** A new client, handshaken and connecting on the expected transport. */
  const connect = async (name) => {
    const client = new Client(server.url, { transport, name });
    clients.push(client);
    const reply = await client.handshake();
    await connected(client);
    return { client, reply };
  };

  /**
   * Snapshots the server's per-transport message counters; `check()` then asserts that the
   * messages received since went over the expected transport only.
   */
  const traffic = async () => {
    const before = await server.metrics();
    return {
      async check() {
        const after = await server.metrics();
        const delta = (tr) => after.received(tr) - before.received(tr);
        const other = expected === "websocket" ? "long-polling" : "websocket";
        assert.ok(delta(expected) > 0, `no message arrived over ${expected}:\n${after.text}`);
        assert.equal(delta(other), 0, `messages arrived over ${other}, expected ${expected} only:\n${after.text}`);
        if (expected === "long-polling") {
          // Never upgraded at all on this server.
          assert.equal(after.get("bayou_messages_received_total", { transport: "websocket" }), undefined, after.text);
          assert.equal(after.websocketConnections, 0, after.text);
        }
      },
    };
  };

  return { server, clients, connect, connected, holding, traffic };
}

/** Registers the interop scenarios for `Client` ("faye" or "cometd") over `transport`. */
export function interopSuite(Client, transport) {
  describe(`${Client.kind} over ${transport}`, () => {
    const opts = { timeout: TEST_TIMEOUT_MS };

    test("handshake", opts, async (t) => {
      const f = await fixture(t, Client, transport);
      const { client, reply } = await f.connect("client");

      assert.equal(reply.channel, "/meta/handshake");
      assert.equal(reply.successful, true);
      assert.equal(reply.version, "1.0");
      assert.equal(typeof reply.clientId, "string");
      assert.ok(reply.clientId.length > 0);
      assert.ok(reply.supportedConnectionTypes.includes(transport), JSON.stringify(reply));
      assert.equal(client.clientId, reply.clientId);

      // The connect loop runs on the transport under test, with the server's advice.
      const connect = await client.raw.waitFor(
        (m) => m.channel === "/meta/connect" && m.successful,
        "a successful /meta/connect reply",
      );
      assert.equal(connect.clientId ?? reply.clientId, reply.clientId);
      assert.deepEqual(
        { reconnect: connect.advice?.reconnect, timeout: connect.advice?.timeout },
        { reconnect: "retry", timeout: 3000 },
        `the first connect reply carries the server's advice: ${JSON.stringify(connect)}`,
      );

      // The connect sent on the transport may still be on its way: wait for the server to count it.
      const metrics = await waitForMetric(
        f.server,
        (m) => m.received(transport) > 0 && (transport !== "websocket" || m.websocketConnections === 1) && m,
        `a message received over ${transport}`,
      );
      assert.equal(metrics.sessions, 1, metrics.text);
      if (transport === "long-polling") {
        assert.equal(metrics.get("bayou_messages_received_total", { transport: "websocket" }), undefined, metrics.text);
        assert.equal(metrics.websocketConnections, 0, metrics.text);
      } else {
        assert.equal(metrics.websocketConnections, 1, metrics.text);
        if (Client.kind === "cometd") {
          // CometD sends the handshake itself over the socket: no HTTP request at all.
          assert.equal(metrics.get("bayou_messages_received_total", { transport: "long-polling" }), undefined, metrics.text);
        } else {
          // faye handshakes over HTTP, then upgrades.
          assert.ok(metrics.received("long-polling") >= 1, metrics.text);
        }
      }
    });

    test("subscribe", opts, async (t) => {
      const f = await fixture(t, Client, transport);
      const { client: subscriber } = await f.connect("subscriber");
      const { client: publisher } = await f.connect("publisher");
      const traffic = await f.traffic();

      const channels = ["/news/one", "/news/two", "/news/three/*", "/news/four/**"];
      const handles = [];
      for (const channel of channels) handles.push(await subscriber.subscribe(channel));

      for (const channel of channels) {
        const ack = subscriber.raw.filter((m) => m.channel === "/meta/subscribe" && [].concat(m.subscription).includes(channel));
        assert.equal(ack.length, 1, `one reply for ${channel}: ${JSON.stringify(ack)}`);
        assert.equal(ack[0].successful, true, JSON.stringify(ack[0]));
      }

      // The subscription is live on the server: another client's publish reaches it.
      await publisher.publish("/news/two", { n: 2 });
      const got = await handles[1].inbox.waitFor(() => true, "the message on /news/two");
      assert.deepEqual(got, { channel: "/news/two", data: { n: 2 } });
      await traffic.check();
    });

    test("publish from one client, receive on others, data intact and in order", opts, async (t) => {
      const f = await fixture(t, Client, transport);
      const { client: alice } = await f.connect("alice");
      const { client: bob } = await f.connect("bob");
      const { client: publisher } = await f.connect("publisher");
      const traffic = await f.traffic();

      const a = await alice.subscribe("/news/daily");
      const b = await bob.subscribe("/news/daily");

      const payloads = [richPayload("first"), richPayload("second"), { seq: 3, tail: ["end"] }];
      for (const data of payloads) await publisher.publish("/news/daily", data);

      for (const [who, handle] of [["alice", a], ["bob", b]]) {
        await handle.inbox.waitFor((d) => d.data.seq === 3, `${who}: the last message`);
        assert.deepEqual(
          handle.inbox.items,
          payloads.map((data) => ({ channel: "/news/daily", data })),
          `${who} got every message once, intact and in order`,
        );
      }
      // What the wire carried is intact too (not just what the client library handed over).
      const onWire = alice.raw.filter((m) => m.channel === "/news/daily" && isData(m)).map((m) => m.data);
      assert.deepEqual(onWire, payloads);
      // The publisher is not subscribed, so it got none of them.
      assert.deepEqual(publisher.raw.filter((m) => m.channel === "/news/daily" && isData(m)), []);
      await traffic.check();
    });

    test("wildcard subscriptions", opts, async (t) => {
      const f = await fixture(t, Client, transport);
      // One subscription per client, so the client's own local matching cannot hide what the
      // server delivered: every message on the wire is recorded.
      const { client: star } = await f.connect("star");
      const { client: starStar } = await f.connect("star-star");
      const { client: publisher } = await f.connect("publisher");
      const traffic = await f.traffic();

      const one = await star.subscribe("/chat/*");
      const all = await starStar.subscribe("/chat/**");

      const deep = { where: "/chat/a/b", payload: richPayload("deep") };
      const shallow = { where: "/chat/a", payload: richPayload("shallow") };
      await publisher.publish("/chat/a/b", deep);
      await publisher.publish("/chat/a", shallow); // the sentinel for /chat/*

      // /chat/** receives both, in order.
      await all.inbox.waitFor((d) => d.channel === "/chat/a", "/chat/a on /chat/**");
      assert.deepEqual(all.inbox.items, [
        { channel: "/chat/a/b", data: deep },
        { channel: "/chat/a", data: shallow },
      ]);

      // /chat/* receives /chat/a, and /chat/a/b never came before it.
      const got = await one.inbox.waitFor((d) => d.channel === "/chat/a", "/chat/a on /chat/*");
      assert.deepEqual(got, { channel: "/chat/a", data: shallow });
      assert.deepEqual(one.inbox.items, [{ channel: "/chat/a", data: shallow }]);
      assert.deepEqual(
        star.raw.filter((m) => m.channel === "/chat/a/b"),
        [],
        "the server delivered /chat/a/b to a /chat/* subscriber",
      );
      await traffic.check();
    });

    test("unsubscribe stops deliveries", opts, async (t) => {
      const f = await fixture(t, Client, transport);
      const { client: subscriber } = await f.connect("subscriber");
      const { client: publisher } = await f.connect("publisher");
      const traffic = await f.traffic();

      const topic = await subscriber.subscribe("/unsub/topic");
      const sentinel = await subscriber.subscribe("/unsub/sentinel");

      await publisher.publish("/unsub/topic", { n: 1 });
      await topic.inbox.waitFor((d) => d.data.n === 1, "message 1 before unsubscribing");

      const reply = await subscriber.unsubscribe(topic);
      assert.equal(reply.successful, true);

      await publisher.publish("/unsub/topic", { n: 2 });
      await publisher.publish("/unsub/sentinel", { n: 3 });
      await sentinel.inbox.waitFor((d) => d.data.n === 3, "the sentinel after unsubscribing");

      assert.deepEqual(topic.inbox.items, [{ channel: "/unsub/topic", data: { n: 1 } }]);
      assert.deepEqual(
        subscriber.raw.filter((m) => m.channel === "/unsub/topic" && isData(m)).map((m) => m.data),
        [{ n: 1 }],
        "the server delivered a message after the unsubscribe was acknowledged",
      );
      await traffic.check();
    });

    test("disconnect", opts, async (t) => {
      const f = await fixture(t, Client, transport);
      const { client: leaver, reply: hello } = await f.connect("leaver");
      const { client: stayer } = await f.connect("stayer");
      const traffic = await f.traffic();
      await leaver.subscribe("/bye/topic");
      const stays = await stayer.subscribe("/bye/topic");
      assert.equal((await f.server.health()).sessions, 2);

      const reply = await leaver.disconnect();
      assert.equal(reply.channel, "/meta/disconnect");
      assert.equal(reply.successful, true);
      // The server removed the session before answering.
      assert.equal((await f.server.health()).sessions, 1);
      const metrics = await f.server.metrics();
      assert.equal(metrics.value("bayou_sessions_closed_total", { reason: "disconnected" }), 1, metrics.text);

      // The remaining client is unaffected.
      await stayer.publish("/bye/topic", { still: "here" });
      await stays.inbox.waitFor((d) => d.data.still === "here", "delivery to the remaining client");

      // Nothing reached the client that left after it left.
      const bye = leaver.raw.items.findLastIndex((m) => m.channel === "/meta/disconnect");
      assert.deepEqual(leaver.raw.items.slice(bye + 1).filter(isData), []);
      assert.equal(reply.clientId ?? hello.clientId, hello.clientId);
      await traffic.check();
    });

    if (transport === "websocket") {
      // CometD JS closes its WebSocket only when the disconnect reply comes with no connect
      // outstanding: the server must answer the held connect first, in the same frame.
      test("disconnect closes the WebSocket", opts, async (t) => {
        const f = await fixture(t, Client, transport);
        const { client: leaver } = await f.connect("leaver");
        await f.connect("stayer");
        // The usual state of a client: its socket carries a held connect.
        await f.holding(leaver);
        await waitForMetric(f.server, (m) => m.websocketConnections === 2, "two WebSockets open");
        await leaver.disconnect();
        await waitForMetric(f.server, (m) => m.websocketConnections === 1, "the leaver's WebSocket closed", 3000);
      });
    }

    test("recovers after the server forgot the session", opts, async (t) => {
      const f = await fixture(t, Client, transport);
      const { client: subscriber } = await f.connect("subscriber");
      const { client: publisher } = await f.connect("publisher");
      const handle = await subscriber.subscribe("/recover/topic");
      await publisher.publish("/recover/topic", { before: true });
      await handle.inbox.waitFor((d) => d.data.before, "delivery before the restart");
      const oldIds = [subscriber.clientId, publisher.clientId];
      const marks = [subscriber.raw.mark(), publisher.raw.mark()];
      const sentMarks = [subscriber.sent.mark(), publisher.sent.mark()];

      const port = f.server.port;
      await f.server.restart(); // same port, new process: every session is gone
      assert.equal(f.server.port, port);

      for (const [i, client] of [subscriber, publisher].entries()) {
        // The next connect (or other message) names the old clientId and is told to handshake.
        const refused = await client.raw.waitFor(
          (m) => m.successful === false && /^403::/.test(m.error ?? ""),
          "403::Unknown client from the restarted server",
          { since: marks[i] },
        );
        assert.equal(refused.error, "403::Unknown client", JSON.stringify(refused));
        assert.equal(refused.advice?.reconnect, "handshake", JSON.stringify(refused));
        const again = await client.raw.waitFor(
          (m) => m.channel === "/meta/handshake" && m.successful,
          "a new successful handshake",
          { since: marks[i] },
        );
        assert.notEqual(again.clientId, oldIds[i]);
        await f.connected(client, sentMarks[i]);
      }
      // faye restores its subscriptions by itself; the CometD wrapper does it in its
      // /meta/handshake listener. Either way the server must acknowledge it.
      const resubscribed = await subscriber.raw.waitFor(
        (m) => m.channel === "/meta/subscribe" && [].concat(m.subscription).includes("/recover/topic"),
        "the subscription restored on the new server",
        { since: marks[0] },
      );
      assert.equal(resubscribed.successful, true, JSON.stringify(resubscribed));
      assert.equal(resubscribed.clientId ?? subscriber.clientId, subscriber.clientId);

      const traffic = await f.traffic();
      const data = richPayload("after restart");
      await publisher.publish("/recover/topic", data);
      const got = await handle.inbox.waitFor((d) => d.data.tag === "after restart", "delivery after the restart");
      assert.deepEqual(got, { channel: "/recover/topic", data });
      assert.deepEqual(handle.inbox.items.map((d) => d.data), [{ before: true }, data]);
      assert.equal((await f.server.health()).sessions, 2);
      await traffic.check();
    });
  });
}

function waitForMetric(server, check, what, timeout) {
  return waitFor(async () => check(await server.metrics()), what, { timeout });
}
