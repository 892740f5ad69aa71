#!/usr/bin/env node
// Checks that benchmark servers answer the benchmark subset of the wire contract
// (bench/peers/README.md) the same way, with the real socket.io-client.
//
//   node bench/peers/conformance.mjs                          # switchyard, node, socketioxide
//   node bench/peers/conformance.mjs node socketioxide        # some of them (via run-peer.sh)
//   node bench/peers/conformance.mjs -- ./my-server --flag    # any command
//
// Each server is started with BENCH_JWT_SECRET (random) and PORT=0 in its environment and
// must print `listening on http://127.0.0.1:<port>` on stdout. Named servers are started
// with run-peer.sh (which builds them when needed; set SWITCHYARD_BIN to use a prebuilt
// Switchyard). Every check is run against every server, then the answers, with times
// and epochs replaced by their types, are compared across servers.
// The last line is `conformance: N passed, N failed`; the exit code is 1 on any failure.
import { spawn, execFileSync } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";

const here = path.dirname(fileURLToPath(import.meta.url));
const nodePeer = path.join(here, "node");
if (!existsSync(path.join(nodePeer, "node_modules", "socket.io-client"))) {
  console.error("installing bench/peers/node (npm ci) for socket.io-client");
  execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: nodePeer, stdio: ["ignore", 2, 2] });
}
const { io } = createRequire(path.join(nodePeer, "package.json"))("socket.io-client");

const START_TIMEOUT_MS = Number(process.env.CONFORMANCE_START_TIMEOUT_MS ?? 900_000);
const VERBOSE = process.env.CONFORMANCE_VERBOSE === "1";
const SECRET = randomBytes(24).toString("hex");

// ---- tokens -------------------------------------------------------------------------

const b64url = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
function sign(claims, secret = SECRET) {
  const head = `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url(claims)}`;
  return `${head}.${createHmac("sha256", secret).update(head).digest("base64url")}`;
}
const now = () => Math.floor(Date.now() / 1000);
const userToken = (sub = "alice") => sign({ sub, exp: now() + 3600 });
const serviceToken = () => sign({ sub: "backend", exp: now() + 3600, roles: ["service"] });

// ---- server process -----------------------------------------------------------------

function start(label, command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: { ...process.env, BENCH_JWT_SECRET: SECRET, PORT: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const log = [];
    const keep = (chunk) => {
      if (VERBOSE) process.stderr.write(chunk);
      log.push(...chunk.toString().split("\n"));
      if (log.length > 200) log.splice(0, log.length - 200);
    };
    child.stderr.on("data", keep);
    let stdout = "";
    let url = null;
    const lines = [];
    const timer = setTimeout(() => fail(new Error(`no listening line within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    const fail = (err) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      err.log = log;
      reject(err);
    };
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      let nl;
      while ((nl = stdout.indexOf("\n")) >= 0) {
        const line = stdout.slice(0, nl);
        stdout = stdout.slice(nl + 1);
        lines.push(line);
        if (url === null) {
          const m = /^listening on (http:\/\/127\.0\.0\.1:(\d+))$/.exec(line);
          if (!m) return fail(new Error(`unexpected stdout line before listening: ${JSON.stringify(line)}`));
          if (m[2] === "0") return fail(new Error("listening line names port 0"));
          url = m[1];
          clearTimeout(timer);
          resolve({ url, child, log, stdoutLines: lines });
        }
      }
    });
    child.on("error", fail);
    child.on("exit", (code, signal) => {
      if (url === null) fail(new Error(`${label} exited (${code ?? signal}) before listening`));
    });
  });
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.on("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

// ---- client helpers -----------------------------------------------------------------

const sockets = new Set();

/** Connects to /realtime; resolves {socket} or {error: connect_error message}. */
function connect(url, { auth, query, transports = ["websocket"] } = {}) {
  return new Promise((resolve) => {
    const socket = io(`${url}/realtime`, {
      auth,
      query,
      transports,
      reconnection: false,
      forceNew: true,
      timeout: 5000,
    });
    sockets.add(socket);
    socket.once("connect", () => resolve({ socket }));
    socket.once("connect_error", (err) => {
      socket.close();
      resolve({ error: err.message });
    });
  });
}

function call(socket, event, payload) {
  return socket.timeout(5000).emitWithAck(event, payload);
}

async function http(url, { token, body, raw } = {}) {
  const headers = { "content-type": "application/json" };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${url}/api/v1/publish`, {
    method: "POST",
    headers,
    body: raw ?? JSON.stringify(body ?? {}),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = { unparsed: text };
  }
  return { status: res.status, contentType: (res.headers.get("content-type") ?? "").split(";")[0], body: json };
}

/** Collects `event` publications on a socket. */
function collect(socket) {
  const got = [];
  socket.on("event", (p) => got.push(p));
  return got;
}

async function until(predicate, ms = 3000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (predicate()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return predicate();
}

const keys = (o) => (o && typeof o === "object" ? Object.keys(o).sort() : []);
const isTime = (v) => Number.isInteger(v) && Math.abs(v - Date.now()) < 60_000;

/** Times and epochs become their type, so answers compare across servers. */
function normalize(v, key) {
  if (Array.isArray(v)) return v.map((x) => normalize(x));
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, normalize(v[k], k)]));
  }
  if (key === "serverTime" || key === "ts") return isTime(v) ? "<ms since epoch>" : `<bad time ${v}>`;
  if (key === "epoch") return typeof v === "string" && v.length > 0 ? "<epoch>" : `<bad epoch ${v}>`;
  if (key === "message" && typeof v === "string") return "<text>";
  return v;
}

// ---- the checks ---------------------------------------------------------------------
// Each returns the observed answer (compared across servers) and throws on a failure.

function expect(cond, what, observed) {
  if (!cond) throw Object.assign(new Error(what), { observed });
}

const checks = [
  ["connect without a token: connect_error missing_token", async ({ url }) => {
    const r = await connect(url);
    expect(r.error === "missing_token", `got ${JSON.stringify(r.error ?? "connected")}`, r.error);
    return r.error;
  }],
  ["connect with a wrongly signed token: invalid_token", async ({ url }) => {
    const r = await connect(url, { auth: { token: sign({ sub: "alice", exp: now() + 3600 }, "not-the-secret") } });
    expect(r.error === "invalid_token", `got ${JSON.stringify(r.error ?? "connected")}`, r.error);
    return r.error;
  }],
  ["connect with a token without sub: invalid_token", async ({ url }) => {
    const r = await connect(url, { auth: { token: sign({ exp: now() + 3600 }) } });
    expect(r.error === "invalid_token", `got ${JSON.stringify(r.error ?? "connected")}`, r.error);
    return r.error;
  }],
  ["connect with a token without exp: invalid_token", async ({ url }) => {
    const r = await connect(url, { auth: { token: sign({ sub: "alice" }) } });
    expect(r.error === "invalid_token", `got ${JSON.stringify(r.error ?? "connected")}`, r.error);
    return r.error;
  }],
  ["connect with a garbage token: invalid_token", async ({ url }) => {
    const r = await connect(url, { auth: { token: "not.a.jwt" } });
    expect(r.error === "invalid_token", `got ${JSON.stringify(r.error ?? "connected")}`, r.error);
    return r.error;
  }],
  // Known difference, not counted: Switchyard tells `token_expired` (PROTOCOL.md §1), the
  // peers only `invalid_token`.
  ["connect with an expired token: refused (invalid_token or token_expired)", async ({ url }) => {
    const r = await connect(url, { auth: { token: sign({ sub: "alice", exp: now() - 3600 }) } });
    expect(r.error === "invalid_token" || r.error === "token_expired", `got ${JSON.stringify(r.error ?? "connected")}`, r.error);
    return r.error;
  }, { informational: true }],
  ["connect with auth.token (WebSocket)", async (ctx) => {
    const r = await connect(ctx.url, { auth: { token: userToken("alice") } });
    expect(r.socket, `refused: ${r.error}`, r.error);
    ctx.alice = r.socket;
    return "connected";
  }],
  ["connect with ?token= (WebSocket)", async (ctx) => {
    const r = await connect(ctx.url, { query: { token: userToken("bob") } });
    expect(r.socket, `refused: ${r.error}`, r.error);
    ctx.bob = r.socket;
    return "connected";
  }],
  ["connect with auth.token over polling, then upgrade", async (ctx) => {
    const r = await connect(ctx.url, { auth: { token: userToken("carol") }, transports: ["polling", "websocket"] });
    expect(r.socket, `refused: ${r.error}`, r.error);
    ctx.carol = r.socket;
    const upgraded = await until(() => r.socket.io.engine.transport.name === "websocket", 5000);
    expect(upgraded, `still on ${r.socket.io.engine.transport.name}`);
    return "connected, upgraded";
  }],
  ["subscribe acks {ok, subscribed, denied: [], recovered: {}, missed: {}}", async (ctx) => {
    const ack = await call(ctx.alice, "subscribe", { channels: ["public:a", "public:b"] });
    const want = { ok: true, subscribed: ["public:a", "public:b"], denied: [], recovered: {}, missed: {} };
    expect(isDeepStrictEqual(ack, want), `ack ${JSON.stringify(ack)}`, ack);
    const bob = await call(ctx.bob, "subscribe", { channels: ["public:b"] });
    expect(isDeepStrictEqual(bob, { ...want, subscribed: ["public:b"] }), `bob's ack ${JSON.stringify(bob)}`, bob);
    const carol = await call(ctx.carol, "subscribe", { channels: ["public:a"] });
    expect(isDeepStrictEqual(carol, { ...want, subscribed: ["public:a"] }), `carol's ack ${JSON.stringify(carol)}`, carol);
    return normalize(ack);
  }],
  ["latency:ping acks {ok, t, serverTime}", async (ctx) => {
    const before = Date.now();
    const ack = await call(ctx.alice, "latency:ping", { t: 1234.5 });
    const after = Date.now();
    expect(isDeepStrictEqual(keys(ack), ["ok", "serverTime", "t"]), `keys ${keys(ack)}`, ack);
    expect(ack.ok === true && ack.t === 1234.5, `ack ${JSON.stringify(ack)}`, ack);
    expect(Number.isInteger(ack.serverTime) && ack.serverTime >= before - 1000 && ack.serverTime <= after + 1000,
      `serverTime ${ack.serverTime} outside [${before}, ${after}]`, ack);
    const big = await call(ctx.bob, "latency:ping", { t: 1700000000000 });
    expect(big.t === 1700000000000, `t not echoed: ${JSON.stringify(big)}`, big);
    const viaPolling = await call(ctx.carol, "latency:ping", { t: 7 });
    expect(viaPolling.ok === true && viaPolling.t === 7, `carol's ack ${JSON.stringify(viaPolling)}`, viaPolling);
    return normalize(ack);
  }],
  ["publish without Authorization: 401 missing_token", async ({ url }) => {
    const r = await http(url, { body: { channel: "public:a", event: "news", data: {} } });
    expect(r.status === 401 && r.body?.error?.code === "missing_token" && typeof r.body.error.message === "string",
      `${r.status} ${JSON.stringify(r.body)}`, r);
    return normalize(r);
  }],
  ["publish with a wrongly signed token: 401 invalid_token", async ({ url }) => {
    const token = sign({ sub: "backend", exp: now() + 3600, roles: ["service"] }, "not-the-secret");
    const r = await http(url, { token, body: { channel: "public:a", event: "news", data: {} } });
    expect(r.status === 401 && r.body?.error?.code === "invalid_token" && typeof r.body.error.message === "string",
      `${r.status} ${JSON.stringify(r.body)}`, r);
    return normalize(r);
  }],
  ["publish with a token without role service: 403 forbidden", async ({ url }) => {
    const r = await http(url, { token: userToken("mallory"), body: { channel: "public:a", event: "news", data: {} } });
    expect(r.status === 403 && r.body?.error?.code === "forbidden", `${r.status} ${JSON.stringify(r.body)}`, r);
    return normalize(r);
  }],
  ["publish: 202 {offset: 1, epoch}; `event` {channel, event, data, offset, epoch, ts} to the channel's room only", async (ctx) => {
    const a = collect(ctx.alice);
    const b = collect(ctx.bob);
    const c = collect(ctx.carol);
    ctx.got = { a, b, c };
    const data = { text: "hello", n: 1, nested: { list: [1, "two", null] } };
    const r = await http(ctx.url, { token: serviceToken(), body: { channel: "public:a", event: "news", data } });
    expect(r.status === 202 && r.contentType === "application/json", `${r.status} ${r.contentType} ${JSON.stringify(r.body)}`, r);
    expect(isDeepStrictEqual(keys(r.body), ["epoch", "offset"]) && r.body.offset === 1 && typeof r.body.epoch === "string" && r.body.epoch,
      `body ${JSON.stringify(r.body)}`, r);
    ctx.epoch = r.body.epoch;
    expect(await until(() => a.length === 1 && c.length === 1), `alice got ${a.length}, carol got ${c.length}`);
    const ev = a[0];
    expect(isDeepStrictEqual(keys(ev), ["channel", "data", "epoch", "event", "offset", "ts"]), `keys ${keys(ev)}`, ev);
    expect(ev.channel === "public:a" && ev.event === "news" && isDeepStrictEqual(ev.data, data) && ev.offset === 1 && ev.epoch === ctx.epoch && isTime(ev.ts),
      `event ${JSON.stringify(ev)}`, ev);
    expect(isDeepStrictEqual(c[0], ev), `carol's event differs: ${JSON.stringify(c[0])}`, c[0]);
    await new Promise((res) => setTimeout(res, 200));
    expect(b.length === 0, `bob (public:b only) got ${JSON.stringify(b)}`, b);
    return { ack: normalize(r), event: normalize(ev) };
  }],
  ["publish again: offsets grow by 1 per channel, the epoch stays", async (ctx) => {
    const { a, b } = ctx.got;
    const second = await http(ctx.url, { token: serviceToken(), body: { channel: "public:a", event: "news", data: 2 } });
    const other = await http(ctx.url, { token: serviceToken(), body: { channel: "public:b", event: "other", data: "x" } });
    expect(second.status === 202 && second.body.offset === 2 && second.body.epoch === ctx.epoch, `second ${JSON.stringify(second.body)}`, second.body);
    expect(other.status === 202 && other.body.offset === 1 && typeof other.body.epoch === "string", `public:b ${JSON.stringify(other.body)}`, other.body);
    expect(await until(() => a.length === 3 && b.length === 1), `alice got ${a.length} of 3, bob ${b.length} of 1`);
    const byChannel = (ch) => a.filter((e) => e.channel === ch).map((e) => [e.offset, e.data]);
    expect(isDeepStrictEqual(byChannel("public:a"), [[1, { text: "hello", n: 1, nested: { list: [1, "two", null] } }], [2, 2]]),
      `alice on public:a ${JSON.stringify(byChannel("public:a"))}`, a);
    expect(isDeepStrictEqual(byChannel("public:b"), [[1, "x"]]) && b[0].event === "other", `public:b ${JSON.stringify(b)}`, b);
    return [second.body.offset, other.body.offset, normalize(b[0])];
  }],
  // Known difference, not counted: Switchyard's epoch is per channel (its history is), the
  // peers' per process.
  ["epochs of two channels (one per process, or one per channel)", async (ctx) => {
    const r = await http(ctx.url, { token: serviceToken(), body: { channel: "public:epochs", event: "e" } });
    expect(r.status === 202 && typeof r.body.epoch === "string", `${r.status} ${JSON.stringify(r.body)}`, r);
    return r.body.epoch === ctx.epoch ? "same epoch for every channel" : "an epoch per channel";
  }, { informational: true }],
  ["publish with a body that is not JSON: 400 invalid_payload", async ({ url }) => {
    const r = await http(url, { token: serviceToken(), raw: "{not json" });
    expect(r.status === 400 && r.body?.error?.code === "invalid_payload", `${r.status} ${JSON.stringify(r.body)}`, r);
    return normalize(r);
  }],
  // Known differences, not counted: outside the subset, the peers check less.
  ["publish without a channel (outside the subset)", async ({ url }) => {
    const r = await http(url, { token: serviceToken(), body: { event: "news" } });
    expect(r.status >= 400 && r.status < 500, `${r.status} ${JSON.stringify(r.body)}`, r);
    return `${r.status} ${r.body?.error?.code}`;
  }, { informational: true }],
  ["subscribe to a channel outside public:* (outside the subset)", async (ctx) => {
    const ack = await call(ctx.bob, "subscribe", { channels: ["secret:x"] });
    expect(ack && typeof ack.ok === "boolean", `ack ${JSON.stringify(ack)}`, ack);
    return normalize(ack);
  }, { informational: true }],
  ["subscribe with channels not a list (outside the subset)", async (ctx) => {
    try {
      const ack = await ctx.bob.timeout(1000).emitWithAck("subscribe", { channels: "public:a" });
      return normalize(ack);
    } catch {
      return "no ack within 1 s";
    }
  }, { informational: true }],
  ["publish without data: data null", async (ctx) => {
    const { b } = ctx.got;
    const r = await http(ctx.url, { token: serviceToken(), body: { channel: "public:b", event: "bare" } });
    expect(r.status === 202 && r.body.offset === 2, `${r.status} ${JSON.stringify(r.body)}`, r);
    expect(await until(() => b.length === 2), `bob got ${b.length} of 2`);
    expect(b[1].data === null, `data ${JSON.stringify(b[1].data)}`, b[1]);
    return normalize(b[1]);
  }],
  ["50 concurrent publishes to one channel: every offset once, delivered in order to 2 subscribers", async (ctx) => {
    const [d1, d2] = await Promise.all([
      connect(ctx.url, { auth: { token: userToken("dave") } }),
      connect(ctx.url, { auth: { token: userToken("erin") } }),
    ]);
    expect(d1.socket && d2.socket, "subscribers refused");
    for (const s of [d1.socket, d2.socket]) await call(s, "subscribe", { channels: ["public:burst"] });
    const g1 = collect(d1.socket);
    const g2 = collect(d2.socket);
    const n = 50;
    const acks = await Promise.all(Array.from({ length: n }, (_, i) =>
      http(ctx.url, { token: serviceToken(), body: { channel: "public:burst", event: "tick", data: i } })));
    expect(acks.every((r) => r.status === 202), `statuses ${acks.map((r) => r.status)}`);
    const offsets = acks.map((r) => r.body.offset).sort((x, y) => x - y);
    expect(isDeepStrictEqual(offsets, Array.from({ length: n }, (_, i) => i + 1)), `acked offsets ${offsets}`, offsets);
    expect(await until(() => g1.length === n && g2.length === n), `got ${g1.length} and ${g2.length} of ${n}`);
    for (const g of [g1, g2]) {
      const seen = g.map((e) => e.offset);
      expect(isDeepStrictEqual(seen, offsets), `delivered out of order: ${seen}`, seen);
      // Each delivery carries the data of the publish that was acked with its offset.
      for (const e of g) {
        const acked = acks.find((r) => r.body.offset === e.offset);
        expect(acked && e.data === acks.indexOf(acked), `offset ${e.offset} carries ${e.data}`);
      }
    }
    return `${n} acked, ${n}+${n} delivered in order`;
  }],
];

// ---- running ------------------------------------------------------------------------

async function runAgainst(label, command, args) {
  const t0 = Date.now();
  process.stderr.write(`== ${label}: starting ${[command, ...args].join(" ")}\n`);
  let server;
  try {
    server = await start(label, command, args);
  } catch (err) {
    process.stderr.write(`${label}: ${err.message}\n${(err.log ?? []).slice(-40).join("\n")}\n`);
    return { label, started: false, results: checks.map(([name]) => ({ name, ok: false, error: "server did not start" })) };
  }
  const startMs = Date.now() - t0;
  const ctx = { url: server.url };
  const results = [];
  const t1 = Date.now();
  for (const [name, check] of checks) {
    try {
      const observed = await check(ctx);
      results.push({ name, ok: true, observed });
    } catch (err) {
      results.push({ name, ok: false, error: err.message, observed: err.observed === undefined ? undefined : normalize(err.observed) });
    }
  }
  const checkMs = Date.now() - t1;
  for (const s of sockets) s.close();
  sockets.clear();
  await new Promise((r) => setTimeout(r, 100));
  await stop(server.child);
  const extraStdout = server.stdoutLines.slice(1);
  if (extraStdout.length) {
    results.push({ name: "stdout has exactly one line", ok: false, error: `also printed ${JSON.stringify(extraStdout.slice(0, 3))}` });
  } else {
    results.push({ name: "stdout has exactly one line", ok: true, observed: "one line" });
  }
  const failed = results.filter((r) => !r.ok);
  if (failed.length) process.stderr.write(`${label}: server log tail:\n${server.log.slice(-30).join("\n")}\n`);
  return { label, started: true, url: server.url, startMs, checkMs, results };
}

function parseArgs(argv) {
  const dash = argv.indexOf("--");
  if (dash >= 0) {
    const [command, ...args] = argv.slice(dash + 1);
    if (!command) throw new Error("no command after --");
    return [{ label: path.basename(command), command, args }];
  }
  const names = argv.length ? argv : ["switchyard", "node", "socketioxide"];
  return names.map((name) => {
    if (!["switchyard", "node", "socketioxide"].includes(name)) throw new Error(`unknown server ${name}`);
    return { label: name, command: path.join(here, "run-peer.sh"), args: [name] };
  });
}

const servers = parseArgs(process.argv.slice(2));
const runs = [];
for (const s of servers) runs.push(await runAgainst(s.label, s.command, s.args));

let passed = 0;
let failed = 0;
for (const run of runs) {
  console.log(`\n${run.label}${run.started ? ` (${run.url}; started in ${run.startMs} ms, checks took ${run.checkMs} ms)` : ""}`);
  for (const r of run.results) {
    if (r.ok) passed++;
    else failed++;
    console.log(`  ${r.ok ? "ok  " : "FAIL"} ${r.name}${r.ok ? "" : `: ${r.error}`}`);
  }
}

// The same answers from every server, once times and epochs are set aside.
if (runs.length > 1 && runs.every((r) => r.started)) {
  console.log("\ncomparison of answers (times and epochs as types):");
  const [first, ...rest] = runs;
  first.results.forEach((r, i) => {
    const same = rest.every((o) => isDeepStrictEqual(o.results[i]?.observed, r.observed));
    if (!same && checks[i]?.[2]?.informational) {
      console.log(`  note ${r.name} (a known difference, not counted)`);
      for (const o of runs) console.log(`       ${o.label}: ${JSON.stringify(o.results[i]?.observed)}`);
    } else if (same) {
      passed++;
      console.log(`  same ${r.name}`);
    } else {
      failed++;
      console.log(`  DIFF ${r.name}`);
      for (const o of runs) console.log(`       ${o.label}: ${JSON.stringify(o.results[i]?.observed)}`);
    }
  });
}

console.log(`\nconformance: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
