// Starts and stops the real `bayou` binary for the interop tests, and reads its /metrics.
//
// The binary comes from $BAYOU_BIN, else ../../target/debug/bayou relative to this directory.
// `serve --listen 127.0.0.1:0` prints `listening on http://127.0.0.1:PORT` on stdout once it
// accepts connections, then `pubsub listening on https://127.0.0.1:PORT` for the Pub/Sub API
// (gRPC); logs go to stderr and are kept for failure messages.

import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

export const BAYOU_BIN = process.env.BAYOU_BIN
  ? path.resolve(process.env.BAYOU_BIN)
  : path.resolve(here, "../../target/debug/bayou");

/** The API version in the Bayeux path, as Salesforce clients use it. */
export const API_PATH = "/cometd/66.0";

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
const STDERR_KEEP = 64 * 1024;

/**
 * The environment for the child: ours without any BAYOU_* setting that could change it, plus
 * the `extra` variables a test sets on purpose (say, BAYOU_USERNAME and BAYOU_PASSWORD).
 */
function childEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("BAYOU_")) env[k] = v;
  }
  env.NO_COLOR = "1";
  return { ...env, ...extra };
}

/**
 * A running (or restartable) bayou server.
 *
 * Options: `timeout` (ms a /meta/connect is held, default 3000 so connects cycle in tests),
 * `maxInterval` (ms), `transports` (e.g. "long-polling"), `log` (EnvFilter, default "info"),
 * `anonymous` (default true: no token needed; false to require a login), `env` (variables for
 * the child, e.g. `{BAYOU_USERNAME, BAYOU_PASSWORD, BAYOU_CLIENT_ID, BAYOU_CLIENT_SECRET}` to fix
 * the org's credentials; every other BAYOU_* variable of ours is left out), `adminToken` (turns
 * the admin API on: `--admin-token`; see {@link BayouServer#admin} and {@link BayouServer#adminCli}),
 * `extraArgs` (more `serve` arguments, e.g. `["--config", file]`).
 */
export class BayouServer {
  constructor(options = {}) {
    this.options = { timeout: 3000, log: "info", ...options };
    this.port = 0;
    /** The Pub/Sub API's port (0 until started; kept across restarts, like `port`). */
    this.pubsubPort = 0;
    this.child = null;
    this.dataDir = null;
    this.stderr = "";
    this.starts = 0;
  }

  get origin() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The Pub/Sub API's `host:port`, as gRPC clients take it. */
  get pubsubEndpoint() {
    return `127.0.0.1:${this.pubsubPort}`;
  }

  /** The self-signed certificate the Pub/Sub API serves (generated into the data directory). */
  get pubsubCertificate() {
    return path.join(this.dataDir, "pubsub-cert.pem");
  }

  /** The Bayeux endpoint, for both long-polling and WebSocket. */
  get url() {
    return `${this.origin}${API_PATH}`;
  }

  /** Starts the process; on a restart it binds the same port again. */
  async start() {
    if (this.child) throw new Error("bayou is already running");
    if (!this.dataDir) this.dataDir = await mkdtemp(path.join(tmpdir(), "bayou-interop-"));
    const o = this.options;
    const args = [
      "serve",
      "--listen", `127.0.0.1:${this.port}`,
      "--data-dir", this.dataDir,
      "--timeout", String(o.timeout),
      "--log", o.log,
      "--pubsub-listen", `127.0.0.1:${this.pubsubPort}`,
    ];
    // These suites test Bayou as a Bayeux server; login is tested on its own.
    if (o.anonymous !== false) args.push("--anonymous");
    if (o.maxInterval !== undefined) args.push("--max-interval", String(o.maxInterval));
    if (o.transports !== undefined) args.push("--transports", o.transports);
    if (o.adminToken !== undefined) args.push("--admin-token", o.adminToken);
    if (o.extraArgs) args.push(...o.extraArgs);

    const child = spawn(BAYOU_BIN, args, { env: childEnv(o.env), stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    this.starts += 1;
    child.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk) => {
      this.stderr = (this.stderr + chunk).slice(-STDERR_KEEP);
    });

    const { port, pubsubPort } = await this.#readPorts(child, args).catch((e) => {
      if (child.exitCode === null && child.signalCode === null && child.pid) child.kill("SIGKILL");
      this.child = null;
      throw e;
    });
    // Keep draining stdout so the child never blocks on a full pipe.
    child.stdout.resume();
    if (this.port !== 0 && port !== this.port) {
      throw new Error(`bayou restarted on port ${port}, expected ${this.port}`);
    }
    this.port = port;
    this.pubsubPort = pubsubPort;
    return this;
  }

  /** Resolves with the ports from the "listening on" and "pubsub listening on" lines. */
  #readPorts(child, args) {
    return new Promise((resolve, reject) => {
      const lines = createInterface({ input: child.stdout });
      let settled = false;
      const fail = (why) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        lines.close();
        reject(new Error(`bayou did not start (${why}): ${BAYOU_BIN} ${args.join(" ")}\n${this.stderr}`));
      };
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        fail(`no "listening on" line within ${START_TIMEOUT_MS} ms`);
      }, START_TIMEOUT_MS);
      child.once("error", (e) => fail(e.message));
      child.exited.then(({ code, signal }) => fail(`exited with code ${code}, signal ${signal}`));
      let port;
      lines.on("line", (line) => {
        if (settled) return;
        const http = /^listening on http:\/\/127\.0\.0\.1:(\d+)\s*$/.exec(line);
        if (http) port = Number(http[1]);
        const pubsub = /^pubsub listening on https?:\/\/127\.0\.0\.1:(\d+)\s*$/.exec(line);
        if (!pubsub || port === undefined) return;
        settled = true;
        clearTimeout(timer);
        lines.removeAllListeners("line");
        resolve({ port, pubsubPort: Number(pubsub[1]) });
      });
    });
  }

  /** Stops the process gracefully (SIGTERM), killing it if it does not exit in time. */
  async stop() {
    const child = this.child;
    if (!child) return;
    this.child = null;
    if (child.exitCode !== null || child.signalCode !== null) {
      // Nobody asked it to stop: it crashed or quit during the test.
      throw new Error(`bayou exited by itself (code ${child.exitCode}, signal ${child.signalCode})\n${this.stderr}`);
    }
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    const { code, signal } = await child.exited;
    clearTimeout(timer);
    if (signal === "SIGKILL") throw new Error(`bayou did not stop on SIGTERM within ${STOP_TIMEOUT_MS} ms\n${this.stderr}`);
    if (signal) throw new Error(`bayou died of ${signal} instead of shutting down gracefully\n${this.stderr}`);
    if (code !== 0) throw new Error(`bayou exited with code ${code} on SIGTERM\n${this.stderr}`);
  }

  /**
   * Kills the process with SIGKILL — a crash: no graceful shutdown, its connections dropped by
   * the kernel — and waits until it is gone. `start()` would bring it back on the same port.
   */
  async kill() {
    const child = this.child;
    if (!child) throw new Error("bayou is not running");
    this.child = null;
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`bayou exited by itself (code ${child.exitCode}, signal ${child.signalCode})\n${this.stderr}`);
    }
    child.kill("SIGKILL");
    await child.exited;
  }

  /** Stops the process and starts a new one on the same port: every session is forgotten. */
  async restart() {
    await this.stop();
    await this.start();
    return this;
  }

  /** Stops the process (if running) and removes its data directory. */
  async dispose() {
    try {
      await this.stop();
    } finally {
      if (this.dataDir) await rm(this.dataDir, { recursive: true, force: true });
      this.dataDir = null;
    }
  }

  /** The parsed Prometheus text of GET /metrics. */
  async metrics() {
    const res = await fetch(`${this.origin}/metrics`);
    if (!res.ok) throw new Error(`GET /metrics: HTTP ${res.status}`);
    return new Metrics(await res.text());
  }

  /**
   * Calls the admin API over HTTP: `GET /admin/<path>` without a body, `POST` with one, with
   * `Authorization: Bearer <token>` (the server's admin token unless `token` is given; `null`
   * sends no Authorization header). Resolves with `{status, body}`, the body parsed as JSON.
   */
  async admin(path, body, { token = this.options.adminToken } = {}) {
    const headers = {};
    if (token !== null) headers.authorization = `Bearer ${token}`;
    const init = { method: body === undefined ? "GET" : "POST", headers };
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(`${this.origin}/admin/${path}`, init);
    const text = await res.text();
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
    return { status: res.status, body: parsed };
  }

  /**
   * Runs `bayou admin --url <this server> --token <token> ...args` (the same binary) and
   * resolves with `{code, signal, stdout, stderr}`; the token is the server's unless given.
   */
  adminCli(args, { token = this.options.adminToken, url = this.origin } = {}) {
    return runBayou(["admin", "--url", url, "--token", token, ...args]);
  }

  /** GET /healthz: `{status, sessions, websockets, log: {head, events, expired, disk_bytes}}`. */
  async health() {
    const res = await fetch(`${this.origin}/healthz`);
    if (!res.ok) throw new Error(`GET /healthz: HTTP ${res.status}`);
    return res.json();
  }
}

const CLI_TIMEOUT_MS = 10_000;

/**
 * Runs the bayou binary with `args` (no BAYOU_* variable of ours in its environment) and resolves
 * with `{code, signal, stdout, stderr}` once it exits; killed if it takes over 10 s.
 */
export function runBayou(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(BAYOU_BIN, args, { env: childEnv(), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), CLI_TIMEOUT_MS);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      if (signal === "SIGKILL") reject(new Error(`bayou ${args.join(" ")} took over ${CLI_TIMEOUT_MS} ms\n${stderr}`));
      else resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * Starts a server; see {@link BayouServer} for the options. With `BAYOU_INTEROP_CLUSTER` set
 * (scripts/test.sh's second pass of the suite), the server is a three-node cluster on NATS
 * instead (cluster.mjs's `ClusteredServer`), with the same interface.
 */
export async function startServer(options) {
  if (process.env.BAYOU_INTEROP_CLUSTER) {
    const { startClusteredServer } = await import("./cluster.mjs");
    return startClusteredServer(options);
  }
  return startProcess(options);
}

/** Starts one bayou process, whatever the mode of the suite (cluster.mjs's nodes). */
export async function startProcess(options) {
  const server = new BayouServer(options);
  try {
    return await server.start();
  } catch (e) {
    await server.dispose().catch(() => {});
    throw e;
  }
}

/** Prometheus text format samples. */
export class Metrics {
  constructor(text) {
    this.text = text;
    this.samples = [];
    for (const line of text.split("\n")) {
      if (!line || line.startsWith("#")) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const labels = {};
      for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[l[1]] = l[2];
      }
      this.samples.push({ name: m[1], labels, value: Number(m[3]) });
    }
  }

  /**
   * The sum of the samples of `name` whose labels include `labels`, or `undefined` when there
   * is none (the exporter omits a metric never touched).
   */
  get(name, labels = {}) {
    let found;
    for (const s of this.samples) {
      if (s.name !== name) continue;
      if (!Object.entries(labels).every(([k, v]) => s.labels[k] === v)) continue;
      found = (found ?? 0) + s.value;
    }
    return found;
  }

  /** Like {@link get}, with 0 for a metric never touched. */
  value(name, labels = {}) {
    return this.get(name, labels) ?? 0;
  }

  /** Messages received from clients over `transport` ("websocket" or "long-polling"). */
  received(transport) {
    return this.value("bayou_messages_received_total", { transport });
  }

  get websocketConnections() {
    return this.value("bayou_websocket_connections");
  }

  get sessions() {
    return this.value("bayou_sessions");
  }
}
