// The Pub/Sub API (gRPC, Avro) with the npm `salesforce-pubsub-api-client`, unchanged: only its
// endpoint (`pubSubEndpoint`), its login URL and its certificate trust (`rejectUnauthorizedSsl:
// false`, the switch it has for a certificate outside its bundled roots) point it at Bayou. It
// decodes events with avro-js and the schema `GetSchema` returns, so what it prints is what
// Bayou's Avro really says.
//
// Each test starts its own server (login required, fixed credentials, an admin token) and stops
// it afterwards. Nothing sleeps: deliveries are awaited with deadlines.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";

import PubSubApiClient from "salesforce-pubsub-api-client";

import { CREDENTIALS, JsforceOrg, subscribeEvents } from "./clients/jsforce.mjs";
import { TEST_TIMEOUT_MS } from "./scenarios.mjs";
import { Inbox, waitFor, withTimeout } from "./util.mjs";

// The package does not export its package.json: read it from where npm put it.
const CLIENT_VERSION = JSON.parse(
  readFileSync(new URL("./node_modules/salesforce-pubsub-api-client/package.json", import.meta.url), "utf8"),
).version;

const opts = { timeout: TEST_TIMEOUT_MS };
const ADMIN_TOKEN = "interop-pubsub-admin-token";
const TOPIC = "/event/Low_Ink__e";

/** Quiet unless BAYOU_TRACE is set: the client logs every event at info level. */
const logger = process.env.BAYOU_TRACE
  ? console
  : { debug() {}, info() {}, warn() {}, error() {} };

/** A server with Low_Ink__e defined, Bayeux publishes on /event/** allowed for the mixed test. */
async function lowInkOrg(t, extraArgs = []) {
  const org = await JsforceOrg.start(t, {
    adminToken: ADMIN_TOKEN,
    extraArgs: ["--bayeux-publish", "/event/**=allow", ...extraArgs],
  });
  const defined = await org.server.admin("platform-events", {
    name: "Low_Ink__e",
    fields: { Printer_Model__c: "text", Ink_Percentage__c: "number" },
  });
  assert.ok(defined.status >= 200 && defined.status < 300, `define Low_Ink__e: ${JSON.stringify(defined)}`);
  return org;
}

/** A connected client logged in with `auth` (the client's own login code runs). */
async function pubsubClient(t, org, auth) {
  const client = new PubSubApiClient(
    {
      pubSubEndpoint: org.server.pubsubEndpoint,
      rejectUnauthorizedSsl: false,
      ...auth,
    },
    logger,
  );
  await withTimeout(client.connect(), "Pub/Sub API client connect");
  t.after(() => client.close());
  return client;
}

/** The username-password flow: jsforce's SOAP login() against Bayou, as the client does it. */
function passwordLogin(org) {
  return {
    authType: "username-password",
    loginUrl: org.loginUrl,
    username: CREDENTIALS.username,
    password: CREDENTIALS.password,
  };
}

/** The `index`-th item an inbox receives (0-based), waiting for it. */
function nth(inbox, index, what) {
  return inbox.waitFor(() => true, what, { since: index });
}

/**
 * Resolves once the server has set up `count` Pub/Sub subscriptions (their start position is
 * fixed): a LATEST subscription sees every event published after this.
 */
async function subscriptionsReady(org, count) {
  await waitFor(async () => {
    const metrics = await org.server.metrics();
    return metrics.value("bayou_pubsub_subscriptions") >= count;
  }, `${count} Pub/Sub subscription(s) set up`);
}

/** The next item of `inbox` this test has not taken yet, waiting for it. */
function take(inbox, what) {
  inbox.taken = (inbox.taken ?? 0) + 1;
  return nth(inbox, inbox.taken - 1, what);
}

/** Everything a subscription's callback reports, by kind. */
function recorder(what) {
  const events = new Inbox(`${what}: events`);
  const ends = new Inbox(`${what}: end or error`);
  const callback = (info, type, data) => {
    if (type === "event") events.push(data);
    if (type === "error" || type === "end") ends.push({ type, data });
  };
  return { events, ends, callback };
}

/** Publishes over REST as jsforce does; resolves with the EventUuid. */
async function publishRest(conn, fields) {
  const result = await withTimeout(conn.sobject("Low_Ink__e").create(fields), "REST publish");
  assert.equal(result.success, true, JSON.stringify(result));
  return result.errors[0].message;
}

describe(`salesforce-pubsub-api-client ${CLIENT_VERSION} against Bayou's Pub/Sub API`, () => {
  test("subscribeFromEarliestEvent decodes REST events with the replay ids CometD gives", opts, async (t) => {
    const org = await lowInkOrg(t);
    const { conn } = await org.oauthLogin();
    const wire = org.topicClient(conn);
    const { events: cometd } = await subscribeEvents(TOPIC, (cb) => wire.client.subscribe(TOPIC, cb));
    const first = await publishRest(conn, { Printer_Model__c: "XZO-5", Ink_Percentage__c: 0.2 });
    await publishRest(conn, { Printer_Model__c: "XZO-6" });
    const viaCometd = [await take(cometd, "first on CometD"), await take(cometd, "second on CometD")];

    const client = await pubsubClient(t, org, passwordLogin(org));
    const sub = recorder("earliest");
    client.subscribeFromEarliestEvent(TOPIC, sub.callback, 2);
    const got = [await take(sub.events, "first over gRPC"), await take(sub.events, "second over gRPC")];
    assert.deepEqual(
      got.map((e) => e.replayId),
      viaCometd.map((m) => m.event.replayId),
    );
    assert.equal(got[0].id, first, "the event id is the EventUuid");
    assert.equal(got[0].payload.Printer_Model__c, "XZO-5");
    assert.equal(got[0].payload.Ink_Percentage__c, 0.2);
    assert.equal(got[1].payload.Ink_Percentage__c, null);
    assert.equal(typeof got[0].payload.CreatedDate, "number");
    assert.equal(got[0].payload.CreatedDate, Date.parse(viaCometd[0].payload.CreatedDate));
    assert.equal(got[0].payload.CreatedById, viaCometd[0].payload.CreatedById);
    assert.equal(got[0].schemaId, viaCometd[0].schema);
  });

  test("subscribe (latest) with an OAuth login sees only new events; subscribeFromReplayId resumes", opts, async (t) => {
    const org = await lowInkOrg(t);
    const { conn } = await org.oauthLogin();
    await publishRest(conn, { Printer_Model__c: "old" });
    const client = await pubsubClient(t, org, {
      authType: "oauth-client-credentials",
      loginUrl: org.loginUrl,
      clientId: CREDENTIALS.clientId,
      clientSecret: CREDENTIALS.clientSecret,
    });
    const latest = recorder("latest");
    client.subscribe(TOPIC, latest.callback, 3);
    await subscriptionsReady(org, 1);
    const ids = [];
    for (const model of ["a", "b", "c"]) {
      const published = await client.publish(TOPIC, {
        CreatedDate: Date.now(),
        CreatedById: "005000000000000AAA",
        Printer_Model__c: { string: model },
        Ink_Percentage__c: { double: 0.5 },
      });
      assert.ok(!published.error, JSON.stringify(published));
      ids.push(published.replayId);
    }
    const seen = [];
    for (let i = 0; i < 3; i++) seen.push(await take(latest.events, `event ${i}`));
    assert.deepEqual(seen.map((e) => e.replayId), ids);
    assert.deepEqual(seen.map((e) => e.payload.Printer_Model__c), ["a", "b", "c"]);

    const resumed = recorder("from replay id");
    const other = await pubsubClient(t, org, passwordLogin(org));
    other.subscribeFromReplayId(TOPIC, resumed.callback, 2, ids[0]);
    const after = [await take(resumed.events, "after a"), await take(resumed.events, "after b")];
    assert.deepEqual(after.map((e) => e.replayId), ids.slice(1));
  });

  test("a CometD subscriber and a gRPC subscriber get the same events in order after REST, Bayeux and gRPC publishes", opts, async (t) => {
    const org = await lowInkOrg(t);
    const { conn } = await org.oauthLogin();
    const wire = org.topicClient(conn);
    await subscribeEvents(TOPIC, (cb) => wire.client.subscribe(TOPIC, cb));
    const client = await pubsubClient(t, org, passwordLogin(org));
    const grpc = recorder("mixed");
    client.subscribe(TOPIC, grpc.callback, 6);
    await subscriptionsReady(org, 1);

    await publishRest(conn, { Printer_Model__c: "rest-1" });
    // Another connection: jsforce shares one faye client per connection, and a publish's reply
    // may carry the subscriber's deliveries, beside the held connect.
    const { conn: publisherConn } = await org.oauthLogin();
    const bayeux = org.topicClient(publisherConn, "bayeux publisher").client;
    await withTimeout(
      new Promise((resolve, reject) =>
        bayeux.publish(TOPIC, { Printer_Model__c: "bayeux-2" }).then(resolve, reject),
      ),
      "Bayeux publish",
    );
    await client.publish(TOPIC, {
      CreatedDate: Date.now(),
      CreatedById: "005000000000000AAA",
      Printer_Model__c: { string: "grpc-3" },
      Ink_Percentage__c: null,
    });
    await publishRest(conn, { Printer_Model__c: "rest-4" });

    const viaGrpc = [];
    for (let i = 0; i < 4; i++) viaGrpc.push(await take(grpc.events, `gRPC event ${i}`));
    // CometD's side from the wire, in the order it arrived: a platform event carries its replay
    // id in data.event, an event published over Bayeux in ext (its data is kept as published).
    const onTopic = (m) => m.channel === TOPIC && m.data !== undefined;
    const replayIdOf = (m) => m.data.event?.replayId ?? m.ext?.replayId;
    await wire.raw.waitFor(() => wire.raw.filter(onTopic).length >= 4, "4 events on CometD's wire");
    const viaCometd = wire.raw.filter(onTopic);
    const models = ["rest-1", "bayeux-2", "grpc-3", "rest-4"];
    assert.deepEqual(
      viaCometd.map((m) => m.data.payload?.Printer_Model__c ?? m.data.Printer_Model__c),
      models,
    );
    // The gRPC stream itself is in replay id order, with CometD's ids.
    assert.deepEqual(viaGrpc.map((e) => e.payload.Printer_Model__c), models);
    const grpcIds = viaGrpc.map((e) => e.replayId);
    assert.deepEqual(grpcIds, viaCometd.map(replayIdOf));
    for (let i = 1; i < grpcIds.length; i++) assert.ok(grpcIds[i] > grpcIds[i - 1], `${grpcIds}`);
  });

  test("a change event is parsed into field names from its bitmaps", opts, async (t) => {
    const org = await lowInkOrg(t);
    const selected = await org.server.admin("cdc", { entity: "Account" });
    assert.ok(selected.status >= 200 && selected.status < 300, JSON.stringify(selected));
    const { conn } = await org.oauthLogin();
    const client = await pubsubClient(t, org, passwordLogin(org));
    const sub = recorder("change events");
    client.subscribe("/data/AccountChangeEvent", sub.callback, 2);
    await subscriptionsReady(org, 1);

    const created = await withTimeout(conn.sobject("Account").create({ Name: "Acme", Industry: "Energy" }), "create");
    assert.equal(created.success, true, JSON.stringify(created));
    const updated = await withTimeout(
      conn.sobject("Account").update({ Id: created.id, Industry: null, Phone: "555" }),
      "update",
    );
    assert.equal(updated.success, true, JSON.stringify(updated));

    const create = await take(sub.events, "the CREATE event");
    const update = await take(sub.events, "the UPDATE event");
    assert.equal(create.payload.ChangeEventHeader.changeType, "CREATE");
    assert.deepEqual(create.payload.ChangeEventHeader.recordIds, [created.id]);
    assert.equal(create.payload.Name, "Acme");
    const header = update.payload.ChangeEventHeader;
    assert.equal(header.changeType, "UPDATE");
    assert.deepEqual([...header.changedFields].sort(), ["Industry", "LastModifiedDate", "Phone"]);
    assert.deepEqual(header.nulledFields, ["Industry"]);
    assert.deepEqual(header.diffFields, []);
    assert.equal(update.payload.Phone, "555");
    assert.equal(update.payload.Name, null, "unchanged fields are null");
    assert.ok(update.replayId > create.replayId);
  });

  test("a managed subscription resumes after the replay id committed with commitReplayId", opts, async (t) => {
    // The client has no call to end a subscription (close() leaves calls running): the server
    // closes a stream that requests nothing for the idle timeout, made short here.
    const org = await lowInkOrg(t, ["--pubsub-idle-timeout", "1s"]);
    const { conn } = await org.oauthLogin();
    const created = await withTimeout(
      conn.tooling.sobject("ManagedEventSubscription").create({
        FullName: "Ink_Watch",
        Metadata: { label: "Ink Watch", topicName: TOPIC, defaultReplay: "EARLIEST", errorRecoveryReplay: "LATEST", state: "RUN" },
      }),
      "create the ManagedEventSubscription",
    );
    assert.equal(created.success, true, JSON.stringify(created));
    for (const model of ["one", "two", "three"]) await publishRest(conn, { Printer_Model__c: model });

    const first = await pubsubClient(t, org, passwordLogin(org));
    const sub = recorder("managed");
    await first.subscribeWithManagedSubscription("Ink_Watch", sub.callback, 3);
    const got = [];
    for (let i = 0; i < 3; i++) got.push(await take(sub.events, `event ${i}`));
    assert.deepEqual(got.map((e) => e.payload.Printer_Model__c), ["one", "two", "three"]);
    first.commitReplayId(created.id, got[0].replayId);
    await waitFor(async () => (await org.server.metrics()).value("bayou_pubsub_commits_total") >= 1, "the commit stored");
    await waitFor(
      async () => (await org.server.metrics()).value("bayou_pubsub_subscriptions") === 0,
      "the first stream closed by the idle timeout",
    );

    const second = await pubsubClient(t, org, passwordLogin(org));
    const again = recorder("managed, resumed");
    await second.subscribeWithManagedSubscription(created.id, again.callback, 2);
    const resumed = [await take(again.events, "first after the commit"), await take(again.events, "second after the commit")];
    assert.deepEqual(resumed.map((e) => e.replayId), [got[1].replayId, got[2].replayId]);
  });

  test("a token revoked mid-stream ends the subscription with UNAUTHENTICATED", opts, async (t) => {
    const org = await lowInkOrg(t);
    const { conn } = await org.oauthLogin();
    const { conn: victim } = await org.soapLogin();
    const client = await pubsubClient(t, org, {
      authType: "user-supplied",
      accessToken: victim.accessToken,
      instanceUrl: "https://bayou.invalid",
      organizationId: victim.userInfo.organizationId,
    });
    const sub = recorder("revoked");
    client.subscribe(TOPIC, sub.callback, 5);
    await subscriptionsReady(org, 1);
    await publishRest(conn, { Printer_Model__c: "before" });
    await take(sub.events, "the event before the revocation");

    const revoked = await fetch(`${org.server.origin}/services/oauth2/revoke`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: victim.accessToken }),
    });
    assert.equal(revoked.status, 200);
    await publishRest(conn, { Printer_Model__c: "after" });
    const { type, data } = await take(sub.ends, "the stream's end");
    assert.equal(type, "error", JSON.stringify(data));
    assert.equal(data.code, 16, `UNAUTHENTICATED, not ${data.code}: ${data.details}`);
    assert.equal(data.metadata.get("error-code")[0], "sfdc.platform.eventbus.grpc.service.auth.error");
  });

  test("publishBatch sends batches on one PublishStream; each event is answered by its correlation key", opts, async (t) => {
    const org = await lowInkOrg(t);
    const client = await pubsubClient(t, org, passwordLogin(org));
    const sub = recorder("batched");
    client.subscribe(TOPIC, sub.callback, 5);
    await subscriptionsReady(org, 1);
    const answers = new Inbox("publish stream responses");
    const ends = new Inbox("publish stream errors");
    const callback = (info, type, data) => {
      if (type === "publishResponse") answers.push(data);
      if (type === "error") ends.push(data);
    };
    const event = (id, model) => ({
      id,
      payload: {
        CreatedDate: Date.now(),
        CreatedById: "005000000000000AAA",
        Printer_Model__c: { string: model },
        Ink_Percentage__c: { double: 0.1 },
      },
    });
    await client.publishBatch(TOPIC, [event("batch-a", "a"), event("batch-b", "b"), event("batch-c", "c")], callback);
    // The second batch goes on the same (cached) stream.
    await client.publishBatch(TOPIC, [event("batch-d", "d"), event("batch-e", "e")], callback);
    const first = await take(answers, "the first batch's response");
    const second = await take(answers, "the second batch's response");
    assert.deepEqual(first.results.map((r) => r.correlationKey), ["batch-a", "batch-b", "batch-c"]);
    assert.deepEqual(second.results.map((r) => r.correlationKey), ["batch-d", "batch-e"]);
    const ids = [...first.results, ...second.results].map((r) => r.replayId);
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], `${ids}`);
    const seen = [];
    for (let i = 0; i < 5; i++) seen.push(await take(sub.events, `batched event ${i}`));
    assert.deepEqual(seen.map((e) => e.replayId), ids);
    assert.deepEqual(seen.map((e) => e.id), ["batch-a", "batch-b", "batch-c", "batch-d", "batch-e"]);
    assert.deepEqual(seen.map((e) => e.payload.Printer_Model__c), ["a", "b", "c", "d", "e"]);
    assert.equal(ends.items.length, 0, JSON.stringify(ends.items));
  });

  test("a subscription to an unknown topic ends NOT_FOUND, with Salesforce's error code", opts, async (t) => {
    const org = await lowInkOrg(t);
    const client = await pubsubClient(t, org, passwordLogin(org));
    const sub = recorder("unknown topic");
    client.subscribe("/event/Nope__e", sub.callback, 1);
    const { type, data } = await take(sub.ends, "the stream's end");
    assert.equal(type, "error", JSON.stringify(data));
    assert.equal(data.code, 5, String(data.details));
    assert.equal(data.metadata.get("error-code")[0], "sfdc.platform.eventbus.grpc.topic.not.found");
    await assert.rejects(client.publish("/event/Nope__e", {}), /Failed to publish/);
  });
});
