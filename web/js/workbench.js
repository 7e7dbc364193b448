// The workbench: records, SOQL, PushTopics, the live feed, platform events and generic pushes,
// all through the same endpoints a Salesforce client uses.

import { DATA, loggedOut, rest, savedLogin, soqlPosition, API_VERSION } from "./api.js";
import { $, h, parseJson, show } from "./dom.js";
import { Feed, replayIdOf } from "./feed.js";
import { setUpLogin } from "./login.js";

let feed = null;

// ---- records ---------------------------------------------------------------------------

function recordPath() {
  const object = $("record-object").value.trim();
  const id = $("record-id").value.trim();
  return { object, id, path: `sobjects/${encodeURIComponent(object)}${id ? `/${encodeURIComponent(id)}` : ""}` };
}

async function recordAction(action) {
  const out = $("record-result");
  try {
    const { object, id, path } = recordPath();
    if (!object) throw new Error("give an object, e.g. Account");
    if (action !== "create" && !id) throw new Error("give the record's id");
    let result;
    if (action === "create") {
      result = await rest("POST", path, parseJson($("record-fields").value, "Fields"));
      if (result && result.id) $("record-id").value = result.id;
      show(out, `Created ${object} ${result.id}`);
    } else if (action === "get") {
      result = await rest("GET", path);
      show(out, result);
    } else if (action === "update") {
      await rest("PATCH", path, parseJson($("record-fields").value, "Fields"));
      show(out, `Updated ${object} ${id}`);
    } else {
      await rest("DELETE", path);
      show(out, `Deleted ${object} ${id}`);
    }
  } catch (e) {
    show(out, e.message, true);
  }
}

// ---- SOQL errors at their position -----------------------------------------------------

/** Shows `query` with the character at line:column marked, and selects it in the textarea. */
function markPosition(textarea, marked, query, position) {
  if (!position) {
    marked.hidden = true;
    return;
  }
  const lines = query.split("\n");
  let offset = 0;
  for (let i = 0; i < position.line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
  offset = Math.min(offset + position.column - 1, query.length);
  const end = Math.min(offset + Math.max(1, /^\w+/.exec(query.slice(offset))?.[0].length || 1), query.length);
  marked.replaceChildren(
    query.slice(0, offset),
    h("mark", { class: "soql-error-at", title: `line ${position.line}, column ${position.column}` }, query.slice(offset, end) || " "),
    query.slice(end),
  );
  marked.hidden = false;
  textarea.focus();
  textarea.setSelectionRange(offset, end);
}

// ---- PushTopics ------------------------------------------------------------------------

async function saveTopic() {
  const out = $("topic-result");
  const query = $("topic-query").value;
  const marked = $("topic-query-marked");
  try {
    const fields = {
      Name: $("topic-name").value.trim(),
      Query: query,
      ApiVersion: Number($("topic-api-version").value),
      NotifyForFields: $("topic-notify-fields").value,
      NotifyForOperationCreate: $("topic-op-create").checked,
      NotifyForOperationUpdate: $("topic-op-update").checked,
      NotifyForOperationDelete: $("topic-op-delete").checked,
      NotifyForOperationUndelete: $("topic-op-undelete").checked,
    };
    const result = await rest("POST", "sobjects/PushTopic", fields);
    markPosition($("topic-query"), marked, query, null);
    show(out, `Created PushTopic ${fields.Name} (${result.id}): subscribe to /topic/${fields.Name}`);
    $("feed-channel").value = `/topic/${fields.Name}`;
    await listTopics();
  } catch (e) {
    show(out, e.message, true);
    markPosition($("topic-query"), marked, query, soqlPosition(e.detail));
  }
}

async function listTopics() {
  const list = $("topic-list");
  try {
    const result = await rest("GET", `query?q=${encodeURIComponent("SELECT Id, Name, Query FROM PushTopic")}`);
    const suggestions = $("channel-suggestions");
    list.replaceChildren(
      ...result.records.map((t) =>
        h("li", {}, h("button", { class: "link", onclick: () => ($("feed-channel").value = `/topic/${t.Name}`) }, `/topic/${t.Name}`), " ", h("code", {}, t.Query)),
      ),
    );
    suggestions.replaceChildren(...result.records.map((t) => h("option", { value: `/topic/${t.Name}` })));
  } catch (e) {
    list.replaceChildren(h("li", { class: "error" }, e.message));
  }
}

// ---- SOQL query ------------------------------------------------------------------------

async function runQuery() {
  const query = $("soql").value;
  const table = $("soql-table");
  const error = $("soql-error");
  error.textContent = "";
  try {
    const result = await rest("GET", `query?q=${encodeURIComponent(query)}`);
    markPosition($("soql"), $("soql-marked"), query, null);
    const columns = [...new Set(result.records.flatMap((r) => Object.keys(r).filter((k) => k !== "attributes")))];
    table.replaceChildren(
      h("caption", {}, `${result.totalSize} record(s)`),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c)))),
      h("tbody", {}, result.records.map((r) => h("tr", {}, columns.map((c) => h("td", {}, r[c] === null || r[c] === undefined ? "" : typeof r[c] === "object" ? JSON.stringify(r[c]) : r[c]))))),
    );
  } catch (e) {
    table.replaceChildren();
    show(error, e.message, true);
    markPosition($("soql"), $("soql-marked"), query, soqlPosition(e.detail));
  }
}

// ---- live feed -------------------------------------------------------------------------

function startFeed(login) {
  if (feed) feed.stop();
  feed = new Feed({
    url: `${location.origin}/cometd/${API_VERSION}`,
    token: login.accessToken,
    transport: $("feed-transport").value,
    onStatus: ({ state, transport, error }) => {
      const badge = $("feed-status");
      badge.textContent = transport ? `${state} · ${transport}` : state;
      badge.dataset.state = state;
      badge.dataset.transport = transport || "";
      $("feed-subscribe").disabled = state !== "connected";
      const note = $("feed-error");
      if (error) show(note, error, true);
      else if (state === "connected" && note.classList.contains("error")) {
        show(note, "Reconnected: subscriptions renewed from the last replay id each received");
      }
      // The token was revoked or expired: the session cannot go on (advice "none").
      if (error && error.includes("401::")) loggedOut(error);
    },
    onEvent: (subscription, message) => addEvent(subscription, message),
  });
  feed.start();
  renderSubscriptions();
}

function addEvent(subscription, message) {
  const events = $("feed-events");
  const replayId = replayIdOf(message);
  const type = message.data && message.data.event && message.data.event.type;
  const item = h(
    "li",
    { class: "event", "data-channel": message.channel, "data-replay-id": replayId ?? "" },
    h("div", { class: "event-head" },
      h("strong", {}, message.channel),
      type ? h("span", { class: "badge" }, type) : null,
      replayId !== undefined ? h("span", { class: "replay" }, `replayId ${replayId}`) : null,
      h("time", {}, new Date().toLocaleTimeString()),
      subscription !== message.channel ? h("span", { class: "via" }, `via ${subscription}`) : null),
    h("pre", {}, JSON.stringify(message.data, null, 2)),
  );
  events.prepend(item);
  while (events.children.length > 200) events.lastChild.remove();
}

async function subscribe() {
  const channel = $("feed-channel").value.trim();
  const choice = $("feed-replay").value;
  const replay = choice === "id" ? Number($("feed-replay-id").value) : Number(choice);
  const error = $("feed-error");
  error.textContent = "";
  try {
    if (!feed) throw new Error("log in first");
    if (!channel.startsWith("/")) throw new Error("a channel starts with /, e.g. /topic/AccountUpdates or /event/*");
    await feed.subscribe(channel, replay);
    show(error, `Subscribed to ${channel} (replay ${replay})`);
  } catch (e) {
    show(error, e.message, true);
  }
  renderSubscriptions();
}

function renderSubscriptions() {
  const list = $("feed-subscriptions");
  const entries = feed ? [...feed.subscriptions.keys()] : [];
  list.replaceChildren(
    ...entries.map((channel) =>
      h("li", { "data-channel": channel }, channel, " ",
        h("button", { class: "link", title: `Unsubscribe from ${channel}`, onclick: () => { feed.unsubscribe(channel); renderSubscriptions(); } }, "✕")),
    ),
  );
}

// ---- platform events and generic pushes ------------------------------------------------

async function publishEvent() {
  const out = $("event-result");
  try {
    const type = $("event-type").value.trim();
    if (!type.endsWith("__e")) throw new Error("a platform event type ends with __e");
    const result = await rest("POST", `sobjects/${encodeURIComponent(type)}`, parseJson($("event-fields").value, "Fields"));
    show(out, result);
  } catch (e) {
    show(out, e.message, true);
  }
}

async function pushGeneric() {
  const out = $("push-result");
  try {
    let id = $("push-channel-id").value.trim();
    if (id.startsWith("/")) {
      // As jsforce does: find the channel's id by its name.
      const soql = `SELECT Id, Name FROM StreamingChannel WHERE Name = '${id.replace(/'/g, "\\'")}'`;
      const found = await rest("GET", `query?q=${encodeURIComponent(soql)}`);
      if (!found.records.length) throw new Error(`no StreamingChannel named ${id}`);
      id = found.records[0].Id;
    }
    if (!id) throw new Error("give the StreamingChannel's id or name");
    const userIds = $("push-user-ids").value.split(",").map((s) => s.trim()).filter(Boolean);
    const body = { pushEvents: [{ payload: $("push-payload").value, userIds }] };
    show(out, await rest("POST", `sobjects/StreamingChannel/${encodeURIComponent(id)}/push`, body));
  } catch (e) {
    show(out, e.message, true);
  }
}

// ---- wiring ----------------------------------------------------------------------------

$("record-create").addEventListener("click", () => recordAction("create"));
$("record-get").addEventListener("click", () => recordAction("get"));
$("record-update").addEventListener("click", () => recordAction("update"));
$("record-delete").addEventListener("click", () => recordAction("delete"));
$("topic-save").addEventListener("click", saveTopic);
$("topic-refresh").addEventListener("click", listTopics);
$("soql-run").addEventListener("click", runQuery);
$("feed-subscribe").addEventListener("click", subscribe);
$("feed-clear").addEventListener("click", () => $("feed-events").replaceChildren());
$("feed-replay").addEventListener("change", () => ($("feed-replay-id").hidden = $("feed-replay").value !== "id"));
$("feed-transport").addEventListener("change", () => savedLogin() && startFeed(savedLogin()));
$("event-publish").addEventListener("click", publishEvent);
$("push-send").addEventListener("click", pushGeneric);
$("feed-subscribe").disabled = true;

setUpLogin(
  (login) => {
    startFeed(login);
    listTopics();
  },
  () => {
    if (feed) feed.stop();
    feed = null;
    $("feed-status").textContent = "offline";
    renderSubscriptions();
  },
);

// For the end-to-end test and the curious: the page's Bayeux client id.
window.bayouWorkbench = { get clientId() { return feed ? feed.clientId : null; }, DATA };
