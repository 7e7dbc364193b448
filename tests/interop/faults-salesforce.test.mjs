// Faults a Salesforce org produces but a team cannot provoke on one (docs/faults.md), injected
// through the admin API into a running bayou and met by real, unchanged clients: the
// server-initiated `/meta/disconnect` of Hyperforce autoscaling (API 64.0 and later), a
// handshake refused by the concurrent-client limit, a daily delivery allocation reached now, and
// Change Data Capture gap and overflow events.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { CometDTestClient } from "./clients/cometd.mjs";
import { FayeTestClient } from "./clients/faye.mjs";
import { createPushTopic, JsforceOrg, subscribeEvents } from "./clients/jsforce.mjs";
import { fixture, TEST_TIMEOUT_MS } from "./scenarios.mjs";
import { withTimeout } from "./util.mjs";

const opts = { timeout: TEST_TIMEOUT_MS };
const TOKEN = "1b2c3d4e5f60718293a4b5c6d7e8f901";

/** `POST /admin/faults/<fault>` with `body`: asserts HTTP 200 and returns the JSON reply. */
async function inject(server, fault, body) {
  const { status, body: reply } = await server.admin(`faults/${fault}`, body);
  assert.equal(status, 200, `POST /admin/faults/${fault}: ${JSON.stringify(reply)}`);
  return reply;
}

describe("Salesforce's own faults, on demand", () => {
  test("server-disconnect: CometD is sent /meta/disconnect then 403::Unknown client, and handshakes again", opts, async (t) => {
    const f = await fixture(t, CometDTestClient, "long-polling", { server: { adminToken: TOKEN } });
    const { client } = await f.connect("cometd");
    await client.subscribe("/faults/hyperforce");
    const disconnects = [];
    client.cometd.addListener("/meta/disconnect", (message) => disconnects.push(message));
    await f.holding(client);
    const since = client.raw.mark();
    const oldId = client.clientId;
    assert.deepEqual(await inject(f.server, "server-disconnect", { clientId: oldId }), { disconnected: 1 });

    const notice = await client.raw.waitFor((m) => m.channel === "/meta/disconnect", "the server's /meta/disconnect", { since });
    assert.deepEqual(notice, { channel: "/meta/disconnect" });
    const failure = await client.raw.waitFor(
      (m) => m.channel === "/meta/connect" && m.successful === false,
      "the held connect's failure",
      { since },
    );
    assert.equal(failure.error, "403::Unknown client");
    assert.equal(failure.advice?.reconnect, "handshake");
    assert.ok(disconnects.length >= 1, "CometD's /meta/disconnect listener ran");

    // As Salesforce documents for this case, the application handshakes again.
    await client.handshake();
    assert.notEqual(client.clientId, oldId);
    const again = await client.subscribe("/faults/hyperforce");
    const { client: publisher } = await f.connect("publisher");
    await publisher.publish("/faults/hyperforce", { after: true });
    await again.inbox.waitFor((d) => d.data.after, "a delivery on the new session");
  });

  test("server-disconnect: faye handshakes again by itself and keeps its subscription", opts, async (t) => {
    const f = await fixture(t, FayeTestClient, "websocket", { server: { adminToken: TOKEN } });
    const { client: subscriber } = await f.connect("subscriber");
    const { client: publisher } = await f.connect("publisher");
    const handle = await subscriber.subscribe("/faults/hyperforce");
    await f.holding(subscriber);
    const oldId = subscriber.clientId;
    const since = subscriber.raw.mark();
    await inject(f.server, "server-disconnect", { clientId: oldId });
    await subscriber.raw.waitFor((m) => m.channel === "/meta/disconnect", "the server's /meta/disconnect", { since });
    await subscriber.raw.waitFor(
      (m) => m.channel === "/meta/handshake" && m.successful && m.clientId !== oldId,
      "faye's new handshake",
      { since },
    );
    // faye resubscribes by itself on the new session.
    await subscriber.raw.waitFor(
      (m) => m.channel === "/meta/subscribe" && m.successful && m.subscription === "/faults/hyperforce",
      "faye's own resubscription",
      { since },
    );
    await publisher.publish("/faults/hyperforce", { after: true });
    await handle.inbox.waitFor((d) => d.data.after, "a delivery after faye's recovery");
  });

  test("refuse-handshakes: CometD's handshake is denied with the concurrent-client limit, the next one succeeds", opts, async (t) => {
    const f = await fixture(t, CometDTestClient, "long-polling", { server: { adminToken: TOKEN } });
    assert.deepEqual(await inject(f.server, "refuse-handshakes", { count: 1 }), { refusing: 1 });
    const client = new CometDTestClient(f.server.url, { transport: "long-polling", name: "refused" });
    t.after(() => client.close());
    const refused = new Promise((resolve) => {
      const listener = client.cometd.addListener("/meta/handshake", (reply) => {
        if (!reply.successful) {
          client.cometd.removeListener(listener);
          resolve(reply);
        }
      });
    });
    client.cometd.handshake();
    const reply = await withTimeout(refused, "the refused handshake");
    assert.equal(reply.error, "403::Handshake denied");
    assert.equal(reply.ext?.sfdc?.failureReason, "403::Organization concurrent user limit exceeded");
    assert.equal(reply.advice?.reconnect, "none");
    // Only one was asked for: the application's next handshake goes through.
    await client.handshake();
    assert.ok(client.clientId);
  });

  test("use-up-allocation: jsforce's next PushTopic delivery ends the session with the daily limit", opts, async (t) => {
    const org = await JsforceOrg.start(t, { adminToken: TOKEN, extraArgs: ["--allocations", "salesforce"] });
    const { conn } = await org.oauthLogin();
    await createPushTopic(conn, "FaultLimit", "SELECT Id, Subject FROM Case");
    const { client, raw } = org.createClient(conn, [], "jsforce at its limit");
    const { events } = await subscribeEvents("/topic/FaultLimit", (cb) => client.subscribe("/topic/FaultLimit", cb));
    const first = await conn.sobject("Case").create({ Subject: "Within the allocation" });
    await events.waitFor((e) => e.sobject.Id === first.id, "an event within the allocation");

    assert.deepEqual(await inject(org.server, "use-up-allocation", { allocation: "PushTopic" }), { usedUp: "PushTopic" });
    const since = raw.mark();
    await conn.sobject("Case").create({ Subject: "Past the allocation" });
    const failure = await raw.waitFor(
      (m) => m.channel === "/meta/connect" && m.successful === false,
      "the connect that reports the limit",
      { since },
    );
    assert.equal(failure.error, "403::Organization total events daily limit exceeded");
    assert.equal(failure.advice?.reconnect, "none");
    const { status, body } = await org.server.admin("faults/use-up-allocation", { allocation: "Nope" });
    assert.equal(status, 404, JSON.stringify(body));
  });

  test("cdc-gap: jsforce receives header-only gap and overflow change events", opts, async (t) => {
    const org = await JsforceOrg.start(t, { adminToken: TOKEN, env: { BAYOU_CDC_ENTITIES: "Account" } });
    const { conn } = await org.oauthLogin();
    const { events } = await subscribeEvents("/data/AccountChangeEvent", (cb) =>
      conn.streaming.topic("/data/AccountChangeEvent").subscribe(cb),
    );
    const account = await conn.sobject("Account").create({ Name: "Gapped" });
    await events.waitFor((e) => e.payload.ChangeEventHeader.changeType === "CREATE", "the CREATE");

    const gap = await inject(org.server, "cdc-gap", { entity: "Account", changeType: "GAP_UPDATE", recordIds: [account.id] });
    assert.equal(gap.replayIds.length, 2, "on /data/ChangeEvents and /data/AccountChangeEvent");
    const update = await events.waitFor((e) => e.payload.ChangeEventHeader.changeType === "GAP_UPDATE", "the GAP_UPDATE");
    assert.deepEqual(Object.keys(update.payload), ["ChangeEventHeader"], "a gap event carries its header only");
    assert.deepEqual(update.payload.ChangeEventHeader.recordIds, [account.id]);
    assert.equal(update.payload.ChangeEventHeader.entityName, "Account");
    assert.deepEqual(update.payload.ChangeEventHeader.changedFields, []);

    await inject(org.server, "cdc-gap", { entity: "Account", changeType: "GAP_OVERFLOW" });
    const overflow = await events.waitFor((e) => e.payload.ChangeEventHeader.changeType === "GAP_OVERFLOW", "the GAP_OVERFLOW");
    assert.deepEqual(overflow.payload.ChangeEventHeader.recordIds, ["000000000000000AAA"]);
    assert.ok(overflow.event.replayId > update.event.replayId);

    const { status } = await org.server.admin("faults/cdc-gap", { entity: "Contact", changeType: "GAP_CREATE", recordIds: ["003x"] });
    assert.equal(status, 400, "Contact is not selected for Change Data Capture");
  });
});
