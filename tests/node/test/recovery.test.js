// Connection-state recovery (issue 21, PROTOCOL.md §1) with the real socket.io-client 4.8
// and its default options (reconnection on, its delays shortened for test time; polling
// upgraded to WebSocket, and long-polling only as a variant): a client whose TCP
// connections are cut mid-stream, or whose node is SIGKILLed (two nodes on Redis and
// PostgreSQL), reconnects by itself with its `pid` and last offset and gets the same socket
// id and every room emit it missed once, in order, before live ones. An expired session
// connects as new and resyncs the app's own way; with recovery off
// (`SWITCHYARD_CONNECTION_RECOVERY=false`) nothing changes for clients.
//
// The streams are room emits without an ack request, which recovery covers: on /ws
// `message:updated` and `message:new` to the sender's other sockets, on /realtime
// `draft:updated` and `presence` to watchers, on /notifications `notification:read`.
// socket.io-client hands a handler the offset as an extra last argument; the assertions
// are on the payloads, and on that argument being there (a string) only with recovery on.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, describe, test } from 'node:test';

import { io } from 'socket.io-client';

import {
  QUIET_MS,
  WAIT_MS,
  connect,
  eventually,
  mintToken,
  request,
  sleep,
  startServer,
  uniqueUser,
} from '../lib/helpers.js';

const T = { timeout: 60_000 };
/**
 * Recovery on. The streams below are dense (three sources, each as fast as its acks) so
 * that packets are in flight around every reconnect; a session that missed more than
 * `recovery_max_packets` (1,000 by default) is not resumed, by design, so the bound is
 * raised above what an outage of a second can produce.
 */
const ON = { SWITCHYARD_CONNECTION_RECOVERY: 'true', SWITCHYARD_RECOVERY_MAX_PACKETS: '20000' };
/**
 * Sources of one kind whose streams run at once to the one client: more packets in flight
 * around the reconnect, where the replay meets what is sent to the restored socket.
 */
const SOURCES = 3;
/** Events the client must have had live before its connections are cut. */
const BEFORE_CUT = 10;
/** Events emitted after the client is back, so that the replay meets live ones. */
const AFTER_BACK = 10;
/**
 * A bound on a stream's length; a stream runs until the client is back, and ends early
 * only when its source socket is closed after a failed test.
 */
const MAX_EVENTS = 5_000;

/**
 * A TCP proxy to 127.0.0.1:`port` that can cut every connection through it, refuse new
 * ones for a while (`down` / `up`), and be pointed at another port (`retarget`).
 */
async function switchingProxy(port) {
  let target = port;
  let refusing = false;
  const open = new Set();
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(target, '127.0.0.1');
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ]) {
      a.pipe(b);
      a.on('error', () => b.destroy());
      a.on('close', () => b.destroy());
      open.add(a);
      a.on('close', () => open.delete(a));
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    /** Destroys every connection, both sides. */
    cut() {
      for (const s of open) s.destroy();
    },
    /** Cuts every connection and refuses new ones until `up`. */
    down() {
      refusing = true;
      this.cut();
    },
    up() {
      refusing = false;
    },
    retarget(newPort) {
      target = newPort;
    },
    close() {
      this.down();
      server.close();
    },
  };
}

/** `#12` → 12; anything else → undefined. */
function numbered(text) {
  const match = /^#(\d+)$/.exec(text ?? '');
  return match ? Number(match[1]) : undefined;
}

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/**
 * The client under test: socket.io-client 4.8 with its defaults (reconnection on), the
 * token in `auth`; only its reconnection delays are shortened. `forceNew` only keeps the
 * client's Manager cache from handing one test another test's connection.
 * Records every `event` whose payload the `numberOf` of one of `streams` numbers (which
 * stream, the number, all the arguments) and every connect (id, recovered, time) and
 * disconnect.
 */
function recoveringClient(base, token, streams, options = {}) {
  const [{ ns, event, onCreate }] = streams;
  const socket = io(base + ns, {
    auth: { token },
    forceNew: true,
    reconnectionDelay: 100,
    reconnectionDelayMax: 300,
    ...options,
  });
  const seen = [];
  const connects = [];
  const disconnects = [];
  socket.on(event, (...args) => {
    streams.forEach(({ numberOf }, stream) => {
      const n = numberOf(args[0]);
      if (n !== undefined) seen.push({ stream, n, args, at: Date.now() });
    });
  });
  socket.on('connect', () => connects.push({ id: socket.id, recovered: socket.recovered, at: Date.now() }));
  socket.on('disconnect', (reason) => disconnects.push({ reason, at: Date.now() }));
  onCreate?.(socket);
  return { socket, seen, connects, disconnects };
}

/** Waits until `client` has connected `count` times in all. */
function connectedTimes(client, count, timeoutMs = WAIT_MS) {
  return eventually(() => assert.ok(client.connects.length >= count, `${client.connects.length} connects of ${count}`), {
    timeoutMs,
  });
}

/**
 * Emits 1, 2, 3… with `emit` (each awaited, `intervalMs` apart) until `stopAt` (settable
 * while it runs). Keeps when each emit was acknowledged.
 */
function startStream(emit, { intervalMs = 0 } = {}) {
  const stream = { emitted: 0, stopAt: MAX_EVENTS, ackedAt: [] };
  stream.done = (async () => {
    while (stream.emitted < stream.stopAt) {
      const n = stream.emitted + 1;
      await emit(n);
      stream.emitted = n;
      stream.ackedAt[n] = Date.now();
      await sleep(intervalMs);
    }
  })();
  // Awaited by the test; a failure meanwhile is not an unhandled rejection.
  stream.done.catch(() => {});
  return stream;
}

/** Asserts the ack of a client → server event was `{ok: true, …}` and returns it. */
async function ok(socket, event, payload) {
  const ack = await request(socket, event, payload);
  assert.equal(ack?.ok, true, `${event} ${JSON.stringify(payload)}: ${JSON.stringify(ack)}`);
  return ack;
}

// ---------------------------------------------------------------------------------------
// Streams: each makes a source of numbered covered events for the client under test.
// `node` is where the source connects: `{url, token(sub)}`.

/** /ws `message:updated`: alice edits one message to `#n`; `bob` is the client. */
async function messageEdits(node, bob) {
  const alice = uniqueUser('alice');
  const source = await connect(node.url, '/ws', { token: node.token(alice) });
  const { conversation } = await ok(source, 'conversation:create', { participantIds: [bob] });
  const { message } = await ok(source, 'message:send', {
    conversationId: conversation.id,
    clientMsgId: 'stream',
    content: '#0',
  });
  return {
    ns: '/ws',
    event: 'message:updated',
    numberOf: (d) => (d?.message?.id === message.id ? numbered(d.message.content) : undefined),
    emit: (n) => ok(source, 'message:edit', { messageId: message.id, content: `#${n}` }),
    sources: [source],
  };
}

/**
 * /ws `message:updated` as in {@link messageEdits}, in a conversation created once the
 * client is connected: its socket joins the conversation's room while connected.
 */
async function editsInANewConversation(node, bob) {
  const alice = uniqueUser('alice');
  const source = await connect(node.url, '/ws', { token: node.token(alice) });
  let messageId;
  return {
    ns: '/ws',
    event: 'message:updated',
    numberOf: (d) => (messageId && d?.message?.id === messageId ? numbered(d.message.content) : undefined),
    afterConnect: async (socket) => {
      const { conversation } = await ok(source, 'conversation:create', { participantIds: [bob] });
      // Bob's socket is in the conversation's room once it is told of its first message.
      const told = new Promise((resolve) => {
        const seen = (data, ack) => {
          if (data?.message?.conversationId !== conversation.id) return;
          ack?.({});
          socket.off('message:new', seen);
          resolve();
        };
        socket.on('message:new', seen);
      });
      const { message } = await ok(source, 'message:send', {
        conversationId: conversation.id,
        clientMsgId: 'stream',
        content: '#0',
      });
      messageId = message.id;
      await told;
    },
    emit: (n) => ok(source, 'message:edit', { messageId, content: `#${n}` }),
    sources: [source],
  };
}

/** /ws `message:new` to the sender's other sockets: `alice`'s other socket sends `#n`. */
async function ownMessages(node, alice) {
  const source = await connect(node.url, '/ws', { token: node.token(alice) });
  const { conversation } = await ok(source, 'conversation:create', { participantIds: [uniqueUser('offline')] });
  return {
    ns: '/ws',
    event: 'message:new',
    numberOf: (d) => (d?.message?.conversationId === conversation.id ? numbered(d.message.content) : undefined),
    // A clientMsgId is the sender's across its conversations.
    emit: (n) =>
      ok(source, 'message:send', { conversationId: conversation.id, clientMsgId: `${conversation.id}-${n}`, content: `#${n}` }),
    sources: [source],
  };
}

/** /realtime `draft:updated`: the user's other socket saves a draft as `#n`. */
async function draftUpdates(node, user) {
  const draftId = `d-${randomBytes(4).toString('hex')}`;
  const source = await connect(node.url, '/realtime', { token: node.token(user) });
  let version = 0;
  return {
    ns: '/realtime',
    event: 'draft:updated',
    numberOf: (d) => (d?.draftId === draftId ? numbered(d.content) : undefined),
    emit: async (n) => {
      ({ version } = await ok(source, 'draft:sync', { draftId, baseVersion: version, content: `#${n}` }));
    },
    sources: [source],
  };
}

/**
 * /realtime `presence` to watchers: a watched user sets its status message to `#n`.
 * Presence is told from a task of its own per change (RealtimeSink::emit), so two changes
 * made quickly one after the other can reach the log, and every watcher, in either order,
 * with recovery or without: the stream is `unordered`, and what is asserted is that the
 * client gets each once, in the log's order (offsets).
 */
async function presenceChanges(node) {
  const watched = uniqueUser('watched');
  const source = await connect(node.url, '/realtime', { token: node.token(watched) });
  return {
    ns: '/realtime',
    event: 'presence',
    unordered: true,
    numberOf: (d) => (d?.userId === watched ? numbered(d.message) : undefined),
    afterConnect: (socket) => ok(socket, 'presence:watch', { userIds: [watched] }),
    emit: (n) => ok(source, 'presence:set', { status: 'online', message: `#${n}` }),
    sources: [source],
  };
}

/**
 * /notifications `notification:read`: a notification for the user is posted, then read
 * by the user's other socket. The `notification` itself goes with an ack request, on its
 * own durable path: the client acks it and it is not part of the stream.
 */
async function notificationReads(node, user) {
  const source = await connect(node.url, '/notifications', { token: node.token(user) });
  source.on('notification', (_n, ack) => ack?.({}));
  const ids = [];
  return {
    ns: '/notifications',
    event: 'notification:read',
    numberOf: (d) => (Array.isArray(d?.ids) && ids.includes(d.ids[0]) ? ids.indexOf(d.ids[0]) + 1 : undefined),
    onCreate: (socket) => socket.on('notification', (_n, ack) => ack?.({})),
    emit: async (n) => {
      // Posting asks every node whether the user has a socket: one in flight when a node
      // is killed waits adapter_request_timeout_ms (10 s) for its answer.
      const res = await node.call('POST', '/api/v1/notifications', {
        timeoutMs: 15_000,
        token: node.serviceToken(),
        body: { userIds: [user], type: 'test.event', title: `#${n}`, body: 'b' },
      });
      assert.equal(res.status, 202, res.text);
      ids[n - 1] = res.json.ids[0];
      await ok(source, 'notification:read', { ids: [ids[n - 1]] });
    },
    sources: [source],
  };
}

// ---------------------------------------------------------------------------------------

/**
 * SOURCES streams made by `setup` on `node` go to one client, which connects through a
 * proxy to `port` and has BEFORE_CUT events live; then `outage(proxy, client)` runs while
 * the streams go on; they stop AFTER_BACK events after the client is back. Resolves with
 * what the client saw and what each stream emitted. `options` go to the client.
 */
async function throughOutage(node, port, setup, outage, options) {
  const user = uniqueUser('client');
  const streams = [];
  for (let i = 0; i < SOURCES; i += 1) streams.push(await setup(node, user));
  const proxy = await switchingProxy(port);
  const client = recoveringClient(proxy.url, node.token(user), streams, options);
  try {
    await connectedTimes(client, 1);
    for (const stream of streams) await stream.afterConnect?.(client.socket);
    const sources = streams.map((stream) => startStream(stream.emit));
    await eventually(() => assert.ok(client.seen.length >= BEFORE_CUT, `${client.seen.length} seen`));
    await outage(proxy, client);
    await connectedTimes(client, 2, 3 * WAIT_MS);
    for (const source of sources) source.stopAt = source.emitted + AFTER_BACK;
    await Promise.all(sources.map((source) => source.done));
    const total = sources.reduce((sum, source) => sum + source.emitted, 0);
    const missing = () =>
      sources.map((source, i) => {
        const got = new Set(client.seen.filter((e) => e.stream === i).map((e) => e.n));
        return range(1, source.emitted).filter((n) => !got.has(n));
      });
    const timeline = () => {
      const t0 = client.disconnects[0]?.at ?? 0;
      return JSON.stringify({
        connects: client.connects.map((c) => ({ ...c, at: c.at - t0 })),
        missing: missing(),
        ackedAt: sources.map((source) => missing()[sources.indexOf(source)].map((n) => [n, source.ackedAt[n] - t0])),
        transport: client.socket.io.engine?.transport?.name,
      });
    };
    await eventually(() => assert.ok(client.seen.length >= total, `${client.seen.length} of ${total} events seen: ${timeline()}`));
    await sleep(QUIET_MS);
    return { client, streams, sources };
  } finally {
    client.socket.close();
    for (const stream of streams) for (const s of stream.sources) s.close();
    proxy.close();
  }
}

/**
 * Waits until the client is on its final transport (WebSocket unless it is limited to
 * long-polling): a cut in the middle of its upgrade can leave socket.io-client waiting
 * for its ping timeout before it notices.
 */
function upgraded(client) {
  const transports = client.socket.io.opts.transports ?? ['polling', 'websocket'];
  const final = transports.includes('websocket') ? 'websocket' : 'polling';
  return eventually(() => assert.equal(client.socket.io.engine?.transport?.name, final));
}

/** Cuts every connection, refuses new ones for `ms` after the client noticed, then lets it in. */
const cutFor = (ms) => async (proxy, client) => {
  await upgraded(client);
  proxy.down();
  await eventually(() => assert.ok(client.disconnects.length >= 1, 'the client noticed the cut'));
  await sleep(ms);
  proxy.up();
};

/** `12` or `1733400000000-3` (a Redis stream id) as a pair that sorts in log order. */
function offsetKey(offset) {
  const [ms, seq = '0'] = offset.split('-');
  return [Number(ms), Number(seq)];
}

const before = (a, b) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);

/**
 * The client recovered: same id, recovered; every stream's events once, in order, with
 * an offset last; all offsets increasing as they came (nothing twice, the log's order).
 */
function assertRecovered({ client, streams, sources }) {
  const [first, second] = client.connects;
  assert.equal(client.connects.length, 2, JSON.stringify(client.connects));
  assert.ok(!first.recovered, 'the first connect is a new session');
  assert.equal(second.recovered, true, 'the reconnect recovered the session');
  assert.equal(second.id, first.id, 'the same socket id');
  assert.equal(client.socket.recovered, true);
  sources.forEach((source, i) => {
    const numbers = client.seen.filter((s) => s.stream === i).map((s) => s.n);
    if (streams[i].unordered) numbers.sort((a, b) => a - b);
    assert.deepEqual(numbers, range(1, source.emitted), `stream ${i}: every event once, in order`);
  });
  for (const { args } of client.seen) {
    assert.equal(args.length, 2, `payload and offset: ${JSON.stringify(args)}`);
    assert.equal(typeof args[1], 'string', `an offset last: ${JSON.stringify(args)}`);
  }
  const offsets = client.seen.map((s) => s.args[1]);
  offsets.slice(1).forEach((offset, i) => {
    assert.ok(before(offsetKey(offsets[i]), offsetKey(offset)), `offsets increase: ${offsets[i]} then ${offset}`);
  });
  // The streams went on while the client was away, and after it was back.
  const away = client.disconnects[0].at;
  const back = second.at;
  const during = sources.flatMap((source) => source.ackedAt.filter((at) => at > away && at < back)).length;
  assert.ok(during > 0, 'events were emitted while the client was away');
  assert.ok(client.seen.at(-1).at > back, 'events came after the reconnect too');
}

const STREAMS = [
  ['/ws message:updated (another user edits)', messageEdits],
  ['/ws message:updated in a conversation created while connected', editsInANewConversation],
  ['/ws message:new to the sender’s other socket', ownMessages],
  ['/realtime draft:updated', draftUpdates],
  ['/realtime presence to a watcher', presenceChanges],
  ['/notifications notification:read', notificationReads],
];

/**
 * Known gap, not papered over: a room a socket joins after its connect (a conversation
 * created meanwhile, a `presence:watch`) reaches its saved session only at the next
 * refresh (every min(30 s, TTL / 2)) or when the server sees the socket disconnect. A
 * client that comes back before that, its node killed, or its old connection not yet
 * noticed dead (a long-polling client cut off, or a half-open TCP connection, until the
 * ping timeout), resumes a session that lacks the room, and the replay leaves out what was
 * sent to it while the client is told `recovered`. On /ws the conversation's room is
 * joined again at connect from the database, so only the replay misses; a watch room is
 * not, so the recovered watcher (which has no reason to watch again) misses live presence
 * too.
 */
describe('recovery: TCP cut mid-stream', { timeout: 300_000 }, () => {
  let server;
  after(() => server?.stop());

  for (const [label, setup] of STREAMS) {
    test(`${label}: recovered, same id, every missed event once and in order`, T, async () => {
      server ??= await startServer(ON);
      const seen = await throughOutage(server, server.port, setup, cutFor(500));
      assertRecovered(seen);
    });
  }
});

// Long-polling only (as behind a proxy without WebSocket): the server does not see a cut
// poll as a disconnect; the client is back before its old connection times out, and the
// restored socket replaces it.
describe('recovery: TCP cut mid-stream, long-polling only', { timeout: 300_000 }, () => {
  let server;
  after(() => server?.stop());

  for (const [label, setup] of STREAMS) {
    test(`${label}: recovered, same id, every missed event once and in order`, T, async () => {
      server ??= await startServer(ON);
      const seen = await throughOutage(server, server.port, setup, cutFor(500), { transports: ['polling'] });
      assertRecovered(seen);
    });
  }
});

describe('recovery: a session with nothing received yet', { timeout: 60_000 }, () => {
  let server;
  after(() => server?.stop());

  test('on a namespace nothing was ever logged on, a cut client recovers', T, async () => {
    // A fresh server: /notifications has logged nothing, and the client gets no offset
    // before the cut, so it resumes from its session's start.
    server = await startServer(ON);
    const proxy = await switchingProxy(server.port);
    const client = recoveringClient(proxy.url, server.token(uniqueUser('quiet')), [
      { ns: '/notifications', event: 'notification:read', numberOf: () => undefined },
    ]);
    try {
      await connectedTimes(client, 1);
      await cutFor(200)(proxy, client);
      await connectedTimes(client, 2, 3 * WAIT_MS);
      const [first, second] = client.connects;
      assert.equal(second.recovered, true, JSON.stringify(client.connects));
      assert.equal(second.id, first.id);
    } finally {
      client.socket.close();
      proxy.close();
    }
  });
});

describe('recovery off', { timeout: 120_000 }, () => {
  let server;
  after(() => server?.stop());

  test('a cut client reconnects as new: no pid, no offset argument, missed events stay missed', T, async () => {
    server = await startServer({ SWITCHYARD_CONNECTION_RECOVERY: 'false' });
    const bob = uniqueUser('bob');
    const stream = await messageEdits(server, bob);
    const proxy = await switchingProxy(server.port);
    const client = recoveringClient(proxy.url, server.token(bob), [stream]);
    try {
      await connectedTimes(client, 1);
      for (const n of range(1, 5)) await stream.emit(n);
      await eventually(() => assert.equal(client.seen.length, 5));
      await upgraded(client);
      proxy.down();
      await eventually(() => assert.equal(client.disconnects.length, 1));
      for (const n of range(6, 10)) await stream.emit(n);
      proxy.up();
      await connectedTimes(client, 2, 3 * WAIT_MS);
      for (const n of range(11, 15)) await stream.emit(n);
      await eventually(() => assert.ok(client.seen.some((s) => s.n === 15)));
      await sleep(QUIET_MS);
      const [first, second] = client.connects;
      assert.ok(!first.recovered && !second.recovered, JSON.stringify(client.connects));
      assert.notEqual(second.id, first.id, 'a new socket');
      assert.equal(client.socket._pid, undefined, 'no pid in the CONNECT answer');
      assert.deepEqual(
        client.seen.map((s) => s.n),
        [...range(1, 5), ...range(11, 15)],
      );
      for (const { args } of client.seen) assert.equal(args.length, 1, `no offset: ${JSON.stringify(args)}`);
    } finally {
      client.socket.close();
      for (const s of stream.sources) s.close();
      proxy.close();
    }
  });
});

describe('recovery: expired session', { timeout: 120_000 }, () => {
  let server;
  after(() => server?.stop());

  test('within the session TTL the client recovers; away longer it starts anew and message:sync gives what it missed', T, async () => {
    const TTL_SECS = 1;
    server = await startServer({ ...ON, SWITCHYARD_RECOVERY_SESSION_TTL_SECS: String(TTL_SECS) });
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    const source = await connect(server.url, '/ws', { token: server.token(alice) });
    const { conversation } = await ok(source, 'conversation:create', { participantIds: [bob] });
    const proxy = await switchingProxy(server.port);
    const client = recoveringClient(proxy.url, server.token(bob), [
      {
        ns: '/ws',
        event: 'message:new',
        numberOf: (d) => (d?.message?.conversationId === conversation.id ? numbered(d.message.content) : undefined),
        // `message:new` to a recipient comes with an ack request (it is not replayed: its
        // durable path is message:sync).
        onCreate: (socket) => socket.on('message:new', (...args) => args.at(-1)?.({})),
      },
    ]);
    const send = (n) => ok(source, 'message:send', { conversationId: conversation.id, clientMsgId: `m${n}`, content: `#${n}` });
    try {
      await connectedTimes(client, 1);
      const firstId = client.socket.id;
      for (const n of range(1, 3)) await send(n);
      await eventually(() => assert.equal(client.seen.length, 3));

      // A short cut, well within the TTL: recovered.
      await cutFor(100)(proxy, client);
      await connectedTimes(client, 2, 3 * WAIT_MS);
      assert.equal(client.socket.recovered, true, 'a short cut recovers');
      assert.equal(client.socket.id, firstId);

      // Away for longer than the TTL: a new session, and what it missed comes by sync.
      await upgraded(client);
      const away = Date.now();
      proxy.down();
      await eventually(() => assert.equal(client.disconnects.length, 2));
      for (const n of range(4, 6)) await send(n);
      await sleep(TTL_SECS * 1000 + 1500 - (Date.now() - away));
      proxy.up();
      await connectedTimes(client, 3, 3 * WAIT_MS);
      const third = client.connects[2];
      assert.ok(!third.recovered, `an expired session is not recovered: ${JSON.stringify(client.connects)}`);
      assert.notEqual(third.id, firstId, 'a new socket id');
      assert.equal(typeof client.socket._pid, 'string', 'a new pid to recover from next time');

      const synced = await ok(client.socket, 'message:sync', { cursors: { [conversation.id]: 3 } });
      assert.deepEqual(
        synced.messages.map((m) => [m.seq, m.content]),
        [
          [4, '#4'],
          [5, '#5'],
          [6, '#6'],
        ],
      );
      assert.equal(synced.more, false);
      // Live again on the new socket.
      await send(7);
      await eventually(() => assert.ok(client.seen.some((s) => s.n === 7)));
    } finally {
      client.socket.close();
      source.close();
      proxy.close();
    }
  });
});

// ---------------------------------------------------------------------------------------
// Cluster: two nodes on one Redis and one PostgreSQL database.

const REDIS_URL = process.env.SWITCHYARD_TEST_REDIS_URL || 'redis://127.0.0.1:6379';
const POSTGRES_ADMIN_URL = process.env.SWITCHYARD_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

function psql(sql) {
  execFileSync('psql', [POSTGRES_ADMIN_URL, '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql], { stdio: 'pipe' });
}

function redisCli(...args) {
  return execFileSync('redis-cli', ['-u', REDIS_URL, ...args], { stdio: 'pipe' }).toString('utf8');
}

/** A fresh PostgreSQL database and Redis prefix, and nodes started on them. */
function cluster() {
  const tag = `${process.pid}_${randomBytes(4).toString('hex')}`;
  const database = `switchyard_node_${tag}`;
  psql(`CREATE DATABASE ${database}`);
  const secret = randomBytes(32).toString('hex');
  const prefix = `switchyard-node-test-${tag}`;
  const env = {
    ...ON,
    SWITCHYARD_DATABASE_URL: POSTGRES_ADMIN_URL.replace(/\/[^/]*$/, `/${database}`),
    SWITCHYARD_REDIS_URL: REDIS_URL,
    SWITCHYARD_REDIS_PREFIX: prefix,
    SWITCHYARD_JWT_SECRET: secret,
  };
  const nodes = [];
  return {
    async node() {
      const server = await startServer(env);
      nodes.push(server);
      // `token` signs with the cluster's secret, not startServer's own.
      return {
        ...server,
        token: (sub) => mintToken(secret, { sub }),
        serviceToken: () => mintToken(secret, { sub: 'service', roles: ['service'] }),
      };
    },
    async stop() {
      for (const n of nodes) await n.stop();
      try {
        psql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
        const keys = redisCli('--scan', '--pattern', `${prefix}:*`).split('\n').filter(Boolean);
        for (let i = 0; i < keys.length; i += 200) redisCli('del', ...keys.slice(i, i + 200));
      } catch {
        // Left for the machine's cleanup; the names are unique.
      }
    },
  };
}

describe('recovery across nodes: the node is SIGKILLed', { timeout: 300_000 }, () => {
  for (const [label, setup] of STREAMS) {
    const options = T;
    test(`${label}: the client, sent to the other node, recovers everything from a stream on that node`, options, async () => {
      const c = cluster();
      try {
        const a = await c.node();
        const b = await c.node();
        await sleep(300);
        // The stream's source is on node b; the client starts on node a.
        const seen = await throughOutage(b, a.port, setup, async (proxy, client) => {
          await upgraded(client);
          await a.kill('SIGKILL');
          await eventually(() => assert.ok(client.disconnects.length >= 1, 'the client noticed'));
          proxy.retarget(b.port);
        });
        assertRecovered(seen);
      } finally {
        await c.stop();
      }
    });
  }
});
