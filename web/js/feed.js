// The live feed's Bayeux client: the vendored CometD JavaScript client, WebSocket first and
// long-polling when a WebSocket cannot be opened (CometD falls back by itself).
//
// Authorization: long-polling requests carry the `Authorization` header; a browser cannot put
// one on a WebSocket upgrade, so the socket offers the subprotocols `bayou-auth` and
// `bayou-token.<token>`, which Bayou reads at the upgrade and binds the socket to.
//
// One extension, on outgoing messages: Salesforce's `ext.replay` map on /meta/subscribe,
// channel → -1 (new events), -2 (everything retained) or a replay id to continue after.
// After a re-handshake (an expired session, a restart) every subscription is made again from
// the last replay id it received, so nothing is missed while the event is retained.

import { CometD } from "../vendor/cometd-9.0.0/Client.js";

/**
 * A delivered event's replay id: Salesforce's channels carry it in `data.event.replayId`, plain
 * Bayeux channels (`/chat/**`) in `ext.replayId`. `undefined` when it has none.
 */
export function replayIdOf(message) {
  return message.data?.event?.replayId ?? message.ext?.replayId;
}

export class Feed {
  /**
   * url: the Bayeux endpoint; token: the access token; transport: "auto" or "long-polling";
   * onEvent(subscription, message); onStatus({state, transport, clientId, error}).
   */
  constructor({ url, token, transport = "auto", onEvent, onStatus }) {
    this.url = url;
    this.token = token;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    /** subscription channel → {replay (what to ask for next), handle} */
    this.subscriptions = new Map();
    this.cometd = new CometD();
    if (transport === "long-polling") {
      this.cometd.unregisterTransport("websocket");
      this.cometd.unregisterTransport("callback-polling");
    }
    this.cometd.configure({
      url,
      requestHeaders: { Authorization: `Bearer ${token}` },
      protocol: ["bayou-auth", `bayou-token.${token}`],
      appendMessageTypeToURL: false,
      logLevel: "warn",
    });
    this.cometd.addListener("/meta/handshake", (reply) => {
      if (reply.successful) {
        this.#status("connected");
        this.#resubscribeAll();
      } else {
        const reason = reply.ext && reply.ext.sfdc && reply.ext.sfdc.failureReason;
        this.#status("handshake failed", [reply.error, reason].filter(Boolean).join(" "));
      }
    });
    this.cometd.addListener("/meta/connect", (reply) => {
      if (this.cometd.isDisconnected()) return;
      if (reply.successful) this.#status("connected");
      else this.#status("reconnecting", reply.error || (reply.failure && reply.failure.reason));
    });
  }

  #status(state, error) {
    const transport = this.cometd.getTransport();
    this.onStatus?.({
      state,
      transport: transport ? transport.type : null,
      clientId: this.cometd.getClientId(),
      error: error || null,
    });
  }

  start() {
    this.#status("handshaking");
    this.cometd.handshake();
  }

  stop() {
    this.subscriptions.clear();
    return new Promise((resolve) => this.cometd.disconnect(() => resolve()));
  }

  get clientId() {
    return this.cometd.getClientId();
  }

  /** Subscribes to `channel` (wildcards allowed) from `replay`; rejects with the server's error. */
  subscribe(channel, replay = -1) {
    if (this.subscriptions.has(channel)) this.unsubscribe(channel);
    const entry = { replay: Number(replay), handle: null };
    this.subscriptions.set(channel, entry);
    return this.#subscribe(channel, entry);
  }

  #subscribe(channel, entry) {
    return new Promise((resolve, reject) => {
      const props = { ext: { replay: { [channel]: entry.replay } } };
      entry.handle = this.cometd.subscribe(
        channel,
        (message) => {
          // Where to resume after a new handshake: past the last event seen.
          const replayId = replayIdOf(message);
          if (Number.isInteger(replayId)) entry.replay = replayId;
          this.onEvent?.(channel, message);
        },
        props,
        (reply) => {
          if (reply.successful) resolve(reply);
          else {
            this.subscriptions.delete(channel);
            reject(new Error(reply.error || "subscribe failed"));
          }
        },
      );
    });
  }

  #resubscribeAll() {
    // CometD keeps no subscriptions across a new session: make them again, batched.
    if (this.subscriptions.size === 0) return;
    this.cometd.batch(() => {
      for (const [channel, entry] of this.subscriptions) {
        this.#subscribe(channel, entry).catch((e) => this.#status("connected", `${channel}: ${e.message}`));
      }
    });
  }

  unsubscribe(channel) {
    const entry = this.subscriptions.get(channel);
    this.subscriptions.delete(channel);
    if (entry && entry.handle) this.cometd.unsubscribe(entry.handle);
  }
}
