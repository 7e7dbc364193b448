// The dashboard end to end: the real bayou binary, Debian's Chromium, playwright-core.
//
// Page A logs in and creates a PushTopic (after seeing a SOQL error marked at its position);
// page B, another user context, subscribes to the topic and sees an Account created on page A
// arrive within a second; a fresh page C replays the history with -2; the operator view shows
// the sessions and the latency, and its fault buttons act on the live pages. Screenshots go to
// target/browser-artifacts/ for a human to look at.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { startServer } from "../interop/server.mjs";
import { launch, logIn, newPage, screenshot, subscribe } from "./browser.mjs";

const USER = { username: "dash@example.com", password: "dashboard password" };
const ADMIN_TOKEN = "operator-secret";
const env = {
  BAYOU_USERNAME: USER.username,
  BAYOU_PASSWORD: USER.password,
  BAYOU_CLIENT_ID: "dashboard-test-client",
  BAYOU_CLIENT_SECRET: "dashboard-test-secret",
};

/**
 * Fails with what the page logged if any page had an uncaught error or a console error. Chromium
 * logs every HTTP error response as a console error; the 400s are the REST errors this test
 * provokes on purpose (and checks on the page), so those are let through, and whatever else a
 * test names in `alsoExpected`.
 */
function assertNoProblems(pages, { alsoExpected = [] } = {}) {
  const expected = [
    "console: Failed to load resource: the server responded with a status of 400 (Bad Request)",
    ...alsoExpected,
  ];
  const problems = pages.flatMap((p) => p.problems).filter((p) => !expected.includes(p));
  assert.deepEqual(problems, [], "the pages logged errors");
}

async function feedHas(page, text, timeout) {
  await page.waitForFunction(
    (t) => [...document.querySelectorAll("#feed-events .event")].some((e) => e.textContent.includes(t)),
    text,
    { timeout },
  );
}

/** A Bayeux session of the test's own, over plain HTTP, that publishes to plain channels. */
async function chatPublisher(origin) {
  const form = new URLSearchParams({
    grant_type: "password",
    client_id: env.BAYOU_CLIENT_ID,
    client_secret: env.BAYOU_CLIENT_SECRET,
    username: USER.username,
    password: USER.password,
  });
  const login = await (await fetch(`${origin}/services/oauth2/token`, { method: "POST", body: form })).json();
  const headers = { authorization: `Bearer ${login.access_token}`, "content-type": "application/json" };
  const bayeux = async (messages) => {
    const res = await fetch(`${origin}/cometd/66.0`, { method: "POST", headers, body: JSON.stringify(messages) });
    return res.json();
  };
  const [hello] = await bayeux([{ channel: "/meta/handshake", version: "1.0", supportedConnectionTypes: ["long-polling"] }]);
  assert.ok(hello.successful, JSON.stringify(hello));
  return {
    async publish(channel, data) {
      const [reply] = await bayeux([{ channel, clientId: hello.clientId, data }]);
      assert.ok(reply.successful, JSON.stringify(reply));
    },
  };
}

async function createAccount(page, name) {
  await page.fill("#record-object", "Account");
  await page.fill("#record-id", "");
  await page.fill("#record-fields", JSON.stringify({ Name: name, Industry: "Energy" }));
  await page.click("#record-create");
  await page.waitForFunction(
    () => document.querySelector("#record-result").textContent.startsWith("Created Account"),
  );
}

describe("the dashboard in a real browser", () => {
  let server;
  let browser;
  let a, b;

  before(async () => {
    server = await startServer({ anonymous: false, adminToken: ADMIN_TOKEN, env });
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await server?.dispose();
  });

  test("serves the pages and assets with their types, no-cache and ETags, and 404 for others", async () => {
    const root = await fetch(`${server.origin}/`);
    assert.equal(root.status, 200);
    assert.equal(root.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(root.headers.get("cache-control"), "no-cache");
    const etag = root.headers.get("etag");
    assert.match(etag, /^"[0-9a-f]{16}"$/);
    const again = await fetch(`${server.origin}/`, { headers: { "if-none-match": etag } });
    assert.equal(again.status, 304);
    const js = await fetch(`${server.origin}/dashboard/vendor/cometd-9.0.0/Client.js`);
    assert.equal(js.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.match(await js.text(), /export class CometD/);
    const css = await fetch(`${server.origin}/dashboard/css/dashboard.css`);
    assert.equal(css.headers.get("content-type"), "text/css; charset=utf-8");
    assert.equal((await fetch(`${server.origin}/dashboard/js/missing.js`)).status, 404);
    assert.equal((await fetch(`${server.origin}/dashboard/../Cargo.toml`)).status, 404);
    const config = await (await fetch(`${server.origin}/dashboard/config.json`)).json();
    assert.deepEqual(config, { clientId: env.BAYOU_CLIENT_ID, apiVersion: "66.0", adminApi: true });
  });

  test("a wrong password is refused with Salesforce's error", async () => {
    const page = await newPage(browser);
    await page.goto(`${server.origin}/`);
    await page.fill("#login-username", USER.username);
    await page.fill("#login-password", "wrong");
    await page.click("#login-submit");
    await page.waitForFunction(() => document.querySelector("#login-error").textContent.includes("invalid_grant"));
    assert.equal(await page.textContent("#login-status"), "Not logged in");
    await page.context().close();
  });

  test("log in, see a SOQL error at its position, create a PushTopic", async () => {
    a = await newPage(browser);
    await logIn(a, server.origin, USER);
    await a.fill("#topic-name", "AccountUpdates");
    await a.fill("#topic-query", "SELECT Id, Name\nFROM Account LIMIT 10");
    await a.click("#topic-save");
    await a.waitForSelector("#topic-result.error");
    assert.match(await a.textContent("#topic-result"), /'LIMIT' is not allowed at line 2 column 14/);
    assert.equal(await a.textContent("mark.soql-error-at"), "LIMIT", "the error is marked where it is");
    assert.equal(
      await a.evaluate(() => {
        const t = document.querySelector("#topic-query");
        return t.value.slice(t.selectionStart, t.selectionEnd);
      }),
      "LIMIT",
      "and selected in the editor",
    );
    await screenshot(a, "pushtopic-soql-error");

    await a.fill("#topic-query", "SELECT Id, Name, Industry FROM Account");
    await a.click("#topic-save");
    await a.waitForSelector("#topic-result.ok");
    assert.match(await a.textContent("#topic-result"), /Created PushTopic AccountUpdates/);
    assert.ok(await a.isHidden("#topic-query-marked"), "the error mark is gone");
    await a.waitForSelector("#topic-list li >> text=\"/topic/AccountUpdates\"");
  });

  test("an Account created in one page appears in another page's feed within a second", async () => {
    b = await newPage(browser);
    await logIn(b, server.origin, USER);
    await subscribe(b, "/topic/AccountUpdates", -1);
    await createAccount(a, "Live Account One");
    await feedHas(b, "Live Account One", 1_000);
    const item = await b.locator("#feed-events .event").first().textContent();
    assert.match(item, /\/topic\/AccountUpdates/);
    assert.match(item, /created/);
    await createAccount(a, "Live Account Two");
    await feedHas(b, "Live Account Two", 1_000);
    assert.equal(await b.locator("#feed-events .event").count(), 2);
    await screenshot(b, "workbench-live-feed");
  });

  test("a fresh page replays the history with -2, over WebSocket and over long-polling", async () => {
    const c = await newPage(browser);
    await logIn(c, server.origin, USER);
    await subscribe(c, "/topic/AccountUpdates", -2);
    await feedHas(c, "Live Account One", 5_000);
    await feedHas(c, "Live Account Two", 5_000);
    const replayIds = await c.$$eval("#feed-events .event", (els) => els.map((e) => Number(e.dataset.replayId)));
    assert.equal(replayIds.length, 2);
    assert.ok(replayIds[0] > replayIds[1], `newest first: ${replayIds}`);

    await c.selectOption("#feed-transport", "long-polling");
    await c.click("#feed-clear");
    await c.waitForFunction(() => document.querySelector("#feed-status").dataset.transport === "long-polling");
    await c.waitForFunction(() => document.querySelector("#feed-status").dataset.state === "connected");
    await subscribe(c, "/topic/AccountUpdates", -2);
    await feedHas(c, "Live Account Two", 5_000);
    assertNoProblems([c]);
    await c.context().close();
  });

  test("a platform event and a generic push from their forms reach the feed", async () => {
    const p = await newPage(browser);
    await logIn(p, server.origin, USER);
    // A generic channel is a StreamingChannel record: made from the records panel.
    await p.fill("#record-object", "StreamingChannel");
    await p.fill("#record-fields", JSON.stringify({ Name: "/u/notifications/Dashboard" }));
    await p.click("#record-create");
    await p.waitForFunction(() => document.querySelector("#record-result").textContent.startsWith("Created StreamingChannel"));
    await subscribe(p, "/u/notifications/Dashboard", -1);
    await p.fill("#push-channel-id", "/u/notifications/Dashboard");
    await p.fill("#push-payload", "hello from the push form");
    await p.click("#push-send");
    await p.waitForSelector("#push-result.ok");
    assert.deepEqual(JSON.parse(await p.textContent("#push-result")), [{ fanoutCount: -1, userOnlineStatus: {} }]);
    await feedHas(p, "hello from the push form", 5_000);

    // An undefined platform event type is refused with Salesforce's error, shown on the page.
    await p.fill("#event-type", "Undefined_Thing__e");
    await p.click("#event-publish");
    await p.waitForSelector("#event-result.error");
    assert.match(await p.textContent("#event-result"), /NOT_FOUND|INVALID_TYPE/);
    // A defined one is published and delivered on /event/<Name>.
    const defined = await server.admin("platform-events", { name: "Low_Ink__e", fields: { Printer_Model__c: "text" } });
    assert.equal(defined.status, 200, JSON.stringify(defined.body));
    await subscribe(p, "/event/Low_Ink__e", -1);
    await p.fill("#event-type", "Low_Ink__e");
    await p.fill("#event-fields", JSON.stringify({ Printer_Model__c: "XZO-600" }));
    await p.click("#event-publish");
    await p.waitForSelector("#event-result.ok");
    await feedHas(p, "XZO-600", 5_000);
    await screenshot(p, "workbench-push-and-event");
    // The undefined event type's 404 is logged by Chromium; it is the error checked above.
    assertNoProblems([p], {
      alsoExpected: ["console: Failed to load resource: the server responded with a status of 404 (Not Found)"],
    });
    await p.context().close();
  });

  test("the operator view shows the sessions and latency, and its fault buttons act", async () => {
    const op = await newPage(browser);
    await op.goto(`${server.origin}/operator`);
    await op.fill("#admin-token", ADMIN_TOKEN);
    await op.click("#admin-submit");
    const bClient = await b.evaluate(() => window.bayouWorkbench.clientId);
    assert.ok(bClient, "page B has a Bayeux session");
    await op.waitForSelector(`#sessions-table code.client-id >> text=${bClient}`);
    assert.ok(Number(await op.textContent("#fig-sessions")) >= 2);
    await op.waitForSelector("#subscriptions-table td >> text=\"/topic/AccountUpdates\"");
    await op.waitForSelector("#latency-table td >> text=\"/topic/AccountUpdates\"");
    await op.waitForSelector("#allocations-table td >> text=pushTopics");
    await op.waitForSelector("#retention-table td >> text=\"/topic/**\"");
    // Rates need two readings.
    await op.waitForFunction(() => /\/s$/.test(document.querySelector("#fig-publish-rate").textContent));

    // Delay deliveries: the next event reaches page B late, and the figure shows the delay.
    await op.fill("#fault-delay-ms", "1500");
    await op.click("#fault-delay");
    await op.waitForFunction(() => document.querySelector("#fault-result").textContent.includes('"delayMs":1500'));
    await op.waitForFunction(() => document.querySelector("#fig-delay").textContent === "1500 ms");
    const sent = Date.now();
    await createAccount(a, "Delayed Account");
    await feedHas(b, "Delayed Account", 10_000);
    assert.ok(Date.now() - sent >= 1_000, "the event waited for the injected delay");
    await op.click("#fault-delay-off");
    await op.waitForFunction(() => document.querySelector("#fig-delay").textContent === "none");

    // Expire every session: page B handshakes again, subscribes again from its last replay id,
    // and keeps receiving.
    await op.click("#fault-expire-sessions");
    await op.waitForFunction(() => /expire-session: \{"expired":\d+\}/.test(document.querySelector("#fault-result").textContent));
    await b.waitForFunction((old) => {
      const id = window.bayouWorkbench.clientId;
      return id && id !== old && document.querySelector("#feed-status").dataset.state === "connected";
    }, bClient, { timeout: 15_000 });
    const bNew = await b.evaluate(() => window.bayouWorkbench.clientId);
    await b.waitForFunction(() => document.querySelector("#feed-error").textContent.startsWith("Reconnected"));
    await op.waitForSelector(`#sessions-table code.client-id >> text=${bNew}`);
    await op.waitForFunction(
      () => [...document.querySelectorAll("#subscriptions-table td")].some((td) => td.textContent === "/topic/AccountUpdates"),
    );
    await createAccount(a, "After Expiry");
    await feedHas(b, "After Expiry", 5_000);
    const afterExpiry = await b.$$eval("#feed-events .event", (els) => els.map((e) => e.textContent).filter((t) => t.includes("After Expiry")).length);
    assert.equal(afterExpiry, 1, "delivered once, not replayed twice");

    // The newer fault buttons reach the admin API: this server has no daily allocations, so
    // using one up is refused, and the page says so.
    await op.fill("#fault-allocation", "PushTopic");
    await op.click("#fault-use-up");
    await op.waitForFunction(() =>
      /use-up-allocation: .*no daily delivery allocation named \\?"PushTopic/.test(document.querySelector("#fault-result").textContent));

    // Let the chart draw a point for the delayed event, then keep a picture.
    await op.waitForTimeout(1_200);
    await screenshot(op, "operator-view");
    await screenshot(b, "workbench-after-faults");
    assertNoProblems([a, b, op], {
      alsoExpected: ["console: Failed to load resource: the server responded with a status of 404 (Not Found)"],
    });
  });

  test("a /chat feed resumes from its last ext.replayId after a new session: no duplicate, no miss", async () => {
    const d = await newPage(browser);
    await logIn(d, server.origin, USER);
    await subscribe(d, "/chat/resume", -2);
    const chat = await chatPublisher(server.origin);
    await chat.publish("/chat/resume", { text: "first message" });
    await chat.publish("/chat/resume", { text: "second message" });
    await feedHas(d, "second message", 5_000);
    const before = await d.evaluate(() => window.bayouWorkbench.clientId);

    // Ending the page's session makes it handshake again and resubscribe: from the replay id
    // of "second message" (in ext.replayId on a plain channel), not from its original -2.
    const expired = await server.admin("faults/expire-session", { clientId: before });
    assert.equal(expired.status, 200, JSON.stringify(expired.body));
    await chat.publish("/chat/resume", { text: "third message" });
    await d.waitForFunction((old) => {
      const id = window.bayouWorkbench.clientId;
      return id && id !== old && document.querySelector("#feed-status").dataset.state === "connected";
    }, before, { timeout: 15_000 });
    await feedHas(d, "third message", 5_000);
    await chat.publish("/chat/resume", { text: "fourth message" });
    await feedHas(d, "fourth message", 5_000);
    const texts = await d.$$eval("#feed-events .event pre", (els) => els.map((e) => JSON.parse(e.textContent).text));
    assert.deepEqual(texts, ["fourth message", "third message", "second message", "first message"]);
    const replayIds = await d.$$eval("#feed-events .event", (els) => els.map((e) => e.dataset.replayId));
    assert.ok(replayIds.every((id) => /^\d+$/.test(id)), `each shows its replay id: ${replayIds}`);
    assertNoProblems([d]);
    await d.context().close();
  });

  test("/metrics carries the same figures", async () => {
    const text = await (await fetch(`${server.origin}/metrics`)).text();
    assert.match(text, /^bayou_channel_subscriptions\{channel="\/topic\/AccountUpdates"\} 1$/m);
    assert.match(text, /^bayou_allocation_used\{allocation="pushTopics"\} 1$/m);
    assert.match(text, /^bayou_log_retention_seconds\{pattern="\/topic\/\*\*"\} 86400$/m);
    assert.match(text, /^bayou_delivery_latency_seconds_count\{channel="\/topic\/AccountUpdates"\} [1-9]/m);
    assert.match(text, /^bayou_delivery_latency_seconds_bucket\{channel="\/topic\/AccountUpdates",le="\+Inf"\} [1-9]/m);
    const overview = (await server.admin("overview")).body;
    const latency = overview.deliveryLatency.channels.find((c) => c.channel === "/topic/AccountUpdates");
    const count = Number(/^bayou_delivery_latency_seconds_count\{channel="\/topic\/AccountUpdates"\} (\d+)$/m.exec(text)[1]);
    assert.equal(count, latency.count, "the JSON overview and /metrics agree");
    assert.ok(latency.buckets.slice(10).some((n) => n > 0), "the delayed event is in a bucket above 1 s");
  });

  test("invalidating the user's tokens from the operator view logs the pages out", async () => {
    const op = await newPage(browser);
    await op.goto(`${server.origin}/operator`);
    await op.fill("#admin-token", ADMIN_TOKEN);
    await op.click("#admin-submit");
    await op.fill("#fault-username", USER.username);
    await op.click("#fault-invalidate");
    await op.waitForFunction(() => /invalidate-tokens: \{"revoked":[1-9]\d*\}/.test(document.querySelector("#fault-result").textContent));
    // Page B's next connect gets 401::Authentication invalid (advice none): it asks to log in.
    await b.waitForFunction(() => document.querySelector("#login-status").textContent === "Not logged in", null, { timeout: 15_000 });
    assert.match(await b.textContent("#login-error"), /Logged out: .*401::Authentication invalid/);
    assert.ok(await b.isVisible("#login-form"));
    // Page A's next REST call gets 401 and does the same.
    await a.click("#record-get");
    await a.waitForFunction(() => document.querySelector("#login-status").textContent === "Not logged in");
    assert.match(await a.textContent("#login-error"), /Logged out/);
    // And logging in again works.
    await logIn(a, server.origin, USER);
    await op.context().close();
  });
});

describe("the dashboard against a long-polling-only server", () => {
  test("the feed falls back to long-polling when the WebSocket upgrade is refused", async () => {
    const server = await startServer({ anonymous: false, transports: "long-polling", env });
    const browser = await launch();
    try {
      const page = await newPage(browser);
      await logIn(page, server.origin, { ...USER, transport: "long-polling" });
      await page.fill("#topic-name", "Fallback");
      await page.fill("#topic-query", "SELECT Id, Name FROM Account");
      await page.click("#topic-save");
      await page.waitForSelector("#topic-result.ok");
      await subscribe(page, "/topic/Fallback", -1);
      await createAccount(page, "Over Long Polling");
      await feedHas(page, "Over Long Polling", 5_000);
      // A refused upgrade is logged by Chromium itself as a console error; page errors are not.
      assert.deepEqual(page.problems.filter((p) => p.startsWith("pageerror")), []);
    } finally {
      await browser.close();
      await server.dispose();
    }
  });
});
