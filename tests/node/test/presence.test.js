// PROTOCOL.md §3 and §6: presence on /realtime (get, watch, set, members, join/leave,
// idle and away), the presence HTTP routes, stats and announcements. Socket tests run once
// per transport.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  Recorder,
  closeAll,
  connect,
  errorCodeOf,
  eventually,
  request,
  startServer,
  uniqueUser,
} from '../lib/helpers.js';

const T = { timeout: 20_000 };
const HOOK = { timeout: 30_000 };
const SUITE = { timeout: 120_000 };
const TRANSPORTS = ['websocket', 'polling'];

const channelName = (scope = 'public') => `${scope}:${uniqueUser('ch')}`;

function assertRecent(value, notBefore, label) {
  assert.ok(Number.isInteger(value), `${label} is not an integer: ${JSON.stringify(value)}`);
  assert.ok(value >= notBefore - 1000 && value <= Date.now() + 1000, `${label} ${value} is not after ${notBefore}`);
}

/** A `presence` event: exactly userId, status, lastSeen and (when expected) message. */
function assertPresenceEvent(event, { userId, status, message }) {
  const keys = message === undefined ? ['lastSeen', 'status', 'userId'] : ['lastSeen', 'message', 'status', 'userId'];
  assert.deepEqual(Object.keys(event).sort(), keys, JSON.stringify(event));
  assert.equal(event.userId, userId);
  assert.equal(event.status, status);
  if (message !== undefined) assert.equal(event.message, message);
  assert.ok(event.lastSeen === null || Number.isInteger(event.lastSeen), `lastSeen ${JSON.stringify(event.lastSeen)}`);
}

const offlineUnknown = (userId) => ({ userId, status: 'offline', lastSeen: null, devices: 0 });

function assertHttpError(res, status, code) {
  assert.equal(res.status, status, `status ${res.status}: ${res.text}`);
  assert.match(res.type, /^application\/json/);
  assert.equal(res.json?.error?.code, code, res.text);
  assert.equal(typeof res.json.error.message, 'string');
}

function client(server, transport, open) {
  async function join(sub, { namespace = '/realtime', claims = {}, via = transport } = {}) {
    const socket = await connect(server().url, namespace, { token: server().token(sub, claims), transports: [via] });
    open.push(socket);
    return { sub, socket, rec: new Recorder(socket) };
  }

  async function subscribe(who, channels) {
    const ack = await request(who.socket, 'subscribe', { channels });
    assert.deepEqual(ack.subscribed, channels, JSON.stringify(ack));
    return ack;
  }

  /** The one entry presence:get gives for `userId`, asked by `who`. */
  async function presenceOf(who, userId) {
    const ack = await request(who.socket, 'presence:get', { userIds: [userId] });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.equal(ack.users.length, 1, JSON.stringify(ack));
    return ack.users[0];
  }

  async function setStatus(who, status, message) {
    const ack = await request(who.socket, 'presence:set', message === undefined ? { status } : { status, message });
    assert.deepEqual(ack, { ok: true }, `presence:set ${status}`);
  }

  return { join, subscribe, presenceOf, setStatus };
}

for (const transport of TRANSPORTS) {
  describe(`/realtime presence over ${transport}`, SUITE, () => {
    let server;
    const open = [];
    const { join, subscribe, presenceOf, setStatus } = client(() => server, transport, open);

    before(async () => {
      server = await startServer();
    }, HOOK);
    after(async () => {
      closeAll(open);
      await server?.stop();
    }, HOOK);

    test('presence:get answers unknown users offline, and refuses bad lists', T, async () => {
      const bob = await join(uniqueUser('bob'));
      try {
        const ids = [uniqueUser('nobody'), uniqueUser('ghost')];
        const ack = await request(bob.socket, 'presence:get', { userIds: ids });
        assert.equal(ack.ok, true, JSON.stringify(ack));
        assert.deepEqual(Object.keys(ack).sort(), ['ok', 'users']);
        const byId = new Map(ack.users.map((u) => [u.userId, u]));
        assert.equal(ack.users.length, 2, JSON.stringify(ack));
        for (const id of ids) assert.deepEqual(byId.get(id), offlineUnknown(id));

        // The asker itself is online.
        const self = await presenceOf(bob, bob.sub);
        assert.equal(self.status, 'online');
        assert.equal(self.devices, 1);

        const max = Array.from({ length: 500 }, (_, i) => `u-${i}`);
        const big = await request(bob.socket, 'presence:get', { userIds: max });
        assert.equal(big.ok, true);
        assert.equal(big.users.length, 500);
        for (const payload of [
          { userIds: [] },
          { userIds: [...max, 'one-too-many'] },
          { userIds: 'alice' },
          { userIds: [1, 2] },
          {},
        ]) {
          const bad = await request(bob.socket, 'presence:get', payload);
          assert.equal(errorCodeOf(bad), 'invalid_payload', `${JSON.stringify(payload).slice(0, 80)} -> ${JSON.stringify(bad)}`);
        }
      } finally {
        closeAll(bob.socket);
      }
    });

    test('devices counts a user\'s sockets; offline with lastSeen once the last closes', T, async () => {
      const bob = await join(uniqueUser('bob'));
      const aliceId = uniqueUser('alice');
      const alice1 = await join(aliceId);
      const alice2 = await join(aliceId);
      try {
        const both = await presenceOf(bob, aliceId);
        assert.deepEqual(Object.keys(both).sort(), ['devices', 'lastSeen', 'status', 'userId']);
        assert.equal(both.status, 'online');
        assert.equal(both.devices, 2);
        assert.ok(Number.isInteger(both.lastSeen), `lastSeen ${both.lastSeen}`);

        alice1.socket.close();
        await eventually(async () => assert.equal((await presenceOf(bob, aliceId)).devices, 1));
        assert.equal((await presenceOf(bob, aliceId)).status, 'online');

        const closedAt = Date.now();
        alice2.socket.close();
        const gone = await eventually(async () => {
          const view = await presenceOf(bob, aliceId);
          assert.equal(view.status, 'offline', JSON.stringify(view));
          return view;
        });
        assert.deepEqual(Object.keys(gone).sort(), ['devices', 'lastSeen', 'status', 'userId']);
        assert.equal(gone.devices, 0);
        assertRecent(gone.lastSeen, closedAt, 'lastSeen');
      } finally {
        closeAll(bob.socket, alice1.socket, alice2.socket);
      }
    });

    test('a /ws socket counts too: presence spans every namespace', T, async () => {
      const bob = await join(uniqueUser('bob'));
      const aliceId = uniqueUser('alice');
      assert.deepEqual(
        (await request(bob.socket, 'presence:watch', { userIds: [aliceId] })).users,
        [offlineUnknown(aliceId)],
      );
      const ws = await join(aliceId, { namespace: '/ws' });
      let rt;
      try {
        assertPresenceEvent(await bob.rec.nextData('presence', (d) => d.userId === aliceId), { userId: aliceId, status: 'online' });
        const view = await presenceOf(bob, aliceId);
        assert.equal(view.status, 'online');
        assert.equal(view.devices, 1);

        rt = await join(aliceId);
        assert.equal((await presenceOf(bob, aliceId)).devices, 2);
        // A second device is not a status change.
        await bob.rec.none('presence', (d) => d.userId === aliceId);

        rt.socket.close();
        await eventually(async () => assert.equal((await presenceOf(bob, aliceId)).devices, 1));
        assert.equal((await presenceOf(bob, aliceId)).status, 'online');
        ws.socket.close();
        assertPresenceEvent(await bob.rec.nextData('presence', (d) => d.userId === aliceId), { userId: aliceId, status: 'offline' });
        assert.equal((await presenceOf(bob, aliceId)).status, 'offline');
      } finally {
        closeAll(bob.socket, ws.socket, rt?.socket);
      }
    });

    test('presence:watch tells status changes until presence:unwatch', T, async () => {
      const bob = await join(uniqueUser('bob'));
      const carol = await join(uniqueUser('carol'));
      const aliceId = uniqueUser('alice');
      const sockets = [bob.socket, carol.socket];
      try {
        const watch = await request(bob.socket, 'presence:watch', { userIds: [aliceId] });
        assert.deepEqual(watch, { ok: true, users: [offlineUnknown(aliceId)] });
        const isAlice = (d) => d.userId === aliceId;

        const alice1 = await join(aliceId);
        sockets.push(alice1.socket);
        const online = await bob.rec.nextData('presence', isAlice);
        assertPresenceEvent(online, { userId: aliceId, status: 'online' });
        assert.ok(Number.isInteger(online.lastSeen), `lastSeen ${online.lastSeen}`);

        // Watching again answers the current state, like presence:get.
        const rewatch = await request(bob.socket, 'presence:watch', { userIds: [aliceId] });
        assert.equal(rewatch.ok, true);
        assert.equal(rewatch.users[0].status, 'online');
        assert.equal(rewatch.users[0].devices, 1);

        await setStatus(alice1, 'dnd', 'in a meeting');
        assertPresenceEvent(await bob.rec.nextData('presence', isAlice), { userId: aliceId, status: 'dnd', message: 'in a meeting' });
        await setStatus(alice1, 'online');
        assertPresenceEvent(await bob.rec.nextData('presence', isAlice), { userId: aliceId, status: 'online' });

        // Not watching, not sharing a channel: carol hears nothing; alice nothing of herself.
        await carol.rec.none('presence', isAlice, 0);
        await alice1.rec.none('presence', isAlice, 0);

        const closedAt = Date.now();
        alice1.socket.close();
        const offline = await bob.rec.nextData('presence', isAlice);
        assertPresenceEvent(offline, { userId: aliceId, status: 'offline' });
        assertRecent(offline.lastSeen, closedAt, 'lastSeen of the offline event');
        await bob.rec.none('presence', isAlice);

        assert.deepEqual(await request(bob.socket, 'presence:unwatch', { userIds: [aliceId] }), { ok: true });
        const alice2 = await join(aliceId);
        sockets.push(alice2.socket);
        await setStatus(alice2, 'dnd', 'still busy');
        await bob.rec.none('presence', isAlice, 500);
        assert.equal(errorCodeOf(await request(bob.socket, 'presence:watch', { userIds: [] })), 'invalid_payload');
        assert.equal(errorCodeOf(await request(bob.socket, 'presence:unwatch', {})), 'invalid_payload');
      } finally {
        closeAll(sockets);
      }
    });

    test('presence:set: dnd and away with a message, invisible shown offline, bad statuses refused', T, async () => {
      const bob = await join(uniqueUser('bob'));
      const aliceId = uniqueUser('alice');
      await request(bob.socket, 'presence:watch', { userIds: [aliceId] });
      const alice = await join(aliceId);
      const isAlice = (d) => d.userId === aliceId;
      try {
        await bob.rec.next('presence', (d) => isAlice(d) && d.status === 'online');

        await setStatus(alice, 'dnd', 'focus time');
        assertPresenceEvent(await bob.rec.nextData('presence', isAlice), { userId: aliceId, status: 'dnd', message: 'focus time' });
        const dnd = await presenceOf(bob, aliceId);
        assert.deepEqual(
          { status: dnd.status, message: dnd.message, devices: dnd.devices },
          { status: 'dnd', message: 'focus time', devices: 1 },
        );

        await setStatus(alice, 'away');
        assertPresenceEvent(await bob.rec.nextData('presence', isAlice), { userId: aliceId, status: 'away' });
        const away = await presenceOf(bob, aliceId);
        assert.equal(away.status, 'away');
        assert.equal('message' in away, false, `the dnd message outlived it: ${JSON.stringify(away)}`);

        await setStatus(alice, 'invisible', 'hiding');
        assertPresenceEvent(await bob.rec.nextData('presence', isAlice), { userId: aliceId, status: 'offline' });
        const hidden = await presenceOf(bob, aliceId);
        assert.deepEqual(Object.keys(hidden).sort(), ['devices', 'lastSeen', 'status', 'userId']);
        assert.equal(hidden.status, 'offline');
        assert.equal(hidden.devices, 0);
        // The invisible user's own view is no different to others' (no leak either way).
        assert.equal((await presenceOf(alice, aliceId)).status, 'offline');

        for (const payload of [{ status: 'busy' }, { status: 'offline' }, { status: 'idle' }, { status: 3 }, {}, { message: 'x' }]) {
          const ack = await request(alice.socket, 'presence:set', payload);
          assert.equal(errorCodeOf(ack), 'invalid_payload', `${JSON.stringify(payload)} -> ${JSON.stringify(ack)}`);
        }
        // A refused presence:set changed nothing.
        assert.equal((await presenceOf(bob, aliceId)).status, 'offline');
        await bob.rec.none('presence', isAlice);

        await setStatus(alice, 'online');
        assertPresenceEvent(await bob.rec.nextData('presence', isAlice), { userId: aliceId, status: 'online' });
        const back = await presenceOf(bob, aliceId);
        assert.deepEqual({ status: back.status, devices: back.devices }, { status: 'online', devices: 1 });
      } finally {
        closeAll(bob.socket, alice.socket);
      }
    });

    test('sockets sharing a channel get a user\'s presence events; the user\'s own sockets do not', T, async () => {
      const aliceId = uniqueUser('alice');
      const alice1 = await join(aliceId);
      const alice2 = await join(aliceId);
      const bob = await join(uniqueUser('bob'));
      const carol = await join(uniqueUser('carol'));
      const isAlice = (d) => d.userId === aliceId;
      try {
        const room = channelName();
        await subscribe(alice1, [room]);
        await subscribe(alice2, [room]);
        await subscribe(bob, [room]);
        await subscribe(carol, [channelName()]);
        // bob also watches alice: still one event per change, not one per reason.
        await request(bob.socket, 'presence:watch', { userIds: [aliceId] });

        await setStatus(alice1, 'dnd', 'deep work');
        assertPresenceEvent(await bob.rec.nextData('presence', isAlice), { userId: aliceId, status: 'dnd', message: 'deep work' });
        await setStatus(alice2, 'online');
        assertPresenceEvent(await bob.rec.nextData('presence', isAlice), { userId: aliceId, status: 'online' });

        // The last socket closing tells the channel she is offline.
        alice1.socket.close();
        await eventually(async () => assert.equal((await presenceOf(bob, aliceId)).devices, 1));
        alice2.socket.close();
        assertPresenceEvent(await bob.rec.nextData('presence', isAlice), { userId: aliceId, status: 'offline' });

        assert.equal(carol.rec.all('presence').filter((r) => isAlice(r.data)).length, 0, 'carol shares no channel with alice');
        for (const who of [alice1, alice2]) {
          assert.equal(who.rec.all('presence').filter((r) => isAlice(r.data)).length, 0, 'alice was told of herself');
        }
        await bob.rec.none('presence', isAlice);
      } finally {
        closeAll(alice1.socket, alice2.socket, bob.socket, carol.socket);
      }
    });

    test('presence:members lists a subscribed channel\'s visible members; others get forbidden', T, async () => {
      const alice = await join(uniqueUser('alice'));
      const bob = await join(uniqueUser('bob'));
      const dave = await join(uniqueUser('dave'));
      const erin = await join(uniqueUser('erin'));
      const carol = await join(uniqueUser('carol'));
      try {
        const room = channelName('pitch');
        for (const who of [alice, bob, dave, erin]) await subscribe(who, [room]);
        await setStatus(dave, 'invisible');
        await setStatus(erin, 'dnd', 'not now');

        const members = async (who) => {
          const ack = await request(who.socket, 'presence:members', { channel: room });
          assert.equal(ack.ok, true, JSON.stringify(ack));
          assert.deepEqual(Object.keys(ack).sort(), ['members', 'ok']);
          return [...ack.members].sort((a, b) => (a.userId < b.userId ? -1 : 1));
        };
        const expected = [
          { userId: alice.sub, status: 'online' },
          { userId: bob.sub, status: 'online' },
          { userId: erin.sub, status: 'dnd' },
        ].sort((a, b) => (a.userId < b.userId ? -1 : 1));
        assert.deepEqual(await members(bob), expected);
        // The invisible member sees the same list others do.
        assert.deepEqual(await members(dave), expected);

        assert.equal(errorCodeOf(await request(carol.socket, 'presence:members', { channel: room })), 'forbidden');
        assert.equal(errorCodeOf(await request(carol.socket, 'presence:members', { channel: channelName() })), 'forbidden');
        assert.equal(errorCodeOf(await request(carol.socket, 'presence:members', { channel: 'bad name' })), 'invalid_payload');
        assert.equal(errorCodeOf(await request(carol.socket, 'presence:members', {})), 'invalid_payload');

        // Leaving takes a member off the list, and unsubscribing takes away the right to ask.
        assert.deepEqual(await request(alice.socket, 'unsubscribe', { channels: [room] }), { ok: true });
        assert.deepEqual(await members(bob), expected.filter((m) => m.userId !== alice.sub));
        assert.equal(errorCodeOf(await request(alice.socket, 'presence:members', { channel: room })), 'forbidden');
        erin.socket.close();
        await eventually(async () =>
          assert.deepEqual(await members(bob), [{ userId: bob.sub, status: 'online' }]),
        );

        // Everyone is a member of their own user channel.
        assert.deepEqual(
          (await request(carol.socket, 'presence:members', { channel: `user:${carol.sub}` })).members,
          [{ userId: carol.sub, status: 'online' }],
        );
      } finally {
        closeAll(alice.socket, bob.socket, dave.socket, erin.socket, carol.socket);
      }
    });

    test('presence:stats counts users and sockets of a subscribed channel; others get forbidden', T, async () => {
      const aliceId = uniqueUser('alice');
      const alice1 = await join(aliceId);
      const alice2 = await join(aliceId);
      const bob = await join(uniqueUser('bob'));
      const carol = await join(uniqueUser('carol'));
      try {
        const room = channelName('pitch');
        for (const who of [alice1, alice2, bob]) await subscribe(who, [room]);
        // Invisible users count: the numbers name no one.
        await setStatus(bob, 'invisible');
        assert.deepEqual(await request(bob.socket, 'presence:stats', { channel: room }), { ok: true, users: 2, sockets: 3 });
        assert.equal(errorCodeOf(await request(carol.socket, 'presence:stats', { channel: room })), 'forbidden');
        assert.equal(errorCodeOf(await request(carol.socket, 'presence:stats', {})), 'invalid_payload');
        alice2.socket.close();
        await eventually(async () =>
          assert.deepEqual(await request(bob.socket, 'presence:stats', { channel: room }), { ok: true, users: 2, sockets: 2 }),
        );
      } finally {
        closeAll(alice1.socket, alice2.socket, bob.socket, carol.socket);
      }
    });

    test('presence:join on a user\'s first socket in a channel, presence:leave on the last', T, async () => {
      const aliceId = uniqueUser('alice');
      const bob = await join(uniqueUser('bob'));
      const carol = await join(uniqueUser('carol'));
      const alice1 = await join(aliceId);
      const alice2 = await join(aliceId);
      const sockets = [bob.socket, carol.socket, alice1.socket, alice2.socket];
      try {
        const room = channelName('feature');
        await subscribe(bob, [room]);
        const event = { channel: room, userId: aliceId };
        const isAlice = (d) => d.userId === aliceId;

        await subscribe(alice1, [room]);
        assert.deepEqual(await bob.rec.nextData('presence:join', isAlice), event);
        // A second tab joins silently.
        await subscribe(alice2, [room]);
        await bob.rec.none('presence:join', isAlice);
        // One tab leaving is no leave.
        assert.deepEqual(await request(alice1.socket, 'unsubscribe', { channels: [room] }), { ok: true });
        await bob.rec.none('presence:leave', isAlice);
        // The last one disconnecting is.
        alice2.socket.close();
        assert.deepEqual(await bob.rec.nextData('presence:leave', isAlice), event);

        // Joining again, then leaving by unsubscribe.
        await subscribe(alice1, [room]);
        assert.deepEqual(await bob.rec.nextData('presence:join', isAlice), event);
        assert.deepEqual(await request(alice1.socket, 'unsubscribe', { channels: [room] }), { ok: true });
        assert.deepEqual(await bob.rec.nextData('presence:leave', isAlice), event);

        // bob hears of carol the same way, and alice, not subscribed, hears nothing.
        await subscribe(carol, [room]);
        assert.deepEqual(await bob.rec.nextData('presence:join'), { channel: room, userId: carol.sub });
        await bob.rec.none('presence:join');
        await bob.rec.none('presence:leave', () => true, 0);
        assert.equal(alice1.rec.all('presence:join').filter((r) => r.data.userId === carol.sub).length, 0);
        // Nobody is told of themselves.
        assert.equal(carol.rec.all('presence:join').filter((r) => r.data.userId === carol.sub).length, 0);
        for (const who of [alice1, alice2]) {
          assert.equal(who.rec.all('presence:join').filter((r) => isAlice(r.data)).length, 0);
          assert.equal(who.rec.all('presence:leave').filter((r) => isAlice(r.data)).length, 0);
        }

        // An invisible user's subscribing gives nothing away.
        await setStatus(alice1, 'invisible');
        await subscribe(alice1, [room]);
        await bob.rec.none('presence:join', isAlice, 500);
      } finally {
        closeAll(sockets);
      }
    });
  });
}

describe('idle and away with SWITCHYARD_PRESENCE_IDLE_SECS=1 and SWITCHYARD_PRESENCE_AWAY_SECS=2', SUITE, () => {
  let server;
  before(async () => {
    server = await startServer({ SWITCHYARD_PRESENCE_IDLE_SECS: '1', SWITCHYARD_PRESENCE_AWAY_SECS: '2' });
  }, HOOK);
  after(async () => {
    await server?.stop();
  }, HOOK);

  for (const transport of TRANSPORTS) {
    test(`a quiet user goes idle then away, and is online again on any event (${transport})`, T, async () => {
      const open = [];
      const { join, presenceOf } = client(() => server, transport, open);
      try {
        const aliceId = uniqueUser('alice');
        const bob = await join(uniqueUser('bob'));
        await request(bob.socket, 'presence:watch', { userIds: [aliceId] });
        const isAlice = (d) => d.userId === aliceId;
        const alice = await join(aliceId);
        const online = await bob.rec.next('presence', isAlice);
        assertPresenceEvent(online.data, { userId: aliceId, status: 'online' });
        // A /ws socket of hers, quiet for now.
        const ws = await join(aliceId, { namespace: '/ws' });

        const idle = await bob.rec.next('presence', isAlice, 4000);
        assertPresenceEvent(idle.data, { userId: aliceId, status: 'idle' });
        assert.ok(idle.at - online.at >= 700, `idle after only ${idle.at - online.at} ms`);
        assert.equal((await presenceOf(bob, aliceId)).status, 'idle');
        const away = await bob.rec.next('presence', isAlice, 4000);
        assertPresenceEvent(away.data, { userId: aliceId, status: 'away' });
        assert.ok(away.at - online.at >= 1700, `away after only ${away.at - online.at} ms`);
        const view = await presenceOf(bob, aliceId);
        assert.deepEqual({ status: view.status, devices: view.devices }, { status: 'away', devices: 2 });

        // Any event of alice's brings her back at once.
        const sentAt = Date.now();
        assert.deepEqual(await request(alice.socket, 'activity', { kind: 'typing' }), { ok: true });
        const back = await bob.rec.next('presence', isAlice, 1000);
        assertPresenceEvent(back.data, { userId: aliceId, status: 'online' });
        assert.ok(back.at - sentAt < 1000, `online again only after ${back.at - sentAt} ms`);
        assert.equal((await presenceOf(bob, aliceId)).status, 'online');

        // Quiet again: idle again a second later; an event on /ws counts as activity too.
        const idleAgain = await bob.rec.next('presence', isAlice, 4000);
        assertPresenceEvent(idleAgain.data, { userId: aliceId, status: 'idle' });
        assert.ok(idleAgain.at - sentAt >= 700, `idle again after only ${idleAgain.at - sentAt} ms`);
        const wsAt = Date.now();
        assert.equal((await request(ws.socket, 'conversation:list', {})).ok, true);
        const backAgain = await bob.rec.next('presence', isAlice, 1000);
        assertPresenceEvent(backAgain.data, { userId: aliceId, status: 'online' });
        assert.ok(backAgain.at - wsAt < 1000, `online again only after ${backAgain.at - wsAt} ms`);
        // alice was never told of herself.
        assert.equal(alice.rec.all('presence').filter((r) => isAlice(r.data)).length, 0);
      } finally {
        closeAll(open);
      }
    });
  }
});

describe('presence, stats and announcements over HTTP', SUITE, () => {
  let server;
  before(async () => {
    server = await startServer();
  }, HOOK);
  after(async () => {
    await server?.stop();
  }, HOOK);

  test('GET /api/v1/presence/{userId} and POST /api/v1/presence/query answer as presence:get', T, async () => {
    const open = [];
    try {
      const aliceId = uniqueUser('alice');
      const bobId = uniqueUser('bob');
      const unknown = uniqueUser('nobody');
      for (const transport of TRANSPORTS) {
        await client(() => server, transport, open).join(aliceId);
      }
      const dnd = await client(() => server, 'websocket', open).join(bobId);
      await client(() => server, 'websocket', open).setStatus(dnd, 'dnd', 'on call');
      const service = server.serviceToken();

      const one = await server.call('GET', `/api/v1/presence/${encodeURIComponent(aliceId)}`, { token: service });
      assert.equal(one.status, 200, one.text);
      assert.match(one.type, /^application\/json/);
      assert.deepEqual(Object.keys(one.json), ['users']);
      assert.equal(one.json.users.length, 1);
      const [alice] = one.json.users;
      assert.deepEqual(Object.keys(alice).sort(), ['devices', 'lastSeen', 'status', 'userId']);
      assert.deepEqual({ userId: alice.userId, status: alice.status, devices: alice.devices }, { userId: aliceId, status: 'online', devices: 2 });
      assert.ok(Number.isInteger(alice.lastSeen));

      const nobody = await server.call('GET', `/api/v1/presence/${encodeURIComponent(unknown)}`, { token: service });
      assert.equal(nobody.status, 200, nobody.text);
      assert.deepEqual(nobody.json, { users: [offlineUnknown(unknown)] });

      const query = await server.call('POST', '/api/v1/presence/query', { token: service, body: { userIds: [aliceId, bobId, unknown] } });
      assert.equal(query.status, 200, query.text);
      const byId = new Map(query.json.users.map((u) => [u.userId, u]));
      assert.equal(query.json.users.length, 3, query.text);
      assert.equal(byId.get(aliceId).devices, 2);
      assert.deepEqual(
        { status: byId.get(bobId).status, message: byId.get(bobId).message, devices: byId.get(bobId).devices },
        { status: 'dnd', message: 'on call', devices: 1 },
      );
      assert.deepEqual(byId.get(unknown), offlineUnknown(unknown));

      // Who may ask.
      const path = `/api/v1/presence/${encodeURIComponent(aliceId)}`;
      const body = { userIds: [aliceId] };
      assertHttpError(await server.call('GET', path), 401, 'missing_token');
      assertHttpError(await server.call('POST', '/api/v1/presence/query', { body }), 401, 'missing_token');
      assertHttpError(await server.call('GET', path, { token: 'garbage' }), 401, 'invalid_token');
      assertHttpError(await server.call('GET', path, { token: server.token(uniqueUser('user')) }), 403, 'forbidden');
      assertHttpError(
        await server.call('POST', '/api/v1/presence/query', { body, token: server.token(uniqueUser('user')) }),
        403,
        'forbidden',
      );

      for (const bad of [{ userIds: [] }, { userIds: Array.from({ length: 501 }, (_, i) => `u${i}`) }, { userIds: 'x' }, {}]) {
        const res = await server.call('POST', '/api/v1/presence/query', { token: service, body: bad });
        assert.ok([400, 422].includes(res.status), `status ${res.status}: ${res.text.slice(0, 200)}`);
        assert.equal(res.json?.error?.code, 'invalid_payload', res.text.slice(0, 200));
      }
      assertHttpError(await server.call('POST', '/api/v1/presence/query', { token: service, rawBody: '{"userIds": [' }), 400, 'invalid_payload');
    } finally {
      closeAll(open);
    }
  });

  test('POST /api/v1/announce reaches /realtime sockets over both transports', T, async () => {
    const open = [];
    try {
      const sockets = [];
      for (const transport of TRANSPORTS) {
        for (const name of ['alice', 'bob']) sockets.push((await client(() => server, transport, open).join(uniqueUser(name))).socket);
      }
      const received = sockets.map((s) => new Recorder(s));
      const before = Date.now();
      const data = { severity: 'high', link: 'https://status.example.test' };
      const res = await server.call('POST', '/api/v1/announce', {
        token: server.adminToken(),
        body: { title: 'Deploy', body: 'rolling out', data },
      });
      assert.equal(res.status, 202, res.text);
      for (const rec of received) {
        const event = await rec.nextData('announcement');
        assert.deepEqual(Object.keys(event).sort(), ['body', 'data', 'title', 'ts']);
        assert.deepEqual({ title: event.title, body: event.body, data: event.data }, { title: 'Deploy', body: 'rolling out', data });
        assertRecent(event.ts, before, 'ts');
        await rec.none('announcement', () => true, 0);
      }
      assertHttpError(
        await server.call('POST', '/api/v1/announce', { token: server.serviceToken(), body: { title: 'x', body: 'y' } }),
        403,
        'forbidden',
      );
    } finally {
      closeAll(open);
    }
  });
});

describe('GET /api/v1/stats', SUITE, () => {
  let server;
  before(async () => {
    server = await startServer();
  }, HOOK);
  after(async () => {
    await server?.stop();
  }, HOOK);

  test('counts the connections per namespace, for admins only', T, async () => {
    const open = [];
    const stats = async () => {
      const res = await server.call('GET', '/api/v1/stats', { token: server.adminToken() });
      assert.equal(res.status, 200, res.text);
      assert.match(res.type, /^application\/json/);
      return res.json;
    };
    try {
      const empty = await stats();
      assert.deepEqual({ ws: empty.connections['/ws'], realtime: empty.connections['/realtime'] }, { ws: 0, realtime: 0 });

      for (const transport of TRANSPORTS) {
        const c = client(() => server, transport, open);
        await c.join(uniqueUser('alice'), { namespace: '/ws' });
        await c.join(uniqueUser('bob'));
      }
      const aliceAgain = await client(() => server, 'websocket', open).join(uniqueUser('carol'));
      await request(aliceAgain.socket, 'subscribe', { channels: [channelName()] });

      const body = await stats();
      assert.equal(typeof body.node, 'string');
      assert.ok(body.node.length > 0);
      assert.deepEqual(
        { ws: body.connections['/ws'], realtime: body.connections['/realtime'] },
        { ws: 2, realtime: 3 },
        JSON.stringify(body),
      );
      assert.equal(typeof body.rooms, 'object');
      assert.notEqual(body.rooms, null);
      assert.equal(typeof body.eventsPerSecond, 'number');
      assert.ok(body.eventsPerSecond >= 0);

      closeAll(open);
      await eventually(async () => {
        const later = await stats();
        assert.deepEqual({ ws: later.connections['/ws'], realtime: later.connections['/realtime'] }, { ws: 0, realtime: 0 });
      });

      assertHttpError(await server.call('GET', '/api/v1/stats'), 401, 'missing_token');
      assertHttpError(await server.call('GET', '/api/v1/stats', { token: server.serviceToken() }), 403, 'forbidden');
      assertHttpError(await server.call('GET', '/api/v1/stats', { token: server.token(uniqueUser('user')) }), 403, 'forbidden');
    } finally {
      closeAll(open);
    }
  });
});
