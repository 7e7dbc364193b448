// jsforce (https://jsforce.github.io), unchanged, against a bayou org: the server started with
// fixed credentials and login required, jsforce connections logged in the two ways apps do it
// (OAuth 2.0 username-password flow, SOAP login), and the streaming clients jsforce creates,
// each with a wire recorder so that tests can check what the server really sent.
//
// jsforce 3 does not put `StreamingExtension` on its main export (`jsforce.StreamingExtension`
// is undefined); its documentation imports it from `jsforce/api/streaming`, a CommonJS entry
// point that ESM cannot import by directory, hence `createRequire`. It is the same module
// instance as the one `jsforce` registers `conn.streaming` from.

import { createRequire } from "node:module";

import jsforce from "jsforce";

import { startServer } from "../server.mjs";
import { Inbox, trace, withTimeout } from "../util.mjs";

const require = createRequire(import.meta.url);
export const { StreamingExtension } = require("jsforce/api/streaming");
export { jsforce };
export const JSFORCE_VERSION = jsforce.VERSION;

/** The org's user and connected app, fixed through BAYOU_* variables. */
export const CREDENTIALS = Object.freeze({
  username: "ada.lovelace@bayou.test",
  password: "Analytical-Engine-1843!",
  clientId: "3MVG9interop.jsforce.client",
  clientSecret: "jsforce-interop-client-secret-0001",
});

/** faye's Deferrable#then swallows failures unless given an errback: make a real promise. */
export function settle(deferrable) {
  return new Promise((resolve, reject) => deferrable.then(resolve, reject));
}

const ID_CHARS = /^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$/;
const CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/**
 * Whether `id` looks like a Salesforce id with the given key prefix: 18 characters whose last
 * three encode the case of the first fifteen (the checksum Salesforce computes), or the
 * 15-character form.
 */
export function isSalesforceId(id, prefix = "") {
  if (typeof id !== "string" || !ID_CHARS.test(id) || !id.startsWith(prefix)) return false;
  if (id.length === 15) return true;
  let suffix = "";
  for (let chunk = 0; chunk < 3; chunk++) {
    let bits = 0;
    for (let i = 0; i < 5; i++) {
      const c = id[chunk * 5 + i];
      if (c >= "A" && c <= "Z") bits |= 1 << i;
    }
    suffix += CHECKSUM_ALPHABET[bits];
  }
  return id.slice(15) === suffix;
}

/**
 * A faye extension that records every message: `raw` as the server sent it (put it before the
 * application's extensions), `sent` as it went on the wire (after them).
 */
export function wireRecorder(name) {
  const raw = new Inbox(`${name} incoming`);
  const sent = new Inbox(`${name} outgoing`);
  return {
    raw,
    sent,
    incoming: {
      incoming(message, callback) {
        trace(name, "<-", message);
        raw.push(structuredClone(message));
        callback(message);
      },
    },
    outgoing: {
      outgoing(message, callback) {
        trace(name, "->", message);
        sent.push(structuredClone(message));
        callback(message);
      },
    },
  };
}

/**
 * Best-effort cleanup of a faye client, whatever state it is in: a /meta/disconnect if it is
 * connected, then its sockets dropped (faye keeps retrying otherwise).
 */
export async function closeFaye(client) {
  try {
    const promise = client.disconnect();
    if (promise) await withTimeout(settle(promise), "disconnect on cleanup", 2000);
  } catch {
    // The session may be gone already (revoked token, stopped server).
  } finally {
    client._dispatcher.close();
  }
}

/**
 * A bayou server requiring logins, with {@link CREDENTIALS}, and the jsforce streaming clients
 * of a test; all torn down by `t.after` (clients disconnected first, then the server stopped).
 */
export class JsforceOrg {
  static async start(t, serverOptions = {}) {
    const server = await startServer({
      anonymous: false,
      ...serverOptions,
      env: {
        BAYOU_USERNAME: CREDENTIALS.username,
        BAYOU_PASSWORD: CREDENTIALS.password,
        BAYOU_CLIENT_ID: CREDENTIALS.clientId,
        BAYOU_CLIENT_SECRET: CREDENTIALS.clientSecret,
        ...serverOptions.env,
      },
    });
    const org = new JsforceOrg(server);
    t.after(() => org.close());
    return org;
  }

  constructor(server) {
    this.server = server;
    this.fayeClients = new Set();
  }

  /** The login URL: the org's base URL, as `https://login.salesforce.com` would be. */
  get loginUrl() {
    return this.server.origin;
  }

  /** A connection logged in with the OAuth 2.0 username-password flow. */
  async oauthLogin({ username = CREDENTIALS.username, password = CREDENTIALS.password } = {}) {
    const conn = new jsforce.Connection({
      oauth2: { loginUrl: this.loginUrl, clientId: CREDENTIALS.clientId, clientSecret: CREDENTIALS.clientSecret },
    });
    const userInfo = await withTimeout(conn.login(username, password), "jsforce OAuth login");
    return { conn, userInfo };
  }

  /** A connection logged in with SOAP `login()` (jsforce's default without OAuth client options). */
  async soapLogin({ username = CREDENTIALS.username, password = CREDENTIALS.password } = {}) {
    const conn = new jsforce.Connection({ loginUrl: this.loginUrl });
    const userInfo = await withTimeout(conn.login(username, password), "jsforce SOAP login");
    return { conn, userInfo };
  }

  /**
   * The faye client jsforce itself uses for `conn.streaming.topic(name).subscribe()`, with a wire
   * recorder added (it only observes). jsforce has no public way to reach or disconnect it, so
   * this goes through its `_getFayeClient`; the test drives it only through jsforce's API.
   */
  topicClient(conn, name = "jsforce topics") {
    const client = conn.streaming._getFayeClient("/topic/any");
    const recorder = wireRecorder(name);
    client.addExtension({ ...recorder.incoming, ...recorder.outgoing });
    this.fayeClients.add(client);
    return { client, ...recorder };
  }

  /**
   * `conn.streaming.createClient(extensions)`, with a wire recorder around the extensions: the
   * server's messages are recorded before the extensions see them, outgoing ones after they
   * changed them.
   */
  createClient(conn, extensions = [], name = "jsforce client") {
    const recorder = wireRecorder(name);
    const client = conn.streaming.createClient([recorder.incoming, ...extensions, recorder.outgoing]);
    this.fayeClients.add(client);
    return { client, ...recorder };
  }

  async close() {
    try {
      await Promise.allSettled([...this.fayeClients].map(closeFaye));
    } finally {
      await this.server.dispose();
    }
  }
}

/**
 * Creates a PushTopic with jsforce and returns its id. Every operation notifies; `fields` are
 * added to (or override) the defaults.
 */
export async function createPushTopic(conn, name, query, fields = {}) {
  const result = await withTimeout(
    conn.sobject("PushTopic").create({
      Name: name,
      Query: query,
      ApiVersion: Number(conn.version),
      NotifyForOperationCreate: true,
      NotifyForOperationUpdate: true,
      NotifyForOperationDelete: true,
      NotifyForOperationUndelete: true,
      NotifyForFields: "Referenced",
      ...fields,
    }),
    `create PushTopic ${name}`,
  );
  if (!result.success) throw new Error(`PushTopic ${name} not created: ${JSON.stringify(result)}`);
  return result.id;
}

/**
 * Subscribes through `subscribe(listener)` (jsforce's `topic.subscribe` or a faye client's
 * `subscribe`), resolving once the server acknowledged; deliveries land in `events`.
 */
export async function subscribeEvents(what, subscribe) {
  const events = new Inbox(`events on ${what}`);
  const subscription = subscribe((data) => events.push(data));
  await withTimeout(settle(subscription), `subscription to ${what} acknowledged`);
  return { subscription, events };
}

/** `event.createdDate` as Salesforce writes it: ISO 8601, UTC, milliseconds. */
export const CREATED_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
