// Durable replay (Salesforce semantics) as client applications use it, and helpers for the
// replay tests.
//
// The extensions below are what applications add to the unchanged faye and CometD clients to
// use Salesforce's durable streaming: they are written here, in the shape jsforce's
// `StreamingExtension.Replay` (faye) and Salesforce's `cometdReplayExtension` (CometD) have.

import assert from "node:assert/strict";

const REPLAY_FROM_KEY = "replay";

/**
 * A faye extension in the shape of jsforce's `StreamingExtension.Replay`:
 *
 * - on an incoming /meta/handshake it turns itself on when the server says `ext.replay == true`
 *   (loose equality, as jsforce);
 * - on every outgoing /meta/subscribe, once on, it sets `message.ext = message.ext || {}` and
 *   `message.ext.replay = { [channel]: replayId }`. Like jsforce it does not look at the
 *   subscription: a subscribe to another channel carries the same map (and Salesforce answers it
 *   with "The replayId for channel … wasn't found …");
 * - like jsforce, it remembers `data.event.replayId` of the events of its channel (the PushTopic
 *   payload shape; events published by Bayeux clients carry their id in `ext.replayId` instead,
 *   which jsforce does not read).
 *
 * One difference: jsforce also turns itself on in its constructor when given a replay id. This
 * one starts off, so that only the server's handshake `ext` can turn it on, and the tests check
 * that the server says so (Salesforce's original replay extension behaves this way).
 */
export class FayeReplayExtension {
  constructor(channel, replayId) {
    this._extensionEnabled = false;
    this._channel = channel;
    this._replay = replayId;
  }

  setExtensionEnabled(extensionEnabled) {
    this._extensionEnabled = extensionEnabled;
  }

  setReplay(replay) {
    this._replay = parseInt(replay, 10);
  }

  setChannel(channel) {
    this._channel = channel;
  }

  incoming(message, callback) {
    if (message.channel === "/meta/handshake") {
      // eslint-disable-next-line eqeqeq -- jsforce's test, on purpose
      if (message.ext && message.ext[REPLAY_FROM_KEY] == true) {
        this._extensionEnabled = true;
      }
    } else if (message.channel === this._channel && message.data?.event?.replayId) {
      this._replay = message.data.event.replayId;
    }
    callback(message);
  }

  outgoing(message, callback) {
    if (message.channel === "/meta/subscribe" && this._extensionEnabled) {
      if (!message.ext) message.ext = {};
      message.ext[REPLAY_FROM_KEY] = { [this._channel]: this._replay };
    }
    callback(message);
  }
}

/**
 * The same replay extension for CometD, as `cometd.registerExtension(name, extension)` takes it
 * (synchronous `incoming`/`outgoing` returning the message), in the shape of Salesforce's
 * `cometdReplayExtension`.
 */
export function cometdReplayExtension(channel, replayId) {
  let enabled = false;
  return {
    incoming(message) {
      // eslint-disable-next-line eqeqeq
      if (message.channel === "/meta/handshake" && message.ext && message.ext[REPLAY_FROM_KEY] == true) {
        enabled = true;
      }
      return message;
    },
    outgoing(message) {
      if (message.channel === "/meta/subscribe" && enabled) {
        if (!message.ext) message.ext = {};
        message.ext[REPLAY_FROM_KEY] = { [channel]: replayId };
      }
      return message;
    },
  };
}

/** The error for a replay id newer than the newest event (two spaces after "invalid."). */
export function invalidReplayIdError(replayId) {
  return (
    `400::The replayId {${replayId}} you provided was invalid.  Please provide a valid ID, ` +
    "-2 to replay all events, or -1 to replay only new events."
  );
}

/**
 * The error for a replay map without the subscribed channel; `map` as Java's `Map#toString`
 * prints it (`{}`, `{/a=-2}`), which the message then wraps in braces like every argument.
 */
export function missingChannelError(channel, map) {
  return (
    `400::The replayId for channel {${channel}} wasn't found using the provided replay ID map {${map}}. ` +
    "Ensure that the channel name you provided in the replay map is valid and matches the channel " +
    "name used for subscribing."
  );
}

/** The events the server delivered to `client` on `channel` (full messages, as on the wire). */
export function eventsOn(client, channel, since = 0) {
  return client.raw.filter((m) => m.channel === channel && m.data !== undefined, since);
}

/**
 * Publishes `data` on `channel` through `client` (faye or CometD wrapper), waits for the
 * acknowledgement, and returns the replay id the publish reply carries in `ext.replayId`.
 */
export async function publishEvent(client, channel, data) {
  const since = client.sent.mark();
  await client.publish(channel, data);
  const sent = client.sent.filter((m) => m.channel === channel && m.data !== undefined, since);
  assert.equal(sent.length, 1, `one publish sent: ${JSON.stringify(sent)}`);
  const reply = await client.raw.waitFor(
    (m) => m.channel === channel && m.id === sent[0].id && m.successful !== undefined,
    `the reply to publish ${sent[0].id}`,
  );
  assert.equal(reply.successful, true, JSON.stringify(reply));
  assert.ok(Number.isSafeInteger(reply.ext?.replayId) && reply.ext.replayId > 0, `publish reply without ext.replayId: ${JSON.stringify(reply)}`);
  return reply.ext.replayId;
}

const CREATED_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/**
 * Asserts that `received` (messages on the wire) are exactly the events `expected`
 * (`{replayId, data}`, in order) on `channel`, shaped as Salesforce delivers them:
 * `{channel, data, ext: {replayId, createdDate}}`.
 */
export function assertEvents(received, expected, channel, what) {
  const show = (list) => list.map((m) => JSON.stringify({ id: m.ext?.replayId ?? m.replayId, tag: m.data?.tag })).join("\n    ");
  const context = `${what}\n  expected:\n    ${show(expected)}\n  received:\n    ${show(received)}`;
  assert.deepEqual(
    received.map((m) => m.ext?.replayId),
    expected.map((e) => e.replayId),
    `replay ids: ${context}`,
  );
  assert.deepEqual(
    received.map((m) => ({ channel: m.channel, data: m.data })),
    expected.map((e) => ({ channel, data: e.data })),
    `data: ${context}`,
  );
  for (const m of received) {
    assert.deepEqual(Object.keys(m.ext).sort(), ["createdDate", "replayId"], JSON.stringify(m));
    assert.match(m.ext.createdDate, CREATED_DATE, JSON.stringify(m));
    assert.ok(!Number.isNaN(Date.parse(m.ext.createdDate)), JSON.stringify(m));
  }
  for (let i = 1; i < received.length; i++) {
    assert.ok(received[i].ext.replayId > received[i - 1].ext.replayId, `replay ids increase: ${context}`);
  }
}

/** Asserts that `ids` strictly increase. */
export function assertIncreasing(ids, what) {
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], `${what}: ${JSON.stringify(ids)}`);
}
