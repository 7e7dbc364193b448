// nforce, unchanged, as the 2012 Streaming API demo apps use it: `nforce.createConnection` with
// the app's API version, the OAuth username-password login, `org.stream({topic, oauth})` (faye
// underneath, with nforce's own replay extension) and records inserted with `org.insert`.
//
// The demo as written names API v24.0, which Salesforce retired (Winter '25): against a server
// emulating the older org (`--min-api-version 23.0`) it runs unchanged and gets v24.0's
// notifications (`createdDate` ending `+0000`); with nforce's default version (38.0) it runs
// against the default server.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, test } from "node:test";
import nforce from "nforce";

import { CREDENTIALS, JsforceOrg } from "./clients/jsforce.mjs";
import { TEST_TIMEOUT_MS } from "./scenarios.mjs";
import { Inbox, withTimeout } from "./util.mjs";

const opts = { timeout: TEST_TIMEOUT_MS };
const { version: NFORCE_VERSION } = JSON.parse(
  await readFile(new URL("./node_modules/nforce/package.json", import.meta.url), "utf8"),
);

/** The demo app's connection to `origin`, on `apiVersion` (nforce's default when undefined). */
function demoConnection(origin, apiVersion) {
  return nforce.createConnection({
    clientId: CREDENTIALS.clientId,
    clientSecret: CREDENTIALS.clientSecret,
    redirectUri: "http://localhost:3000/oauth/_callback",
    environment: "production",
    loginUri: `${origin}/services/oauth2/token`,
    ...(apiVersion ? { apiVersion } : {}),
  });
}

/**
 * Logs in, creates the AccountUpdates PushTopic and an Account, streams the topic (with
 * `replayId` when given), and inserts another Account; resolves with the notifications of both
 * that arrived.
 */
async function runDemo(t, org, apiVersion, replayId) {
  const demo = demoConnection(org.server.origin, apiVersion);
  const oauth = await withTimeout(
    demo.authenticate({ username: CREDENTIALS.username, password: CREDENTIALS.password }),
    "nforce authenticate",
  );
  const topic = nforce.createSObject("PushTopic", {
    Name: "AccountUpdates",
    Query: "SELECT Id, Name FROM Account",
    ApiVersion: 24.0,
    NotifyForFields: "Referenced",
  });
  await withTimeout(demo.insert({ sobject: topic, oauth }), "insert the PushTopic");
  const before = nforce.createSObject("Account", { Name: "Before Streaming" });
  await withTimeout(demo.insert({ sobject: before, oauth }), "insert an Account before streaming");
  const received = new Inbox("nforce stream");
  const stream = demo.stream({ topic: "AccountUpdates", oauth, ...(replayId ? { replayId } : {}) });
  t.after(() => stream.cancel?.());
  const errors = [];
  stream.on("error", (e) => errors.push(e));
  stream.on("data", (data) => received.push(data));
  // nforce's Subscription emits `connect` once faye's subscribe succeeded.
  await withTimeout(new Promise((resolve) => stream.on("connect", resolve)), "the subscription");
  const account = nforce.createSObject("Account", { Name: "Demo Account" });
  await withTimeout(demo.insert({ sobject: account, oauth }), "insert an Account");
  await received.waitFor((d) => d.sobject?.Name === "Demo Account", "the Account's notification");
  assert.deepEqual(errors, []);
  return received.items;
}

describe(`nforce ${NFORCE_VERSION}`, () => {
  test("the 2012 demo on API v24.0, against an org emulating the retired versions", opts, async (t) => {
    const org = await JsforceOrg.start(t, { extraArgs: ["--min-api-version", "23.0"] });
    // No durable streaming before 37.0: only the Account inserted while streaming arrives.
    const events = await runDemo(t, org, "v24.0");
    assert.deepEqual(events.map((e) => [e.event.type, e.sobject.Name]), [["created", "Demo Account"]]);
    assert.match(events[0].event.createdDate, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
  });

  test("the same demo on nforce's default API version with replayId -2, against the default org", opts, async (t) => {
    // From 37.0 a subscribe must name its channel in the replay map if it sends one, and
    // nforce always sends one (`{}` without a replayId): Salesforce refuses that map, and so
    // does Bayou, so the app passes a replay id.
    const org = await JsforceOrg.start(t);
    const events = await runDemo(t, org, undefined, -2);
    assert.deepEqual(
      events.map((e) => [e.event.type, e.sobject.Name]),
      [
        ["created", "Before Streaming"],
        ["created", "Demo Account"],
      ],
    );
    assert.match(events[0].event.createdDate, /Z$/);
    assert.ok(events[1].event.replayId > events[0].event.replayId);
  });
});
