// The whole harness, small and fast, against the Node peer with and without socket.io's
// connection-state recovery: node --test bench/jitter/ (starts bench/peers/run-peer.sh node,
// which runs `npm ci` there when needed).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const runPeer = path.join(here, "..", "peers", "run-peer.sh");

/** Starts the Node peer; resolves {url, stop}. */
function startNode(env) {
  return new Promise((resolve, reject) => {
    const child = spawn(runPeer, ["node"], { env: { ...process.env, ...env, PORT: "0" }, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve({ url: m[1], stop: () => child.kill() });
    });
    child.on("exit", (code) => reject(new Error(`node peer exited (${code})`)));
  });
}

/** Runs the harness against `url`; resolves its RESULT. */
function harness(url, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(here, "jitter.mjs"), "--url", url, "--label", "t"], {
      env: {
        ...process.env,
        ...env,
        JITTER_CLIENTS: "5",
        JITTER_DURATION_S: "8",
        JITTER_RATE: "10",
        JITTER_CUT_EVERY_S: "2-3",
        JITTER_CUT_FOR_S: "0.2-0.5",
        JITTER_GRACE_S: "6",
        JITTER_WORKERS: "1",
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk) => (out += chunk));
    child.on("exit", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("RESULT "));
      if (code !== 0 || !line) return reject(new Error(`harness exited (${code}): ${out}`));
      resolve(JSON.parse(line.slice("RESULT ".length)));
    });
  });
}

async function run(recovery) {
  const secret = randomBytes(16).toString("hex");
  const server = await startNode({ BENCH_JWT_SECRET: secret, PEER_CONNECTION_RECOVERY: recovery ? "1" : "0" });
  try {
    return await harness(server.url, { BENCH_JWT_SECRET: secret });
  } finally {
    server.stop();
  }
}

test("cuts, recovery and counting end to end against Node socket.io", { timeout: 120_000 }, async () => {
  const [withRecovery, without] = await Promise.all([run(true), run(false)]);

  assert.equal(withRecovery.clients, 5);
  assert.equal(withRecovery.published, 80);
  assert.ok(withRecovery.cuts >= 10, `cuts: ${withRecovery.cuts}`);
  assert.ok(withRecovery.reconnects > 0);
  assert.equal(withRecovery.recovered, withRecovery.reconnects);
  assert.equal(withRecovery.delivered_pct, 100);
  assert.equal(withRecovery.duplicates, 0);
  assert.equal(withRecovery.out_of_order, 0);
  assert.ok(withRecovery.gaps > 0);
  assert.equal(withRecovery.replays_complete, withRecovery.gaps);
  assert.equal(withRecovery.replays_incomplete, 0);
  assert.equal(typeof withRecovery.replay_ms_p50, "number");

  assert.ok(without.reconnects > 0);
  assert.equal(without.recovered, 0);
  assert.ok(without.lost > 0, `lost: ${without.lost}`);
  assert.ok(without.delivered_pct < 100);
  assert.equal(without.replays_complete, 0);
  assert.equal(without.replays_incomplete, without.gaps);
});
