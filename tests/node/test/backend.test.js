// client-examples/backend against a real gateway: its welcome.js creates a conversation and
// posts a system message over the HTTP API, which the users' sockets receive; the backend
// server itself is the gateway's webhook receiver (verifying with the `standardwebhooks`
// package), its connect and subscribe hook and its RPC endpoint.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { EXAMPLES, cliToken, describeRun, runChild } from '../lib/child.js';
import { Recorder, closeAll, connect, connectError, eventually, request, startServer, uniqueUser } from '../lib/helpers.js';


const T = { timeout: 45_000 };
const HOOK = { timeout: 150_000 };
const SUITE = { timeout: 400_000 };
const BACKEND = join(EXAMPLES, 'backend');
const secret = () => `whsec_${randomBytes(32).toString('base64')}`;

async function ensureInstalled() {
  if (existsSync(join(BACKEND, 'node_modules', 'standardwebhooks', 'package.json'))) return;
  const r = await runChild('npm', ['ci', '--no-audit', '--no-fund'], { cwd: BACKEND, timeoutMs: 120_000 });
  assert.equal(r.code, 0, `npm ci in client-examples/backend failed: ${describeRun(r)}`);
}

/** A port free a moment ago: the gateway must know the backend's address before it starts. */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Runs client-examples/backend/server.js; resolves once it listens, with its log. */
async function startBackend(env) {
  const child = spawn(process.execPath, ['server.js'], { cwd: BACKEND, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  const collect = (chunk) => log.push(...chunk.toString('utf8').split('\n').filter(Boolean));
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  await eventually(() => assert.ok(log.some((l) => l.startsWith('backend listening on')), log.join('\n')), { timeoutMs: 10_000 });
  return { log, stop: () => child.kill('SIGTERM') };
}

describe('client-examples/backend', SUITE, () => {
  let gateway;
  let backend;
  let serviceToken;
  let configDir;

  before(async () => {
    await ensureInstalled();
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const [webhookSecret, hooksSecret] = [secret(), secret()];
    configDir = mkdtempSync(join(tmpdir(), 'switchyard-backend-'));
    const config = join(configDir, 'switchyard.toml');
    // The backend decides who subscribes to `vip:*`; the rest are the contract's defaults.
    writeFileSync(config, ['public:*', 'user:{sub}', 'pitch:*', 'feature:*', 'task:*'].map((p) => `[[channel_rules]]\npattern = "${p}"\nallow = "any"\n`).join('\n') +
      '\n[[channel_rules]]\npattern = "vip:*"\nallow = "backend"\n');
    gateway = await startServer({
      SWITCHYARD_WEBHOOK_URL: `${base}/webhooks`,
      SWITCHYARD_WEBHOOK_SECRET: webhookSecret,
      SWITCHYARD_HOOKS_CONNECT_URL: `${base}/hooks/connect`,
      SWITCHYARD_HOOKS_SUBSCRIBE_URL: `${base}/hooks/subscribe`,
      SWITCHYARD_HOOKS_RPC_URL: `${base}/rpc`,
      SWITCHYARD_HOOKS_SECRET: hooksSecret,
    }, { args: ['--config', config] });
    serviceToken = await cliToken(gateway.secret, uniqueUser('backend'), ['service']);
    backend = await startBackend({
      PORT: String(port),
      SWITCHYARD_WEBHOOK_SECRET: webhookSecret,
      SWITCHYARD_HOOKS_SECRET: hooksSecret,
      SWITCHYARD_URL: gateway.url,
      SERVICE_TOKEN: serviceToken,
    });
  }, HOOK);
  after(async () => {
    backend?.stop();
    await gateway?.stop();
    if (configDir) rmSync(configDir, { recursive: true, force: true });
  }, HOOK);

  /** Runs welcome.js for `ids`; asserts exit 0 and the final OK; returns its stdout lines. */
  async function welcome(ids) {
    const r = await runChild(process.execPath, ['welcome.js'], {
      cwd: BACKEND,
      env: { SWITCHYARD_URL: gateway.url, SERVICE_TOKEN: serviceToken, PARTICIPANT_IDS: ids.join(',') },
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 0, `welcome.js: ${describeRun(r)}`);
    const out = r.stdout.split('\n').filter(Boolean);
    assert.equal(out.at(-1), 'OK', describeRun(r));
    return out;
  }

  test('welcome.js: a conversation and a system message made over HTTP reach the sockets, once', T, async () => {
    const ids = [uniqueUser('alice'), uniqueUser('bob')];
    const sockets = await Promise.all(ids.map((id) => connect(gateway.url, '/ws', { token: gateway.token(id) })));
    const [alice, bob] = sockets.map((s) => new Recorder(s));
    try {
      const out = await welcome(ids);
      const [, conversationId] = /^conversation (\S+) with .* \(created\)$/.exec(out[0]) ?? [];
      assert.ok(conversationId, out.join('\n'));
      assert.match(out[1], /^system message seq 1 from \{system\}: Welcome! Say hello to each other\. \(posted\)$/);
      assert.equal(out[2], 'retry: same conversation, same message');
      for (const r of [alice, bob]) {
        const { conversation } = await r.nextData('conversation:new');
        assert.deepEqual([conversation.id, conversation.title, conversation.participantIds], [conversationId, 'Welcome', [...ids].sort()]);
        const { message } = await r.nextData('message:new');
        assert.deepEqual([message.conversationId, message.senderId, message.seq], [conversationId, '{system}', 1]);
      }
      // A second run finds both and tells no one.
      const again = await welcome(ids);
      assert.match(again[0], new RegExp(`^conversation ${conversationId} .*\\(already there\\)$`));
      assert.match(again[1], /\(already there\)$/);
      await alice.none('conversation:new');
      await bob.none('message:new');
      // The conversation is theirs like any other: bob answers on his socket.
      const sent = await request(sockets[1], 'message:send', { conversationId, clientMsgId: 'hi', content: 'hello alice' });
      assert.equal(sent.ok, true, JSON.stringify(sent));
      assert.equal((await alice.nextData('message:new')).message.seq, 2);
    } finally {
      closeAll(sockets);
    }
  });

  test('the backend hears the gateway\'s webhooks, verified with standardwebhooks', { ...T }, async () => {
    const ids = [uniqueUser('carol'), uniqueUser('dan')];
    await welcome(ids);
    await eventually(() => {
      assert.ok(backend.log.some((l) => /^webhook conversation\.created \S+$/.test(l)), backend.log.join('\n'));
      assert.ok(backend.log.some((l) => /^webhook message\.created \S+$/.test(l)), backend.log.join('\n'));
    }, { timeoutMs: 10_000 });
  });

  test('the connect hook refuses a banned user and grants a channel to the others', { ...T }, async () => {
    const refused = await connectError(gateway.url, '/realtime', { token: gateway.token(uniqueUser('banned')) });
    assert.equal(refused, 'forbidden');
    const id = uniqueUser('erin');
    const socket = await connect(gateway.url, '/realtime', { token: gateway.token(id) });
    try {
      const ack = await request(socket, 'subscribe', { channels: [`inbox:${id}`, 'inbox:someone-else'] });
      assert.deepEqual(ack.subscribed, [`inbox:${id}`], JSON.stringify(ack));
    } finally {
      socket.close();
    }
  });

  test('the subscribe hook lets VIPs into vip:* channels only', { ...T }, async () => {
    const [vip, plain] = await Promise.all(
      [uniqueUser('vip'), uniqueUser('frank')].map((id) => connect(gateway.url, '/realtime', { token: gateway.token(id) })),
    );
    try {
      const yes = await request(vip, 'subscribe', { channels: ['vip:lounge'] });
      assert.deepEqual(yes.subscribed, ['vip:lounge'], JSON.stringify(yes));
      const no = await request(plain, 'subscribe', { channels: ['vip:lounge'] });
      assert.deepEqual(no.denied, [{ channel: 'vip:lounge', code: 'forbidden' }], JSON.stringify(no));
    } finally {
      closeAll(vip, plain);
    }
  });

  test('RPC: echo, an unknown method, and pitch.viewed telling the owner over the HTTP API', { ...T }, async () => {
    const [viewerId, ownerId] = [uniqueUser('gina'), uniqueUser('hank')];
    const viewer = await connect(gateway.url, '/realtime', { token: gateway.token(viewerId) });
    const ownerSocket = await connect(gateway.url, '/ws', { token: gateway.token(ownerId) });
    const owner = new Recorder(ownerSocket);
    try {
      assert.deepEqual(await request(viewer, 'rpc', { method: 'echo', data: { n: 1 } }), { ok: true, data: { n: 1 } });
      const unknown = await request(viewer, 'rpc', { method: 'nope', data: {} });
      assert.equal(unknown.error?.code, 'not_found', JSON.stringify(unknown));
      const viewed = await request(viewer, 'rpc', { method: 'pitch.viewed', data: { pitchId: 'p1', ownerId } });
      assert.equal(viewed.data?.views, 1, JSON.stringify(viewed));
      const { conversation } = await owner.nextData('conversation:new');
      assert.equal(conversation.title, 'Pitch activity');
      const { message } = await owner.nextData('message:new');
      assert.deepEqual([message.senderId, message.content], ['{system}', `${viewerId} viewed your pitch p1 (1 view)`]);
    } finally {
      closeAll(viewer, ownerSocket);
    }
  });
});
