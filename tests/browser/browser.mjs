// Launches Debian's Chromium headless through playwright-core (Playwright's own browser
// downloads are not used: `npx playwright install` needs a host we cannot reach), and logs a
// dashboard page in.
//
// `chromium.launch` gives every run a fresh profile of its own (Playwright passes a new
// temporary --user-data-dir, removed on close), and each `browser.newContext()` is a separate
// cookie/localStorage jar, so two contexts are two independent users of the dashboard.

import { mkdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));

export const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
export const ARTIFACTS = path.resolve(here, "../../target/browser-artifacts");

const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
}

/**
 * A new page in a new context, failing the test on any uncaught page error or console error
 * (read `page.problems` at the end).
 */
export async function newPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  page.problems = [];
  page.on("pageerror", (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") page.problems.push(`console: ${m.text()}`);
  });
  return page;
}

/** Opens the workbench and logs in with the password flow; waits until the feed is connected. */
export async function logIn(page, origin, { username, password, transport = "websocket" }) {
  await page.goto(`${origin}/`);
  await page.fill("#login-username", username);
  await page.fill("#login-password", password);
  await page.click("#login-submit");
  await page.waitForFunction(() => document.querySelector("#login-status").textContent.startsWith("Logged in as"));
  await page.waitForFunction(
    (t) => {
      const badge = document.querySelector("#feed-status");
      return badge.dataset.state === "connected" && badge.dataset.transport === t;
    },
    transport,
    { timeout: 10_000 },
  );
}

/** Subscribes the page's feed to `channel` from `replay`; waits for the server's yes. */
export async function subscribe(page, channel, replay) {
  await page.fill("#feed-channel", channel);
  await page.selectOption("#feed-replay", String(replay));
  await page.click("#feed-subscribe");
  await page.waitForFunction(
    (c) => document.querySelector("#feed-error").textContent.startsWith(`Subscribed to ${c}`),
    channel,
  );
}

export async function screenshot(page, name) {
  await mkdir(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
