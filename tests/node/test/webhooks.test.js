// PROTOCOL.md §9 (webhooks): a gateway POSTs its events to a receiver run here, which
// verifies every request with the third-party `standardwebhooks` library (the reference
// implementation of the Standard Webhooks spec), not with the gateway's own code.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';

import { Webhook, WebhookVerificationError } from 'standardwebhooks';

import { closeAll, connect, eventually, request, startServer, uniqueUser } from '../lib/helpers.js';

const T = { timeout: 30_000 };
const HOOK = { timeout: 30_000 };
const WAIT = { timeoutMs: 15_000 };

/** A receiver on port 0 keeping every request's raw body and headers. */
async function startReceiver() {
  const requests = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(204).end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}/hooks`, requests, close: () => server.close() };
}

describe('webhooks, verified with the standardwebhooks package', { timeout: 120_000 }, () => {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  let receiver;
  let server;

  before(async () => {
    receiver = await startReceiver();
    server = await startServer({ SWITCHYARD_WEBHOOK_URL: receiver.url, SWITCHYARD_WEBHOOK_SECRET: secret });
  }, HOOK);
  after(async () => {
    await server?.stop();
    receiver?.close();
  }, HOOK);

  test('chat events arrive signed, in order, and verify with the library', T, async () => {
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    const a = await connect(server.url, '/ws', { token: server.token(alice) });
    const b = await connect(server.url, '/ws', { token: server.token(bob) });
    try {
      const created = await request(a, 'conversation:create', { participantIds: [bob] });
      assert.equal(created.ok, true, JSON.stringify(created));
      const conversationId = created.conversation.id;
      for (const n of [1, 2, 3]) {
        const ack = await request(a, 'message:send', { conversationId, clientMsgId: `m${n}`, content: `hi ${n}` });
        assert.equal(ack.ok, true, JSON.stringify(ack));
      }
      const chat = () => receiver.requests.filter((r) => !JSON.parse(r.body).type.startsWith('user.'));
      const onlines = () => receiver.requests.filter((r) => JSON.parse(r.body).type === 'user.online');
      await eventually(() => {
        assert.ok(chat().length >= 4, `${chat().length} of 4 chat events arrived`);
        assert.ok(onlines().length >= 2, `${onlines().length} of 2 user.online arrived`);
      }, WAIT);

      // Every request verifies, presence events (alice and bob came online) included.
      const hook = new Webhook(secret);
      const all = receiver.requests.map(({ headers, body }) => {
        assert.equal(headers['content-type'], 'application/json');
        // Throws WebhookVerificationError on a bad signature or a stale timestamp.
        const verified = hook.verify(body, headers);
        assert.deepEqual(verified, JSON.parse(body));
        return { id: headers['webhook-id'], ...verified };
      });
      const online = all.filter((e) => e.type === 'user.online').map((e) => e.data.userId);
      assert.deepEqual(online.sort(), [alice, bob].sort());
      const events = all.filter((e) => !e.type.startsWith('user.'));
      assert.deepEqual(
        events.map((e) => e.type),
        ['conversation.created', 'message.created', 'message.created', 'message.created'],
      );
      assert.equal(events[0].data.id, conversationId);
      assert.deepEqual(
        events.slice(1).map((e) => [e.data.conversationId, e.data.seq, e.data.content, e.data.senderId]),
        [1, 2, 3].map((n) => [conversationId, n, `hi ${n}`, alice]),
      );
      for (const e of events) {
        assert.match(e.id, /^msg_[0-9a-f]{32}$/);
        assert.ok(!Number.isNaN(Date.parse(e.timestamp)), e.timestamp);
      }
      assert.equal(new Set(all.map((e) => e.id)).size, all.length, 'distinct webhook-ids');

      // The check can fail: another secret, or a body changed in transit, does not verify.
      const { headers, body } = chat()[1];
      const other = new Webhook(`whsec_${randomBytes(32).toString('base64')}`);
      assert.throws(() => other.verify(body, headers), WebhookVerificationError);
      assert.throws(() => hook.verify(body.replace('hi 1', 'hi 9'), headers), WebhookVerificationError);
    } finally {
      closeAll(a, b);
    }
  });
});
