// The jitter harness's counting and its cutting proxy: node --test bench/jitter/
import assert from "node:assert/strict";
import net from "node:net";
import { once } from "node:events";
import { test } from "node:test";
import { CuttingProxy, clientAddress } from "./proxy.mjs";
import { StreamTracker, Histogram, aggregate, percentile } from "./stats.mjs";

const all = () => true;

test("in order, nothing missed: all delivered, no reconnect", () => {
  const t = new StreamTracker(5);
  t.opened(0, 0, all);
  t.connected(false);
  for (let n = 1; n <= 5; n++) assert.equal(t.received(n, n), false);
  assert.deepEqual(t.summary([1, 2, 3, 4, 5]), {
    expected: 5, delivered: 5, duplicates: 0, outOfOrder: 0, foreign: 0,
    reconnects: 0, recovered: 0, gaps: 0, incomplete: 0,
  });
});

test("a recovered reconnect: replay latency from the open to the last missed number", () => {
  const t = new StreamTracker(10);
  t.opened(0, 0, all);
  t.connected(false);
  t.received(1, 10);
  t.received(2, 20);
  t.disconnected();
  // 3..5 were accepted while it was away; the transport opens again at 1000.
  t.opened(1000, 5, all);
  t.connected(true);
  assert.equal(t.received(3, 1010), true);
  assert.equal(t.received(4, 1020), true);
  assert.equal(t.received(5, 1050), true);
  assert.equal(t.received(6, 1100), false);
  assert.deepEqual(t.replayMs, [50]);
  const s = t.summary([1, 2, 3, 4, 5, 6]);
  assert.equal(s.delivered, 6);
  assert.equal(s.reconnects, 1);
  assert.equal(s.recovered, 1);
  assert.equal(s.gaps, 1);
  assert.equal(s.incomplete, 0);
});

test("a replay before the CONNECT answer (as Node's socket.io sends it) is counted at connect", () => {
  const t = new StreamTracker(10);
  t.opened(0, 0, all);
  t.connected(false);
  t.received(1, 10);
  t.disconnected();
  t.opened(500, 3, all);
  t.received(2, 505);
  t.received(3, 507);
  assert.deepEqual(t.replayMs, []);
  t.connected(true);
  assert.deepEqual(t.replayMs, [7]);
  assert.equal(t.summary([1, 2, 3]).gaps, 1);
});

test("no recovery: the missed numbers are lost and the reconnect incomplete", () => {
  const t = new StreamTracker(10);
  t.opened(0, 0, all);
  t.connected(false);
  t.received(1, 10);
  t.disconnected();
  t.opened(500, 4, all);
  t.connected(false);
  t.received(5, 600);
  t.received(6, 700);
  const s = t.summary([1, 2, 3, 4, 5, 6]);
  assert.equal(s.delivered, 3);
  assert.equal(s.outOfOrder, 0);
  assert.equal(s.incomplete, 1);
  assert.equal(s.recovered, 0);
  assert.deepEqual(t.replayMs, []);
});

test("duplicates, out of order, foreign numbers, unaccepted numbers", () => {
  const t = new StreamTracker(5);
  t.opened(0, 0, all);
  t.connected(false);
  t.received(1, 1);
  t.received(3, 2);
  t.received(2, 3); // below 3: out of order
  t.received(3, 4); // again: duplicate, not out of order
  t.received(9, 5); // outside 1..5
  t.received("x", 6);
  // 4 was not accepted: neither expected nor delivered.
  const s = t.summary([1, 2, 3, 5]);
  assert.equal(s.expected, 4);
  assert.equal(s.delivered, 3);
  assert.equal(s.duplicates, 1);
  assert.equal(s.outOfOrder, 1);
  assert.equal(s.foreign, 2);
});

test("a reconnect misses only accepted numbers after what it had seen", () => {
  const t = new StreamTracker(10);
  t.opened(0, 0, all);
  t.connected(false);
  t.received(1, 1);
  t.disconnected();
  t.opened(100, 4, (n) => n !== 3);
  t.connected(true);
  t.received(2, 110);
  t.received(4, 120);
  assert.deepEqual(t.replayMs, [20]);
});

test("an open without CONNECT is replaced by the next one", () => {
  const t = new StreamTracker(10);
  t.opened(0, 0, all);
  t.connected(false);
  t.received(1, 1);
  t.disconnected();
  t.opened(100, 2, all); // transport up, the CONNECT answer never came
  t.opened(300, 3, all);
  t.connected(true);
  t.received(2, 310);
  t.received(3, 320);
  assert.deepEqual(t.replayMs, [20]);
  const s = t.summary([1, 2, 3]);
  assert.equal(s.incomplete, 0);
  assert.equal(s.gaps, 1);
  assert.equal(s.reconnects, 1);
});

test("percentile, histogram and aggregate", () => {
  assert.equal(percentile([], 0.5), null);
  assert.equal(percentile([3, 1, 2], 0.5), 2);
  assert.equal(percentile([3, 1, 2], 0), 1);
  assert.equal(percentile([3, 1, 2], 1), 3);
  const h = new Histogram(100);
  for (const ms of [1, 2, 2, 3, 250]) h.add(ms);
  assert.equal(h.quantile(0.5), 2);
  assert.equal(h.quantile(1), 100);
  const h2 = new Histogram(100);
  h2.addSparse(h.sparse());
  assert.equal(h2.total, 5);
  assert.equal(h2.quantile(0.8), 3);

  const c = (delivered, extra = {}) => ({
    expected: 10, delivered, duplicates: 0, outOfOrder: 0, foreign: 0,
    reconnects: 1, recovered: 1, gaps: 1, incomplete: 0, ...extra,
  });
  const a = aggregate({
    clients: [c(10), c(5, { duplicates: 2, incomplete: 1 }), c(10, { outOfOrder: 1 })],
    replayMs: [10, 30],
    live: h,
    failedClients: 1,
    published: 10,
    publishFailures: 0,
    cuts: 3,
  });
  assert.equal(a.delivered_pct, 83.333);
  assert.equal(a.delivered_pct_median, 100);
  assert.equal(a.delivered_pct_min, 50);
  assert.equal(a.clients_complete, 2);
  assert.equal(a.lost, 5);
  assert.equal(a.duplicates, 2);
  assert.equal(a.clients_with_duplicates, 1);
  assert.equal(a.out_of_order, 1);
  assert.equal(a.replays_incomplete, 1);
  assert.equal(a.replay_ms_p50, 10);
  assert.equal(a.replay_ms_max, 30);
  assert.equal(a.failed_clients, 1);
});

test("client addresses: one per client, in 127.100.0.0/16", () => {
  const seen = new Set();
  for (let i = 0; i < 62_500; i++) seen.add(clientAddress(i));
  assert.equal(seen.size, 62_500);
  assert.equal(clientAddress(0), "127.100.1.1");
  assert.equal(clientAddress(62_499), "127.100.250.250");
  assert.throws(() => clientAddress(62_500), RangeError);
});

/** Resolves when `s` closes (a reset emits `error` first, which `once` would reject on). */
const closed = (s) => new Promise((resolve) => s.on("close", resolve));

/** Connects to the proxy from `address`; resolves the socket once connected. */
async function dial(port, address) {
  const s = net.connect({ host: "127.0.0.1", port, localAddress: address });
  s.on("error", () => {});
  await once(s, "connect");
  return s;
}

test("the proxy forwards from the client's address, cuts, refuses while cut, then lets it back", async () => {
  const peers = [];
  const echo = net.createServer((s) => {
    peers.push(s.remoteAddress);
    s.on("error", () => {});
    s.pipe(s);
  });
  await new Promise((r) => echo.listen(0, "127.0.0.1", r));
  const proxy = new CuttingProxy({ host: "127.0.0.1", port: echo.address().port });
  const port = await proxy.listen();
  const a = "127.100.1.1";
  const b = "127.100.1.2";
  try {
    const sa = await dial(port, a);
    const sb = await dial(port, b);
    sa.write("ping");
    assert.equal((await once(sa, "data"))[0].toString(), "ping");
    sb.write("pong");
    assert.equal((await once(sb, "data"))[0].toString(), "pong");
    assert.deepEqual(peers.sort(), [a, b]);

    const cutDone = closed(sa);
    proxy.cut(a, 300);
    await cutDone;
    assert.equal(proxy.open(a), 0);
    // b is untouched.
    sb.write("still");
    assert.equal((await once(sb, "data"))[0].toString(), "still");

    // While cut: accepted by the kernel, then reset before anything is forwarded.
    const during = net.connect({ host: "127.0.0.1", port, localAddress: a });
    const errors = [];
    during.on("error", (err) => errors.push(err.code));
    await closed(during);
    assert.deepEqual(errors, ["ECONNRESET"]);
    assert.equal(proxy.refused, 1);

    await new Promise((r) => setTimeout(r, 350));
    const after = await dial(port, a);
    after.write("back");
    assert.equal((await once(after, "data"))[0].toString(), "back");
    after.destroy();
    sb.destroy();
  } finally {
    await proxy.close();
    await new Promise((r) => echo.close(r));
  }
});

test("with several nodes each client has its own, and one that refuses is passed over", async () => {
  // Each node answers every write with its own name and what it got.
  const node = async (name) => {
    const server = net.createServer((s) => {
      s.on("error", () => {});
      s.on("data", (d) => s.write(`${name}:${d}`));
    });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    return server;
  };
  const nodes = [await node("n0"), await node("n1")];
  const proxy = new CuttingProxy(nodes.map((n) => ({ host: "127.0.0.1", port: n.address().port })));
  const port = await proxy.listen();
  const ask = async (address) => {
    const s = net.connect({ host: "127.0.0.1", port, localAddress: address });
    s.on("error", () => {});
    s.write("hi"); // before the proxy has a node: it must wait, not be lost
    const [reply] = await once(s, "data");
    s.destroy();
    return reply.toString();
  };
  try {
    // 127.100.1.1 and .2 are clients 0 and 1: homes n1 and n0 (250 + b, mod 2).
    assert.equal(await ask("127.100.1.1"), "n1:hi");
    assert.equal(await ask("127.100.1.2"), "n0:hi");
    await new Promise((r) => nodes[1].close(r)); // n1 is gone: it refuses
    assert.equal(await ask("127.100.1.1"), "n0:hi");
    assert.equal(proxy.failovers, 1);
  } finally {
    await proxy.close();
    await new Promise((r) => nodes[0].close(r));
  }
});
