// Small helpers shared by the interop tests: waiting on events with deadlines, never sleeping.

const TRACE = Boolean(process.env.INTEROP_TRACE);
const T0 = Date.now();

/** With INTEROP_TRACE=1, prints a wire message to stderr (for debugging a failing test). */
export function trace(who, direction, message) {
  if (TRACE) process.stderr.write(`+${Date.now() - T0}ms ${who} ${direction} ${JSON.stringify(message)}\n`);
}

/** Default deadline for one awaited event (a reply, a delivery, a reconnection). */
export const WAIT_MS = 10_000;

/** Rejects with a message naming `what` if `promise` has not settled within `ms`. */
export function withTimeout(promise, what, ms = WAIT_MS) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Polls `check` (sync or async) until it returns a truthy value, which is returned. For
 * conditions that have no event to wait on, such as a server-side metric.
 */
export async function waitFor(check, what, { timeout = WAIT_MS, every = 25 } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = value;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= end) {
      const detail = last instanceof Error ? `: ${last.message}` : ` (last: ${JSON.stringify(last)})`;
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${detail}`);
    }
    await new Promise((r) => setTimeout(r, every));
  }
}

/**
 * An append-only log of things received (messages, deliveries) that tests can wait on. A wait
 * looks at everything logged from `since` on, so an item that arrived before the wait began
 * is still found.
 */
export class Inbox {
  constructor(name) {
    this.name = name;
    this.items = [];
    this.waiters = new Set();
  }

  push(item) {
    this.items.push(item);
    for (const w of [...this.waiters]) {
      if (w.pred(item)) {
        this.waiters.delete(w);
        w.resolve(item);
      }
    }
  }

  /** A position to pass as `since`, so that only later items count. */
  mark() {
    return this.items.length;
  }

  /** Items matching `pred` from `since` on. */
  filter(pred, since = 0) {
    return this.items.slice(since).filter(pred);
  }

  /** The first item from `since` on matching `pred`, waiting up to `timeout` ms for it. */
  waitFor(pred, what, { since = 0, timeout = WAIT_MS } = {}) {
    const found = this.items.slice(since).find(pred);
    if (found !== undefined) return Promise.resolve(found);
    let waiter;
    const p = new Promise((resolve) => {
      waiter = { pred, resolve };
      this.waiters.add(waiter);
    });
    return withTimeout(p, `${this.name}: ${what}`, timeout).catch((e) => {
      this.waiters.delete(waiter);
      const seen = this.items.slice(since).map((m) => JSON.stringify(m)).slice(-15);
      e.message += `\n  last items seen by ${this.name}:\n    ${seen.join("\n    ") || "(none)"}`;
      throw e;
    });
  }
}

/** Data that must survive the round trip intact: nesting, unicode, escapes, numbers. */
export function richPayload(tag) {
  return {
    tag,
    text: "héllo wörld — ünïcödé ✓ 日本語 😀 nul:\u0000 del:\u007f",
    escapes: "quote \" backslash \\ slash / newline \n tab \t </script>",
    empty: "",
    numbers: [0, -1, 1.5, -2.25e-7, 1e21, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER],
    flags: { yes: true, no: false, nothing: null },
    nested: { list: [{ a: 1 }, [], {}, ["x", ["y", ["z"]]]], deep: { deeper: { deepest: "bottom" } } },
    sobject: { Id: "001xx000003DGb2AAG", Name: "Acme, Inc.", AnnualRevenue: 1234567.89 },
  };
}

/** Starts `server` (a `net` or `http` server) on a free loopback port; resolves with the port. */
export async function listenOnLoopback(server) {
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  return server.address().port;
}
