#!/usr/bin/env node
// The jitter scenario's client side (issue 21 item 7, after anycable's
// nodejs-websocket-bench): JITTER_CLIENTS unchanged socket.io-client 4.8 clients on one
// channel of `/realtime`, a numbered stream published over HTTP, and every client's TCP
// connection cut at random while it runs. Prints one result line per run:
//
//   node bench/jitter/jitter.mjs --url http://127.0.0.1:PORT [--label NAME]
//   node bench/jitter/jitter.mjs --url http://127.0.0.1:P1,http://127.0.0.1:P2,… \
//     [--kill-pid PID --kill-after-s S]
//
// With several URLs (a cluster's nodes) every client has its own node and the proxy
// passes over one that refuses connections for the next (proxy.mjs); the stream is
// published to the first. `--kill-pid` SIGKILLs that process (a node other than the
// first) S seconds into the stream: its clients reconnect through the proxy to another
// node and must resume there.
//
// then `RESULT {json}`. BENCH_JWT_SECRET must be the server's. bench/scenarios/jitter.sh
// runs it against each server; see that script and BENCHMARKS.md ("Jitter").
//
// How it runs:
// - JITTER_WORKERS child processes (default 1) each hold a share of the clients and a
//   cutting proxy (proxy.mjs) in front of the server. Client i connects from its own
//   loopback address (127.100.a.b) through the proxy, which connects to the server from
//   the same address: the server sees one address per client.
// - The clients are socket.io-client 4.8 with its defaults (reconnection on, its backoff,
//   recovery as the client does it: `pid` kept from CONNECT, the last string argument of
//   each event as offset, both sent in `auth` on reconnect), but for the transports
//   (JITTER_TRANSPORTS, default `websocket`; `polling,websocket` is the client's default)
//   and their source address. On a connect that is not `socket.recovered` a client
//   (re)subscribes to the channel, as an app following socket.io's docs does.
// - Once every client has subscribed once (or JITTER_JOIN_TIMEOUT_S passed), the main
//   process publishes 1..(duration × rate) at JITTER_RATE per second for JITTER_DURATION_S,
//   one request after the other; meanwhile each client is cut every U(JITTER_CUT_EVERY_S)
//   seconds (start to start) for U(JITTER_CUT_FOR_S) seconds: its connections are reset
//   and new ones refused. The first cut comes U(JITTER_FIRST_CUT_AFTER_S (1), max) after
//   the stream starts, so that every client has received an event, hence an offset,
//   before it: socket.io cannot restore a session for a client that has none (it sends
//   `pid` without `offset`), which cuts in the stream's first milliseconds showed. Cuts
//   stop when publishing ends; then JITTER_GRACE_S for the last replays.
// - Cut times come from JITTER_SEED, so every server sees the same schedule.
//
// The stream is pluggable (JITTER_STREAM): `publication` (default) posts
// `POST /api/v1/publish {channel, event: "tick", data: {n, t}}` with a service token and
// follows the `event` event (PROTOCOL.md §3/§6, bench/peers/README.md). Another stream is
// one more entry in STREAMS: how to publish number n, which event carries it, and how to
// read n and its send time from the event's arguments.
//
// Per client: delivered % of the numbers the server accepted (202), duplicates,
// out-of-order (a new number below the highest already seen), reconnects, how many came
// back `recovered`, and for each reconnect that had missed something the replay latency:
// from the reconnect to the last missed number arriving
// (stats.mjs; "reconnect" is the transport being open again, socket.io-client's Manager
// `open`, since a server may replay before its CONNECT answer). Aggregated: totals, median and 1st percentile of delivered %, replay p50,
// p99 and max, and the live latency (send to receipt) p50/p99 of everything received.
import { fork } from "node:child_process";
import { createHmac } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CuttingProxy, clientAddress } from "./proxy.mjs";
import { StreamTracker, Histogram, aggregate } from "./stats.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const nodePeer = path.join(here, "..", "peers", "node");

const env = (name, fallback) => process.env[name] ?? fallback;
const range = (name, fallback) => {
  const [lo, hi = lo] = env(name, fallback).split("-").map(Number);
  if (!(lo >= 0 && hi >= lo)) throw new Error(`${name}: expected A-B seconds`);
  return [lo * 1000, hi * 1000];
};
const config = {
  clients: Number(env("JITTER_CLIENTS", "200")),
  durationMs: Number(env("JITTER_DURATION_S", "60")) * 1000,
  rate: Number(env("JITTER_RATE", "10")),
  cutEvery: range("JITTER_CUT_EVERY_S", "10-20"),
  cutFor: range("JITTER_CUT_FOR_S", "1-3"),
  graceMs: Number(env("JITTER_GRACE_S", "15")) * 1000,
  firstCutAfterMs: Number(env("JITTER_FIRST_CUT_AFTER_S", "1")) * 1000,
  workers: Number(env("JITTER_WORKERS", "1")),
  seed: Number(env("JITTER_SEED", "21")),
  transports: env("JITTER_TRANSPORTS", "websocket").split(","),
  connectRate: Number(env("JITTER_CONNECT_RATE", "500")),
  joinTimeoutMs: Number(env("JITTER_JOIN_TIMEOUT_S", "120")) * 1000,
  stream: env("JITTER_STREAM", "publication"),
  // How many of the clients that lost most, and of those that got a number twice, to
  // print a timeline of (stderr, `TRACE {json}`).
  trace: Number(env("JITTER_TRACE", "3")),
  channel: env("JITTER_CHANNEL", "public:jitter"),
  secret: process.env.BENCH_JWT_SECRET,
};
config.capacity = Math.ceil((config.durationMs / 1000) * config.rate);

// ---- tokens -----------------------------------------------------------------------------

const b64url = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
function sign(claims) {
  const head = `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url(claims)}`;
  return `${head}.${createHmac("sha256", config.secret).update(head).digest("base64url")}`;
}
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600 * 4;

// ---- streams ----------------------------------------------------------------------------

const STREAMS = {
  publication: {
    event: "event",
    /** Posts number n; resolves true when the server accepted it. */
    async publish(url, token, channel, n) {
      const res = await fetch(`${url}/api/v1/publish`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ channel, event: "tick", data: { n, t: Date.now() } }),
      });
      await res.arrayBuffer();
      return res.status === 202;
    },
    /** [n, sentAt] of an event's arguments, or null when it is not the stream's. */
    read(args, channel) {
      const p = args[0];
      if (p?.channel !== channel || p?.event !== "tick") return null;
      return [p.data?.n, p.data?.t];
    },
  },
};

// ---- worker: clients and their proxy ------------------------------------------------------

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const between = (random, [lo, hi]) => lo + random() * (hi - lo);

/** The `count` timelines of the clients that lost most, and as many that got duplicates. */
function worstOf(traces, count) {
  const lossy = traces.filter((t) => t.lost.length > 0).sort((a, b) => a.delivered - b.delivered);
  const repeated = traces.filter((t) => t.duplicated.length > 0);
  return [...new Set([...lossy.slice(0, count), ...repeated.slice(0, count)])];
}

/** The accepted numbers (ascending) a client never saw, as [first, last] runs. */
function lostRanges(accepted, seen) {
  const runs = [];
  let run = null;
  for (const n of accepted) {
    if (seen[n]) {
      run = null;
    } else if (run) {
      run[1] = n;
    } else {
      run = [n, n];
      runs.push(run);
    }
  }
  return runs;
}

async function worker() {
  const { io } = createRequire(path.join(nodePeer, "package.json"))("socket.io-client");
  const { urls, first, count } = JSON.parse(process.argv[3]);
  const stream = STREAMS[config.stream];
  const proxy = new CuttingProxy(
    urls.map((url) => {
      const target = new URL(url);
      return { host: target.hostname, port: Number(target.port) };
    }),
  );
  const proxyUrl = `http://127.0.0.1:${await proxy.listen()}`;
  const send = (m) => process.send(m);

  const accepted = new Uint8Array(config.capacity + 1);
  let lastAccepted = 0;
  const live = new Histogram();
  const clients = [];
  let joined = 0;
  let failed = 0;
  let cutting = false;
  let cuts = 0;
  let streamStart = 0;

  for (let k = 0; k < count; k++) {
    const i = first + k;
    const address = clientAddress(i);
    const tracker = new StreamTracker(config.capacity);
    const client = { i, address, tracker, joined: false, socket: null, timer: null, trace: [] };
    // What the client saw, for the timeline of a client that lost numbers: [ms since the
    // stream started (negative before), what, details…].
    const note = (...what) => client.trace.push([Date.now() - (streamStart || Date.now()), ...what]);
    client.note = note;
    clients.push(client);
    // Spread the connects at JITTER_CONNECT_RATE over all workers.
    const delay = (i * 1000) / config.connectRate;
    setTimeout(() => {
      const socket = io(`${proxyUrl}/realtime`, {
        auth: { token: sign({ sub: `jitter-${i}`, exp: inAnHour() }) },
        transports: config.transports,
        localAddress: address,
        agent: new http.Agent({ keepAlive: true, localAddress: address }),
        forceNew: true,
      });
      client.socket = socket;
      socket.io.on("open", () => {
        note("open", lastAccepted);
        tracker.opened(Date.now(), lastAccepted, (n) => accepted[n] === 1);
      });
      socket.on("connect_error", (err) => note("connect_error", err.message));
      // A session the server restored keeps its rooms, so a recovered client subscribes
      // only when its last subscribe was never acknowledged: one cut on the wire, before
      // the server read it, left the restored session without the channel, and the
      // client deaf to the stream for good (as an app that trusts `recovered` blindly).
      let subscribed = false;
      const subscribe = () => {
        note("subscribe");
        socket.timeout(30_000).emit("subscribe", { channels: [config.channel] }, (err, ack) => {
          note("subscribed", err ? err.message : JSON.stringify(ack));
          if (err || !ack?.ok || !ack.subscribed?.includes(config.channel)) return;
          subscribed = true;
          if (!client.joined) {
            client.joined = true;
            joined += 1;
          }
        });
      };
      socket.on("connect", () => {
        // _pid and _lastOffset: socket.io-client's own recovery state (private fields).
        note("connect", socket.recovered, socket.id, socket._pid, socket._lastOffset);
        tracker.connected(socket.recovered);
        if (!socket.recovered) subscribed = false;
        if (!subscribed) subscribe();
      });
      socket.on("disconnect", (reason) => {
        note("disconnect", reason, tracker.maxSeen);
        tracker.disconnected();
      });
      socket.on(stream.event, (...args) => {
        const now = Date.now();
        const got = stream.read(args, config.channel);
        if (!got) return;
        // The live latency counts only what no reconnect had missed.
        if (!tracker.received(got[0], now) && typeof got[1] === "number") live.add(now - got[1]);
      });
    }, delay);
  }

  // Ready once every client joined or the join timeout passed.
  const began = Date.now();
  const lastConnect = ((first + count) * 1000) / config.connectRate;
  await new Promise((resolve) => {
    const check = setInterval(() => {
      if (joined === count || Date.now() - began > lastConnect + config.joinTimeoutMs) {
        clearInterval(check);
        resolve();
      }
    }, 100);
  });
  failed = count - joined;
  send({ type: "ready", joined, failed });

  const schedule = (client, random, at) => {
    client.timer = setTimeout(() => {
      if (!cutting) return;
      cuts += 1;
      const start = Date.now();
      const cutFor = between(random, config.cutFor);
      client.note("cut", Math.round(cutFor));
      proxy.cut(client.address, cutFor);
      schedule(client, random, start + between(random, config.cutEvery));
    }, Math.max(0, at - Date.now()));
  };

  const cpuBefore = process.cpuUsage();
  let cpuStream = null; // the CPU time used while the stream ran
  let streamMs = 0;
  process.on("message", (m) => {
    if (m.type === "start") {
      cutting = true;
      streamStart = Date.now();
      for (const client of clients) {
        if (!client.joined) continue;
        const random = mulberry32(config.seed * 1_000_003 + client.i);
        const after = Math.min(config.firstCutAfterMs, config.cutEvery[1]);
        schedule(client, random, streamStart + after + random() * (config.cutEvery[1] - after));
      }
    } else if (m.type === "accepted") {
      accepted[m.n] = 1;
      if (m.n > lastAccepted) lastAccepted = m.n;
    } else if (m.type === "stop-cuts") {
      cutting = false;
      cpuStream = process.cpuUsage(cpuBefore);
      streamMs = Date.now() - streamStart;
      for (const client of clients) clearTimeout(client.timer);
    } else if (m.type === "finish") {
      const list = [];
      for (let n = 1; n <= config.capacity; n++) if (accepted[n]) list.push(n);
      const summaries = [];
      const replayMs = [];
      const traces = [];
      for (const client of clients) {
        client.socket?.disconnect();
        if (!client.joined) continue;
        const summary = client.tracker.summary(list);
        summaries.push(summary);
        replayMs.push(...client.tracker.replayMs);
        if (summary.delivered < summary.expected || summary.duplicates > 0) {
          const lost = lostRanges(list, client.tracker.seen);
          const duplicated = client.tracker.duplicated;
          traces.push({ client: client.i, delivered: summary.delivered, lost, duplicated, trace: client.trace });
        }
      }
      send({
        type: "result",
        summaries,
        replayMs,
        live: live.sparse(),
        cuts,
        refused: proxy.refused,
        failovers: proxy.failovers,
        cpuShare: cpuStream ? (cpuStream.user + cpuStream.system) / 1000 / streamMs : 0,
        traces: worstOf(traces, config.trace),
      });
      proxy.close().finally(() => setTimeout(() => process.exit(0), 200));
    }
  });
}

// ---- main: workers, publisher, aggregate -----------------------------------------------

async function main() {
  const args = process.argv.slice(2);
  const opt = (name) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const urls = (opt("--url") ?? "").split(",");
  const url = urls[0];
  const label = opt("--label") ?? "server";
  const killPid = opt("--kill-pid") ? Number(opt("--kill-pid")) : null;
  const killAfterMs = Number(opt("--kill-after-s") ?? "0") * 1000;
  // Loopback only: the harness opens many connections and cuts them.
  const loopback = (u) => /^http:\/\/127\.\d+\.\d+\.\d+:\d+$/.test(u);
  if (!urls.every(loopback) || !config.secret || !STREAMS[config.stream] || (killPid !== null && !(killPid > 1))) {
    console.error("usage: BENCH_JWT_SECRET=… node bench/jitter/jitter.mjs --url http://127.0.0.1:PORT [--label NAME]");
    console.error(`streams: ${Object.keys(STREAMS).join(", ")}`);
    process.exit(2);
  }
  if (!existsSync(path.join(nodePeer, "node_modules", "socket.io-client"))) {
    console.error("installing bench/peers/node (npm ci) for socket.io-client");
    execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: nodePeer, stdio: ["ignore", 2, 2] });
  }
  const stream = STREAMS[config.stream];

  const workers = [];
  const per = Math.ceil(config.clients / config.workers);
  for (let w = 0; w < config.workers; w++) {
    const first = w * per;
    const count = Math.min(per, config.clients - first);
    if (count <= 0) break;
    const child = fork(fileURLToPath(import.meta.url), ["worker", JSON.stringify({ urls, first, count })], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const messages = [];
    const waiters = [];
    child.on("message", (m) => {
      const i = waiters.findIndex((w) => w.type === m.type);
      if (i >= 0) waiters.splice(i, 1)[0].resolve(m);
      else messages.push(m);
    });
    const next = (type) =>
      new Promise((resolve, reject) => {
        const i = messages.findIndex((m) => m.type === type);
        if (i >= 0) return resolve(messages.splice(i, 1)[0]);
        waiters.push({ type, resolve });
        child.once("exit", (code) => reject(new Error(`worker ${w} exited (${code}) before ${type}`)));
      });
    workers.push({ child, next });
  }
  const broadcast = (m) => workers.forEach((w) => w.child.connected && w.child.send(m));

  const joinStart = Date.now();
  const ready = await Promise.all(workers.map((w) => w.next("ready")));
  const joinMs = Date.now() - joinStart;
  const failedClients = ready.reduce((a, r) => a + r.failed, 0);
  // Progress on stderr, so that a run cut short by its deadline still says how far it got.
  console.error(`jitter: ${label}: ${config.clients - failedClients} of ${config.clients} joined in ${joinMs} ms`);

  // The stream: n at start + (n - 1) / rate, one request after the other.
  const token = sign({ sub: "jitter-publisher", exp: inAnHour(), roles: ["service"] });
  broadcast({ type: "start" });
  const start = Date.now();
  let killedAtMs = null;
  if (killPid !== null) {
    setTimeout(() => {
      try {
        process.kill(killPid, "SIGKILL");
        killedAtMs = Date.now() - start;
      } catch (err) {
        console.error(`jitter: could not kill ${killPid}: ${err.message}`);
      }
    }, killAfterMs);
  }
  let published = 0;
  let publishFailures = 0;
  for (let n = 1; n <= config.capacity; n++) {
    const due = start + ((n - 1) * 1000) / config.rate;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    let ok = false;
    try {
      ok = await stream.publish(url, token, config.channel, n);
    } catch {
      ok = false;
    }
    if (ok) {
      published += 1;
      broadcast({ type: "accepted", n });
    } else {
      publishFailures += 1;
    }
  }
  const publishMs = Date.now() - start;
  console.error(`jitter: ${label}: ${published} published (${publishFailures} refused) in ${publishMs} ms`);
  broadcast({ type: "stop-cuts" });
  await new Promise((r) => setTimeout(r, config.graceMs));
  broadcast({ type: "finish" });
  const results = await Promise.all(workers.map((w) => w.next("result")));

  const live = new Histogram();
  for (const r of results) live.addSparse(r.live);
  for (const t of worstOf(results.flatMap((r) => r.traces), config.trace)) {
    console.error(`TRACE ${JSON.stringify(t)}`);
  }
  const summary = aggregate({
    clients: results.flatMap((r) => r.summaries),
    replayMs: results.flatMap((r) => r.replayMs),
    live,
    failedClients,
    published,
    publishFailures,
    cuts: results.reduce((a, r) => a + r.cuts, 0),
  });
  const result = {
    label,
    stream: config.stream,
    config: {
      clients: config.clients,
      duration_s: config.durationMs / 1000,
      rate: config.rate,
      cut_every_s: config.cutEvery.map((v) => v / 1000),
      cut_for_s: config.cutFor.map((v) => v / 1000),
      grace_s: config.graceMs / 1000,
      transports: config.transports,
      workers: workers.length,
      seed: config.seed,
    },
    join_ms: joinMs,
    publish_ms: publishMs,
    refused: results.reduce((a, r) => a + r.refused, 0),
    nodes: urls.length,
    failovers: results.reduce((a, r) => a + r.failovers, 0),
    killed_at_s: killedAtMs === null ? null : killedAtMs / 1000,
    harness_cpu_share: results.map((r) => Number(r.cpuShare.toFixed(2))),
    ...summary,
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
}

if (process.argv[2] === "worker") {
  worker().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
