// PROTOCOL.md §4 (push fallback) and §5 (message pushes): the server sends FCM HTTP v1
// pushes to a stand-in FCM run here, which checks the OAuth2 JWT-bearer assertion and the
// bearer token, records every send, and answers as scripted per device token.

import assert from 'node:assert/strict';
import { generateKeyPairSync, verify } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  Recorder,
  closeAll,
  connect,
  errorCodeOf,
  eventually,
  request,
  sleep,
  startServer,
  uniqueUser,
} from '../lib/helpers.js';

const T = { timeout: 20_000 };
const HOOK = { timeout: 30_000 };
const SUITE = { timeout: 120_000 };
const TRANSPORTS = ['websocket', 'polling'];

const ACK_TIMEOUT_MS = 600;
/** Long enough for a push that should not happen to have happened: the ack timeout, a
 * few rounds of the push worker, and slack. */
const NO_PUSH_MS = ACK_TIMEOUT_MS + 1000;
const SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const PROJECT_ID = 'switchyard-e2e';
const CLIENT_EMAIL = 'pusher@switchyard-e2e.iam.gserviceaccount.com';

const UNREGISTERED = {
  status: 404,
  body: {
    error: {
      code: 404,
      message: 'Requested entity was not found.',
      status: 'NOT_FOUND',
      details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: 'UNREGISTERED' }],
    },
  },
};
const UNAVAILABLE = (retryAfter) => ({
  status: 503,
  headers: retryAfter === undefined ? {} : { 'Retry-After': String(retryAfter) },
  body: { error: { code: 503, message: 'The service is currently unavailable.', status: 'UNAVAILABLE' } },
});
const QUOTA_EXCEEDED = {
  status: 429,
  body: {
    error: {
      code: 429,
      message: 'Quota exceeded.',
      status: 'RESOURCE_EXHAUSTED',
      details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: 'QUOTA_EXCEEDED' }],
    },
  },
};

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const decodeJwtPart = (part) => JSON.parse(Buffer.from(part.replace(/=+$/, ''), 'base64url').toString('utf8'));

/**
 * The stand-in FCM: `POST /token` (OAuth2 JWT-bearer grant) and
 * `POST /v1/projects/{project}/messages:send`. Anything it finds wrong goes to `problems`
 * and is answered with an error, so the server's push does not count as sent.
 */
async function startFakeFcm({ publicKey }) {
  const fake = {
    /** Every messages:send that passed authentication: {at, token, body, status}. */
    sends: [],
    /** Every accepted token request: {at, header, claims}. */
    tokenRequests: [],
    problems: [],
    issued: new Set(),
    scripts: new Map(),
    permanent: new Map(),
    tokenUri: '',
    url: '',
    /** Answers the next sends to `deviceToken` with `responses`, in order, then success. */
    script(deviceToken, responses) {
      this.scripts.set(deviceToken, [...responses]);
    },
    /** Answers every send to `deviceToken` with `response`. */
    always(deviceToken, response) {
      this.permanent.set(deviceToken, response);
    },
    sendsTo(deviceToken) {
      return this.sends.filter((s) => s.token === deviceToken);
    },
    /** Waits until `deviceToken` got `count` sends; resolves with them. */
    async waitSends(deviceToken, count, timeoutMs = 5000) {
      return eventually(() => {
        const got = this.sendsTo(deviceToken);
        assert.ok(got.length >= count, `${deviceToken} got ${got.length} of ${count} sends: ${JSON.stringify(got.map((s) => s.body))}`);
        return got;
      }, { timeoutMs });
    },
    assertClean() {
      assert.deepEqual(this.problems, [], 'the stand-in FCM found problems');
    },
  };

  const reply = (res, status, body, headers = {}) => {
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

  function checkAssertion(assertion) {
    const parts = String(assertion ?? '').split('.');
    if (parts.length !== 3) return `the assertion has ${parts.length} parts`;
    const [h, p, sig] = parts;
    let header;
    let claims;
    try {
      header = decodeJwtPart(h);
      claims = decodeJwtPart(p);
    } catch (err) {
      return `the assertion does not decode: ${err.message}`;
    }
    if (header.alg !== 'RS256') return `assertion alg ${header.alg}`;
    const signed = verify('RSA-SHA256', Buffer.from(`${h}.${p}`), publicKey, Buffer.from(sig.replace(/=+$/, ''), 'base64url'));
    if (!signed) return 'the assertion signature does not verify with the service account key';
    const now = Math.floor(Date.now() / 1000);
    if (claims.iss !== CLIENT_EMAIL) return `assertion iss ${claims.iss}`;
    if (claims.scope !== SCOPE) return `assertion scope ${claims.scope}`;
    if (claims.aud !== fake.tokenUri) return `assertion aud ${claims.aud}, expected ${fake.tokenUri}`;
    if (!Number.isInteger(claims.iat) || Math.abs(claims.iat - now) > 60) return `assertion iat ${claims.iat} (now ${now})`;
    if (!Number.isInteger(claims.exp) || claims.exp <= now) return `assertion exp ${claims.exp} is not in the future (now ${now})`;
    if (claims.exp - claims.iat > 3600) return `assertion lives ${claims.exp - claims.iat} s, over an hour`;
    fake.tokenRequests.push({ at: Date.now(), header, claims });
    return null;
  }

  async function onToken(req, res) {
    const text = await readBody(req);
    const type = req.headers['content-type'] ?? '';
    const form = new URLSearchParams(text);
    let problem = null;
    if (!type.startsWith('application/x-www-form-urlencoded')) problem = `token request Content-Type ${type}`;
    else if (form.get('grant_type') !== GRANT_TYPE) problem = `grant_type ${form.get('grant_type')}`;
    else problem = checkAssertion(form.get('assertion'));
    if (problem) {
      fake.problems.push(problem);
      reply(res, 400, { error: 'invalid_grant', error_description: problem });
      return;
    }
    const accessToken = `ya29.fake-${fake.issued.size + 1}-${Date.now()}`;
    fake.issued.add(accessToken);
    reply(res, 200, { access_token: accessToken, expires_in: 3600, token_type: 'Bearer' });
  }

  async function onSend(req, res) {
    const at = Date.now();
    const text = await readBody(req);
    const auth = req.headers.authorization ?? '';
    const bearer = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length) : null;
    if (!bearer || !fake.issued.has(bearer)) {
      fake.problems.push(`messages:send with Authorization ${JSON.stringify(auth)}`);
      reply(res, 401, { error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' } });
      return;
    }
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      fake.problems.push(`messages:send body is not JSON: ${text.slice(0, 200)}`);
      reply(res, 400, { error: { code: 400, message: 'Invalid JSON payload received.', status: 'INVALID_ARGUMENT' } });
      return;
    }
    const token = body?.message?.token;
    const queued = fake.scripts.get(token);
    const response = fake.permanent.get(token) ?? (queued?.length ? queued.shift() : null) ?? {
      status: 200,
      body: { name: `projects/${PROJECT_ID}/messages/${fake.sends.length + 1}` },
    };
    fake.sends.push({ at, token, body, status: response.status });
    reply(res, response.status, response.body, response.headers);
  }

  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://fake').pathname;
    let handled;
    if (req.method === 'POST' && path === '/token') handled = onToken(req, res);
    else if (req.method === 'POST' && path === `/v1/projects/${PROJECT_ID}/messages:send`) handled = onSend(req, res);
    else {
      fake.problems.push(`unexpected request ${req.method} ${req.url}`);
      handled = Promise.resolve(reply(res, 404, { error: { code: 404, message: 'Not found', status: 'NOT_FOUND' } }));
    }
    handled.catch((err) => {
      fake.problems.push(`stand-in FCM failed: ${err.message}`);
      if (!res.headersSent) reply(res, 500, { error: { code: 500, message: err.message, status: 'INTERNAL' } });
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  fake.url = `http://127.0.0.1:${port}`;
  fake.tokenUri = `${fake.url}/token`;
  fake.stop = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return fake;
}

describe('push through FCM HTTP v1', SUITE, () => {
  let server;
  let fake;
  let dir;
  const open = [];

  before(async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    fake = await startFakeFcm({ publicKey });
    dir = mkdtempSync(joinPath(tmpdir(), 'switchyard-fcm-'));
    const credentials = joinPath(dir, 'service-account.json');
    writeFileSync(
      credentials,
      JSON.stringify({
        type: 'service_account',
        project_id: PROJECT_ID,
        private_key_id: 'e2e-key-1',
        private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
        client_email: CLIENT_EMAIL,
        client_id: '1234567890',
        token_uri: fake.tokenUri,
      }),
    );
    server = await startServer({
      SWITCHYARD_FCM_CREDENTIALS: credentials,
      SWITCHYARD_FCM_ENDPOINT: fake.url,
      SWITCHYARD_NOTIFICATION_ACK_TIMEOUT_MS: String(ACK_TIMEOUT_MS),
    });
  }, HOOK);
  after(async () => {
    closeAll(open);
    await server?.stop();
    await fake?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, HOOK);

  /** Connects `sub` to `namespace`, recorded from before the connect. */
  async function join(sub, { namespace = '/notifications', transport = 'websocket', autoAck = true } = {}) {
    let rec;
    const socket = await connect(server.url, namespace, {
      token: server.token(sub),
      transports: [transport],
      onCreate: (created) => {
        rec = new Recorder(created, { autoAck });
      },
    });
    open.push(socket);
    return { sub, socket, rec };
  }

  async function register(who, token, platform = 'android', installationId = undefined) {
    const ack = await request(who.socket, 'device:register', { token, platform, installationId });
    assert.deepEqual(ack, { ok: true }, `device:register ${token}: ${JSON.stringify(ack)}`);
  }

  /** Waits until the server counts no open connection of `sub`. */
  async function offline(sub) {
    await eventually(async () => {
      const res = await server.call('GET', `/api/v1/presence/${encodeURIComponent(sub)}`, { token: server.serviceToken() });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.users[0].devices, 0, `${sub} still has connections: ${res.text}`);
    });
  }

  /** Registers `devices` ([token, platform]) for `sub` on a socket that is then closed. */
  async function devicesOf(sub, devices) {
    const who = await join(sub);
    for (const [token, platform, installationId] of devices) await register(who, token, platform, installationId);
    closeAll(who.socket);
    await offline(sub);
  }

  async function notify(userIds, fields = {}) {
    const body = { userIds, type: 'test.event', title: 'A title', body: 'A body', ...fields };
    const res = await server.call('POST', '/api/v1/notifications', { token: server.serviceToken(), body });
    assert.equal(res.status, 202, `status ${res.status}: ${res.text}`);
    assert.equal(res.json?.ids?.length, userIds.length, res.text);
    return res.json.ids;
  }

  const deviceToken = (label) => `${uniqueUser(label)}:APA91bH-fake_token`;

  /** The FCM body the server must send for a notification to one device. */
  function expectedMessage(token, { id, type, title, body, data, high }) {
    return {
      message: {
        token,
        notification: { title, body },
        data: { ...data, id, type },
        android: { priority: high ? 'HIGH' : 'NORMAL', collapse_key: id },
        apns: { headers: { 'apns-priority': high ? '10' : '5', 'apns-collapse-id': id } },
      },
    };
  }

  test('a user with no socket is pushed at once, once per device, in FCM\'s message shape', T, async () => {
    const user = uniqueUser('offline');
    const android = deviceToken('android');
    const ios = deviceToken('ios');
    await devicesOf(user, [[android, 'android'], [ios, 'ios']]);

    const priorities = ['low', 'normal', 'high', 'urgent', 'critical'];
    const data = { orderId: 42, flag: true, note: 'hi there', nested: { a: [1, 2] } };
    const sent = [];
    for (const priority of priorities) {
      const t0 = Date.now();
      const [id] = await notify([user], { type: `order.${priority}`, title: `Order ${priority}`, body: `Body ${priority}`, data, priority });
      sent.push({ id, priority, t0 });
    }
    const androidSends = await fake.waitSends(android, 5);
    const iosSends = await fake.waitSends(ios, 5);

    for (const [token, sends] of [[android, androidSends], [ios, iosSends]]) {
      assert.deepEqual(
        sends.map((s) => s.body.message.data.id).sort(),
        sent.map((s) => s.id).sort(),
        `${token} did not get each notification once`,
      );
      for (const { id, priority, t0 } of sent) {
        const send = sends.find((s) => s.body.message.data.id === id);
        assert.ok(send.at - t0 <= 1500, `${priority} pushed ${send.at - t0} ms after the request: not at once`);
        // FCM data holds strings only: other JSON values travel as their JSON text.
        const { nested, ...flat } = send.body.message.data;
        assert.deepEqual(JSON.parse(nested), data.nested);
        assert.ok(Object.values(send.body.message.data).every((v) => typeof v === 'string'), JSON.stringify(send.body));
        assert.deepEqual(
          { message: { ...send.body.message, data: flat } },
          expectedMessage(token, {
            id,
            type: `order.${priority}`,
            title: `Order ${priority}`,
            body: `Body ${priority}`,
            data: { orderId: '42', flag: 'true', note: 'hi there' },
            high: ['high', 'urgent', 'critical'].includes(priority),
          }),
        );
      }
    }
    assert.ok(fake.tokenRequests.length >= 1, 'no OAuth2 token was requested');

    // Never again, past the ack timeout and several worker rounds.
    await sleep(NO_PUSH_MS);
    assert.equal(fake.sendsTo(android).length, 5);
    assert.equal(fake.sendsTo(ios).length, 5);
    fake.assertClean();
  });

  for (const transport of TRANSPORTS) {
    test(`a user whose socket acks in time is not pushed (${transport})`, T, async () => {
      const user = uniqueUser('acker');
      const token = deviceToken('acker');
      const who = await join(user, { transport });
      try {
        await register(who, token, 'ios');
        const [id] = await notify([user], { priority: 'critical' });
        const received = await who.rec.next('notification');
        assert.equal(received.data.id, id);
        assert.equal(received.acked, true);
        await sleep(NO_PUSH_MS);
        assert.deepEqual(fake.sendsTo(token), []);
        fake.assertClean();
      } finally {
        closeAll(who.socket);
      }
    });

    test(`a user whose socket does not ack is pushed after the ack timeout, once (${transport})`, T, async () => {
      const user = uniqueUser('silent');
      const token = deviceToken('silent');
      const who = await join(user, { transport, autoAck: false });
      try {
        await register(who, token, 'android');
        const t0 = Date.now();
        const [id] = await notify([user], { type: 'reminder', title: 'Standup', body: 'in 5 minutes', priority: 'normal' });
        const received = await who.rec.next('notification');
        assert.equal(received.data.id, id);
        assert.deepEqual(fake.sendsTo(token), [], 'pushed before the ack timeout');

        const [send] = await fake.waitSends(token, 1, 4000);
        const after = send.at - t0;
        assert.ok(after >= ACK_TIMEOUT_MS - 10, `pushed ${after} ms after the request, before the ${ACK_TIMEOUT_MS} ms ack timeout`);
        assert.ok(after <= ACK_TIMEOUT_MS + 1500, `pushed only ${after} ms after the request`);
        assert.deepEqual(
          send.body,
          expectedMessage(token, { id, type: 'reminder', title: 'Standup', body: 'in 5 minutes', data: {}, high: false }),
        );

        // Sent again at the next connect and again not acked: still no second push.
        closeAll(who.socket);
        const again = await join(user, { transport, autoAck: false });
        assert.equal((await again.rec.next('notification')).data.id, id);
        await sleep(NO_PUSH_MS);
        closeAll(again.socket);
        assert.equal(fake.sendsTo(token).length, 1);
        fake.assertClean();
      } finally {
        closeAll(who.socket);
      }
    });

    test(`a notification read before its push is due is not pushed (${transport})`, T, async () => {
      const user = uniqueUser('reader');
      const token = deviceToken('reader');
      const who = await join(user, { transport, autoAck: false });
      try {
        await register(who, token, 'web');
        const [id] = await notify([user], { priority: 'urgent' });
        const received = await who.rec.next('notification');
        assert.equal(received.data.id, id);
        const read = await request(who.socket, 'notification:read', { ids: [id] });
        assert.deepEqual(read, { ok: true, unread: 0 });
        await sleep(NO_PUSH_MS);
        assert.deepEqual(fake.sendsTo(token), []);
        fake.assertClean();
      } finally {
        closeAll(who.socket);
      }
    });
  }

  test('a repeated idempotencyKey is pushed once', T, async () => {
    const user = uniqueUser('idem');
    const token = deviceToken('idem');
    await devicesOf(user, [[token, 'android']]);
    const fields = { title: 'once', idempotencyKey: `key-${user}` };
    const [id] = await notify([user], fields);
    const [send] = await fake.waitSends(token, 1);
    assert.equal(send.body.message.data.id, id);
    assert.deepEqual(await notify([user], fields), [id]);
    await sleep(NO_PUSH_MS);
    assert.equal(fake.sendsTo(token).length, 1);
    fake.assertClean();
  });

  test('a token FCM reports UNREGISTERED is deleted: not retried, not pushed to again', T, async () => {
    const user = uniqueUser('pruned');
    const dead = deviceToken('dead');
    const live = deviceToken('live');
    fake.always(dead, UNREGISTERED);
    await devicesOf(user, [[dead, 'android'], [live, 'ios']]);

    const [first] = await notify([user], { title: 'first' });
    const [deadSend] = await fake.waitSends(dead, 1);
    assert.equal(deadSend.body.message.data.id, first);
    assert.equal((await fake.waitSends(live, 1))[0].body.message.data.id, first);

    const [second] = await notify([user], { title: 'second' });
    const liveSends = await fake.waitSends(live, 2);
    assert.deepEqual(liveSends.map((s) => s.body.message.data.id), [first, second]);
    await sleep(NO_PUSH_MS);
    assert.equal(fake.sendsTo(dead).length, 1, `the UNREGISTERED token got ${fake.sendsTo(dead).length} sends`);
    assert.equal(fake.sendsTo(live).length, 2);
    fake.assertClean();
  });

  test('503 and 429 are retried: not before Retry-After, else with backoff', { timeout: 25_000 }, async () => {
    const user = uniqueUser('retried');
    const withRetryAfter = deviceToken('retry-after');
    const quota = deviceToken('quota');
    const twice = deviceToken('twice');
    fake.script(withRetryAfter, [UNAVAILABLE(1)]);
    fake.script(quota, [QUOTA_EXCEEDED]);
    fake.script(twice, [UNAVAILABLE(), UNAVAILABLE()]);
    await devicesOf(user, [[withRetryAfter, 'android'], [quota, 'ios'], [twice, 'web']]);

    const [id] = await notify([user], { title: 'retry me', priority: 'high' });
    const [a1, a2] = await fake.waitSends(withRetryAfter, 2, 6000);
    const [q1, q2] = await fake.waitSends(quota, 2, 6000);
    const [t1, t2, t3] = await fake.waitSends(twice, 3, 8000);

    assert.deepEqual([a1.status, a2.status], [503, 200]);
    const afterRetryAfter = a2.at - a1.at;
    assert.ok(afterRetryAfter >= 990, `retried ${afterRetryAfter} ms after a 503 with Retry-After: 1`);
    assert.ok(afterRetryAfter <= 2500, `retried only ${afterRetryAfter} ms after a 503 with Retry-After: 1`);

    // Without Retry-After: base 1 s with jitter (half to all of it), then doubled.
    assert.deepEqual([q1.status, q2.status], [429, 200]);
    const afterQuota = q2.at - q1.at;
    assert.ok(afterQuota >= 490 && afterQuota <= 2000, `retried ${afterQuota} ms after a 429`);
    assert.deepEqual([t1.status, t2.status, t3.status], [503, 503, 200]);
    const firstGap = t2.at - t1.at;
    const secondGap = t3.at - t2.at;
    assert.ok(firstGap >= 490 && firstGap <= 2000, `first retry ${firstGap} ms after a 503`);
    assert.ok(secondGap >= 990 && secondGap <= 3000, `second retry ${secondGap} ms after the second 503`);

    // The retry is the same message.
    for (const [x, y] of [[a1, a2], [q1, q2], [t1, t2], [t2, t3]]) assert.deepEqual(y.body, x.body);
    assert.equal(a1.body.message.data.id, id);
    assert.equal(a1.body.message.android.priority, 'HIGH');

    // Nothing more once sent.
    await sleep(700);
    assert.equal(fake.sendsTo(withRetryAfter).length, 2);
    assert.equal(fake.sendsTo(quota).length, 2);
    assert.equal(fake.sendsTo(twice).length, 3);
    fake.assertClean();
  });

  test('a device token moves to another user only from the same installation; unregistered ones get nothing', T, async () => {
    const first = uniqueUser('first-owner');
    const second = uniqueUser('second-owner');
    const third = uniqueUser('third');
    const shared = deviceToken('shared');
    const gone = deviceToken('gone');
    const kept = deviceToken('kept');
    const installation = `install-${first}`;
    await devicesOf(first, [[shared, 'android', installation]]);
    const t = await join(third);
    const taken = await request(t.socket, 'device:register', { token: shared, platform: 'web' });
    assert.equal(errorCodeOf(taken), 'conflict', JSON.stringify(taken));
    const notMine = await request(t.socket, 'device:unregister', { token: shared });
    assert.equal(errorCodeOf(notMine), 'not_found', JSON.stringify(notMine));
    await devicesOf(second, [[shared, 'ios', installation]]);
    await register(t, gone, 'web');
    await register(t, kept, 'web');
    assert.deepEqual(await request(t.socket, 'device:unregister', { token: gone }), { ok: true });
    closeAll(t.socket);
    await offline(third);

    const [firstId, secondId, thirdId] = await notify([first, second, third], { title: 'who gets it' });
    const [sharedSend] = await fake.waitSends(shared, 1);
    assert.equal(sharedSend.body.message.data.id, secondId);
    const [keptSend] = await fake.waitSends(kept, 1);
    assert.equal(keptSend.body.message.data.id, thirdId);
    await sleep(NO_PUSH_MS);
    assert.deepEqual(fake.sendsTo(shared).map((s) => s.body.message.data.id), [secondId], `${firstId} went to a moved token`);
    assert.deepEqual(fake.sendsTo(gone), []);
    assert.equal(fake.sendsTo(kept).length, 1);
    fake.assertClean();
  });

  test('a chat message to a participant with no socket is pushed to their devices', T, async () => {
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    const carol = uniqueUser('carol');
    const dave = uniqueUser('dave');
    const [aliceToken, bobToken, carolToken, daveToken] = ['alice', 'bob', 'carol', 'dave'].map(deviceToken);
    await devicesOf(bob, [[bobToken, 'android']]);
    await devicesOf(carol, [[carolToken, 'ios']]);
    const a = await join(alice, { namespace: '/ws' });
    const aliceN = await join(alice);
    await register(aliceN, aliceToken, 'web');
    closeAll(aliceN.socket);
    // carol is online on /ws only, dave on /notifications only.
    const c = await join(carol, { namespace: '/ws' });
    const d = await join(dave);
    await register(d, daveToken, 'android');
    try {
      const created = await request(a.socket, 'conversation:create', { participantIds: [bob, carol, dave] });
      assert.equal(created.ok, true, JSON.stringify(created));
      const conversationId = created.conversation.id;
      await c.rec.next('conversation:new');

      const t0 = Date.now();
      const sent = await request(a.socket, 'message:send', { conversationId, clientMsgId: 'push-1', content: 'hello bob, are you there?' });
      assert.equal(sent.ok, true, JSON.stringify(sent));
      const { message } = sent;

      const [push] = await fake.waitSends(bobToken, 1);
      assert.ok(push.at - t0 <= 1500, `pushed ${push.at - t0} ms after the message: not at once`);
      const m = push.body.message;
      assert.equal(m.token, bobToken);
      assert.equal(m.notification.body, 'hello bob, are you there?');
      assert.equal(typeof m.notification.title, 'string');
      assert.ok(typeof m.data.id === 'string' && m.data.id.length > 0, JSON.stringify(m.data));
      assert.deepEqual(m.data, {
        id: m.data.id,
        type: 'message',
        conversationId,
        messageId: message.id,
        seq: String(message.seq),
        senderId: alice,
      });
      assert.equal(m.android.collapse_key, m.data.id);
      assert.equal(m.apns.headers['apns-collapse-id'], m.data.id);

      await sleep(NO_PUSH_MS);
      assert.equal(fake.sendsTo(bobToken).length, 1);
      assert.deepEqual(fake.sendsTo(carolToken), [], 'carol, online on /ws, was pushed');
      assert.deepEqual(fake.sendsTo(daveToken), [], 'dave, online on /notifications, was pushed');
      assert.deepEqual(fake.sendsTo(aliceToken), [], 'the sender was pushed');
      fake.assertClean();
    } finally {
      closeAll(a.socket, c.socket, d.socket);
    }
  });
});
