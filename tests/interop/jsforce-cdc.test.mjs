// Change Data Capture (docs/events.md) with jsforce, unchanged: Account is selected for change
// events (`BAYOU_CDC_ENTITIES`), records are created, updated and deleted with
// `conn.sobject('Account')`, and `conn.streaming.topic('/data/…')` receives the change events on
// `/data/ChangeEvents` and `/data/AccountChangeEvent`, in Salesforce's shape.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { isSalesforceId, JSFORCE_VERSION, JsforceOrg, subscribeEvents } from "./clients/jsforce.mjs";
import { TEST_TIMEOUT_MS } from "./scenarios.mjs";
import { withTimeout } from "./util.mjs";

const opts = { timeout: TEST_TIMEOUT_MS };

describe(`jsforce ${JSFORCE_VERSION} Change Data Capture`, () => {
  test("create, update and delete of an Account arrive as change events on both channels", opts, async (t) => {
    const org = await JsforceOrg.start(t, { env: { BAYOU_CDC_ENTITIES: "Account" } });
    const { conn } = await org.oauthLogin();
    const all = await subscribeEvents("/data/ChangeEvents", (cb) => conn.streaming.topic("/data/ChangeEvents").subscribe(cb));
    const own = await subscribeEvents("/data/AccountChangeEvent", (cb) =>
      conn.streaming.topic("/data/AccountChangeEvent").subscribe(cb),
    );

    // Not selected: a Contact publishes nothing.
    await withTimeout(conn.sobject("Contact").create({ LastName: "Not captured" }), "create a Contact");
    const created = await withTimeout(conn.sobject("Account").create({ Name: "Capture Co", Phone: "555-0100" }), "create");
    assert.equal(created.success, true);
    await withTimeout(conn.sobject("Account").update({ Id: created.id, Industry: "Energy" }), "update");
    await withTimeout(conn.sobject("Account").destroy(created.id), "delete");

    const header = (m) => m.payload.ChangeEventHeader;
    for (const inbox of [all.events, own.events]) {
      await inbox.waitFor((m) => header(m).changeType === "DELETE", "the DELETE change event");
      assert.deepEqual(inbox.items.map((m) => header(m).changeType), ["CREATE", "UPDATE", "DELETE"]);
      for (const m of inbox.items) {
        const h = header(m);
        assert.equal(h.entityName, "Account");
        assert.deepEqual(h.recordIds, [created.id]);
        assert.equal(h.commitUser, conn.userInfo.id);
        assert.ok(isSalesforceId(h.commitUser, "005"));
        assert.equal(h.sequenceNumber, 1);
        assert.match(h.transactionKey, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        assert.ok(Number.isSafeInteger(h.commitTimestamp) && Math.abs(h.commitTimestamp - Date.now()) < 60_000);
        assert.ok(Number.isSafeInteger(h.commitNumber));
        assert.match(h.changeOrigin, /^com\/salesforce\/api\/rest\//);
        assert.equal(typeof m.schema, "string");
        assert.ok(Number.isSafeInteger(m.event.replayId) && m.event.replayId > 0);
      }
      const [create, update, remove] = inbox.items;
      assert.equal(create.payload.Name, "Capture Co");
      assert.equal(create.payload.Phone, "555-0100");
      assert.deepEqual(header(create).changedFields, []);
      assert.deepEqual(header(update).changedFields, ["Industry", "LastModifiedDate"]);
      assert.equal(update.payload.Industry, "Energy");
      assert.equal(update.payload.Name, undefined);
      assert.deepEqual(Object.keys(remove.payload), ["ChangeEventHeader"]);
    }
    // The same changes, each published on both channels with its own replay id.
    assert.deepEqual(
      all.events.items.map((m) => header(m).transactionKey),
      own.events.items.map((m) => header(m).transactionKey),
    );
  });
});
