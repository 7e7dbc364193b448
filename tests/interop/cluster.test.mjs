// Bayou as a cluster (docs/cluster.md) with the real third-party clients, deployed as users
// deploy it: one nats-server, three `bayou serve --cluster` nodes, and a load balancer in front
// of them that sends each new connection to the first node that is up (cluster.mjs).
//
// The failover test is the promise the cluster makes to Salesforce apps: when the node a client
// is on dies, the unchanged client notices, reconnects through the balancer to another node,
// gets `403::Unknown client` (sessions are node-local), handshakes again and subscribes again
// with the last replay id it saw — and ends up with every acknowledged event exactly once, in
// order. It runs for faye and for the CometD client, each over long-polling and over WebSocket,
// each with a replay extension that tracks the last replay id (cluster.mjs's
// `ReplayPositions`); faye subscribes again by itself after a new handshake, CometD in its
// /meta/handshake listener (clients/cometd.mjs), as CometD applications do. Events are published
// straight to node C, one at a time, each waited for until acknowledged.
//
// The jsforce test is an org shared by the nodes: a login and a PushTopic on node A, a
// subscription on node B, an Account created on node C, the PushTopic event on node B.
//
// Nothing sleeps: every step waits for something observable (a reply, a delivery, /healthz)
// with a deadline. Each test starts its own NATS and its own nodes. Without nats-server the
// tests skip, unless BAYOU_REQUIRE_NATS is set (cluster.mjs).

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { BayouCluster, natsMissing, ReplayPositions, replayIdOf } from "./cluster.mjs";
import { CometDTestClient } from "./clients/cometd.mjs";
import { FayeTestClient } from "./clients/faye.mjs";
import { closeFaye, CREATED_DATE, CREDENTIALS, createPushTopic, jsforce, subscribeEvents } from "./clients/jsforce.mjs";
import { assertIncreasing, publishEvent } from "./replay.mjs";
import { TEST_TIMEOUT_MS } from "./scenarios.mjs";
import { WAIT_MS, waitFor, withTimeout } from "./util.mjs";

const skip = natsMissing();
const opts = { timeout: TEST_TIMEOUT_MS };
const CHANNEL = "/cluster/events";

/** How many events the subscriber receives through node A before node A is killed. */
const BEFORE_KILL = 5;

/** A subscriber with the replay extension, talking to `url` over `transport`. */
function replayingClient(kind, url, transport, positions) {
  const name = `${kind} ${transport}`;
  if (kind === "faye") return new FayeTestClient(url, { transport, name, extensions: [positions.faye()] });
  const client = new CometDTestClient(url, { transport, name });
  // Before the handshake, whose reply turns it on.
  client.cometd.registerExtension("salesforce-replay", positions.cometd());
  return client;
}

/** The events on CHANNEL that `client` received on the wire. */
function eventsOn(client) {
  return client.raw.filter((m) => m.channel === CHANNEL && m.data !== undefined);
}

/** Waits until `client` sends a /meta/connect for its current clientId over `transport`. */
function connectedOver(client, transport, since = 0) {
  return client.sent.waitFor(
    (m) => m.channel === "/meta/connect" && m.connectionType === transport && m.clientId === client.clientId,
    `a /meta/connect over ${transport} for the current clientId ${client.clientId}`,
    { since },
  );
}

/**
 * Waits until `node`'s /metrics show the subscriber's traffic on `transport` only: one WebSocket
 * open and messages received over it, or messages over long-polling and no WebSocket ever.
 */
function trafficOver(node, transport, who) {
  return waitFor(async () => {
    const m = await node.metrics();
    if (transport === "websocket") return m.websocketConnections === 1 && m.received("websocket") > 0;
    assert.equal(m.get("bayou_messages_received_total", { transport: "websocket" }), undefined, `${node.name}: ${m.text}`);
    assert.equal(m.websocketConnections, 0, `${node.name}: ${m.text}`);
    return m.received("long-polling") > 0;
  }, `${who} on ${node.name} over ${transport} (/metrics)`);
}

/**
 * Publishes numbered events on CHANNEL through `publisher`, one at a time, from `start()` until
 * `stop()` (which waits for the publish in flight); `acked` gets `{replayId, data, at}` for each
 * acknowledged one (`at`: `performance.now()` when the acknowledgement came). `failed` rejects if a publish fails: race it against every wait, so that a
 * failing publisher is reported as such rather than as a missing delivery.
 */
class Publishing {
  #fail;
  #loop = Promise.resolve();
  #stopped = true;

  constructor(publisher) {
    this.publisher = publisher;
    this.acked = [];
    this.failed = new Promise((_, reject) => (this.#fail = reject));
    this.failed.catch(() => {});
  }

  start() {
    this.#stopped = false;
    this.#loop = (async () => {
      while (!this.#stopped) {
        const data = { n: this.acked.length };
        const replayId = await publishEvent(this.publisher, CHANNEL, data);
        this.acked.push({ replayId, data, at: performance.now() });
      }
    })().catch((e) => {
      this.#fail(e);
      throw e;
    });
  }

  async stop() {
    this.#stopped = true;
    await this.#loop;
  }
}

describe("a Bayou cluster behind a load balancer", { skip }, () => {
  for (const [kind, transport] of [
    ["faye", "long-polling"],
    ["faye", "websocket"],
    ["cometd", "long-polling"],
    ["cometd", "websocket"],
  ]) {
    test(`${kind} over ${transport}: node A killed, the client resumes on node B by replay id, nothing lost or repeated`, opts, async (t) => {
      const cluster = await BayouCluster.start(t);
      const [a, b, c] = cluster.nodes;
      const balancer = await cluster.balancer();

      const positions = new ReplayPositions({ [CHANNEL]: -2 });
      const subscriber = cluster.track(replayingClient(kind, balancer.url, transport, positions));
      const hello = await subscriber.handshake();
      assert.equal(hello.ext?.replay, true, `handshake reply: ${JSON.stringify(hello)}`);
      assert.equal(positions.enabled, true, "the handshake's ext did not turn the replay extension on");
      const handle = await subscriber.subscribe(CHANNEL);
      const subscribe = subscriber.sent.filter((m) => m.channel === "/meta/subscribe");
      assert.deepEqual(subscribe.map((m) => m.ext?.replay), [{ [CHANNEL]: -2 }], JSON.stringify(subscribe));
      await connectedOver(subscriber, transport);
      const firstClientId = subscriber.clientId;

      const publisher = cluster.track(new FayeTestClient(c.url, { transport: "long-polling", name: "publisher on node C" }));
      await publisher.handshake();
      const publishing = new Publishing(publisher);
      const meanwhile = (promise) => Promise.race([promise, publishing.failed]);
      let killedAt;
      let ackedBeforeKill;
      let timings;
      publishing.start();
      try {
        await meanwhile(
          waitFor(() => eventsOn(subscriber).length >= BEFORE_KILL, `${subscriber.name}: ${BEFORE_KILL} events through node A`),
        );
        assert.deepEqual(balancer.backendsUsed(), ["node-a"], `connections before the kill: ${JSON.stringify(balancer.connections)}`);
        assert.equal((await a.health()).sessions, 1, "node A holds the subscriber's session");
        await trafficOver(a, transport, subscriber.name);

        // No publish in flight across the kill: every event newer than the newest acknowledged
        // before it was published once node A was gone, and can only come through another node.
        await publishing.stop();
        ackedBeforeKill = publishing.acked.at(-1).replayId;
        // Each wait is registered before the kill, so that it times its message.
        const since = subscriber.raw.mark();
        const after = (pred, what) =>
          subscriber.raw.waitFor(pred, `${what} after node A was killed`, { since }).then((message) => ({
            message,
            ms: performance.now() - killedAt,
          }));
        const refused = after((m) => typeof m.error === "string" && m.error.startsWith("403::"), "a 403 reply");
        const handshake = after((m) => m.channel === "/meta/handshake" && m.successful, "a new handshake");
        const resubscribe = subscriber.sent
          .waitFor((m) => m.channel === "/meta/subscribe", "a subscribe after node A was killed", { since: subscriber.sent.mark() })
          .then((message) => ({ message, at: performance.now() }));
        const newer = after(
          (m) => m.channel === CHANNEL && replayIdOf(m) > ackedBeforeKill,
          `an event newer than ${ackedBeforeKill}, the newest acknowledged before the kill`,
        );
        killedAt = performance.now();
        await a.kill();
        const goneAt = performance.now();
        publishing.start();
        timings = await meanwhile(Promise.all([refused, handshake, newer, resubscribe]));
        assert.deepEqual(
          balancer.backendsUsed(goneAt),
          ["node-b"],
          `connections once node A was gone (at ${goneAt}): ${JSON.stringify(balancer.connections)}`,
        );
      } finally {
        await publishing.stop();
      }
      const [refused, handshake, newer, resubscribe] = timings;
      console.log(
        `${subscriber.name}: after the SIGKILL of node A, ${refused.message.error} on ${refused.message.channel} ` +
          `in ${refused.ms.toFixed(0)} ms, a new handshake in ${handshake.ms.toFixed(0)} ms, ` +
          `the first event newer than any acknowledged before the kill in ${newer.ms.toFixed(0)} ms`,
      );

      // A last event, so that "everything" has an end.
      const sentinel = { data: { sentinel: true } };
      sentinel.replayId = await publishEvent(publisher, CHANNEL, sentinel.data);
      await subscriber.raw.waitFor((m) => m.channel === CHANNEL && m.data?.sentinel === true, "the sentinel");
      const expected = [...publishing.acked, sentinel];
      assertIncreasing(expected.map((e) => e.replayId), "the acknowledged replay ids");

      // How it got there: the 403 of a session node B does not know, a new session on node B, and
      // a subscribe carrying the replay id of the last event received before.
      assert.deepEqual(
        { error: refused.message.error, reconnect: refused.message.advice?.reconnect },
        { error: "403::Unknown client", reconnect: "handshake" },
        `the reply to the old clientId on node B: ${JSON.stringify(refused.message)}`,
      );
      const rehandshake = handshake.message;
      assert.notEqual(rehandshake.clientId, firstClientId, "the new handshake gave a new clientId");
      const rehandshakeAt = subscriber.raw.items.indexOf(rehandshake);
      const lastBefore = eventsOn(subscriber).filter((m) => subscriber.raw.items.indexOf(m) < rehandshakeAt).at(-1);
      assert.ok(lastBefore, "no event received before the new handshake");
      const resubscribes = subscriber.sent.filter((m) => m.channel === "/meta/subscribe" && m.clientId === rehandshake.clientId);
      assert.deepEqual(resubscribes, [resubscribe.message], `${subscriber.name} subscribed again once, on its new session`);
      assert.deepEqual(
        resubscribe.message.ext?.replay,
        { [CHANNEL]: replayIdOf(lastBefore) },
        `the subscribe after the new handshake resumes after the last event received (${JSON.stringify(lastBefore)})`,
      );
      // Events were published while the client moved: what it got next came from the replay.
      const missed = publishing.acked.filter((e) => e.replayId > replayIdOf(lastBefore) && e.at < resubscribe.at);
      assert.ok(missed.length > 0, `no event was published between the last one received on node A and the subscribe on node B`);
      const resubscribed = await subscriber.raw.waitFor(
        (m) => m.channel === "/meta/subscribe" && m.id === resubscribe.message.id,
        "the reply to the subscribe after the new handshake",
      );
      assert.equal(resubscribed.successful, true, JSON.stringify(resubscribed));
      await connectedOver(subscriber, transport);
      await trafficOver(b, transport, subscriber.name);
      const healthB = await b.health();
      assert.equal(healthB.sessions, 1, `node B holds the subscriber's new session: ${JSON.stringify(healthB)}`);

      // Every acknowledged event exactly once, in order, whichever node delivered it.
      const received = eventsOn(subscriber).map(replayIdOf);
      const seen = new Set();
      const twice = received.filter((id) => seen.has(id) || !seen.add(id));
      assert.deepEqual(twice, [], `${subscriber.name} received these replay ids twice`);
      const missing = expected.map((e) => e.replayId).filter((id) => !seen.has(id));
      assert.deepEqual(missing, [], `${subscriber.name} never received these acknowledged events`);
      assertIncreasing(received, `${subscriber.name}: replay ids in order of arrival`);
      assert.deepEqual(received, expected.map((e) => e.replayId), `${subscriber.name}: exactly the acknowledged events`);
      assert.ok(
        received.filter((id) => id <= ackedBeforeKill).length >= BEFORE_KILL &&
          received.some((id) => id > ackedBeforeKill && id < sentinel.replayId),
        `events before and after the kill: ${received}`,
      );
      // The client handed each to the application once, in order, across its two subscriptions.
      assert.deepEqual(
        handle.inbox.items.map((d) => d.data),
        expected.map((e) => e.data),
        `${subscriber.name}: what the application got`,
      );
    });
  }

  test("jsforce: a PushTopic made on node A fires for an Account made on node C, delivered on node B", opts, async (t) => {
    const cluster = await BayouCluster.start(t, {
      anonymous: false,
      env: {
        BAYOU_USERNAME: CREDENTIALS.username,
        BAYOU_PASSWORD: CREDENTIALS.password,
        BAYOU_CLIENT_ID: CREDENTIALS.clientId,
        BAYOU_CLIENT_SECRET: CREDENTIALS.clientSecret,
      },
    });
    const [a, b, c] = cluster.nodes;
    const since = Date.now();

    const connA = new jsforce.Connection({
      oauth2: { loginUrl: a.origin, clientId: CREDENTIALS.clientId, clientSecret: CREDENTIALS.clientSecret },
    });
    await withTimeout(connA.login(CREDENTIALS.username, CREDENTIALS.password), "jsforce login on node A");
    assert.equal(connA.instanceUrl, a.origin);
    // The same session on the other nodes, as an app behind a load balancer would use it.
    const on = (node) => new jsforce.Connection({ instanceUrl: node.origin, accessToken: connA.accessToken, version: connA.version });
    const connB = on(b);
    const connC = on(c);

    const topic = "ClusterAccounts";
    const topicId = await createPushTopic(connA, topic, "SELECT Id, Name FROM Account");
    // Node B must know the PushTopic before it accepts a subscription to it.
    await waitFor(
      () => connB.sobject("PushTopic").retrieve(topicId).then((r) => r.Id === topicId, () => false),
      `node B to serve PushTopic ${topicId} made on node A`,
    );

    // jsforce keeps its faye client to itself (the one `topic().subscribe()` below uses): reach it
    // only to disconnect it when the test ends.
    const faye = connB.streaming._getFayeClient(`/topic/${topic}`);
    cluster.track({ close: () => closeFaye(faye) });
    const { events } = await subscribeEvents(`/topic/${topic}`, (listener) => connB.streaming.topic(topic).subscribe(listener));
    const sessions = await Promise.all(cluster.nodes.map(async (n) => (await n.health()).sessions));
    assert.deepEqual(sessions, [0, 1, 0], "the streaming session is on node B only (sessions on A, B, C)");

    // Node C learns the PushTopic a moment after node A wrote it: create Accounts on C until one
    // fires, and check the first event that arrives.
    const created = [];
    const deadline = Date.now() + WAIT_MS;
    let first = null;
    while (!first) {
      assert.ok(Date.now() < deadline, `no PushTopic event on node B for the ${created.length} Accounts created on node C`);
      const result = await connC.sobject("Account").create({ Name: `Cluster Account ${created.length}` });
      assert.equal(result.success, true, JSON.stringify(result));
      created.push(result.id);
      first = await events.waitFor(() => true, "a PushTopic event", { timeout: 500 }).catch(() => null);
    }
    const index = created.indexOf(first.sobject?.Id);
    assert.ok(index >= 0, `the event is for an Account created on node C (${created}): ${JSON.stringify(first)}`);
    assert.deepEqual(first.sobject, { Id: created[index], Name: `Cluster Account ${index}` }, JSON.stringify(first));
    assert.equal(first.event.type, "created", JSON.stringify(first));
    assert.ok(Number.isSafeInteger(first.event.replayId) && first.event.replayId > 0, `replayId: ${JSON.stringify(first)}`);
    assert.match(first.event.createdDate, CREATED_DATE);
    assert.ok(Date.parse(first.event.createdDate) >= since - 1000, `createdDate ${first.event.createdDate} is not now`);

    // From then on every Account made on C fires, with a newer replay id.
    const more = await connC.sobject("Account").create({ Name: "Cluster Account after" });
    const next = await events.waitFor((e) => e.sobject?.Id === more.id, "the event of the Account created after the first event");
    assert.equal(next.event.type, "created", JSON.stringify(next));
    assert.ok(next.event.replayId > first.event.replayId, `replay ids increase: ${first.event.replayId}, ${next.event.replayId}`);
  });
});
