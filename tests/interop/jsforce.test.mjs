// jsforce, unchanged, against bayou as against a Salesforce org: logging in (OAuth 2.0
// username-password flow and SOAP), REST on records and PushTopics, PushTopic events through
// `conn.streaming`, the AuthFailure extension on a revoked token, and the Replay extension.
//
// Each test starts its own server with fixed credentials and login required (no --anonymous),
// and stops it afterwards. Nothing sleeps: tests wait for deliveries with deadlines; "must not
// arrive" checks look at everything that arrived before a later event the client does get.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  CREATED_DATE,
  CREDENTIALS,
  createPushTopic,
  isSalesforceId,
  JSFORCE_VERSION,
  JsforceOrg,
  StreamingExtension,
  subscribeEvents,
} from "./clients/jsforce.mjs";
import { TEST_TIMEOUT_MS } from "./scenarios.mjs";
import { waitFor, withTimeout } from "./util.mjs";

const opts = { timeout: TEST_TIMEOUT_MS };

/** The parts of an event that do not vary from run to run. */
const summary = (e) => ({ type: e.event.type, sobject: e.sobject });

/** Event metadata as Salesforce sends it: a createdDate close to now and increasing replay ids. */
function assertEventMeta(events, { since }) {
  let previous = 0;
  for (const e of events) {
    assert.deepEqual(Object.keys(e).sort(), ["event", "sobject"], JSON.stringify(e));
    assert.deepEqual(Object.keys(e.event).sort(), ["createdDate", "replayId", "type"], JSON.stringify(e));
    assert.ok(Number.isSafeInteger(e.event.replayId), `replayId ${e.event.replayId} is not an integer`);
    assert.ok(e.event.replayId > previous, `replay ids do not increase: ${events.map((x) => x.event.replayId)}`);
    previous = e.event.replayId;
    assert.match(e.event.createdDate, CREATED_DATE);
    const at = Date.parse(e.event.createdDate);
    assert.ok(at >= since - 1000 && at <= Date.now() + 1000, `createdDate ${e.event.createdDate} is not now`);
  }
}

/** The login result jsforce builds from the token reply (or the SOAP one), checked as ids. */
function assertUserInfo(org, conn, userInfo) {
  assert.ok(isSalesforceId(userInfo.id, "005"), `user id ${userInfo.id}`);
  assert.ok(isSalesforceId(userInfo.organizationId, "00D"), `org id ${userInfo.organizationId}`);
  assert.equal(userInfo.id.length, 18);
  assert.equal(userInfo.organizationId.length, 18);
  assert.equal(userInfo.url, `${org.server.origin}/id/${userInfo.organizationId}/${userInfo.id}`);
  assert.deepEqual(conn.userInfo, userInfo);
  assert.equal(conn.instanceUrl, org.server.origin);
  // A session id starts with the 15-character org id and "!", as Salesforce's do.
  assert.ok(conn.accessToken.startsWith(`${userInfo.organizationId.slice(0, 15)}!`), conn.accessToken);
}

/**
 * The transport jsforce's faye client ended up on, from the wire and from the server's /metrics,
 * which must agree. faye handshakes over HTTP (jsforce selects long-polling first) and, when the
 * server offers websocket, upgrades as soon as its WebSocket probe (started when the client was
 * created) has opened: a connect or subscribe sent before that still goes over HTTP, so the
 * number of long-polling messages is checked against the messages sent before the first
 * websocket connect. Once upgraded, it never goes back.
 */
async function transportUsed(org, recorder) {
  const sent = recorder.sent.items;
  const connects = sent.filter((m) => m.channel === "/meta/connect").map((m) => m.connectionType);
  const transport = connects.at(-1);
  const firstWs = sent.findIndex((m) => m.channel === "/meta/connect" && m.connectionType === "websocket");
  const metrics = await waitFor(async () => {
    const m = await org.server.metrics();
    // Every message the client sent has reached the server (the last connect may be in flight).
    const total = m.received("long-polling") + m.received("websocket");
    return total >= sent.length - 1 ? m : null;
  }, "the server to count the client's messages");
  const handshakes = sent.filter((m) => m.channel === "/meta/handshake").length;
  const overHttp = metrics.received("long-polling");
  if (transport === "websocket") {
    assert.deepEqual(connects.slice(connects.indexOf("websocket")).filter((c) => c !== "websocket"), [], `connects: ${connects}`);
    assert.ok(overHttp >= handshakes && overHttp <= firstWs, `${overHttp} messages over HTTP; sent: ${JSON.stringify(sent)}`);
    assert.ok(metrics.received("websocket") > 0, metrics.text);
    assert.equal(metrics.websocketConnections, 1, metrics.text);
  } else {
    assert.equal(transport, "long-polling");
    assert.deepEqual(connects.filter((c) => c !== "long-polling"), [], `connects: ${connects}`);
    assert.ok(overHttp >= sent.length - 1, metrics.text);
    assert.equal(metrics.get("bayou_messages_received_total", { transport: "websocket" }), undefined, metrics.text);
    assert.equal(metrics.websocketConnections, 0, metrics.text);
  }
  return { transport, overHttp, total: sent.length };
}

/**
 * The classic Streaming API demo, as a jsforce app does it: OAuth login, a PushTopic, a
 * subscription with `conn.streaming.topic(name).subscribe()`, then an Account created, updated
 * and deleted over REST; returns the transport faye used.
 */
async function pushTopicDemo(t, serverOptions) {
  const since = Date.now();
  const org = await JsforceOrg.start(t, serverOptions);
  const { conn, userInfo } = await org.oauthLogin();
  assertUserInfo(org, conn, userInfo);

  const topicId = await createPushTopic(conn, "AccountChanges", "SELECT Id, Name, Industry, AnnualRevenue FROM Account");
  assert.ok(isSalesforceId(topicId, "0IF"), `PushTopic id ${topicId}`);
  const topic = await conn.sobject("PushTopic").retrieve(topicId);
  assert.equal(topic.Id, topicId);
  assert.equal(topic.Name, "AccountChanges");
  assert.equal(topic.Query, "SELECT Id, Name, Industry, AnnualRevenue FROM Account");
  assert.equal(topic.NotifyForFields, "Referenced");
  assert.equal(topic.NotifyForOperationUpdate, true);

  const wire = org.topicClient(conn, "jsforce topics");
  const { events } = await subscribeEvents("/topic/AccountChanges", (cb) => conn.streaming.topic("AccountChanges").subscribe(cb));
  const Account = conn.sobject("Account");

  const created = await Account.create({ Name: "Acme Solar", Industry: "Energy", AnnualRevenue: 1250000, Description: "not selected" });
  assert.equal(created.success, true, JSON.stringify(created));
  assert.deepEqual(created.errors, []);
  const id = created.id;
  assert.ok(isSalesforceId(id, "001"), `Account id ${id}`);
  await events.waitFor((e) => e.event.type === "created", "the created event");

  const updated = await Account.update({ Id: id, Industry: "Retail" });
  assert.deepEqual(updated, { id, success: true, errors: [] });
  await events.waitFor((e) => e.event.type === "updated", "the updated event");
  // A field the query does not reference: no event (NotifyForFields Referenced). The delete
  // below is the later event that shows nothing arrived for it.
  await Account.update({ Id: id, Description: "still not selected" });
  const record = await Account.retrieve(id);
  assert.deepEqual(
    { Id: record.Id, Name: record.Name, Industry: record.Industry, AnnualRevenue: record.AnnualRevenue, Description: record.Description },
    { Id: id, Name: "Acme Solar", Industry: "Retail", AnnualRevenue: 1250000, Description: "still not selected" },
  );

  const destroyed = await Account.destroy(id);
  assert.deepEqual(destroyed, { id, success: true, errors: [] });
  await events.waitFor((e) => e.event.type === "deleted", "the deleted event");

  assert.deepEqual(events.items.map(summary), [
    { type: "created", sobject: { Id: id, Name: "Acme Solar", Industry: "Energy", AnnualRevenue: 1250000 } },
    { type: "updated", sobject: { Id: id, Name: "Acme Solar", Industry: "Retail", AnnualRevenue: 1250000 } },
    { type: "deleted", sobject: { Id: id } },
  ]);
  assertEventMeta(events.items, { since });
  // Each event arrived on the wire exactly as documented: channel, data, nothing else.
  const delivered = wire.raw.filter((m) => m.channel === "/topic/AccountChanges");
  assert.deepEqual(delivered, events.items.map((data) => ({ channel: "/topic/AccountChanges", data })));

  const { records } = await conn.query(`SELECT Id FROM Account WHERE Id = '${id}'`);
  assert.deepEqual(records, []);
  return transportUsed(org, wire);
}

describe(`jsforce ${JSFORCE_VERSION}`, () => {
  test("OAuth password login; PushTopic events for an Account created, updated, deleted (faye picks the transport)", opts, async (t) => {
    const { transport, overHttp, total } = await pushTopicDemo(t);
    // The server offers websocket and long-polling; faye upgrades after its HTTP handshake.
    assert.equal(transport, "websocket");
    t.diagnostic(`jsforce's faye client used ${transport} (${overHttp} of ${total} messages over HTTP)`);
  });

  test("the same against a long-polling-only server (Salesforce's setup)", opts, async (t) => {
    const { transport, overHttp, total } = await pushTopicDemo(t, { transports: "long-polling" });
    assert.equal(transport, "long-polling");
    t.diagnostic(`jsforce's faye client used ${transport} (${overHttp} of ${total} messages over HTTP)`);
  });

  test("wrong passwords are refused, with Salesforce's errors, both ways", opts, async (t) => {
    const org = await JsforceOrg.start(t);
    await assert.rejects(org.oauthLogin({ password: "wrong" }), { name: "invalid_grant", message: "authentication failure" });
    await assert.rejects(org.soapLogin({ password: "wrong" }), {
      message: "INVALID_LOGIN: Invalid username, password, security token; or user locked out.",
    });
    await assert.rejects(org.oauthLogin({ username: "nobody@bayou.test" }), { name: "invalid_grant" });
  });

  test("subscribing to a PushTopic that does not exist fails as on Salesforce", opts, async (t) => {
    const org = await JsforceOrg.start(t);
    const { conn } = await org.oauthLogin();
    const wire = org.topicClient(conn);
    const subscription = conn.streaming.topic("NoSuchTopic").subscribe(() => {});
    const error = await withTimeout(
      new Promise((resolve, reject) => subscription.then(() => reject(new Error("subscribed to a missing topic")), resolve)),
      "the subscription to fail",
    );
    const text = "400::The channel you requested to subscribe to doesn\u2019t exist /topic/NoSuchTopic";
    assert.equal(error.message, text);
    const reply = await wire.raw.waitFor((m) => m.channel === "/meta/subscribe", "the subscribe reply");
    assert.deepEqual(
      { successful: reply.successful, error: reply.error, subscription: reply.subscription },
      { successful: false, error: text, subscription: "/topic/NoSuchTopic" },
    );

    // An inactive PushTopic has no channel either, until it is activated.
    const id = await createPushTopic(conn, "Dormant", "SELECT Id, Name FROM Lead", { IsActive: false });
    const dormant = conn.streaming.topic("Dormant").subscribe(() => {});
    const refused = await withTimeout(
      new Promise((resolve, reject) => dormant.then(() => reject(new Error("subscribed to an inactive topic")), resolve)),
      "the subscription to the inactive topic to fail",
    );
    assert.equal(refused.message, "400::The channel you requested to subscribe to doesn\u2019t exist /topic/Dormant");
    await conn.sobject("PushTopic").update({ Id: id, IsActive: true });
    const { events } = await subscribeEvents("/topic/Dormant", (cb) => conn.streaming.topic("Dormant").subscribe(cb));
    const lead = await conn.sobject("Lead").create({ Name: "Ida Rhodes", Company: "NBS" });
    const got = await events.waitFor(() => true, "an event on the activated topic");
    assert.deepEqual(summary(got), { type: "created", sobject: { Id: lead.id, Name: "Ida Rhodes" } });
  });

  test(
    "a PushTopic created with the required fields only reads back with its defaults",
    opts,
    async (t) => {
      const org = await JsforceOrg.start(t);
      const { conn } = await org.oauthLogin();
      const { id } = await conn.sobject("PushTopic").create({ Name: "Minimal", Query: "SELECT Id, Name FROM Account", ApiVersion: 50.0 });
      const expected = {
        IsActive: true,
        NotifyForFields: "Referenced",
        NotifyForOperationCreate: true,
        NotifyForOperationUpdate: true,
        NotifyForOperationDelete: true,
        NotifyForOperationUndelete: true,
      };
      const pick = (r) => Object.fromEntries(Object.keys(expected).map((k) => [k, r[k]]));
      const { records } = await conn.query(`SELECT Id, ${Object.keys(expected).join(", ")} FROM PushTopic WHERE Id = '${id}'`);
      assert.deepEqual(records.map(pick), [expected]);
      assert.deepEqual(pick(await conn.sobject("PushTopic").retrieve(id)), expected);
    },
  );

  test(
    "records come back with `attributes` first, as Salesforce (and docs/org.md) have it",
    opts,
    async (t) => {
      const org = await JsforceOrg.start(t);
      const { conn } = await org.oauthLogin();
      const { id } = await conn.sobject("Account").create({ Name: "Zeta" });
      assert.equal(Object.keys(await conn.sobject("Account").retrieve(id))[0], "attributes");
      const { records } = await conn.query("SELECT Id, Name FROM Account");
      assert.deepEqual(Object.keys(records[0]), ["attributes", "Id", "Name"]);
    },
  );

  test("SOAP login: the session id works for REST queries and for streaming", opts, async (t) => {
    const since = Date.now();
    const org = await JsforceOrg.start(t);
    const { conn, userInfo } = await org.soapLogin();
    assertUserInfo(org, conn, userInfo);

    assert.deepEqual(await conn.query("SELECT Id, Name FROM Account"), { totalSize: 0, done: true, records: [] });
    const ids = [];
    for (const Name of ["Blue Yonder", "Green Valley"]) {
      const r = await conn.sobject("Account").create({ Name, Industry: "Agriculture" });
      assert.equal(r.success, true, JSON.stringify(r));
      ids.push(r.id);
    }
    const result = await conn.query("SELECT Id, Name FROM Account ORDER BY Name");
    assert.equal(result.totalSize, 2);
    assert.equal(result.done, true);
    assert.deepEqual(
      result.records.map((r) => ({ type: r.attributes.type, Id: r.Id, Name: r.Name, fields: Object.keys(r).sort() })),
      [
        { type: "Account", Id: ids[0], Name: "Blue Yonder", fields: ["Id", "Name", "attributes"] },
        { type: "Account", Id: ids[1], Name: "Green Valley", fields: ["Id", "Name", "attributes"] },
      ],
    );
    assert.match(result.records[0].attributes.url, new RegExp(`/services/data/v\\d+\\.\\d/sobjects/Account/${ids[0]}$`));

    await createPushTopic(conn, "NewContacts", "SELECT Id, LastName, Email FROM Contact", {
      NotifyForOperationUpdate: false,
      NotifyForOperationDelete: false,
    });
    org.topicClient(conn, "jsforce topics (SOAP session)");
    const { events } = await subscribeEvents("/topic/NewContacts", (cb) => conn.streaming.topic("NewContacts").subscribe(cb));
    const contact = await conn.sobject("Contact").create({ LastName: "Hopper", Email: "grace@example.com", Title: "RADM" });
    await conn.sobject("Contact").update({ Id: contact.id, Email: "grace.hopper@example.com" }); // not notified
    const last = await conn.sobject("Contact").create({ LastName: "Lamarr", Email: "hedy@example.com" });
    await events.waitFor((e) => e.sobject.Id === last.id, "the second Contact's event");
    assert.deepEqual(events.items.map(summary), [
      { type: "created", sobject: { Id: contact.id, LastName: "Hopper", Email: "grace@example.com" } },
      { type: "created", sobject: { Id: last.id, LastName: "Lamarr", Email: "hedy@example.com" } },
    ]);
    assertEventMeta(events.items, { since });
  });

  test("AuthFailure extension: a revoked token ends the live session, and a new handshake is denied", opts, async (t) => {
    const timeout = 2000; // how long the server holds a /meta/connect
    const org = await JsforceOrg.start(t, { timeout });
    const { conn } = await org.oauthLogin();
    await createPushTopic(conn, "Cases", "SELECT Id, Subject FROM Case");

    // The callback an app passes (it would log in again, or exit).
    const failures = [];
    let onFailure;
    const failed = new Promise((resolve) => (onFailure = resolve));
    const authFailure = new StreamingExtension.AuthFailure((message) => {
      failures.push(message);
      onFailure(message);
    });
    const { client, raw, sent } = org.createClient(conn, [authFailure], "jsforce with AuthFailure");
    const { events } = await subscribeEvents("/topic/Cases", (cb) => client.subscribe("/topic/Cases", cb));
    const kase = await conn.sobject("Case").create({ Subject: "Printer on fire" });
    await events.waitFor((e) => e.sobject.Id === kase.id, "an event while the token is valid");

    // Revoke while the server holds a connect: it must notice at the latest when that connect
    // comes back (after `timeout`) and the client sends the next one.
    await waitFor(() => {
      const answered = new Set(raw.filter((m) => m.channel === "/meta/connect").map((m) => m.id));
      return answered.size > 0 && sent.filter((m) => m.channel === "/meta/connect" && !answered.has(m.id)).length > 0;
    }, "a held /meta/connect");
    const revokedAt = Date.now();
    await conn.oauth2.revokeToken(conn.accessToken); // POST /services/oauth2/revoke token=…
    const message = await withTimeout(failed, "the AuthFailure callback", timeout + 5000);
    const elapsed = Date.now() - revokedAt;
    assert.ok(elapsed < timeout + 2000, `AuthFailure fired ${elapsed} ms after the revocation`);
    t.diagnostic(`AuthFailure fired ${elapsed} ms after the revocation (connect timeout ${timeout} ms)`);

    const { id, clientId, ...rest } = message;
    assert.equal(clientId, client._dispatcher.clientId);
    assert.deepEqual(rest, {
      channel: "/meta/connect",
      successful: false,
      error: "401::Authentication invalid",
      advice: { reconnect: "none", interval: 0 },
    });
    assert.equal(failures.length, 1);
    // The server said so on the wire in exactly those words (the extension swallows the
    // message, so faye itself never reconnects).
    assert.deepEqual(raw.filter((m) => m.channel === "/meta/connect" && !m.successful), [message]);

    // A new client with the revoked token: the handshake is denied the Salesforce way.
    const denied = await withTimeout(
      new Promise((resolve) => {
        const late = org.createClient(conn, [new StreamingExtension.AuthFailure(resolve)], "jsforce with the revoked token");
        late.client.subscribe("/topic/Cases", () => {});
      }),
      "the AuthFailure callback on the handshake",
    );
    assert.deepEqual(
      {
        channel: denied.channel,
        successful: denied.successful,
        error: denied.error,
        reconnect: denied.advice?.reconnect,
        failureReason: denied.ext?.sfdc?.failureReason,
      },
      {
        channel: "/meta/handshake",
        successful: false,
        error: "403::Handshake denied",
        reconnect: "none",
        failureReason: "401::Authentication invalid",
      },
    );

    // What an app does in its AuthFailure callback: log in again and subscribe again.
    await conn.login(CREDENTIALS.username, CREDENTIALS.password);
    const again = org.createClient(conn, [], "jsforce after logging in again");
    const { events: after } = await subscribeEvents("/topic/Cases", (cb) => again.client.subscribe("/topic/Cases", cb));
    const next = await conn.sobject("Case").create({ Subject: "Printer fixed" });
    const got = await after.waitFor((e) => e.sobject.Id === next.id, "an event after logging in again");
    assert.deepEqual(summary(got), { type: "created", sobject: { Id: next.id, Subject: "Printer fixed" } });
  });

  test("Replay extension: -2 replays the stored events of a PushTopic, a replay id resumes after it", opts, async (t) => {
    const since = Date.now();
    const org = await JsforceOrg.start(t);
    const { conn } = await org.oauthLogin();
    const channel = "/topic/ReplayAccounts";
    await createPushTopic(conn, "ReplayAccounts", "SELECT Id, Name FROM Account");

    // Events nobody is subscribed to yet: stored in the org's event log.
    const Account = conn.sobject("Account");
    const a = (await Account.create({ Name: "Alpha" })).id;
    const b = (await Account.create({ Name: "Bravo" })).id;
    const c = (await Account.create({ Name: "Charlie" })).id;
    await Account.update({ Id: a, Name: "Alpha Prime" });
    const stored = [
      { type: "created", sobject: { Id: a, Name: "Alpha" } },
      { type: "created", sobject: { Id: b, Name: "Bravo" } },
      { type: "created", sobject: { Id: c, Name: "Charlie" } },
      { type: "updated", sobject: { Id: a, Name: "Alpha Prime" } },
    ];

    const all = org.createClient(conn, [new StreamingExtension.Replay(channel, -2)], "jsforce replay -2");
    const { events } = await subscribeEvents(channel, (cb) => all.client.subscribe(channel, cb));
    const subscribe = all.sent.filter((m) => m.channel === "/meta/subscribe");
    assert.deepEqual(subscribe.map((m) => m.ext?.replay), [{ [channel]: -2 }]);
    const handshake = all.raw.filter((m) => m.channel === "/meta/handshake")[0];
    assert.equal(handshake.ext?.replay, true, "the handshake reply turns the extension on");

    await events.waitFor((e) => e.sobject.Id === a && e.event.type === "updated", "the replayed events");
    // Then live events, each exactly once, after the replayed ones.
    await Account.destroy(b);
    await events.waitFor((e) => e.event.type === "deleted", "a live event after the replay");
    assert.deepEqual(events.items.map(summary), [...stored, { type: "deleted", sobject: { Id: b } }]);
    assertEventMeta(events.items, { since });

    // A second client resumes after the second event: it gets the third on, and a live one.
    const resumeFrom = events.items[1].event.replayId;
    const resumed = org.createClient(conn, [new StreamingExtension.Replay(channel, resumeFrom)], "jsforce replay from id");
    const { events: rest } = await subscribeEvents(channel, (cb) => resumed.client.subscribe(channel, cb));
    assert.deepEqual(resumed.sent.filter((m) => m.channel === "/meta/subscribe").map((m) => m.ext?.replay), [
      { [channel]: resumeFrom },
    ]);
    const d = (await Account.create({ Name: "Delta" })).id;
    await rest.waitFor((e) => e.sobject.Id === d, "the live event after the resumed ones");
    await events.waitFor((e) => e.sobject.Id === d, "the live event on the first client");
    assert.deepEqual(rest.items.map(summary), [
      ...stored.slice(2),
      { type: "deleted", sobject: { Id: b } },
      { type: "created", sobject: { Id: d, Name: "Delta" } },
    ]);
    assert.deepEqual(
      rest.items.map((e) => e.event.replayId),
      events.items.slice(2).map((e) => e.event.replayId),
      "both clients see the same replay ids",
    );
  });
});
