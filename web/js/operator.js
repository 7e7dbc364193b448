// The operator view: polls GET /admin/overview every second with the admin token and shows
// sessions, rates (the difference of two readings of the counters), the log, allocations,
// subscriptions, per-channel delivery latency as a chart, and fault injection buttons.

import { $, h, show } from "./dom.js";
import { colorFor, drawLatencyChart, quantile } from "./chart.js";

const TOKEN = "bayou.dashboard.admin";
const POLL_MS = 1000;
const WINDOW_MS = 60_000;

let previous = null;
let timer = null;
/** channel → [{t, ms}]: the 90th percentile of each interval's deliveries. */
const latencySeries = new Map();

function adminToken() {
  return sessionStorage.getItem(TOKEN);
}

async function admin(method, path, body) {
  const response = await fetch(`/admin/${path}`, {
    method,
    headers: { Authorization: `Bearer ${adminToken()}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const parsed = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(parsed.error || `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return parsed;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function duration(seconds) {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

function ms(value) {
  if (value === null) return "–";
  if (value === Infinity) return "> 30 s";
  return value >= 1000 ? `≤ ${value / 1000} s` : `≤ ${value} ms`;
}

function table(el, headers, rows) {
  el.replaceChildren(
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.length ? rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c)))) : h("tr", {}, h("td", { colspan: headers.length, class: "empty" }, "none"))),
  );
}

function render(o) {
  const seconds = previous ? Math.max((o.timeMs - previous.timeMs) / 1000, 0.001) : null;
  const rate = (now, before) => (seconds === null ? "–" : `${((now - before) / seconds).toFixed(1)}/s`);
  $("fig-sessions").textContent = o.sessions.length;
  $("fig-publish-rate").textContent = rate(o.published, previous?.published);
  $("fig-published").textContent = `${o.published} since start`;
  $("fig-delivery-rate").textContent = rate(o.delivered, previous?.delivered);
  $("fig-delivered").textContent = `${o.delivered} since start`;
  $("fig-log-events").textContent = `${o.log.events} events`;
  $("fig-log-detail").textContent = `${bytes(o.log.diskBytes)} on disk · head ${o.log.head} · ${o.log.expired} expired`;
  $("fig-delay").textContent = o.deliveryDelayMs ? `${o.deliveryDelayMs} ms` : "none";
  if (!$("fault-replay-id").value) $("fault-replay-id").placeholder = `head: ${o.log.head}`;

  table($("allocations-table"), ["Allocation", "Used", "Limit"],
    o.allocations.map((a) => [a.name, a.used, a.max ?? "none"]));
  table($("retention-table"), ["Channels", "Kept for", "Size cap"],
    o.retention.map((r) => [r.pattern, duration(r.maxAgeSeconds), r.maxBytes ? bytes(r.maxBytes) : "none"]));
  $("cluster-panel").hidden = !o.cluster;
  if (o.cluster) {
    const c = o.cluster;
    $("cluster-summary").textContent = `This node: ${c.nodeId} · NATS ${c.nats} (${c.server}) · stream ${c.stream}, ${c.replicas} replica(s) · tail ${c.lag} behind`;
    table($("cluster-table"), ["Node", "Tail position", "Last heartbeat"],
      c.nodes.map((n) => [n.nodeId, n.head, `${Math.max(0, Math.round((o.timeMs - n.seenMs) / 1000))} s ago`]));
  }
  table($("subscriptions-table"), ["Channel", "Subscriptions"],
    o.subscriptions.map((s) => [s.channel, s.subscriptions]));
  table($("sessions-table"), ["Client id", "User", "Subscriptions", "Queued", ""],
    o.sessions.map((s) => [
      h("code", { class: "client-id" }, s.clientId),
      s.username ?? s.userId ?? "anonymous",
      s.subscriptions.join(", "),
      s.queued,
      h("button", { class: "danger small", onclick: () => fault("expire-session", { clientId: s.clientId }) }, "Expire"),
    ]));

  // Latency: one point per channel per interval with deliveries, at that interval's p90.
  const bounds = o.deliveryLatency.bucketBoundsMs;
  const before = new Map((previous?.deliveryLatency.channels ?? []).map((c) => [c.channel, c]));
  for (const c of o.deliveryLatency.channels) {
    const last = before.get(c.channel);
    const delta = c.buckets.map((n, i) => n - (last ? last.buckets[i] : 0));
    const p90 = quantile(bounds, delta, 0.9);
    if (!latencySeries.has(c.channel)) latencySeries.set(c.channel, []);
    const points = latencySeries.get(c.channel);
    if (p90 !== null) points.push({ t: o.timeMs, ms: p90 === Infinity ? 30_000 : p90 });
    while (points.length && points[0].t < o.timeMs - WINDOW_MS) points.shift();
  }
  drawLatencyChart($("latency-chart"), latencySeries, WINDOW_MS, o.timeMs);
  const channels = [...latencySeries.keys()];
  table($("latency-table"), ["", "Channel", "Events", "p50", "p90", "p99", "Mean"],
    o.deliveryLatency.channels.map((c) => [
      h("span", { class: "swatch", style: `background:${colorFor(channels.indexOf(c.channel))}` }),
      c.channel,
      c.count,
      ms(quantile(bounds, c.buckets, 0.5)),
      ms(quantile(bounds, c.buckets, 0.9)),
      ms(quantile(bounds, c.buckets, 0.99)),
      c.count ? `${(c.sumMs / c.count).toFixed(1)} ms` : "–",
    ]));
  previous = o;
}

async function poll() {
  try {
    render(await admin("GET", "overview"));
    $("admin-error").textContent = "";
  } catch (e) {
    show($("admin-error"), e.status === 404 ? "The admin API is off: start bayou with --admin-token" : e.message, true);
    if (e.status === 401) stop();
  }
}

function start() {
  $("admin-form").hidden = true;
  $("admin-forget").hidden = false;
  $("admin-status").textContent = "Admin";
  $("operator-main").hidden = false;
  poll();
  timer = setInterval(poll, POLL_MS);
}

function stop() {
  clearInterval(timer);
  sessionStorage.removeItem(TOKEN);
  $("admin-form").hidden = false;
  $("admin-forget").hidden = true;
  $("admin-status").textContent = "Admin token needed";
  $("operator-main").hidden = true;
}

async function fault(action, body) {
  const out = $("fault-result");
  try {
    const reply = await admin("POST", `faults/${action}`, body);
    show(out, `${action}: ${JSON.stringify(reply)}`);
    poll();
  } catch (e) {
    show(out, `${action}: ${e.message}`, true);
  }
}

$("admin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN, $("admin-token").value);
  start();
});
$("admin-forget").addEventListener("click", stop);
$("fault-expire-sessions").addEventListener("click", () => fault("expire-session", { all: true }));
$("fault-drop-connections").addEventListener("click", () => fault("drop-connections", {}));
$("fault-delay").addEventListener("click", () => fault("delay-deliveries", { ms: Number($("fault-delay-ms").value) }));
$("fault-delay-off").addEventListener("click", () => fault("delay-deliveries", { ms: 0 }));
$("fault-invalidate").addEventListener("click", () => fault("invalidate-tokens", { username: $("fault-username").value.trim() }));
$("fault-expire-log").addEventListener("click", () =>
  fault("expire-log", { replayId: Number($("fault-replay-id").value || previous?.log.head || 0) }));
$("fault-server-disconnect").addEventListener("click", () => fault("server-disconnect", { all: true }));
$("fault-refuse-handshakes").addEventListener("click", () =>
  fault("refuse-handshakes", { count: Number($("fault-refuse-count").value || 1) }));
$("fault-use-up").addEventListener("click", () => fault("use-up-allocation", { allocation: $("fault-allocation").value.trim() }));
$("fault-cdc-gap").addEventListener("click", () =>
  fault("cdc-gap", {
    entity: $("fault-gap-entity").value.trim(),
    changeType: $("fault-gap-type").value,
    recordIds: $("fault-gap-ids").value.split(",").map((id) => id.trim()).filter(Boolean),
  }));

$("admin-submit").disabled = false;
if (adminToken()) start();
