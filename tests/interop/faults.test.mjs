// Fault injection (docs/faults.md) against real, unchanged clients: each fault of the admin API
// is injected into a running bayou, and the test checks what the client does about it, as an
// application would see it.
//
// The faults are injected two ways: with the `bayou admin` command (the same binary, spawned:
// `sessions`, `expire-session`, `delay-deliveries`) and over HTTP (`expire-session` with
// `all`, `invalidate-tokens`, `drop-connections`, `expire-log`). Each test starts its own
// server with an admin token and stops it afterwards, with its clients. Waits have deadlines;
// the only timing assertions are in the delay test, with wide margins.

import assert from "node:assert/strict";
import { createServer } from "node:net";
import { performance } from "node:perf_hooks";
import { describe, test } from "node:test";

import { CometDTestClient } from "./clients/cometd.mjs";
import { FayeTestClient } from "./clients/faye.mjs";
import { CREDENTIALS, createPushTopic, JsforceOrg, StreamingExtension, subscribeEvents } from "./clients/jsforce.mjs";
import { CLOSE, WebSocketWatchingProxy } from "./proxy.mjs";
import { assertEvents, eventsOn, FayeReplayExtension, invalidReplayIdError, publishEvent } from "./replay.mjs";
import { fixture, TEST_TIMEOUT_MS } from "./scenarios.mjs";
import { API_PATH, runBayou, startServer } from "./server.mjs";
import { richPayload, waitFor, withTimeout } from "./util.mjs";

const opts = { timeout: TEST_TIMEOUT_MS };

/** The admin token of every server here (what `openssl rand -hex 16` would give). */
const TOKEN = "6f1c0d2e9a8b7c6d5e4f3a2b1c0d9e8f";

/** `bayou admin …` against `server`: asserts it succeeded and returns its parsed JSON output. */
async function cli(server, args) {
  const run = await server.adminCli(args);
  assert.equal(run.code, 0, `bayou admin ${args.join(" ")} exited with ${run.code}: ${run.stderr}`);
  assert.equal(run.stderr, "", `bayou admin ${args.join(" ")} wrote to stderr`);
  return JSON.parse(run.stdout);
}

/** `POST /admin/faults/<fault>` with `body`: asserts HTTP 200 and returns the JSON reply. */
async function inject(server, fault, body) {
  const { status, body: reply } = await server.admin(`faults/${fault}`, body);
  assert.equal(status, 200, `POST /admin/faults/${fault}: ${JSON.stringify(reply)}`);
  return reply;
}

/** The live sessions by clientId, from `GET /admin/sessions`. */
async function sessions(server) {
  const { status, body } = await server.admin("sessions");
  assert.equal(status, 200, JSON.stringify(body));
  return new Map(body.sessions.map((s) => [s.clientId, s]));
}

/** The ids of the /meta/connect messages `client` sent that have no reply yet. */
function unanswered(client) {
  const answered = new Set(client.raw.filter((m) => m.channel === "/meta/connect").map((m) => m.id));
  return client.sent.filter((m) => m.channel === "/meta/connect" && !answered.has(m.id)).map((m) => m.id);
}

/** A server-sent message that is an error for this session (403, 401, 402 …). */
const isFailure = (m) => m.successful === false;

describe("fault injection through the admin API", () => {
  for (const transport of ["websocket", "long-polling"]) {
    test(`expire-session <clientId> (CLI): faye over ${transport} gets 403::Unknown client, handshakes again and keeps receiving`, opts, async (t) => {
      const f = await fixture(t, FayeTestClient, transport, { server: { adminToken: TOKEN } });
      const channel = "/faults/expire";
      const { client: subscriber } = await f.connect("subscriber");
      const { client: publisher } = await f.connect("publisher");
      const handle = await subscriber.subscribe(channel);
      await publisher.publish(channel, { before: true });
      await handle.inbox.waitFor((d) => d.data.before, "delivery before the fault");

      // `bayou admin sessions` lists both sessions, with the subscription.
      const oldId = subscriber.clientId;
      const publisherId = publisher.clientId;
      const listed = await cli(f.server, ["sessions"]);
      assert.deepEqual(
        listed.sessions.map((s) => s.clientId).sort(),
        [oldId, publisherId].sort(),
        JSON.stringify(listed),
      );
      assert.deepEqual(listed.sessions.find((s) => s.clientId === oldId).subscriptions, [channel]);

      const marks = { raw: subscriber.raw.mark(), sent: subscriber.sent.mark(), publisher: publisher.raw.mark() };
      assert.deepEqual(await cli(f.server, ["expire-session", oldId]), { expired: 1 });

      // The next message of the old session (its held connect, or the next one) is refused the
      // way a forgotten session is, and faye, recording it in its extension, handshakes again.
      const refused = await subscriber.raw.waitFor(isFailure, "403::Unknown client after the fault", { since: marks.raw });
      assert.deepEqual(
        { channel: refused.channel, error: refused.error, advice: refused.advice },
        { channel: "/meta/connect", error: "403::Unknown client", advice: { reconnect: "handshake", interval: 0 } },
        JSON.stringify(refused),
      );
      assert.equal(refused.clientId ?? oldId, oldId);
      const again = await subscriber.raw.waitFor(
        (m) => m.channel === "/meta/handshake" && m.successful,
        "a new successful handshake",
        { since: marks.raw },
      );
      assert.notEqual(again.clientId, oldId);
      assert.equal(subscriber.clientId, again.clientId);
      // faye subscribes again by itself, on the new session.
      const resubscribed = await subscriber.raw.waitFor(
        (m) => m.channel === "/meta/subscribe" && [].concat(m.subscription).includes(channel),
        "the subscription restored by faye",
        { since: marks.raw },
      );
      assert.equal(resubscribed.successful, true, JSON.stringify(resubscribed));
      assert.equal(resubscribed.clientId ?? again.clientId, again.clientId);
      // faye goes back to the transport under test (over WebSocket it long-polls first, then upgrades).
      await f.connected(subscriber, marks.sent);

      const traffic = await f.traffic();
      const data = richPayload("after the fault");
      await publisher.publish(channel, data);
      const got = await handle.inbox.waitFor((d) => d.data.tag === "after the fault", "delivery after the fault");
      assert.deepEqual(got, { channel, data });
      assert.deepEqual(handle.inbox.items.map((d) => d.data), [{ before: true }, data]);
      await traffic.check();

      // Only that session was expired: the publisher kept its own.
      assert.deepEqual(publisher.raw.filter(isFailure, marks.publisher), []);
      assert.equal(publisher.clientId, publisherId);
      const now = await cli(f.server, ["sessions"]);
      assert.deepEqual(now.sessions.map((s) => s.clientId).sort(), [again.clientId, publisherId].sort(), JSON.stringify(now));
      assert.deepEqual(now.sessions.find((s) => s.clientId === again.clientId).subscriptions, [channel]);
      const metrics = await f.server.metrics();
      assert.equal(metrics.value("bayou_sessions_closed_total", { reason: "expired" }), 1, metrics.text);
    });
  }

  test("expire-session {all: true} (HTTP): every faye client handshakes again, with its subscriptions", opts, async (t) => {
    const f = await fixture(t, FayeTestClient, "websocket", { server: { adminToken: TOKEN } });
    const channel = "/faults/expire-all";
    const clients = [];
    for (const name of ["alice", "bob"]) {
      const { client } = await f.connect(name);
      clients.push({ client, handle: await client.subscribe(channel), oldId: client.clientId, mark: client.raw.mark() });
    }

    assert.deepEqual(await inject(f.server, "expire-session", { all: true }), { expired: 2 });

    for (const { client, oldId, mark } of clients) {
      const refused = await client.raw.waitFor(isFailure, `${client.name}: 403::Unknown client`, { since: mark });
      assert.equal(refused.error, "403::Unknown client", JSON.stringify(refused));
      assert.deepEqual(refused.advice, { reconnect: "handshake", interval: 0 });
      const again = await client.raw.waitFor((m) => m.channel === "/meta/handshake" && m.successful, `${client.name}: handshake`, { since: mark });
      assert.notEqual(again.clientId, oldId);
      await client.raw.waitFor(
        (m) => m.channel === "/meta/subscribe" && m.successful && m.clientId === again.clientId,
        `${client.name}: the subscription restored`,
        { since: mark },
      );
    }
    await clients[0].client.publish(channel, { n: 1 });
    for (const { client, handle } of clients) {
      await handle.inbox.waitFor((d) => d.data.n === 1, `${client.name}: delivery after the fault`);
    }
    assert.deepEqual([...(await sessions(f.server)).keys()].sort(), clients.map((c) => c.client.clientId).sort());
  });

  test("invalidate-tokens (HTTP): jsforce's AuthFailure fires with 401::Authentication invalid, reconnect none", opts, async (t) => {
    const timeout = 2000; // how long the server holds a /meta/connect
    const org = await JsforceOrg.start(t, { timeout, adminToken: TOKEN });
    const { conn, userInfo } = await org.oauthLogin();
    await createPushTopic(conn, "FaultCases", "SELECT Id, Subject FROM Case");

    const failures = [];
    let onFailure;
    const failed = new Promise((resolve) => (onFailure = resolve));
    const authFailure = new StreamingExtension.AuthFailure((message) => {
      failures.push(message);
      onFailure(message);
    });
    const { client, raw, sent } = org.createClient(conn, [authFailure], "jsforce with AuthFailure");
    const { events } = await subscribeEvents("/topic/FaultCases", (cb) => client.subscribe("/topic/FaultCases", cb));
    const kase = await conn.sobject("Case").create({ Subject: "Before the fault" });
    await events.waitFor((e) => e.sobject.Id === kase.id, "an event while the token is valid");

    // The admin API shows the session as the user's.
    const clientId = client._dispatcher.clientId;
    const live = (await sessions(org.server)).get(clientId);
    assert.ok(live, `session ${clientId} not listed`);
    assert.equal(live.userId, userInfo.id);
    assert.deepEqual(live.subscriptions, ["/topic/FaultCases"]);

    // Inject while the server holds a connect: it must answer at the latest when that connect
    // comes back (after `timeout`) and the client sends the next one.
    await waitFor(() => {
      const answered = new Set(raw.filter((m) => m.channel === "/meta/connect").map((m) => m.id));
      return answered.size > 0 && sent.filter((m) => m.channel === "/meta/connect" && !answered.has(m.id)).length > 0;
    }, "a held /meta/connect");
    const oldToken = conn.accessToken;
    const injectedAt = Date.now();
    const reply = await inject(org.server, "invalidate-tokens", { username: CREDENTIALS.username });
    // The access token and the refresh token bayou's password grant also issues.
    assert.deepEqual(reply, { revoked: 2 });
    const message = await withTimeout(failed, "the AuthFailure callback", timeout + 5000);
    const elapsed = Date.now() - injectedAt;
    assert.ok(elapsed < timeout + 2000, `AuthFailure fired ${elapsed} ms after the fault`);
    t.diagnostic(`AuthFailure fired ${elapsed} ms after the fault (connect timeout ${timeout} ms)`);

    const { id, clientId: failedId, ...rest } = message;
    assert.equal(failedId ?? clientId, clientId);
    assert.deepEqual(rest, {
      channel: "/meta/connect",
      successful: false,
      error: "401::Authentication invalid",
      advice: { reconnect: "none", interval: 0 },
    });
    assert.equal(failures.length, 1);
    assert.deepEqual(raw.filter(isFailure), [message], "exactly that failure on the wire");

    // A new client with the invalidated token: the handshake is denied the Salesforce way.
    const denied = await withTimeout(
      new Promise((resolve) => {
        const late = org.createClient(conn, [new StreamingExtension.AuthFailure(resolve)], "jsforce with the old token");
        late.client.subscribe("/topic/FaultCases", () => {});
      }),
      "the AuthFailure callback on the handshake",
    );
    assert.deepEqual(
      { channel: denied.channel, successful: denied.successful, error: denied.error, reconnect: denied.advice?.reconnect, failureReason: denied.ext?.sfdc?.failureReason },
      { channel: "/meta/handshake", successful: false, error: "403::Handshake denied", reconnect: "none", failureReason: "401::Authentication invalid" },
    );

    // The token is dead for REST too: jsforce's next call gets 401 INVALID_SESSION_ID and
    // jsforce logs in again by itself (it keeps the username and password of an OAuth
    // password login), with a new token; streaming on it works again.
    const refreshed = new Promise((resolve) => conn.once("refresh", resolve));
    await withTimeout(conn.query("SELECT Id FROM Case"), "a query after the fault");
    const newToken = await withTimeout(refreshed, "jsforce's session refresh");
    assert.notEqual(newToken, oldToken);
    assert.equal(conn.accessToken, newToken);
    const again = org.createClient(conn, [], "jsforce after the refresh");
    const { events: after } = await subscribeEvents("/topic/FaultCases", (cb) => again.client.subscribe("/topic/FaultCases", cb));
    const next = await conn.sobject("Case").create({ Subject: "After the fault" });
    const got = await after.waitFor((e) => e.sobject.Id === next.id, "an event after the refresh");
    assert.deepEqual(got.sobject, { Id: next.id, Subject: "After the fault" });
  });

  for (const Client of [FayeTestClient, CometDTestClient]) {
    test(`drop-connections (HTTP): ${Client.kind} over WebSocket is cut off by the server and reconnects with the same clientId`, opts, async (t) => {
      // A long hold, so that a connect answered right after the fault was answered by the fault.
      const hold = 20_000;
      const server = await startServer({ adminToken: TOKEN, timeout: hold });
      const proxy = await WebSocketWatchingProxy.start(server.port);
      const clients = [];
      t.after(async () => {
        await Promise.allSettled(clients.map((c) => c.close()));
        await proxy.close();
        await server.dispose();
      });
      const channel = "/faults/drop";
      const url = `${proxy.origin}${API_PATH}`;
      for (const name of ["alice", "bob"]) {
        const client = new Client(url, { transport: "websocket", name });
        clients.push(client);
        await client.handshake();
        await client.sent.waitFor(
          (m) => m.channel === "/meta/connect" && m.connectionType === "websocket" && m.clientId === client.clientId,
          `${name}: a /meta/connect over WebSocket`,
        );
        client.handle = await client.subscribe(channel);
      }
      const [alice, bob] = clients;
      const ids = clients.map((c) => c.clientId);
      for (const client of clients) await waitFor(() => unanswered(client).length > 0, `${client.name}: a held /meta/connect`);
      // Messages on a WebSocket are handled in order: once these publishes are acknowledged,
      // the server holds the connects sent before them.
      await alice.publish(channel, { from: "alice", when: "before" });
      await bob.publish(channel, { from: "bob", when: "before" });
      for (const client of clients) await client.handle.inbox.waitFor((d) => d.data.from === "bob", `${client.name}: deliveries before the fault`);
      const held = clients.map((c) => unanswered(c));
      for (const [i, client] of clients.entries()) assert.equal(held[i].length, 1, `${client.name}: ${JSON.stringify(held[i])}`);
      await waitFor(() => proxy.open.length === 2, "one WebSocket per client through the proxy");
      const before = proxy.open;
      const marks = clients.map((c) => ({ raw: c.raw.mark(), sent: c.sent.mark() }));
      const droppedAt = performance.now();

      assert.deepEqual(await inject(server, "drop-connections", {}), { held: 2 });

      // The held connects are answered at once (not after the 20 s hold), successfully.
      for (const [i, client] of clients.entries()) {
        const reply = await client.raw.waitFor((m) => m.channel === "/meta/connect" && m.id === held[i][0], `${client.name}: the held connect answered`, { since: marks[i].raw, timeout: 5000 });
        assert.equal(reply.successful, true, JSON.stringify(reply));
      }
      assert.ok(performance.now() - droppedAt < hold / 2);
      // The server closed both WebSockets: its Close frame came first, then the connection ended.
      for (const ws of before) {
        await proxy.events.waitFor((e) => e.id === ws.id && e.what === "closed", `WebSocket ${ws.id} closed`);
        assert.equal(ws.firstClose, "server", `WebSocket ${ws.id}: ${JSON.stringify(ws.frames)}`);
        assert.ok(ws.frames.server.includes(CLOSE), JSON.stringify(ws.frames));
      }
      // Each client opened a new one by itself and carried on with its session: a connect with
      // the same clientId, no handshake.
      await waitFor(() => proxy.open.length === 2 && proxy.open.every((w) => !before.includes(w)), "two new WebSockets");
      for (const [i, client] of clients.entries()) {
        await client.sent.waitFor(
          (m) => m.channel === "/meta/connect" && m.connectionType === "websocket" && m.clientId === ids[i],
          `${client.name}: a /meta/connect with the same clientId after the fault`,
          { since: marks[i].sent },
        );
      }
      await alice.publish(channel, { from: "alice", when: "after" });
      await bob.publish(channel, { from: "bob", when: "after" });
      for (const client of clients) {
        await client.handle.inbox.waitFor((d) => d.data.from === "bob" && d.data.when === "after", `${client.name}: deliveries after the fault`);
        assert.deepEqual(
          client.handle.inbox.items.map((d) => `${d.data.from} ${d.data.when}`),
          ["alice before", "bob before", "alice after", "bob after"],
          `${client.name}: every message once, in order`,
        );
      }
      for (const [i, client] of clients.entries()) {
        assert.equal(client.clientId, ids[i]);
        assert.deepEqual(client.sent.filter((m) => m.channel === "/meta/handshake", marks[i].sent), [], `${client.name} handshook again`);
        assert.deepEqual(client.raw.filter(isFailure, marks[i].raw), [], `${client.name}: the server refused a message`);
      }
      // The deliveries after the fault came over the new sockets.
      for (const ws of proxy.open) assert.ok(ws.frames.server.includes(0x1), `no text frame on WebSocket ${ws.id}`);
      const live = await sessions(server);
      assert.deepEqual([...live.keys()].sort(), [...ids].sort());
      for (const id of ids) assert.deepEqual(live.get(id).subscriptions, [channel]);
      const metrics = await server.metrics();
      assert.equal(metrics.get("bayou_sessions_closed_total"), undefined, metrics.text);
    });
  }

  test("delay-deliveries <ms> (CLI): faye gets events that much later, and promptly again after 0", opts, async (t) => {
    const f = await fixture(t, FayeTestClient, "websocket", { server: { adminToken: TOKEN } });
    const channel = "/faults/delay";
    const { client: subscriber } = await f.connect("subscriber");
    const { client: publisher } = await f.connect("publisher");
    const handle = await subscriber.subscribe(channel);
    const delay = 1500;

    assert.deepEqual(await cli(f.server, ["delay-deliveries", String(delay)]), { delayMs: delay });
    const start = performance.now();
    await publisher.publish(channel, { n: 1 });
    // Not there 300 ms after the publish began (it is due 1500 ms after)...
    const early = Math.max(0, 300 - (performance.now() - start));
    await assert.rejects(
      handle.inbox.waitFor((d) => d.data.n === 1, "the delayed event", { timeout: early }),
      /timed out/,
      "the event arrived within 300 ms despite the delay",
    );
    // ...but it does come, not before the delay.
    await handle.inbox.waitFor((d) => d.data.n === 1, "the delayed event");
    const late = performance.now() - start;
    t.diagnostic(`delayed event arrived ${Math.round(late)} ms after the publish began`);
    assert.ok(late >= delay - 50, `the event arrived after ${late} ms, before the ${delay} ms delay`);

    assert.deepEqual(await cli(f.server, ["delay-deliveries", "0"]), { delayMs: 0 });
    const again = performance.now();
    await publisher.publish(channel, { n: 2 });
    await handle.inbox.waitFor((d) => d.data.n === 2, "the event after the delay was turned off");
    const prompt = performance.now() - again;
    t.diagnostic(`with the delay off the event arrived after ${Math.round(prompt)} ms`);
    assert.ok(prompt < delay - 500, `the event took ${prompt} ms with the delay off`);
    assert.deepEqual(handle.inbox.items.map((d) => d.data.n), [1, 2]);
  });

  // The delay applies per event (each is delivered `ms` after it was stored), and turning it off
  // takes effect at once, for events already waiting too.
  test(
    "delay-deliveries: an event published during another's delay is also delayed by the full ms, and 0 takes effect at once",
    opts,
    async (t) => {
      const f = await fixture(t, FayeTestClient, "websocket", { server: { adminToken: TOKEN } });
      const channel = "/faults/delay-burst";
      const { client: subscriber } = await f.connect("subscriber");
      const { client: publisher } = await f.connect("publisher");
      const handle = await subscriber.subscribe(channel);
      const arrivals = new Map();
      subscriber.client.addExtension({
        incoming: (m, callback) => {
          if (m.channel === channel && m.data) arrivals.set(m.data.n, performance.now());
          callback(m);
        },
      });
      const delay = 1500;
      await inject(f.server, "delay-deliveries", { ms: delay });
      const published = new Map();
      published.set(1, performance.now());
      await publisher.publish(channel, { n: 1 });
      // The first event's delay is running: wait 400 ms of it, then publish the second.
      await assert.rejects(handle.inbox.waitFor((d) => d.data.n === 1, "event 1", { timeout: 400 }), /timed out/);
      published.set(2, performance.now());
      await publisher.publish(channel, { n: 2 });
      await handle.inbox.waitFor((d) => d.data.n === 2, "event 2");
      const lateness = [1, 2].map((n) => Math.round(arrivals.get(n) - published.get(n)));
      t.diagnostic(`lateness of events 1 and 2: ${lateness.join(", ")} ms`);

      await inject(f.server, "delay-deliveries", { ms: 0 });
      published.set(3, performance.now());
      await publisher.publish(channel, { n: 3 });
      await handle.inbox.waitFor((d) => d.data.n === 3, "event 3");
      const prompt = Math.round(arrivals.get(3) - published.get(3));
      t.diagnostic(`with the delay off, event 3 arrived after ${prompt} ms`);

      assert.deepEqual(handle.inbox.items.map((d) => d.data.n), [1, 2, 3], "nothing lost, in order");
      assert.ok(lateness[1] >= delay - 50, `event 2 was only ${lateness[1]} ms late`);
      assert.ok(prompt < delay - 500, `event 3 took ${prompt} ms with the delay off`);
    },
  );

  test("expire-log (HTTP): faye with jsforce's replay extension gets the invalid replayId error below the floor, -2 replays only what is left", opts, async (t) => {
    const f = await fixture(t, FayeTestClient, "websocket", { server: { adminToken: TOKEN } });
    const channel = "/faults/log";
    const { client: publisher } = await f.connect("publisher");
    const stored = [];
    for (let i = 0; i < 6; i++) {
      const data = { tag: `event ${i}`, seq: i };
      stored.push({ replayId: await publishEvent(publisher, channel, data), data });
    }
    const through = stored[2].replayId;

    assert.deepEqual(await inject(f.server, "expire-log", { replayId: through }), { removed: 3 });
    // At once with the embedded log; in a cluster, once the purge on JetStream is done.
    await waitFor(async () => (await f.server.health()).log.events === 3, "/healthz to count the 3 events left");

    /** A faye client with the replay extension set to `replayId`, connected. */
    async function replaying(name, replayId) {
      const extension = new FayeReplayExtension(channel, replayId);
      const client = new FayeTestClient(f.server.url, { transport: "websocket", name, extensions: [extension] });
      f.clients.push(client);
      await client.handshake();
      await f.connected(client);
      assert.equal(extension._extensionEnabled, true, "the handshake ext did not turn the replay extension on");
      return client;
    }

    // Older than the floor: the events after it are gone, so the id is refused.
    for (const replayId of [stored[0].replayId, through - 1]) {
      const client = await replaying(`replay from ${replayId}`, replayId);
      const expected = invalidReplayIdError(replayId);
      await assert.rejects(client.subscribe(channel), (error) => {
        assert.equal(error.message, expected, `${client.name}: the error faye reports`);
        return true;
      });
      const replies = client.raw.filter((m) => m.channel === "/meta/subscribe");
      assert.equal(replies.length, 1, JSON.stringify(replies));
      assert.equal(replies[0].successful, false, JSON.stringify(replies[0]));
      assert.equal(replies[0].error, expected, `${client.name}: the error on the wire`);
    }

    // -2 replays what is left, and the floor itself resumes after it: the same events.
    const remaining = stored.slice(3);
    const replayers = [await replaying("replay -2", -2), await replaying(`replay from ${through}`, through)];
    for (const client of replayers) await client.subscribe(channel);
    const sentinel = { data: { tag: "sentinel" } };
    sentinel.replayId = await publishEvent(publisher, channel, sentinel.data);
    for (const client of replayers) {
      await client.raw.waitFor((m) => m.channel === channel && m.data?.tag === "sentinel", `${client.name}: the sentinel`);
      assertEvents(eventsOn(client, channel), [...remaining, sentinel], channel, `${client.name}: only the events after ${through}`);
    }
  });

  test("the admin API refuses a wrong token (HTTP 401) and bayou admin says so in one line", opts, async (t) => {
    const f = await fixture(t, FayeTestClient, "websocket", { server: { adminToken: TOKEN } });
    const { client } = await f.connect("bystander");
    const clientId = client.clientId;
    const wrong = "not-the-admin-token";

    for (const token of [wrong, null, ""]) {
      const what = token === null ? "no Authorization header" : `token ${JSON.stringify(token)}`;
      const list = await f.server.admin("sessions", undefined, { token });
      assert.deepEqual(list, { status: 401, body: { error: "admin token required" } }, `GET /admin/sessions with ${what}`);
      const fault = await f.server.admin("faults/expire-session", { all: true }, { token });
      assert.deepEqual(fault, { status: 401, body: { error: "admin token required" } }, `POST expire-session with ${what}`);
    }
    // A token that only starts like the right one is wrong too.
    assert.equal((await f.server.admin("sessions", undefined, { token: TOKEN.slice(0, -1) })).status, 401);

    const run = await f.server.adminCli(["expire-session", "--all"], { token: wrong });
    assert.notEqual(run.code, 0, `bayou admin exited with 0: ${JSON.stringify(run)}`);
    assert.equal(run.stdout, "");
    const lines = run.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, `more than one line on stderr: ${JSON.stringify(run.stderr)}`);
    assert.equal(lines[0], `bayou: ${f.server.origin}/admin/faults/expire-session: HTTP 401 Unauthorized: admin token required`);
    assert.ok(!run.stderr.includes(wrong), "the token was printed");

    // None of that touched the session.
    assert.deepEqual([...(await sessions(f.server)).keys()], [clientId]);
    assert.deepEqual(client.raw.filter(isFailure), []);
    const metrics = await f.server.metrics();
    assert.equal(metrics.get("bayou_sessions_closed_total"), undefined, metrics.text);

    // Nobody listening: one readable line too.
    const port = await new Promise((resolve) => {
      const probe = createServer();
      probe.listen(0, "127.0.0.1", () => {
        const { port: free } = probe.address();
        probe.close(() => resolve(free));
      });
    });
    const down = await runBayou(["admin", "--url", `http://127.0.0.1:${port}`, "--token", TOKEN, "sessions"]);
    assert.notEqual(down.code, 0);
    assert.equal(down.stdout, "");
    assert.equal(down.stderr.trimEnd().split("\n").length, 1, JSON.stringify(down.stderr));
    assert.match(down.stderr, new RegExp(`^bayou: cannot reach http://127\\.0\\.0\\.1:${port}/admin/sessions: `));
    assert.ok(!down.stderr.includes(TOKEN), "the token was printed");
  });

  test("without --admin-token the admin API is off", opts, async (t) => {
    const server = await startServer();
    t.after(() => server.dispose());
    for (const [path, body] of [["sessions", undefined], ["faults/expire-session", { all: true }]]) {
      const { status } = await server.admin(path, body, { token: TOKEN });
      assert.equal(status, 404, `/admin/${path} answered ${status}`);
    }
  });
});
