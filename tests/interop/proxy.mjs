// A TCP proxy in front of a bayou server that watches the WebSockets going through it, so that
// tests can see from the outside, whatever the client, which side closed a WebSocket and whether
// the client opened a new one. It changes nothing: bytes are forwarded as they come.
//
// Each connection whose HTTP request asks for `Upgrade: websocket` and whose answer is
// `101 Switching Protocols` is recorded, with every WebSocket frame opcode seen in each
// direction (frames are parsed only to find their boundaries: 0x8 is Close). Plain HTTP
// connections (long-polling, the handshake faye sends before it upgrades) are forwarded too.

import net from "node:net";

import { Inbox, listenOnLoopback } from "./util.mjs";

const HEADER_END = Buffer.from("\r\n\r\n");
export const CLOSE = 0x8;

/** Splits a byte stream into WebSocket frames and reports each frame's opcode. */
class FrameScanner {
  constructor(onFrame) {
    this.onFrame = onFrame;
    this.buffer = Buffer.alloc(0);
  }

  push(chunk) {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    for (;;) {
      const b = this.buffer;
      if (b.length < 2) return;
      let length = b[1] & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (b.length < 4) return;
        length = b.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (b.length < 10) return;
        length = Number(b.readBigUInt64BE(2));
        offset = 10;
      }
      if (b[1] & 0x80) offset += 4; // masking key (client to server)
      if (b.length < offset + length) return;
      this.onFrame(b[0] & 0x0f);
      this.buffer = b.subarray(offset + length);
    }
  }
}

/**
 * One direction of a connection: the HTTP head first (request or response), then, once both
 * sides agreed on the upgrade, WebSocket frames.
 */
class Direction {
  constructor(onHead, onFrame) {
    this.onHead = onHead;
    this.head = Buffer.alloc(0);
    this.headDone = false;
    this.scanner = new FrameScanner(onFrame);
  }

  push(chunk) {
    if (this.headDone) {
      this.scanner.push(chunk);
      return;
    }
    this.head = Buffer.concat([this.head, chunk]);
    const end = this.head.indexOf(HEADER_END);
    if (end < 0) return;
    this.headDone = true;
    const rest = this.head.subarray(end + HEADER_END.length);
    // Only a WebSocket connection has frames after its head; on a plain HTTP connection the
    // rest is a body (and later requests), which `onHead` tells us to ignore.
    if (this.onHead(this.head.subarray(0, end).toString("latin1"))) {
      if (rest.length) this.scanner.push(rest);
    } else {
      this.push = () => {};
    }
    this.head = null;
  }
}

/**
 * Listens on 127.0.0.1 and forwards every connection to `target` (a port on 127.0.0.1).
 * `websockets` is an {@link Inbox} of records `{id, openedAt, frames: {client: [], server: []},
 * firstClose: "server" | "client" | undefined, closed: boolean}` (the same objects, updated as
 * the connection goes on), pushed when the server accepted the upgrade; `events` gets
 * `{id, what: "close-frame" | "closed", from}` as they happen.
 */
export class WebSocketWatchingProxy {
  static async start(targetPort) {
    const proxy = new WebSocketWatchingProxy(targetPort);
    proxy.port = await listenOnLoopback(proxy.server);
    return proxy;
  }

  constructor(targetPort) {
    this.targetPort = targetPort;
    this.sockets = new Set();
    this.websockets = new Inbox("WebSockets through the proxy");
    this.events = new Inbox("WebSocket events at the proxy");
    this.server = net.createServer((client) => this.#accept(client));
  }

  /** The proxy's origin, to build client URLs from. */
  get origin() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** WebSocket records still open. */
  get open() {
    return this.websockets.items.filter((w) => !w.closed);
  }

  #accept(client) {
    const upstream = net.connect(this.targetPort, "127.0.0.1");
    this.sockets.add(client);
    this.sockets.add(upstream);
    let upgradeRequested = false;
    let record = null;
    const frame = (from) => (opcode) => {
      if (!record) return;
      record.frames[from].push(opcode);
      if (opcode === CLOSE) {
        record.firstClose ??= from;
        this.events.push({ id: record.id, what: "close-frame", from });
      }
    };
    const fromClient = new Direction((head) => {
      upgradeRequested = /^upgrade:\s*websocket\s*$/im.test(head);
      return upgradeRequested;
    }, frame("client"));
    const fromServer = new Direction((head) => {
      if (!upgradeRequested || !/^HTTP\/1\.1 101 /.test(head)) return false;
      record = {
        id: this.websockets.items.length + 1,
        openedAt: Date.now(),
        frames: { client: [], server: [] },
        firstClose: undefined,
        closed: false,
      };
      this.websockets.push(record);
      return true;
    }, frame("server"));

    client.on("data", (chunk) => {
      fromClient.push(chunk);
      upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      fromServer.push(chunk);
      client.write(chunk);
    });
    let ended = false;
    const finish = (from) => {
      if (ended) return;
      ended = true;
      if (record) {
        record.closed = true;
        this.events.push({ id: record.id, what: "closed", from });
      }
    };
    client.on("end", () => upstream.end());
    upstream.on("end", () => client.end());
    client.on("close", () => {
      finish("client");
      upstream.destroy();
      this.sockets.delete(client);
    });
    upstream.on("close", () => {
      finish("server");
      client.destroy();
      this.sockets.delete(upstream);
    });
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  }

  /** Stops listening and drops every connection. */
  async close() {
    const closed = new Promise((resolve) => this.server.close(resolve));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}
