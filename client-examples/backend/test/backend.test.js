// The backend on its own (no gateway): requests signed as the gateway signs them, with
// the standardwebhooks library, are verified and answered; unsigned, tampered, stale or
// wrongly keyed ones are refused. `pitch.viewed` talks to a stand-in gateway: a real
// HTTP server that records what it is asked.

import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { Webhook } from 'standardwebhooks';

import { createBackend } from '../backend.js';
import { gatewayClient } from '../gateway.js';

const secret = () => `whsec_${randomBytes(32).toString('base64')}`;
const WEBHOOK_SECRET = secret();
const HOOKS_SECRET = secret();

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${server.address().port}`)));
}

/** POSTs `body` to `url`, signed with `key` at `at` unless told otherwise. */
async function signedPost(url, body, { key = HOOKS_SECRET, at = new Date(), id = `msg_${randomUUID()}`, tamper } = {}) {
  const raw = JSON.stringify(body);
  const headers = {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(key).sign(id, at, raw),
  };
  const res = await fetch(url, { method: 'POST', headers, body: tamper ? tamper(raw) : raw });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** The stand-in gateway: answers the two conversation routes and records the calls. */
function fakeGateway() {
  const calls = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw);
      calls.push({ path: req.url, auth: req.headers.authorization, body });
      const seq = calls.filter((c) => c.path.endsWith('/messages')).length;
      const answer = req.url === '/api/v1/conversations'
        ? { conversation: { id: 'c-activity', participantIds: body.participantIds, title: body.title, createdAt: 1 } }
        : { message: { id: `m${seq}`, seq, senderId: '{system}', content: body.content } };
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer));
    });
  });
  return { server, calls };
}

describe('backend', () => {
  let url;
  let backend;
  let gateway;
  const events = [];

  before(async () => {
    gateway = fakeGateway();
    const gatewayUrl = await listen(gateway.server);
    backend = createBackend({
      webhookSecret: WEBHOOK_SECRET,
      hooksSecret: HOOKS_SECRET,
      gateway: gatewayClient({ url: gatewayUrl, token: 'service-token' }),
      onEvent: (event, id) => events.push({ event, id }),
    });
    url = await listen(backend);
  });
  after(() => {
    backend.close();
    gateway.server.close();
  });

  const event = { type: 'message.created', timestamp: new Date().toISOString(), data: { id: 'm1', conversationId: 'c1', seq: 1 } };

  test('a signed webhook is verified and heard once per webhook-id', async () => {
    const id = `msg_${randomUUID()}`;
    const first = await signedPost(`${url}/webhooks`, event, { key: WEBHOOK_SECRET, id });
    const again = await signedPost(`${url}/webhooks`, event, { key: WEBHOOK_SECRET, id });
    assert.deepEqual([first.status, again.status], [204, 204]);
    assert.deepEqual(events.filter((e) => e.id === id).map((e) => e.event), [event]);
  });

  test('tampered, stale, unsigned or wrongly keyed webhooks are refused', async () => {
    const before = events.length;
    const tampered = await signedPost(`${url}/webhooks`, event, { key: WEBHOOK_SECRET, tamper: (raw) => raw.replace('"seq":1', '"seq":2') });
    const stale = await signedPost(`${url}/webhooks`, event, { key: WEBHOOK_SECRET, at: new Date(Date.now() - 10 * 60_000) });
    // The hooks secret is not the webhook secret.
    const wrongKey = await signedPost(`${url}/webhooks`, event, { key: HOOKS_SECRET });
    const unsigned = await fetch(`${url}/webhooks`, { method: 'POST', body: JSON.stringify(event) });
    assert.deepEqual([tampered.status, stale.status, wrongKey.status, unsigned.status], [401, 401, 401, 401]);
    assert.match(tampered.body.error, /signature/);
    assert.equal(events.length, before, 'no refused event is heard');
  });

  test('the connect hook allows with grants, or refuses with a code', async () => {
    const alice = await signedPost(`${url}/hooks/connect`, { user: { id: 'alice', roles: [] }, ns: '/realtime' });
    assert.deepEqual(alice, { status: 200, body: { allow: true, roles: [], channels: ['inbox:alice'] } });
    const vip = await signedPost(`${url}/hooks/connect`, { user: { id: 'vip-1', roles: [] }, ns: '/ws' });
    assert.deepEqual(vip.body.roles, ['vip']);
    const banned = await signedPost(`${url}/hooks/connect`, { user: { id: 'banned-7', roles: [] }, ns: '/ws' });
    assert.deepEqual(banned.body, { allow: false, code: 'forbidden' });
    const forged = await signedPost(`${url}/hooks/connect`, { user: { id: 'alice' } }, { key: WEBHOOK_SECRET });
    assert.equal(forged.status, 401);
  });

  test('the subscribe hook answers a batch and a single channel', async () => {
    const user = { id: 'bob', roles: ['vip'] };
    const batch = await signedPost(`${url}/hooks/subscribe`, { user, channels: ['vip:lounge', 'other:x'] });
    assert.deepEqual(batch.body, { channels: { 'vip:lounge': true, 'other:x': false } });
    const single = await signedPost(`${url}/hooks/subscribe`, { user: { id: 'carol', roles: [] }, channel: 'vip:lounge' });
    assert.deepEqual(single.body, { allow: false });
  });

  test('RPC methods answer data, or an error with a contract code', async () => {
    const user = { id: 'alice', roles: [] };
    const echo = await signedPost(`${url}/rpc`, { method: 'echo', data: { n: 1 }, user, ns: '/realtime' });
    assert.deepEqual(echo.body, { data: { n: 1 } });
    const time = await signedPost(`${url}/rpc`, { method: 'time', data: null, user, ns: '/realtime' });
    assert.ok(!Number.isNaN(Date.parse(time.body.data.now)));
    const unknown = await signedPost(`${url}/rpc`, { method: 'nope', data: {}, user, ns: '/realtime' });
    assert.equal(unknown.body.error.code, 'not_found');
    const bad = await signedPost(`${url}/rpc`, { method: 'pitch.viewed', data: {}, user, ns: '/realtime' });
    assert.equal(bad.body.error.code, 'invalid_payload');
    const tampered = await signedPost(`${url}/rpc`, { method: 'echo', data: 1, user }, { tamper: (raw) => raw.replace('1', '2') });
    assert.equal(tampered.status, 401);
  });

  test('pitch.viewed counts views and tells the owner with a system message', async () => {
    const user = { id: 'viewer', roles: [] };
    const data = { pitchId: 'p1', ownerId: 'owner' };
    const one = await signedPost(`${url}/rpc`, { method: 'pitch.viewed', data, user, ns: '/realtime' }, { id: 'msg_view1' });
    const two = await signedPost(`${url}/rpc`, { method: 'pitch.viewed', data, user, ns: '/realtime' }, { id: 'msg_view2' });
    assert.deepEqual(one.body.data, { pitchId: 'p1', views: 1, notified: { conversationId: 'c-activity', seq: 1 } });
    assert.equal(two.body.data.views, 2);
    const [create, post] = gateway.calls;
    assert.deepEqual(create, {
      path: '/api/v1/conversations',
      auth: 'Bearer service-token',
      body: { participantIds: ['owner'], title: 'Pitch activity', idempotencyKey: 'pitch-activity:owner' },
    });
    assert.equal(post.path, '/api/v1/conversations/c-activity/messages');
    assert.deepEqual(post.body, { system: true, clientMsgId: 'pitch-viewed:msg_view1', content: 'viewer viewed your pitch p1 (1 view)' });
  });

  test('other routes and methods are 404; oversized bodies 413', async () => {
    assert.equal((await fetch(`${url}/rpc`)).status, 404);
    assert.equal((await fetch(`${url}/nowhere`, { method: 'POST', body: '{}' })).status, 404);
    const huge = await fetch(`${url}/rpc`, { method: 'POST', body: 'x'.repeat(2 * 1024 * 1024) }).catch((err) => ({ status: err.cause?.code ?? 'reset' }));
    assert.ok([413, 'reset', 'ECONNRESET', 'UND_ERR_SOCKET'].includes(huge.status), `got ${huge.status}`);
  });
});
