// PROTOCOL.md §3 and §6: /realtime channels, POST /api/v1/publish, recovery with `since`,
// drafts, activity and latency. Socket tests run once per transport.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  Recorder,
  closeAll,
  connect,
  errorCodeOf,
  expiredToken,
  request,
  sleep,
  startServer,
  uniqueUser,
} from '../lib/helpers.js';

const T = { timeout: 20_000 };
const HOOK = { timeout: 30_000 };
const SUITE = { timeout: 120_000 };
const TRANSPORTS = ['websocket', 'polling'];

/** A channel name no other test uses. */
const channelName = (scope = 'public') => `${scope}:${uniqueUser('ch')}`;

function assertTimestamp(value, notBefore, notAfter, label) {
  assert.ok(Number.isInteger(value), `${label} is not an integer: ${JSON.stringify(value)}`);
  assert.ok(value >= notBefore - 1000 && value <= notAfter + 1000, `${label} ${value} is not within [${notBefore}, ${notAfter}]`);
}

/** An `event` payload: exactly its six fields, matching the publish that made it. */
function assertPublication(p, { channel, event, data, offset, epoch, since, until }) {
  assert.deepEqual(Object.keys(p).sort(), ['channel', 'data', 'epoch', 'event', 'offset', 'ts'], JSON.stringify(p));
  assert.equal(p.channel, channel);
  assert.equal(p.event, event);
  assert.deepEqual(p.data, data);
  assert.equal(p.offset, offset);
  assert.equal(p.epoch, epoch);
  assertTimestamp(p.ts, since, until ?? Date.now(), 'ts');
}

function assertHttpError(res, status, code) {
  assert.equal(res.status, status, `status ${res.status}: ${res.text}`);
  assert.match(res.type, /^application\/json/);
  assert.equal(res.json?.error?.code, code, res.text);
  assert.equal(typeof res.json.error.message, 'string');
}

/** The helpers every describe below needs, bound to `server()` and one transport. */
function realtimeClient(server, transport, open) {
  async function join(sub, claims = {}) {
    const socket = await connect(server().url, '/realtime', { token: server().token(sub, claims), transports: [transport] });
    open.push(socket);
    return { sub, socket, rec: new Recorder(socket) };
  }

  function subscribe(who, channels, since) {
    return request(who.socket, 'subscribe', since === undefined ? { channels } : { channels, since });
  }

  /** Publishes through the HTTP API as a service; asserts 202 `{offset, epoch}`. */
  async function publish(channel, event, data, extra = {}) {
    const since = Date.now();
    const res = await server().call('POST', '/api/v1/publish', {
      token: server().serviceToken(),
      body: { channel, event, data, ...extra },
    });
    assert.equal(res.status, 202, `publish to ${channel}: ${res.status} ${res.text}`);
    assert.deepEqual(Object.keys(res.json ?? {}).sort(), ['epoch', 'offset'], res.text);
    assert.ok(Number.isInteger(res.json.offset), res.text);
    assert.equal(typeof res.json.epoch, 'string', res.text);
    assert.ok(res.json.epoch.length > 0, res.text);
    return { channel, event, data, ...res.json, since, until: Date.now() };
  }

  return { join, subscribe, publish };
}

for (const transport of TRANSPORTS) {
  describe(`/realtime channels over ${transport}`, SUITE, () => {
    let server;
    const open = [];
    const { join, subscribe, publish } = realtimeClient(() => server, transport, open);

    before(async () => {
      server = await startServer();
    }, HOOK);
    after(async () => {
      closeAll(open);
      await server?.stop();
    }, HOOK);

    test('subscribe to channels anyone may join answers subscribed, and nothing else', T, async () => {
      const alice = await join(uniqueUser('alice'));
      try {
        const channels = ['public', 'pitch', 'feature', 'task'].map((scope) => channelName(scope));
        const ack = await subscribe(alice, channels);
        assert.deepEqual(ack, { ok: true, subscribed: channels, denied: [], recovered: {}, missed: {} });
        // Subscribing again is harmless and answers the same.
        assert.deepEqual(await subscribe(alice, channels.slice(0, 1)), {
          ok: true,
          subscribed: channels.slice(0, 1),
          denied: [],
          recovered: {},
          missed: {},
        });
        // Every one of them delivers.
        for (const channel of channels) {
          const p = await publish(channel, 'hello', { channel });
          assertPublication(await alice.rec.nextData('event', (d) => d.channel === channel), { ...p, offset: 1 });
        }
        await alice.rec.none('event');
      } finally {
        closeAll(alice.socket);
      }
    });

    test('bad channel names are denied invalid_payload one by one; good ones still subscribe', T, async () => {
      const alice = await join(uniqueUser('alice'));
      try {
        const good = channelName();
        const longest = `public:${'x'.repeat(193)}`; // exactly 200 characters
        assert.equal(longest.length, 200);
        const bad = [
          'nocolon',
          'public:with space',
          ' public:lead',
          `public:${'x'.repeat(194)}`, // 201 characters
          'public:caf\u00e9',
          'public:\u{1F600}',
          ':x',
          'public:',
          '',
        ];
        const ack = await subscribe(alice, [bad[0], good, ...bad.slice(1), longest]);
        assert.equal(ack.ok, true, JSON.stringify(ack));
        assert.deepEqual(ack.subscribed, [good, longest]);
        const byName = (a, b) => (a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : 0);
        assert.deepEqual(
          [...ack.denied].sort(byName),
          bad.map((channel) => ({ channel, code: 'invalid_payload' })).sort(byName),
        );
        assert.deepEqual(ack.recovered, {});
        assert.deepEqual(ack.missed, {});
      } finally {
        closeAll(alice.socket);
      }
    });

    test('a channels field that is not a non-empty array fails the whole subscribe', T, async () => {
      const alice = await join(uniqueUser('alice'));
      try {
        const channel = channelName();
        for (const payload of [
          { channels: channel },
          { channels: [] },
          { channels: { [channel]: true } },
          { channels: null },
          { channels: 7 },
          {},
          channel,
          [channel],
        ]) {
          const ack = await request(alice.socket, 'subscribe', payload);
          assert.equal(errorCodeOf(ack), 'invalid_payload', `${JSON.stringify(payload)} -> ${JSON.stringify(ack)}`);
          assert.equal(ack.subscribed, undefined, JSON.stringify(ack));
        }
        // None of them subscribed anything.
        await publish(channel, 'tick', 1);
        await alice.rec.none('event');
        // unsubscribe is checked the same way.
        for (const payload of [{ channels: channel }, { channels: [] }, {}]) {
          const ack = await request(alice.socket, 'unsubscribe', payload);
          assert.equal(errorCodeOf(ack), 'invalid_payload', `unsubscribe ${JSON.stringify(payload)} -> ${JSON.stringify(ack)}`);
        }
      } finally {
        closeAll(alice.socket);
      }
    });

    test('user:{sub} is its owner\'s alone, admin:* needs the admin role, other scopes the channels claim', T, async () => {
      const aliceId = uniqueUser('alice');
      const bobId = uniqueUser('bob');
      const team = uniqueUser('team');
      const adminChannel = channelName('admin');
      const teamChat = `${team}:7:chat`;
      const alice = await join(aliceId);
      const root = await join(uniqueUser('root'), { roles: ['admin'] });
      const carol = await join(uniqueUser('carol'), { channels: [`${team}:7:*`] });
      try {
        const denied = [`user:${bobId}`, `user:${aliceId}x`, adminChannel, teamChat, `private:${team}`];
        const ack = await subscribe(alice, [`user:${aliceId}`, ...denied]);
        assert.deepEqual(ack, {
          ok: true,
          subscribed: [`user:${aliceId}`],
          denied: denied.map((channel) => ({ channel, code: 'forbidden' })),
          recovered: {},
          missed: {},
        });

        assert.deepEqual(await subscribe(root, [adminChannel]), {
          ok: true,
          subscribed: [adminChannel],
          denied: [],
          recovered: {},
          missed: {},
        });
        // The admin role is no key to someone else's user channel.
        const rootOnBob = await subscribe(root, [`user:${bobId}`]);
        assert.deepEqual(rootOnBob.denied, [{ channel: `user:${bobId}`, code: 'forbidden' }]);

        const carolAck = await subscribe(carol, [teamChat, `${team}:8:chat`, adminChannel]);
        assert.deepEqual(carolAck, {
          ok: true,
          subscribed: [teamChat],
          denied: [
            { channel: `${team}:8:chat`, code: 'forbidden' },
            { channel: adminChannel, code: 'forbidden' },
          ],
          recovered: {},
          missed: {},
        });

        // Deliveries follow the subscriptions.
        const a = await publish(adminChannel, 'ops', { level: 1 });
        assertPublication(await root.rec.nextData('event'), { ...a, offset: 1 });
        const t = await publish(teamChat, 'chat', { text: 'hi team' });
        assertPublication(await carol.rec.nextData('event'), { ...t, offset: 1 });
        await alice.rec.none('event');
        await root.rec.none('event', () => true, 0);
        await carol.rec.none('event', () => true, 0);
      } finally {
        closeAll(alice.socket, root.socket, carol.socket);
      }
    });

    test('every socket is subscribed to its own user:{sub} at connect', T, async () => {
      const aliceId = uniqueUser('alice');
      const alice1 = await join(aliceId);
      const alice2 = await join(aliceId);
      const bob = await join(uniqueUser('bob'));
      try {
        const p = await publish(`user:${aliceId}`, 'notice', { text: 'for alice' });
        assert.equal(p.offset, 1);
        for (const who of [alice1, alice2]) assertPublication(await who.rec.nextData('event'), p);
        await bob.rec.none('event');
      } finally {
        closeAll(alice1.socket, alice2.socket, bob.socket);
      }
    });

    test('publications reach subscribers only, numbered from 1 per channel in one epoch', T, async () => {
      const alice = await join(uniqueUser('alice'));
      const bob = await join(uniqueUser('bob'));
      const carol = await join(uniqueUser('carol'));
      try {
        const channel = channelName();
        const other = channelName('task');
        await subscribe(alice, [channel, other]);
        await subscribe(bob, [channel]);
        await subscribe(carol, [other]);

        const payloads = [{ n: 1, nested: { list: [1, 'two', null] } }, 'a string', [1, 2, 3]];
        const sent = [];
        for (const data of payloads) sent.push(await publish(channel, 'tick', data));
        assert.deepEqual(sent.map((p) => p.offset), [1, 2, 3]);
        assert.equal(new Set(sent.map((p) => p.epoch)).size, 1, 'the epoch changed between publications');

        for (const who of [alice, bob]) {
          for (const p of sent) assertPublication(await who.rec.nextData('event', (d) => d.channel === channel), p);
        }
        await carol.rec.none('event');

        // Another channel counts on its own.
        const first = await publish(other, 'task:done', { id: 9 });
        assert.equal(first.offset, 1);
        assertPublication(await carol.rec.nextData('event'), first);
        assertPublication(await alice.rec.nextData('event', (d) => d.channel === other), first);
        await bob.rec.none('event');
        assert.equal((await publish(channel, 'tick', 4)).offset, 4);
      } finally {
        closeAll(alice.socket, bob.socket, carol.socket);
      }
    });

    test('unsubscribe answers ok and stops that socket\'s events from those channels only', T, async () => {
      const aliceId = uniqueUser('alice');
      const alice1 = await join(aliceId);
      const alice2 = await join(aliceId);
      try {
        const left = channelName();
        const kept = channelName();
        await subscribe(alice1, [left, kept]);
        await subscribe(alice2, [left]);

        assert.deepEqual(await request(alice1.socket, 'unsubscribe', { channels: [left] }), { ok: true });
        const p1 = await publish(left, 'tick', 1);
        const p2 = await publish(kept, 'tick', 2);
        // kept arrives after left would have: left never comes.
        assertPublication(await alice1.rec.nextData('event'), p2);
        await alice1.rec.none('event');
        // alice's other socket keeps its own subscription.
        assertPublication(await alice2.rec.nextData('event'), p1);

        // Unsubscribing from a channel the socket is not in is harmless.
        assert.deepEqual(await request(alice1.socket, 'unsubscribe', { channels: [channelName(), left] }), { ok: true });
        assert.deepEqual(await request(alice1.socket, 'unsubscribe', { channels: [kept] }), { ok: true });
        await publish(kept, 'tick', 3);
        await alice1.rec.none('event');
      } finally {
        closeAll(alice1.socket, alice2.socket);
      }
    });

    test('a repeated idempotencyKey returns the first offset and epoch and delivers nothing new', T, async () => {
      const alice = await join(uniqueUser('alice'));
      try {
        const channel = channelName();
        await subscribe(alice, [channel]);
        const key = uniqueUser('idem');
        const first = await publish(channel, 'order', { id: 1 }, { idempotencyKey: key });
        assert.equal(first.offset, 1);
        assertPublication(await alice.rec.nextData('event'), first);

        for (let i = 0; i < 2; i += 1) {
          const again = await publish(channel, 'order', { id: 1 }, { idempotencyKey: key });
          assert.deepEqual({ offset: again.offset, epoch: again.epoch }, { offset: first.offset, epoch: first.epoch });
        }
        await alice.rec.none('event');

        // The repeats used no offset; another key is a new publication.
        const next = await publish(channel, 'order', { id: 2 }, { idempotencyKey: uniqueUser('idem') });
        assert.equal(next.offset, 2);
        assertPublication(await alice.rec.nextData('event'), next);
        const plain = await publish(channel, 'order', { id: 3 });
        assert.equal(plain.offset, 3);
        assertPublication(await alice.rec.nextData('event'), plain);
      } finally {
        closeAll(alice.socket);
      }
    });

    test('concurrent publishes reach a subscriber in offset order, each once', T, async () => {
      // A client keeps the last offset it saw for recovery: a publication delivered after a
      // higher offset is lost for good if the client reconnects in between.
      const alice = await join(uniqueUser('alice'));
      try {
        const channel = channelName();
        await subscribe(alice, [channel]);
        const token = server.serviceToken();
        // The race does not show every time: up to 10 bursts, stopping at the first disorder.
        const rounds = 10;
        const perRound = 60;
        const received = [];
        for (let round = 0; round < rounds; round += 1) {
          const results = await Promise.all(
            Array.from({ length: perRound }, (_, i) =>
              server.call('POST', '/api/v1/publish', { token, body: { channel, event: 'burst', data: { round, i } } }),
            ),
          );
          assert.deepEqual(results.map((r) => r.status), Array(perRound).fill(202));
          for (let i = 0; i < perRound; i += 1) received.push((await alice.rec.nextData('event')).offset);
          const expected = Array.from({ length: received.length }, (_, i) => i + 1);
          if (received.some((offset, i) => offset !== expected[i])) break;
        }
        await alice.rec.none('event');
        const inversions = received.filter((offset, i) => i > 0 && offset < received[i - 1]);
        assert.deepEqual(
          received,
          Array.from({ length: received.length }, (_, i) => i + 1),
          `${inversions.length} publications arrived after a higher offset: ${received.join(',')}`,
        );
      } finally {
        closeAll(alice.socket);
      }
    });

    test('concurrent publishes with one idempotencyKey publish once', T, async () => {
      const alice = await join(uniqueUser('alice'));
      try {
        const channel = channelName();
        await subscribe(alice, [channel]);
        const key = uniqueUser('idem');
        const token = server.serviceToken();
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            server.call('POST', '/api/v1/publish', { token, body: { channel, event: 'order', data: { i }, idempotencyKey: key } }),
          ),
        );
        assert.deepEqual(results.map((r) => r.status), Array(10).fill(202));
        assert.equal(new Set(results.map((r) => `${r.json.epoch}/${r.json.offset}`)).size, 1, results.map((r) => r.text).join(' '));
        assert.equal(results[0].json.offset, 1);
        const event = await alice.rec.nextData('event');
        assert.equal(event.offset, 1);
        await alice.rec.none('event', () => true, 500);
      } finally {
        closeAll(alice.socket);
      }
    });

    test('subscribe with since recovers exactly what a disconnected subscriber missed', T, async () => {
      const aliceId = uniqueUser('alice');
      const alice = await join(aliceId);
      const witness = await join(uniqueUser('witness'));
      const sockets = [alice.socket, witness.socket];
      try {
        const channel = channelName();
        const other = channelName();
        await subscribe(alice, [channel]);
        await subscribe(witness, [channel]);
        await publish(channel, 'tick', 1);
        await publish(channel, 'tick', 2);
        const seen = [await alice.rec.nextData('event'), await alice.rec.nextData('event')];
        assert.deepEqual(seen.map((p) => p.offset), [1, 2]);
        const last = seen[1];

        alice.socket.disconnect();
        await sleep(100);
        const gap = [];
        for (let n = 3; n <= 5; n += 1) gap.push(await publish(channel, 'tick', n));
        const witnessed = [];
        for (let i = 0; i < 5; i += 1) witnessed.push(await witness.rec.nextData('event'));
        const expected = witnessed.slice(2);
        gap.forEach((p, i) => assertPublication(expected[i], p));

        // Back with a new socket: since names one channel of the two.
        const back = await join(aliceId);
        sockets.push(back.socket);
        const ack = await subscribe(back, [channel, other], { [channel]: { epoch: last.epoch, offset: last.offset } });
        assert.deepEqual(ack, {
          ok: true,
          subscribed: [channel, other],
          denied: [],
          recovered: { [channel]: true },
          missed: { [channel]: expected },
        });
        // And it is live again.
        const live = await publish(channel, 'tick', 6);
        assertPublication(await back.rec.nextData('event'), live);
        await back.rec.none('event');

        // Up to date: recovered, nothing missed.
        const current = await join(aliceId);
        sockets.push(current.socket);
        assert.deepEqual(await subscribe(current, [channel], { [channel]: { epoch: live.epoch, offset: 6 } }), {
          ok: true,
          subscribed: [channel],
          denied: [],
          recovered: { [channel]: true },
          missed: { [channel]: [] },
        });

        // Another epoch: not recovered, and nothing replayed.
        const stale = await join(aliceId);
        sockets.push(stale.socket);
        assert.deepEqual(await subscribe(stale, [channel], { [channel]: { epoch: `${live.epoch}x`, offset: 2 } }), {
          ok: true,
          subscribed: [channel],
          denied: [],
          recovered: { [channel]: false },
          missed: { [channel]: [] },
        });
        // Not recovered, but subscribed all the same.
        const after = await publish(channel, 'tick', 7);
        assertPublication(await stale.rec.nextData('event'), after);
      } finally {
        closeAll(sockets);
      }
    });

    test('draft:sync versions a user\'s drafts and tells the user\'s other sockets', T, async () => {
      const aliceId = uniqueUser('alice');
      const alice1 = await join(aliceId);
      const alice2 = await join(aliceId);
      const bob = await join(uniqueUser('bob'));
      try {
        const draftId = uniqueUser('draft');
        assert.equal(errorCodeOf(await request(alice1.socket, 'draft:get', { draftId })), 'not_found');

        const t0 = Date.now();
        assert.deepEqual(await request(alice1.socket, 'draft:sync', { draftId, baseVersion: 0, content: 'Hello' }), {
          ok: true,
          version: 1,
        });
        assert.deepEqual(await alice2.rec.nextData('draft:updated'), { draftId, version: 1, content: 'Hello' });
        const got = await request(alice2.socket, 'draft:get', { draftId });
        assert.deepEqual(Object.keys(got).sort(), ['content', 'ok', 'updatedAt', 'version']);
        assert.equal(got.ok, true);
        assert.equal(got.version, 1);
        assert.equal(got.content, 'Hello');
        assertTimestamp(got.updatedAt, t0, Date.now(), 'updatedAt');

        // The other socket builds on version 1.
        assert.deepEqual(await request(alice2.socket, 'draft:sync', { draftId, baseVersion: 1, content: 'Hello, world' }), {
          ok: true,
          version: 2,
        });
        assert.deepEqual(await alice1.rec.nextData('draft:updated'), { draftId, version: 2, content: 'Hello, world' });

        // alice1 still on version 1: conflict, with the current draft.
        for (const baseVersion of [1, 0, 5]) {
          const stale = await request(alice1.socket, 'draft:sync', { draftId, baseVersion, content: 'Hello?' });
          assert.equal(errorCodeOf(stale), 'conflict', `baseVersion ${baseVersion}: ${JSON.stringify(stale)}`);
          assert.deepEqual(stale.current, { version: 2, content: 'Hello, world' }, `baseVersion ${baseVersion}`);
        }
        const kept = await request(alice1.socket, 'draft:get', { draftId });
        assert.equal(kept.version, 2);
        assert.equal(kept.content, 'Hello, world');

        // Neither the writer nor other users got any draft:updated beyond the above.
        await alice2.rec.none('draft:updated');
        await alice1.rec.none('draft:updated', () => true, 0);
        assert.equal(bob.rec.all('draft:updated').length, 0);

        // bob's draft of the same id is his own.
        assert.equal(errorCodeOf(await request(bob.socket, 'draft:get', { draftId })), 'not_found');
        assert.deepEqual(await request(bob.socket, 'draft:sync', { draftId, baseVersion: 0, content: 'bob' }), {
          ok: true,
          version: 1,
        });
        assert.equal((await request(alice1.socket, 'draft:get', { draftId })).content, 'Hello, world');
        assert.equal((await request(bob.socket, 'draft:get', { draftId })).content, 'bob');
        await alice1.rec.none('draft:updated');

        for (const payload of [
          {},
          { baseVersion: 0, content: 'x' },
          { draftId, baseVersion: -1, content: 'x' },
          { draftId, baseVersion: '1', content: 'x' },
          { draftId, baseVersion: 2 },
          { draftId, baseVersion: 2, content: 42 },
        ]) {
          const ack = await request(alice1.socket, 'draft:sync', payload);
          assert.equal(errorCodeOf(ack), 'invalid_payload', `${JSON.stringify(payload)} -> ${JSON.stringify(ack)}`);
        }
        assert.equal(errorCodeOf(await request(alice1.socket, 'draft:get', {})), 'invalid_payload');
        assert.equal((await request(alice1.socket, 'draft:get', { draftId })).version, 2);
      } finally {
        closeAll(alice1.socket, alice2.socket, bob.socket);
      }
    });

    test('concurrent draft:sync on one base version: exactly one wins, the others conflict', T, async () => {
      const aliceId = uniqueUser('alice');
      const alice1 = await join(aliceId);
      const alice2 = await join(aliceId);
      try {
        const draftId = uniqueUser('draft');
        assert.deepEqual(await request(alice1.socket, 'draft:sync', { draftId, baseVersion: 0, content: 'v1' }), { ok: true, version: 1 });
        const attempts = [alice1, alice2, alice1, alice2].map((who, i) =>
          request(who.socket, 'draft:sync', { draftId, baseVersion: 1, content: `edit ${i}` }),
        );
        const acks = await Promise.all(attempts);
        const winners = acks.map((ack, i) => [ack, i]).filter(([ack]) => ack.ok === true);
        assert.equal(winners.length, 1, JSON.stringify(acks));
        const [[won, index]] = winners;
        assert.deepEqual(won, { ok: true, version: 2 });
        for (const ack of acks.filter((a) => a.ok !== true)) {
          assert.equal(errorCodeOf(ack), 'conflict');
          assert.deepEqual(ack.current, { version: 2, content: `edit ${index}` });
        }
        const stored = await request(alice2.socket, 'draft:get', { draftId });
        assert.deepEqual({ version: stored.version, content: stored.content }, { version: 2, content: `edit ${index}` });
      } finally {
        closeAll(alice1.socket, alice2.socket);
      }
    });

    test('activity, latency:ping and unknown events', T, async () => {
      const alice = await join(uniqueUser('alice'));
      try {
        assert.deepEqual(await request(alice.socket, 'activity', { kind: 'typing' }), { ok: true });
        assert.deepEqual(await request(alice.socket, 'activity', { kind: 'viewing', target: 'doc-1' }), { ok: true });
        for (const payload of [{}, { target: 'doc-1' }, { kind: 5 }]) {
          const ack = await request(alice.socket, 'activity', payload);
          assert.equal(errorCodeOf(ack), 'invalid_payload', `${JSON.stringify(payload)} -> ${JSON.stringify(ack)}`);
        }

        for (const t of [1234567, 'client-clock', 0.5]) {
          const before = Date.now();
          const pong = await request(alice.socket, 'latency:ping', { t });
          assert.deepEqual(Object.keys(pong).sort(), ['ok', 'serverTime', 't']);
          assert.equal(pong.ok, true);
          assert.deepEqual(pong.t, t);
          assertTimestamp(pong.serverTime, before, Date.now(), 'serverTime');
        }
        assert.equal(errorCodeOf(await request(alice.socket, 'latency:ping', {})), 'invalid_payload');

        for (const event of ['no:such:event', 'message:send', 'publish']) {
          const ack = await request(alice.socket, event, { channel: channelName() });
          assert.equal(errorCodeOf(ack), 'invalid_payload', `${event}: ${JSON.stringify(ack)}`);
        }
        alice.socket.emit('no:such:event', {});
        assert.equal((await alice.rec.nextData('error')).code, 'invalid_payload');
        assert.equal(alice.socket.connected, true);
      } finally {
        closeAll(alice.socket);
      }
    });
  });
}

describe('POST /api/v1/publish refusals', SUITE, () => {
  let server;
  const open = [];
  const { join, subscribe, publish } = realtimeClient(() => server, 'websocket', open);

  before(async () => {
    server = await startServer();
  }, HOOK);
  after(async () => {
    closeAll(open);
    await server?.stop();
  }, HOOK);

  test('missing, bad and role-less tokens, bad channels, empty events and bad JSON publish nothing', T, async () => {
    const alice = await join(uniqueUser('alice'));
    try {
      const channel = channelName();
      await subscribe(alice, [channel]);
      const body = { channel, event: 'tick', data: { n: 1 } };
      const post = (options) => server.call('POST', '/api/v1/publish', options);
      const service = server.serviceToken();

      assertHttpError(await post({ body }), 401, 'missing_token');
      assertHttpError(await post({ body, token: 'garbage' }), 401, 'invalid_token');
      assertHttpError(await post({ body, token: expiredToken(server.secret, uniqueUser('svc')) }), 401, 'token_expired');
      assertHttpError(await post({ body, token: server.token(uniqueUser('user')) }), 403, 'forbidden');
      assertHttpError(await post({ body, token: server.adminToken() }), 403, 'forbidden');
      assertHttpError(
        await post({ body, token: server.token(uniqueUser('user'), { channels: ['*'], roles: ['user'] }) }),
        403,
        'forbidden',
      );

      for (const bad of ['nocolon', 'public:with space', `public:${'x'.repeat(194)}`, 'public:caf\u00e9', '']) {
        assertHttpError(await post({ body: { ...body, channel: bad }, token: service }), 422, 'invalid_payload');
      }
      assertHttpError(await post({ body: { ...body, event: '' }, token: service }), 422, 'invalid_payload');
      assertHttpError(await post({ body: { channel, data: 1 }, token: service }), 422, 'invalid_payload');
      assertHttpError(await post({ body: { event: 'tick', data: 1 }, token: service }), 422, 'invalid_payload');
      assertHttpError(await post({ rawBody: '{"channel": "public:a", "event": ', token: service }), 400, 'invalid_payload');
      assertHttpError(await post({ rawBody: 'not json at all', token: service }), 400, 'invalid_payload');

      // None of it reached the subscriber or used an offset.
      await alice.rec.none('event');
      const ok = await publish(channel, 'tick', { n: 1 });
      assert.equal(ok.offset, 1);
      assertPublication(await alice.rec.nextData('event'), ok);
    } finally {
      closeAll(alice.socket);
    }
  });
});

describe('recovery with SWITCHYARD_HISTORY_SIZE=3', SUITE, () => {
  let server;
  before(async () => {
    server = await startServer({ SWITCHYARD_HISTORY_SIZE: '3' });
  }, HOOK);
  after(async () => {
    await server?.stop();
  }, HOOK);

  for (const transport of TRANSPORTS) {
    test(`missing more than the history keeps is not recovered, never partially (${transport})`, T, async () => {
      const open = [];
      const { join, subscribe, publish } = realtimeClient(() => server, transport, open);
      const aliceId = uniqueUser('alice');
      try {
        const channel = channelName();
        const alice = await join(aliceId);
        await subscribe(alice, [channel]);
        const first = await publish(channel, 'tick', 1);
        const seen = await alice.rec.nextData('event');
        assertPublication(seen, first);
        alice.socket.disconnect();
        await sleep(100);

        const gap = [];
        for (let n = 2; n <= 6; n += 1) gap.push(await publish(channel, 'tick', n));

        const back = await join(aliceId);
        assert.deepEqual(await subscribe(back, [channel], { [channel]: { epoch: seen.epoch, offset: 1 } }), {
          ok: true,
          subscribed: [channel],
          denied: [],
          recovered: { [channel]: false },
          missed: { [channel]: [] },
        });
        // One short of the kept three is still lost; exactly three back is recovered.
        const twoBack = await subscribe(back, [channel], { [channel]: { epoch: seen.epoch, offset: 2 } });
        assert.deepEqual([twoBack.recovered, twoBack.missed], [{ [channel]: false }, { [channel]: [] }]);
        const threeBack = await subscribe(back, [channel], { [channel]: { epoch: seen.epoch, offset: 3 } });
        assert.deepEqual(threeBack.recovered, { [channel]: true });
        assert.equal(threeBack.missed[channel].length, 3, JSON.stringify(threeBack));
        threeBack.missed[channel].forEach((p, i) => assertPublication(p, gap[i + 2]));
      } finally {
        closeAll(open);
      }
    });
  }
});

describe('channel history after a restart', SUITE, () => {
  for (const transport of TRANSPORTS) {
    test(`a new process has a new epoch, and the old one recovers nothing (${transport})`, T, async () => {
      const channel = channelName();
      let server = await startServer();
      const open = [];
      try {
        const first = realtimeClient(() => server, transport, open);
        const p = await first.publish(channel, 'tick', 1);
        await server.stop();
        server = await startServer();
        const second = realtimeClient(() => server, transport, open);
        const q = await second.publish(channel, 'tick', 2);
        assert.equal(q.offset, 1);
        assert.notEqual(q.epoch, p.epoch);
        const alice = await second.join(uniqueUser('alice'));
        assert.deepEqual(await second.subscribe(alice, [channel], { [channel]: { epoch: p.epoch, offset: 1 } }), {
          ok: true,
          subscribed: [channel],
          denied: [],
          recovered: { [channel]: false },
          missed: { [channel]: [] },
        });
      } finally {
        closeAll(open);
        await server.stop();
      }
    });
  }
});
