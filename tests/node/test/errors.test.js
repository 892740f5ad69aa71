// PROTOCOL.md §2 and §6: error acks, the `error` event, the payload limit, and the HTTP
// API's JSON errors.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { io } from 'socket.io-client';

import {
  Recorder,
  closeAll,
  connect,
  errorCodeOf,
  expiredToken,
  once,
  request,
  startServer,
  uniqueUser,
} from '../lib/helpers.js';

const T = { timeout: 15_000 };
const HOOK = { timeout: 30_000 };
const SUITE = { timeout: 120_000 };
const TRANSPORTS = ['websocket', 'polling'];

describe('socket errors', SUITE, () => {
  let server;
  const open = [];

  before(async () => {
    server = await startServer();
  }, HOOK);
  after(async () => {
    closeAll(open);
    await server?.stop();
  }, HOOK);

  async function join(sub, transport = 'websocket') {
    const socket = await connect(server.url, '/ws', { token: server.token(sub), transports: [transport] });
    open.push(socket);
    return socket;
  }

  /** alice's socket in a conversation with bob. */
  async function conversation(transport = 'websocket') {
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    const socket = await join(alice, transport);
    const ack = await request(socket, 'conversation:create', { participantIds: [bob] });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    return { socket, alice, bob, conversationId: ack.conversation.id };
  }

  for (const [transport, attempts] of [['websocket', 100], ['polling', 30]]) {
    test(`an event emitted in the connect handler is answered (${transport})`, T, async () => {
      // Clients commonly emit from their `connect` listener; the server must not drop that
      // event (it would if its event handlers were registered after the connect packet).
      const dropped = [];
      for (let i = 0; i < attempts && dropped.length < 3; i += 1) {
        const socket = io(`${server.url}/ws`, {
          forceNew: true,
          reconnection: false,
          transports: [transport],
          auth: { token: server.token(uniqueUser('eager')) },
        });
        try {
          const ack = await new Promise((resolve, reject) => {
            socket.once('connect_error', reject);
            socket.once('connect', () => {
              socket.timeout(500).emitWithAck('conversation:list', {}).then(resolve, reject);
            });
          });
          assert.deepEqual(ack, { ok: true, conversations: [] });
        } catch (err) {
          if (!/timed out/.test(err.message)) throw err;
          dropped.push(i);
        } finally {
          socket.close();
        }
      }
      assert.deepEqual(dropped, [], `attempts ${dropped.join(', ')} got no ack to their first event`);
    });
  }

  test('an unknown event is answered invalid_payload', T, async () => {
    const socket = await join(uniqueUser('user'));
    for (const [event, payload] of [
      ['no:such:event', {}],
      ['conversation:delete', { conversationId: 'x' }],
      ['message', 'hello'],
    ]) {
      const ack = await request(socket, event, payload);
      assert.equal(errorCodeOf(ack), 'invalid_payload', `${event}: ${JSON.stringify(ack)}`);
    }
    const bare = await socket.timeout(5000).emitWithAck('no:such:event');
    assert.equal(errorCodeOf(bare), 'invalid_payload');
  });

  test('an unknown event without an ack callback gets an error event', T, async () => {
    const socket = await join(uniqueUser('user'));
    const error = once(socket, 'error');
    socket.emit('no:such:event', { a: 1 });
    const body = await error;
    assert.equal(body.code, 'invalid_payload');
    assert.equal(typeof body.message, 'string');
    assert.ok(body.message.length > 0);
  });

  test('malformed payloads are answered invalid_payload', T, async () => {
    const { socket, bob, conversationId } = await conversation();
    const sent = await request(socket, 'message:send', { conversationId, clientMsgId: 'ok-1', content: 'fine' });
    assert.equal(sent.ok, true, JSON.stringify(sent));
    const messageId = sent.message.id;

    const cases = [
      ['message:send', 'a string instead of an object', 'hello'],
      ['message:send', 'a number instead of an object', 42],
      ['message:send', 'an array instead of an object', [conversationId, 'c', 'hi']],
      ['message:send', 'conversationId of the wrong type', { conversationId: 5, clientMsgId: 'm-1', content: 'hi' }],
      ['message:send', 'clientMsgId of the wrong type', { conversationId, clientMsgId: { id: 1 }, content: 'hi' }],
      ['message:send', 'content of the wrong type', { conversationId, clientMsgId: 'm-2', content: 12 }],
      ['message:send', 'missing content', { conversationId, clientMsgId: 'm-3' }],
      ['message:send', 'missing clientMsgId', { conversationId, content: 'hi' }],
      ['message:send', 'missing conversationId', { clientMsgId: 'm-4', content: 'hi' }],
      ['message:send', 'empty content', { conversationId, clientMsgId: 'm-5', content: '' }],
      ['message:send', 'content of 4001 characters', { conversationId, clientMsgId: 'm-6', content: 'x'.repeat(4001) }],
      ['message:send', 'attachments that are not a list', { conversationId, clientMsgId: 'm-7', content: 'hi', attachments: 'a.png' }],
      ['message:send', 'an empty payload', {}],
      ['message:edit', 'empty content', { messageId, content: '' }],
      ['message:edit', 'content of 4001 characters', { messageId, content: 'y'.repeat(4001) }],
      ['message:edit', 'missing messageId', { content: 'new' }],
      ['message:delete', 'messageId of the wrong type', { messageId: 7 }],
      ['conversation:create', 'participantIds as a string', { participantIds: bob }],
      ['conversation:create', 'missing participantIds', { title: 'no one' }],
      ['conversation:create', 'participantIds of the wrong type', { participantIds: [1, 2] }],
      ['conversation:create', 'a string instead of an object', 'bob'],
      ['message:history', 'limit 0', { conversationId, limit: 0 }],
      ['message:history', 'limit 101', { conversationId, limit: 101 }],
      ['message:history', 'limit as a string', { conversationId, limit: 'ten' }],
      ['message:history', 'missing conversationId', { limit: 10 }],
      ['message:sync', 'cursors as a list', { cursors: [conversationId] }],
      ['message:sync', 'a cursor that is not a number', { cursors: { [conversationId]: 'latest' } }],
      ['message:sync', 'missing cursors', {}],
      ['message:read', 'a negative seq', { conversationId, seq: -1 }],
      ['message:read', 'seq as a string', { conversationId, seq: '1' }],
      ['message:read', 'missing seq', { conversationId }],
      ['typing:start', 'missing conversationId', {}],
      ['typing:stop', 'conversationId of the wrong type', { conversationId: true }],
    ];
    const failures = [];
    for (const [event, label, payload] of cases) {
      const ack = await request(socket, event, payload);
      if (ack?.ok !== false || ack.error?.code !== 'invalid_payload' || typeof ack.error?.message !== 'string') {
        failures.push(`${event} with ${label}: ${JSON.stringify(ack).slice(0, 300)}`);
      }
    }
    assert.deepEqual(failures, []);

    // None of them was stored, and the socket still works; 4000 characters are accepted.
    const history = await request(socket, 'message:history', { conversationId });
    assert.deepEqual(history.messages.map((m) => m.clientMsgId), ['ok-1']);
    const longest = await request(socket, 'message:send', { conversationId, clientMsgId: 'ok-2', content: 'z'.repeat(4000) });
    assert.equal(longest.ok, true, JSON.stringify(longest).slice(0, 300));
    assert.equal(longest.message.content.length, 4000);
  });

  test('a failing event without an ack callback gets an error event with its code', T, async () => {
    const { socket, conversationId } = await conversation();
    const rec = new Recorder(socket);

    socket.emit('message:send', { conversationId, clientMsgId: 'bad', content: '' });
    const invalid = await rec.nextData('error');
    assert.equal(invalid.code, 'invalid_payload');
    assert.equal(typeof invalid.message, 'string');

    const outsider = await join(uniqueUser('carol'));
    const outsiderRec = new Recorder(outsider);
    outsider.emit('typing:start', { conversationId });
    const forbidden = await outsiderRec.nextData('error');
    assert.equal(forbidden.code, 'forbidden');
    assert.equal(typeof forbidden.message, 'string');

    // A successful event without a callback is not answered at all.
    socket.emit('typing:start', { conversationId });
    socket.emit('conversation:list', {});
    await rec.none('error');
    await outsiderRec.none('error', () => true, 0);
  });

  for (const transport of TRANSPORTS) {
    test(`a 70 KB payload is refused payload_too_large and the socket stays usable (${transport})`, T, async () => {
      const { socket, conversationId } = await conversation(transport);
      const rec = new Recorder(socket);
      let disconnected = null;
      socket.on('disconnect', (reason) => {
        disconnected = reason;
      });

      const big = { conversationId, clientMsgId: 'big-1', content: 'x'.repeat(70 * 1024) };
      const ack = await request(socket, 'message:send', big);
      assert.equal(errorCodeOf(ack), 'payload_too_large', JSON.stringify(ack).slice(0, 300));

      // Without a callback it is an error event.
      socket.emit('message:send', { ...big, clientMsgId: 'big-2' });
      const error = await rec.nextData('error');
      assert.equal(error.code, 'payload_too_large');

      // The same socket still works, and nothing oversized was stored.
      const small = await request(socket, 'message:send', { conversationId, clientMsgId: 'small-1', content: 'still here' });
      assert.equal(small.ok, true, JSON.stringify(small));
      assert.equal(small.message.seq, 1);
      assert.equal(socket.connected, true);
      assert.equal(disconnected, null);

      // Under the limit is accepted even when large: a 60 KB attachment.
      const large = await request(socket, 'message:send', {
        conversationId,
        clientMsgId: 'large-1',
        content: 'with a large attachment',
        attachments: [{ inline: 'y'.repeat(60 * 1024) }],
      });
      assert.equal(large.ok, true, JSON.stringify(large).slice(0, 300));
      assert.equal(large.message.seq, 2);
    });
  }
});

describe('a configured SWITCHYARD_MAX_PAYLOAD_BYTES', SUITE, () => {
  let server;
  before(async () => {
    server = await startServer({ SWITCHYARD_MAX_PAYLOAD_BYTES: '2048' });
  }, HOOK);
  after(async () => {
    await server?.stop();
  }, HOOK);

  test('applies instead of the default', T, async () => {
    const socket = await connect(server.url, '/ws', { token: server.token(uniqueUser('small')) });
    try {
      const created = await request(socket, 'conversation:create', { participantIds: [uniqueUser('peer')] });
      const { id: conversationId } = created.conversation;
      const over = await request(socket, 'message:send', { conversationId, clientMsgId: 'a', content: 'x'.repeat(3000) });
      assert.equal(errorCodeOf(over), 'payload_too_large');
      const under = await request(socket, 'message:send', { conversationId, clientMsgId: 'b', content: 'x'.repeat(1500) });
      assert.equal(under.ok, true, JSON.stringify(under).slice(0, 300));
    } finally {
      closeAll(socket);
    }
  });
});

describe('HTTP API', SUITE, () => {
  let server;
  before(async () => {
    server = await startServer();
  }, HOOK);
  after(async () => {
    await server?.stop();
  }, HOOK);

  async function call(method, path, { token, body, rawBody, headers = {} } = {}) {
    const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(5000) };
    if (token) init.headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    } else if (rawBody !== undefined) {
      init.body = rawBody;
      init.headers['Content-Type'] ??= 'application/json';
    }
    const res = await fetch(server.url + path, init);
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, type: res.headers.get('content-type') ?? '', json, text };
  }

  function assertError(res, status, code) {
    assert.equal(res.status, status, `status ${res.status}: ${res.text}`);
    assert.match(res.type, /^application\/json/);
    assert.equal(res.json?.error?.code, code, res.text);
    assert.equal(typeof res.json.error.message, 'string');
  }

  const admin = () => server.token(uniqueUser('admin'), { roles: ['admin'] });

  test('GET /health/live and /health/ready answer 200 JSON', T, async () => {
    for (const path of ['/health/live', '/health/ready']) {
      const res = await call('GET', path);
      assert.equal(res.status, 200, `${path}: ${res.text}`);
      assert.match(res.type, /^application\/json/);
      assert.equal(typeof res.json, 'object', `${path} is not JSON: ${res.text}`);
      assert.notEqual(res.json, null);
    }
  });

  test('an unknown route is 404 not_found in JSON', T, async () => {
    assertError(await call('GET', '/no/such/route'), 404, 'not_found');
    assertError(await call('POST', '/api/v1/no-such-route', { token: admin(), body: {} }), 404, 'not_found');
  });

  test('POST /api/v1/announce refuses missing, bad and non-admin tokens', T, async () => {
    const body = { title: 'Maintenance', body: 'at noon' };
    assertError(await call('POST', '/api/v1/announce', { body }), 401, 'missing_token');
    assertError(await call('POST', '/api/v1/announce', { body, token: 'garbage' }), 401, 'invalid_token');
    assertError(
      await call('POST', '/api/v1/announce', { body, token: expiredToken(server.secret, uniqueUser('admin')) }),
      401,
      'token_expired',
    );
    assertError(await call('POST', '/api/v1/announce', { body, token: server.token(uniqueUser('user')) }), 403, 'forbidden');
    assertError(
      await call('POST', '/api/v1/announce', { body, token: server.token(uniqueUser('svc'), { roles: ['service'] }) }),
      403,
      'forbidden',
    );
  });

  test('POST /api/v1/announce with bad JSON is 400 invalid_payload', T, async () => {
    assertError(await call('POST', '/api/v1/announce', { token: admin(), rawBody: '{"title": "unterminated' }), 400, 'invalid_payload');
    const missing = await call('POST', '/api/v1/announce', { token: admin(), body: { title: 'no body field' } });
    assert.ok([400, 422].includes(missing.status), `status ${missing.status}: ${missing.text}`);
    assert.equal(missing.json?.error?.code, 'invalid_payload', missing.text);
  });

  test('POST /api/v1/announce by an admin is 202 and reaches every socket', T, async () => {
    const sockets = [];
    try {
      for (const transport of TRANSPORTS) {
        for (const name of ['alice', 'bob']) {
          sockets.push(await connect(server.url, '/ws', { token: server.token(uniqueUser(name)), transports: [transport] }));
        }
      }
      const received = sockets.map((s) => once(s, 'announcement'));
      const before = Date.now();
      const data = { url: 'https://status.example.test', severity: 2 };
      const res = await call('POST', '/api/v1/announce', { token: admin(), body: { title: 'Maintenance', body: 'at noon', data } });
      assert.equal(res.status, 202, res.text);
      for (const event of await Promise.all(received)) {
        assert.equal(event.title, 'Maintenance');
        assert.equal(event.body, 'at noon');
        assert.deepEqual(event.data, data);
        assert.ok(Number.isInteger(event.ts), `ts ${event.ts}`);
        assert.ok(event.ts >= before - 1000 && event.ts <= Date.now() + 1000, `ts ${event.ts}`);
      }
    } finally {
      closeAll(sockets);
    }
  });

  test('POST /api/v1/users/{userId}/disconnect closes every socket of that user only', T, async () => {
    const bob = uniqueUser('bob');
    const alice = uniqueUser('alice');
    const bobSockets = [
      await connect(server.url, '/ws', { token: server.token(bob), transports: ['websocket'] }),
      await connect(server.url, '/ws', { token: server.token(bob), transports: ['polling'] }),
    ];
    const aliceSocket = await connect(server.url, '/ws', { token: server.token(alice) });
    try {
      const path = `/api/v1/users/${encodeURIComponent(bob)}/disconnect`;
      assertError(await call('POST', path), 401, 'missing_token');
      assertError(await call('POST', path, { token: server.token(alice) }), 403, 'forbidden');
      assert.ok(bobSockets.every((s) => s.connected), 'a refused call disconnected bob');

      const closed = bobSockets.map((s) => once(s, 'disconnect'));
      const res = await call('POST', path, { token: admin() });
      assert.ok(res.status >= 200 && res.status < 300, `status ${res.status}: ${res.text}`);
      assert.deepEqual(await Promise.all(closed), ['io server disconnect', 'io server disconnect']);

      assert.equal(aliceSocket.connected, true);
      const list = await request(aliceSocket, 'conversation:list', {});
      assert.deepEqual(list, { ok: true, conversations: [] });
    } finally {
      closeAll(bobSockets, aliceSocket);
    }
  });
});
