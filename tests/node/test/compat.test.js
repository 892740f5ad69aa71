// The compatibility matrix: socket.io-client 2.x, 3.x and 4.x, each over WebSocket only,
// long-polling only, and long-polling upgraded to WebSocket, with acks both ways, binary
// attachments, reconnection after a dropped connection, and refusals. The README's
// "Compatibility" section tables these results; each known limit has a test asserting it.
//
// 2.x speaks Socket.IO protocol 4 over Engine.IO 3 (socketioxide's `v4` feature); 3.x and
// 4.x speak protocol 5 over Engine.IO 4. 2.x has no handshake `auth`: its token goes in the
// socket's `query`, which 2.x sends on its namespace's CONNECT packet (`/ws?token=…`) and,
// for the socket that made the Manager, on the Engine.IO handshake too.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import { Recorder, WAIT_MS, sleep, startServer, uniqueUser } from '../lib/helpers.js';

const require = createRequire(import.meta.url);

const CLIENTS = [
  { name: '2.x', pkg: 'socket.io-client-v2', engineProtocol: 3 },
  { name: '3.x', pkg: 'socket.io-client-v3', engineProtocol: 4 },
  { name: '4.x', pkg: 'socket.io-client', engineProtocol: 4 },
].map((c) => ({ ...c, io: require(c.pkg), version: require(`${c.pkg}/package.json`).version }));

const TRANSPORTS = {
  websocket: { transports: ['websocket'], upgrade: false, final: 'websocket' },
  polling: { transports: ['polling'], upgrade: false, final: 'polling' },
  'polling → websocket': { transports: ['polling', 'websocket'], upgrade: true, final: 'websocket' },
};

const T = { timeout: 30_000 };

/**
 * Opens a socket on `namespace` the way a user of that client version would, through
 * `base` (the server or the cutting proxy). Does not wait for the connection.
 */
function open(client, base, namespace, token, transport, { reconnection = false } = {}) {
  const options = {
    transports: TRANSPORTS[transport].transports,
    upgrade: TRANSPORTS[transport].upgrade,
    reconnection,
    reconnectionDelay: 100,
    reconnectionDelayMax: 300,
    timeout: WAIT_MS,
  };
  // 2.x as its users write it: the token in the socket's query.
  const credentials = client.name === '2.x' ? { query: { token } } : { auth: { token } };
  return client.io(base + namespace, { ...options, forceNew: true, ...credentials });
}

/**
 * Resolves on the socket's next `connect`; rejects on a refusal or after WAIT_MS. While
 * `retrying` (reconnection on), a failed attempt is not the end: only the deadline is.
 */
function connected(socket, { retrying = false } = {}) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(reject, new Error(`no connect within ${WAIT_MS} ms`)), WAIT_MS);
    const ok = () => done(resolve, socket);
    const refused = (err) => {
      if (!retrying) done(reject, new Error(err?.message ?? String(err)));
    };
    function done(fn, value) {
      clearTimeout(timer);
      socket.off('connect', ok);
      socket.off('connect_error', refused);
      socket.off('error', refused);
      fn(value);
    }
    socket.once('connect', ok);
    // 2.x reports a namespace refusal as an `error` event, 3.x and 4.x as `connect_error`.
    socket.on('connect_error', refused);
    socket.on('error', refused);
  });
}

/** The events these tests wait for: 2.x has no `onAny`, so they are listened to by name. */
const EVENTS = ['error', 'conversation:new', 'message:new', 'message:delivered'];

/** What the suite's Recorder needs of a socket, for every version. */
function recordable(socket) {
  if (typeof socket.onAny === 'function') return socket;
  return {
    onAny(listener) {
      for (const name of EVENTS) socket.on(name, (...args) => listener(name, ...args));
    },
  };
}

/** Waits until the Engine.IO transport in use is `name`. */
async function onTransport(socket, name) {
  const deadline = Date.now() + WAIT_MS;
  while (socket.io.engine?.transport?.name !== name) {
    if (Date.now() > deadline) throw new Error(`transport is ${socket.io.engine?.transport?.name}, expected ${name}`);
    await sleep(20);
  }
}

/** An ack within WAIT_MS, with the callback API every version has. */
function ask(socket, event, payload) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ack to ${event} within ${WAIT_MS} ms`)), WAIT_MS);
    socket.emit(event, payload, (ack) => {
      clearTimeout(timer);
      resolve(ack);
    });
  });
}

/** A TCP proxy in front of the server whose connections can all be cut at once. */
async function cuttingProxy(port) {
  const open = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    for (const [a, b] of [[client, upstream], [upstream, client]]) {
      a.pipe(b);
      a.on('error', () => b.destroy());
      a.on('close', () => b.destroy());
    }
    open.add(client);
    client.on('close', () => open.delete(client));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    cut() {
      for (const s of open) s.destroy();
    },
    close() {
      this.cut();
      server.close();
    },
  };
}

describe('compatibility matrix', { timeout: 600_000 }, () => {
  let server;
  let proxy;
  const sockets = [];

  before(async () => {
    server = await startServer();
    proxy = await cuttingProxy(server.port);
  });
  after(async () => {
    for (const s of sockets) s.close();
    proxy?.close();
    await server?.stop();
  });

  /** Connects `user` and keeps the socket for closing after the suite. */
  async function connect(client, transport, namespace, user, options = {}) {
    const socket = open(client, options.base ?? server.url, namespace, server.token(user), transport, options);
    sockets.push(socket);
    const recorder = new Recorder(recordable(socket));
    await connected(socket);
    await onTransport(socket, TRANSPORTS[transport].final);
    return { socket, recorder };
  }

  for (const client of CLIENTS) {
    for (const transport of Object.keys(TRANSPORTS)) {
      const label = `${client.name} (${client.version}) over ${transport}`;

      describe(label, () => {
        test('connects with a token, on the expected Engine.IO protocol and transport', T, async () => {
          const { socket, recorder } = await connect(client, transport, '/ws', uniqueUser('conn'));
          assert.equal(Number(socket.io.engine.transport.query.EIO), client.engineProtocol, 'EIO of the handshake');
          if (transport === 'polling') {
            await sleep(300);
            assert.equal(socket.io.engine.transport.name, 'polling', 'no upgrade when only polling is allowed');
          }
          // Protocol 4 puts the session on `/` before the client asks for anything; the
          // gateway accepts that silently, so 2.x shows its sockets no refusal of `/`.
          await recorder.none('error');
          socket.close();
        });

        test('acks both ways: stored message acked, recipient ack becomes message:delivered', T, async () => {
          const aliceId = uniqueUser('alice');
          const bobId = uniqueUser('bob');
          const alice = await connect(client, transport, '/ws', aliceId);
          const bob = await connect(client, transport, '/ws', bobId);
          const created = await ask(alice.socket, 'conversation:create', { participantIds: [bobId] });
          assert.equal(created.ok, true, JSON.stringify(created));
          const conversationId = created.conversation.id;
          await bob.recorder.next('conversation:new', (d) => d.conversation.id === conversationId);
          const sent = await ask(alice.socket, 'message:send', { conversationId, clientMsgId: 'c1', content: 'héllo ✓' });
          assert.equal(sent.ok, true, JSON.stringify(sent));
          assert.equal(sent.message.seq, 1);
          const arrived = await bob.recorder.next('message:new', (d) => d.message.conversationId === conversationId);
          assert.equal(arrived.data.message.content, 'héllo ✓');
          assert.equal(arrived.acked, true, 'the server asked bob for an ack, and got it');
          const receipt = await alice.recorder.nextData('message:delivered', (d) => d.conversationId === conversationId);
          assert.deepEqual(receipt, { conversationId, userId: bobId, seq: 1 });
          alice.socket.close();
          bob.socket.close();
        });

        test('binary attachments reach the server whole, and are refused as not JSON', T, async () => {
          const user = uniqueUser('bin');
          const { socket } = await connect(client, transport, '/ws', user);
          const { conversation } = await ask(socket, 'conversation:create', { participantIds: [uniqueUser('peer')] });
          const bytes = Buffer.from([0, 1, 2, 250, 255]);
          // A binary event with its attachment reassembled: the payload is read, and the
          // gateway's payloads are JSON, so the byte array is named in the refusal.
          const small = await ask(socket, 'message:send', {
            conversationId: conversation.id,
            clientMsgId: 'b1',
            content: 'with a file',
            attachments: [{ name: 'f.bin', data: bytes }],
          });
          assert.equal(small.ok, false, JSON.stringify(small));
          assert.equal(small.error.code, 'invalid_payload');
          assert.match(small.error.message, /byte array/);
          // The attachment's bytes count toward the payload limit (64 KiB).
          const big = await ask(socket, 'message:send', {
            conversationId: conversation.id,
            clientMsgId: 'b2',
            content: 'with a big file',
            attachments: [{ name: 'big.bin', data: Buffer.alloc(70 * 1024, 7) }],
          });
          assert.equal(big.error?.code, 'payload_too_large', JSON.stringify(big));
          // The connection is kept, and JSON still works.
          const fine = await ask(socket, 'message:send', { conversationId: conversation.id, clientMsgId: 'b3', content: 'ok' });
          assert.equal(fine.ok, true, JSON.stringify(fine));
          socket.close();
        });

        test('reconnects by itself after the connection drops, and acks work again', T, async () => {
          const user = uniqueUser('re');
          const { socket } = await connect(client, transport, '/ws', user, { base: proxy.url, reconnection: true });
          const firstSid = socket.io.engine.id;
          let drops = 0;
          socket.on('disconnect', () => {
            drops += 1;
          });
          // Let a long-polling client's next poll be pending: a cut between two requests
          // would hit only an idle keep-alive connection, which the client never notices.
          await sleep(300);
          const again = connected(socket, { retrying: true });
          proxy.cut();
          await again;
          await onTransport(socket, TRANSPORTS[transport].final);
          assert.equal(drops, 1, 'one disconnect, then connected again');
          assert.notEqual(socket.io.engine.id, firstSid, 'a new Engine.IO session');
          const list = await ask(socket, 'conversation:list', {});
          assert.equal(list.ok, true, JSON.stringify(list));
          socket.close();
        });

        test('a bad token is refused with the contract code', T, async () => {
          const socket = open(client, server.url, '/ws', 'not-a-jwt', transport);
          sockets.push(socket);
          await assert.rejects(connected(socket), { message: 'invalid_token' });
          socket.close();
        });
      });
    }
  }

  for (const transport of ['websocket', 'polling']) {
    test(`2.x in Node: the token as an Authorization header (extraHeaders) over ${transport}`, T, async () => {
      const client = CLIENTS[0];
      const socket = client.io(`${server.url}/ws`, {
        extraHeaders: { Authorization: `Bearer ${server.token(uniqueUser('h'))}` },
        transports: [transport],
        forceNew: true,
        reconnection: false,
      });
      sockets.push(socket);
      await connected(socket);
      const list = await ask(socket, 'conversation:list', {});
      assert.equal(list.ok, true, JSON.stringify(list));
      socket.close();
    });
  }

  test('2.x: io(url + ns, {query}) connects to every namespace of the contract', T, async () => {
    const client = CLIENTS[0];
    for (const namespace of ['/ws', '/realtime', '/notifications']) {
      const socket = open(client, server.url, namespace, server.token(uniqueUser('ns')), 'websocket');
      sockets.push(socket);
      const recorder = new Recorder(recordable(socket));
      await connected(socket);
      await recorder.none('error');
      socket.close();
    }
  });

  for (const transport of ['websocket', 'polling']) {
    test(`2.x: the token in the CONNECT packet only (a shared Manager, the socket's query) over ${transport}`, T, async () => {
      // The Manager's Engine.IO handshake carries no token: only `/ws?token=…` does.
      const client = CLIENTS[0];
      const manager = new client.io.Manager(server.url, { transports: [transport], reconnection: false });
      const socket = manager.socket('/ws', { query: { token: server.token(uniqueUser('cq')) } });
      sockets.push(socket);
      await connected(socket);
      assert.equal(manager.engine.transport.query.token, undefined, 'no token on the handshake');
      const list = await ask(socket, 'conversation:list', {});
      assert.equal(list.ok, true, JSON.stringify(list));
      const bad = manager.socket('/realtime', { query: { token: 'not-a-jwt' } });
      sockets.push(bad);
      await assert.rejects(connected(bad), { message: 'invalid_token' });
      socket.close();
      bad.close();
    });

    test(`2.x: the token in a Manager's own query (the Engine.IO handshake only) over ${transport}`, T, async () => {
      const client = CLIENTS[0];
      const manager = new client.io.Manager(server.url, {
        query: { token: server.token(uniqueUser('mq')) },
        transports: [transport],
        reconnection: false,
      });
      const socket = manager.socket('/ws');
      sockets.push(socket);
      await connected(socket);
      const list = await ask(socket, 'conversation:list', {});
      assert.equal(list.ok, true, JSON.stringify(list));
      socket.close();
    });
  }

  for (const client of CLIENTS.slice(1)) {
    test(`${client.name}: \`/\` asked for explicitly is still unknown_namespace`, T, async () => {
      const socket = client.io(`${server.url}/`, {
        auth: { token: server.token(uniqueUser('root')) },
        transports: ['websocket'],
        forceNew: true,
        reconnection: false,
      });
      sockets.push(socket);
      await assert.rejects(connected(socket), { message: 'unknown_namespace' });
      socket.close();
    });
  }
});
