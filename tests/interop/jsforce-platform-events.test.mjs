// Platform events (docs/events.md) with jsforce, unchanged: an event type defined through the
// admin API, published with `conn.sobject('Low_Ink__e').create()` over REST, and received on
// `/event/Low_Ink__e` through `conn.streaming.topic('/event/Low_Ink__e').subscribe()` (jsforce
// takes a name starting with "/" as the full channel name, not as a PushTopic name).
//
// Each test starts its own server (login required, fixed credentials, an admin token) and stops
// it afterwards. Nothing sleeps: deliveries are awaited with deadlines.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { CREATED_DATE, isSalesforceId, JSFORCE_VERSION, JsforceOrg, subscribeEvents } from "./clients/jsforce.mjs";
import { TEST_TIMEOUT_MS } from "./scenarios.mjs";
import { withTimeout } from "./util.mjs";

const opts = { timeout: TEST_TIMEOUT_MS };
const ADMIN_TOKEN = "interop-platform-events-admin-token";
const CHANNEL = "/event/Low_Ink__e";

/** A server with the Low_Ink__e event type defined at run time, and a logged-in connection. */
async function lowInkOrg(t) {
  const org = await JsforceOrg.start(t, { adminToken: ADMIN_TOKEN });
  const defined = await org.server.admin("platform-events", {
    name: "Low_Ink__e",
    fields: { Printer_Model__c: "text", Ink_Percentage__c: "number" },
  });
  assert.ok(defined.status >= 200 && defined.status < 300, `define Low_Ink__e: ${JSON.stringify(defined)}`);
  const { conn } = await org.oauthLogin();
  return { org, conn };
}

describe(`jsforce ${JSFORCE_VERSION} platform events`, () => {
  test("an event published with sobject().create() reaches a /event/ subscriber", opts, async (t) => {
    const { org, conn } = await lowInkOrg(t);
    const wire = org.topicClient(conn); // records jsforce's own streaming client; cleaned up by the org
    const since = Date.now();
    const { events } = await subscribeEvents(CHANNEL, (cb) => conn.streaming.topic(CHANNEL).subscribe(cb));
    assert.deepEqual(
      wire.sent.filter((m) => m.channel === "/meta/subscribe").map((m) => m.subscription),
      [CHANNEL],
    );

    const result = await withTimeout(
      conn.sobject("Low_Ink__e").create({ Printer_Model__c: "XZO-5", Ink_Percentage__c: 0.2 }),
      "publish Low_Ink__e",
    );
    assert.equal(result.success, true, JSON.stringify(result));
    assert.equal(typeof result.id, "string", JSON.stringify(result));
    assert.equal(result.errors.length, 1, JSON.stringify(result));
    const [enqueued] = result.errors;
    assert.equal(enqueued.statusCode, "OPERATION_ENQUEUED");
    assert.match(enqueued.message, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.deepEqual(enqueued.fields, []);

    const message = await events.waitFor((m) => m?.event?.EventUuid === enqueued.message, "the Low_Ink__e event");
    assert.equal(message.payload.Printer_Model__c, "XZO-5");
    assert.equal(message.payload.Ink_Percentage__c, 0.2);
    assert.match(message.payload.CreatedDate, CREATED_DATE);
    const at = Date.parse(message.payload.CreatedDate);
    assert.ok(at >= since - 1000 && at <= Date.now() + 1000, `CreatedDate ${message.payload.CreatedDate} is not now`);
    assert.ok(isSalesforceId(message.payload.CreatedById, "005"), `CreatedById ${message.payload.CreatedById}`);
    assert.equal(message.payload.CreatedById, conn.userInfo.id);
    assert.equal(message.event.EventUuid, enqueued.message);
    assert.ok(Number.isSafeInteger(message.event.replayId) && message.event.replayId > 0, `replayId ${message.event.replayId}`);
    assert.equal(message.event.createdDate, undefined);
    assert.equal(typeof message.schema, "string");
    assert.ok(message.schema.length > 0);
    assert.equal(events.items.length, 1, JSON.stringify(events.items));
  });

  test("a publish with an unknown field is rejected with INVALID_FIELD", opts, async (t) => {
    const { conn } = await lowInkOrg(t);
    await assert.rejects(
      withTimeout(conn.sobject("Low_Ink__e").create({ Printer_Model__c: "XZO-5", Color__c: "cyan" }), "rejected publish"),
      (err) => {
        assert.equal(err.errorCode, "INVALID_FIELD", `${err.name}: ${err.message}`);
        assert.equal(err.message, "No such column 'Color__c' on sobject of type Low_Ink__e");
        return true;
      },
    );
  });
});
