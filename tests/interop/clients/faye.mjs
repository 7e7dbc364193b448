// The faye client (what jsforce uses), unchanged, behind the small interface the shared
// scenarios drive. Everything goes through faye's public API: Client, subscribe/withChannel,
// Subscription#cancel, publish, disconnect, disable('websocket') and extensions (used to record
// every message on the wire, to check what the server really sent).

import faye from "faye";

import { Inbox, trace, withTimeout } from "../util.mjs";

/** faye's Deferrable#then swallows failures unless given an errback: make a real promise. */
function settle(deferrable) {
  return new Promise((resolve, reject) => deferrable.then(resolve, reject));
}

export class FayeTestClient {
  static kind = "faye";

  /**
   * @param url the Bayeux endpoint
   * @param options.transport "websocket" (faye handshakes over HTTP, then upgrades by itself),
   *   "long-polling" (websocket disabled) or "auto" (faye's defaults)
   * @param options.extensions application extensions (say, a replay extension), added between
   *   the two halves of the wire recorder: incoming messages are recorded as the server sent
   *   them, outgoing ones as they go on the wire, after the extensions changed them
   */
  constructor(url, { transport = "auto", name = "faye", extensions = [] } = {}) {
    this.name = name;
    this.transport = transport;
    this.raw = new Inbox(`${name} incoming`);
    this.sent = new Inbox(`${name} outgoing`);
    // timeout: seconds a connect may take before the client gives up on it (the server's
    // advice replaces it); retry: seconds between attempts after a network failure.
    this.client = new faye.Client(url, { timeout: 15, retry: 0.25 });
    if (transport === "long-polling") this.client.disable("websocket");
    // faye runs extensions in the order they were added, both ways.
    this.client.addExtension({
      incoming: (message, callback) => {
        trace(this.name, "<-", message);
        this.raw.push(structuredClone(message));
        callback(message);
      },
    });
    for (const extension of extensions) this.client.addExtension(extension);
    this.client.addExtension({
      outgoing: (message, callback) => {
        trace(this.name, "->", message);
        this.sent.push(structuredClone(message));
        callback(message);
      },
    });
  }

  /** The clientId of the latest successful handshake. */
  get clientId() {
    const replies = this.raw.filter((m) => m.channel === "/meta/handshake" && m.successful);
    return replies.at(-1)?.clientId;
  }

  /** Handshakes (faye's connect() handshakes first) and returns the handshake reply. */
  async handshake() {
    const since = this.raw.mark();
    await withTimeout(new Promise((resolve) => this.client.connect(resolve)), `${this.name} handshake`);
    return this.raw.waitFor((m) => m.channel === "/meta/handshake" && m.successful, "handshake reply", { since });
  }

  /** Subscribes; resolves once the server acknowledged. Deliveries land in `handle.inbox`. */
  async subscribe(channel) {
    const inbox = new Inbox(`${this.name} deliveries on ${channel}`);
    const subscription = this.client.subscribe(channel).withChannel((ch, data) => inbox.push({ channel: ch, data }));
    await withTimeout(settle(subscription), `${this.name} subscribe ${channel} acknowledged`);
    return { channel, inbox, subscription };
  }

  /** Unsubscribes; resolves once the server acknowledged (faye exposes no callback for it). */
  async unsubscribe(handle) {
    const since = this.raw.mark();
    handle.subscription.cancel();
    const reply = await this.raw.waitFor(
      (m) => m.channel === "/meta/unsubscribe" && [].concat(m.subscription).includes(handle.channel),
      `unsubscribe ${handle.channel} reply`,
      { since },
    );
    if (!reply.successful) throw new Error(`unsubscribe failed: ${JSON.stringify(reply)}`);
    return reply;
  }

  /** Publishes; resolves once the server acknowledged. */
  async publish(channel, data) {
    await withTimeout(settle(this.client.publish(channel, data)), `${this.name} publish to ${channel} acknowledged`);
  }

  /** Disconnects; resolves with the server's reply. */
  async disconnect() {
    const since = this.raw.mark();
    const promise = this.client.disconnect();
    if (!promise) throw new Error(`${this.name} was not connected`);
    await withTimeout(settle(promise), `${this.name} disconnect acknowledged`);
    return this.raw.waitFor((m) => m.channel === "/meta/disconnect", "disconnect reply", { since });
  }

  /** Best-effort cleanup after a test, whatever state the client is in. */
  async close() {
    try {
      const promise = this.client.disconnect();
      if (promise) await withTimeout(settle(promise), `${this.name} disconnect on cleanup`, 2000);
    } catch {
      // The server may be gone already.
    } finally {
      // Drop the sockets whatever happened (faye keeps retrying a disconnect otherwise).
      this.client._dispatcher.close();
    }
  }
}
