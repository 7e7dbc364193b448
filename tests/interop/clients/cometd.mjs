// The official CometD JavaScript client, unchanged, running in Node through
// cometd-nodejs-client (which installs XMLHttpRequest and WebSocket globals), behind the small
// interface the shared scenarios drive. Everything goes through CometD's public API:
// (un)registerTransport, configure, handshake, subscribe, unsubscribe, publish, disconnect,
// addListener and registerExtension (used to record every message on the wire).
//
// When the server forgets the session, CometD re-handshakes by itself but drops its
// subscriptions; like real CometD applications, this wrapper subscribes again from its
// /meta/handshake listener when the handshake re-establishes the connection.

import { adapt } from "cometd-nodejs-client";
import { CometD } from "cometd";

import { Inbox, trace, withTimeout } from "../util.mjs";

// Installs window.XMLHttpRequest / window.WebSocket; must run before any CometD is created.
adapt();

function assertSuccessful(reply, what) {
  if (!reply.successful) {
    // Failures made up by the client carry request objects: print only the Bayeux fields.
    const { channel, id, error, advice, failure } = reply;
    const summary = { channel, id, error, advice, reason: failure?.reason, status: failure?.httpCode };
    throw new Error(`${what} failed: ${JSON.stringify(summary)}`);
  }
  return reply;
}

let instances = 0;

export class CometDTestClient {
  static kind = "cometd";

  /**
   * @param url the Bayeux endpoint
   * @param options.transport "websocket" or "long-polling" (the only transport registered; with
   *   websocket CometD handshakes over the socket), or "auto" (CometD's defaults)
   */
  constructor(url, { transport = "auto", name = "cometd" } = {}) {
    this.name = name;
    this.transport = transport;
    this.raw = new Inbox(`${name} incoming`);
    this.sent = new Inbox(`${name} outgoing`);
    this.handles = new Set();

    const cometd = new CometD(`${name}-${++instances}`);
    this.cometd = cometd;
    if (transport === "websocket") {
      cometd.unregisterTransport("long-polling");
      cometd.unregisterTransport("callback-polling");
    } else if (transport === "long-polling") {
      cometd.unregisterTransport("websocket");
      cometd.unregisterTransport("callback-polling");
    }
    cometd.configure({
      url,
      logLevel: "warn",
      // Reconnect quickly when the server restarts.
      backoffIncrement: 100,
      maxBackoff: 1000,
      maxNetworkDelay: 5000,
    });
    cometd.registerExtension("wire-recorder", {
      incoming: (message) => {
        trace(this.name, "<-", message);
        this.raw.push(structuredClone(message));
        return message;
      },
      outgoing: (message) => {
        trace(this.name, "->", message);
        this.sent.push(structuredClone(message));
        return message;
      },
    });
    cometd.addListener("/meta/handshake", (reply) => {
      if (reply.successful && reply.reestablish) {
        for (const handle of this.handles) this.#subscribeHandle(handle);
      }
    });
  }

  get clientId() {
    return this.cometd.getClientId() ?? undefined;
  }

  /**
   * Handshakes; resolves with the successful handshake reply. Like an application, waits on the
   * /meta/handshake listener: after a failed attempt (say, a refused WebSocket upgrade) CometD
   * handshakes again by itself, on another transport if it has one.
   */
  async handshake() {
    const since = this.raw.mark();
    let listener;
    const success = new Promise((resolve) => {
      listener = this.cometd.addListener("/meta/handshake", (reply) => {
        if (reply.successful) resolve(reply);
      });
    });
    this.cometd.handshake();
    try {
      await withTimeout(success, `${this.name} successful handshake`);
    } finally {
      this.cometd.removeListener(listener);
    }
    return this.raw.waitFor((m) => m.channel === "/meta/handshake" && m.successful, "handshake reply", { since });
  }

  #subscribeHandle(handle) {
    return new Promise((resolve) => {
      handle.subscription = this.cometd.subscribe(
        handle.channel,
        (message) => handle.inbox.push({ channel: message.channel, data: message.data }),
        resolve,
      );
    });
  }

  /** Subscribes; resolves once the server acknowledged. Deliveries land in `handle.inbox`. */
  async subscribe(channel) {
    const handle = { channel, inbox: new Inbox(`${this.name} deliveries on ${channel}`), subscription: null };
    const reply = await withTimeout(this.#subscribeHandle(handle), `${this.name} subscribe ${channel} acknowledged`);
    assertSuccessful(reply, `${this.name} subscribe ${channel}`);
    this.handles.add(handle);
    return handle;
  }

  /** Unsubscribes; resolves once the server acknowledged. */
  async unsubscribe(handle) {
    this.handles.delete(handle);
    const reply = await withTimeout(
      new Promise((resolve) => this.cometd.unsubscribe(handle.subscription, resolve)),
      `${this.name} unsubscribe ${handle.channel} acknowledged`,
    );
    return assertSuccessful(reply, `${this.name} unsubscribe ${handle.channel}`);
  }

  /** Publishes; resolves once the server acknowledged. */
  async publish(channel, data) {
    const reply = await withTimeout(
      new Promise((resolve) => this.cometd.publish(channel, data, resolve)),
      `${this.name} publish to ${channel} acknowledged`,
    );
    assertSuccessful(reply, `${this.name} publish to ${channel}`);
  }

  /** Disconnects; resolves with the server's reply. */
  async disconnect() {
    const reply = await withTimeout(
      new Promise((resolve) => this.cometd.disconnect(resolve)),
      `${this.name} disconnect acknowledged`,
    );
    return assertSuccessful(reply, `${this.name} disconnect`);
  }

  /** Best-effort cleanup after a test, whatever state the client is in. */
  async close() {
    this.handles.clear();
    if (this.cometd.isDisconnected()) return;
    try {
      await withTimeout(new Promise((resolve) => this.cometd.disconnect(resolve)), `${this.name} disconnect on cleanup`, 2000);
    } catch {
      // The server may be gone already: drop the connection.
      this.cometd.getTransport()?.abort();
    }
  }
}
