// The Salesforce CLI's library, `@salesforce/core`, unchanged: an org built from an access
// token (AuthInfo → `GET /services/oauth2/userinfo`, `GET sobjects/User/{id}`, the Organization
// query), then its `StreamingClient` — faye underneath, with its own replay extension — replaying
// with -2 on a generic streaming channel and on a PushTopic, and receiving live events after.
//
// 8.31.0 is the newest release whose dependencies run on the Node the test command installs
// (Debian's 20): later ones need @jsforce/jsforce-node ≥ 3.11, which needs Node 22. The
// override in package.json keeps @jsforce/jsforce-node at 3.10.16 (Node ≥ 18), within the
// range 8.31.0 asks for.
//
// The library keeps its state under $HOME (~/.sf, ~/.sfdx): each run points HOME at a fresh
// directory, and telemetry is off.

import assert from "node:assert/strict";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, test } from "node:test";

import { CREDENTIALS, JsforceOrg } from "./clients/jsforce.mjs";
import { TEST_TIMEOUT_MS } from "./scenarios.mjs";
import { withTimeout } from "./util.mjs";

process.env.HOME = await mkdtemp(path.join(tmpdir(), "bayou-sf-core-home-"));
process.env.SF_DISABLE_TELEMETRY = "true";
process.env.SFDX_DISABLE_TELEMETRY = "true";
process.env.SF_USE_GENERIC_UNIX_KEYCHAIN = "true";
process.env.SF_DISABLE_LOG_FILE = "true";
const { AuthInfo, Connection, Org, StreamingClient } = await import("@salesforce/core");
const CORE_VERSION = JSON.parse(
  await readFile(new URL("./node_modules/@salesforce/core/package.json", import.meta.url), "utf8"),
).version;

const opts = { timeout: TEST_TIMEOUT_MS };

/** A Bayou org, a token from the OAuth password grant, and @salesforce/core's Org built from it. */
async function coreOrg(t) {
  const org = await JsforceOrg.start(t);
  const { conn } = await org.oauthLogin();
  const instanceUrl = org.server.origin;
  const authInfo = await withTimeout(
    AuthInfo.create({ accessTokenOptions: { accessToken: conn.accessToken, instanceUrl, loginUrl: instanceUrl } }),
    "AuthInfo from an access token",
  );
  const connection = await withTimeout(Connection.create({ authInfo }), "Connection.create");
  const core = await withTimeout(Org.create({ connection }), "Org.create");
  return { org, conn, core };
}

/**
 * Subscribes to `channel` from `replayId` with a StreamingClient and resolves with the first
 * `count` events; `whenSubscribed` runs once the subscription is confirmed.
 */
async function stream(core, channel, replayId, count, whenSubscribed = async () => {}) {
  const events = [];
  const options = new StreamingClient.DefaultOptions(core, channel, (message) => {
    events.push(message);
    return { completed: events.length >= count, payload: events };
  });
  const client = await StreamingClient.create(options);
  client.replay(replayId);
  await withTimeout(client.handshake(), `StreamingClient handshake for ${channel}`);
  return withTimeout(client.subscribe(whenSubscribed), `${count} events on ${channel}`, 20_000);
}

describe(`@salesforce/core ${CORE_VERSION}`, () => {
  test("an org from an access token: userinfo, the User record, the Organization query", opts, async (t) => {
    const { conn, core } = await coreOrg(t);
    assert.equal(core.getUsername(), CREDENTIALS.username);
    const info = await conn.identity();
    assert.equal(core.getOrgId(), info.organization_id);
    const fields = core.getConnection().getAuthInfoFields();
    assert.equal(fields.username, CREDENTIALS.username);
    assert.equal(fields.orgId, info.organization_id);
    // determineOrg's query answered: the org's edition is known.
    assert.equal(fields.orgEdition ?? core.getField(Org.Fields.ORG_EDITION), "Developer Edition");
  });

  test("StreamingClient replays a generic channel with -2, then streams live", opts, async (t) => {
    const { conn, core } = await coreOrg(t);
    const channel = "/u/CoreNotices";
    const created = await conn.sobject("StreamingChannel").create({ Name: channel });
    assert.equal(created.success, true, JSON.stringify(created));
    const push = (payload) =>
      fetch(`${conn.instanceUrl}/services/data/v66.0/sobjects/StreamingChannel/${created.id}/push`, {
        method: "POST",
        headers: { Authorization: `Bearer ${conn.accessToken}`, "Content-Type": "application/json" },
        body: JSON.stringify({ pushEvents: [{ payload, userIds: [] }] }),
      }).then((r) => assert.equal(r.status, 200));
    await push("before one");
    await push("before two");
    const events = await stream(core, channel, -2, 3, () => push("after subscribing"));
    assert.deepEqual(
      events.map((e) => e.payload),
      ["before one", "before two", "after subscribing"],
    );
    const ids = events.map((e) => e.event.replayId);
    assert.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]), `replay ids increase: ${ids}`);
  });

  test("StreamingClient replays a PushTopic with -2, then streams live", opts, async (t) => {
    const { conn, core } = await coreOrg(t);
    const topic = await conn.sobject("PushTopic").create({
      Name: "CoreAccounts",
      Query: "SELECT Id, Name FROM Account",
      ApiVersion: 66.0,
      NotifyForFields: "Referenced",
    });
    assert.equal(topic.success, true, JSON.stringify(topic));
    await conn.sobject("Account").create({ Name: "Core Before" });
    const events = await stream(core, "/topic/CoreAccounts", -2, 2, async () => {
      await conn.sobject("Account").create({ Name: "Core After" });
    });
    assert.deepEqual(
      events.map((e) => [e.event.type, e.sobject.Name]),
      [
        ["created", "Core Before"],
        ["created", "Core After"],
      ],
    );
  });
});
