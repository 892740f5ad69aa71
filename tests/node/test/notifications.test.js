// PROTOCOL.md §4 and §6: /notifications delivery with acks, pending delivery at connect,
// idempotency, expiry, the pending cap, history and receipts, device tokens, and
// POST /api/v1/notifications. Socket tests run once per transport.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  Recorder,
  closeAll,
  connect,
  errorCodeOf,
  request,
  sleep,
  startServer,
  uniqueUser,
} from '../lib/helpers.js';

const T = { timeout: 20_000 };
const HOOK = { timeout: 30_000 };
const SUITE = { timeout: 120_000 };
const TRANSPORTS = ['websocket', 'polling'];
const NS = '/notifications';
/** Time given to the server to record an ack before a test relies on it. */
const ACK_SETTLE_MS = 400;

function assertTimestamp(value, notBefore, notAfter, label) {
  assert.ok(Number.isInteger(value), `${label} is not an integer: ${JSON.stringify(value)}`);
  assert.ok(value >= notBefore - 1000 && value <= notAfter + 1000, `${label} ${value} is not within [${notBefore}, ${notAfter}]`);
}

function assertHttpError(res, status, code) {
  assert.equal(res.status, status, `status ${res.status}: ${res.text}`);
  assert.match(res.type, /^application\/json/);
  assert.equal(res.json?.error?.code, code, res.text);
  assert.equal(typeof res.json.error.message, 'string');
}

/** Helpers bound to `server()` and one transport; sockets opened are added to `open`. */
function notificationsClient(server, transport, open) {
  /**
   * Connects `sub` to /notifications, recorded from before the connect (pending
   * notifications may share the connect's polling payload); `autoAck: false` keeps the acks.
   */
  async function join(sub, { autoAck = true } = {}) {
    let rec;
    const socket = await connect(server().url, NS, {
      token: server().token(sub),
      transports: [transport],
      onCreate: (created) => {
        rec = new Recorder(created, { autoAck });
      },
    });
    open.push(socket);
    return { sub, socket, rec };
  }

  /** POST /api/v1/notifications, asserted 202 with one id per user; resolves with the ids. */
  async function notify(userIds, fields = {}) {
    const body = { userIds, type: 'test.event', title: 'A title', body: 'A body', ...fields };
    const res = await server().call('POST', '/api/v1/notifications', { token: server().serviceToken(), body });
    assert.equal(res.status, 202, `status ${res.status}: ${res.text}`);
    assert.ok(Array.isArray(res.json?.ids), res.text);
    assert.equal(res.json.ids.length, userIds.length, res.text);
    for (const id of res.json.ids) assert.ok(typeof id === 'string' && id.length > 0, res.text);
    return res.json.ids;
  }

  /** One notification for `sub`; resolves with its id. */
  async function notifyOne(sub, fields) {
    return (await notify([sub], fields))[0];
  }

  /** The next `count` notifications a recorder holds (waiting for them), as records. */
  async function nextNotifications(who, count) {
    const records = [];
    for (let i = 0; i < count; i += 1) records.push(await who.rec.next('notification'));
    return records;
  }

  async function list(who, args = {}) {
    const ack = await request(who.socket, 'notification:list', args);
    assert.equal(ack.ok, true, `notification:list ${JSON.stringify(args)}: ${JSON.stringify(ack)}`);
    assert.ok(Array.isArray(ack.items), JSON.stringify(ack));
    return ack;
  }

  return { join, notify, notifyOne, nextNotifications, list };
}

for (const transport of TRANSPORTS) {
  describe(`/notifications over ${transport}`, SUITE, () => {
    let server;
    const open = [];
    const { join, notify, notifyOne, nextNotifications, list } = notificationsClient(() => server, transport, open);

    before(async () => {
      server = await startServer();
    }, HOOK);
    after(async () => {
      closeAll(open);
      await server?.stop();
    }, HOOK);

    test('a live notification carries its fields, is delivered by one ack and not sent again', T, async () => {
      const alice = uniqueUser('alice');
      const bob = uniqueUser('bob');
      const a1 = await join(alice, { autoAck: false });
      const a2 = await join(alice, { autoAck: false });
      const b = await join(bob, { autoAck: false });
      const outsider = await join(uniqueUser('outsider'));
      try {
        const since = Date.now();
        const data = { orderId: 42, tags: ['a', 'b'], nested: { ok: true } };
        const ids = await notify([alice, bob], {
          type: 'order.shipped',
          title: 'Your order shipped',
          body: 'It arrives on Tuesday',
          data,
          priority: 'high',
        });
        const until = Date.now();
        assert.notEqual(ids[0], ids[1]);

        // Both of alice's sockets get alice's notification, with an ack request.
        const r1 = await a1.rec.next('notification');
        const r2 = await a2.rec.next('notification');
        for (const r of [r1, r2]) {
          assert.equal(typeof r.ack, 'function', 'notification was sent without an ack request');
          assert.deepEqual(Object.keys(r.data).sort(), ['body', 'createdAt', 'data', 'id', 'priority', 'title', 'type']);
          assert.equal(r.data.id, ids[0]);
          assert.equal(r.data.type, 'order.shipped');
          assert.equal(r.data.title, 'Your order shipped');
          assert.equal(r.data.body, 'It arrives on Tuesday');
          assert.deepEqual(r.data.data, data);
          assert.equal(r.data.priority, 'high');
          assertTimestamp(r.data.createdAt, since, until, 'createdAt');
        }
        assert.deepEqual(r1.data, r2.data);
        // bob gets his own, in the order of userIds; nobody else gets anything.
        const rb = await b.rec.next('notification');
        assert.equal(rb.data.id, ids[1]);
        assert.deepEqual({ ...rb.data, id: ids[0], createdAt: 0 }, { ...r1.data, createdAt: 0 });
        await outsider.rec.none('notification');
        await a1.rec.none('notification', () => true, 0);

        // Defaults: priority normal, data an empty object.
        const plainId = await notifyOne(alice, { type: 'plain', title: 'Plain', body: '' });
        const p1 = await a1.rec.next('notification');
        const p2 = await a2.rec.next('notification');
        assert.equal(p1.data.id, plainId);
        assert.equal(p1.data.priority, 'normal');
        assert.deepEqual(p1.data.data, {});
        assert.equal(p1.data.body, '');

        // Only a2 acks alice's two; bob acks nothing.
        r2.ack({});
        p2.ack({});
        await sleep(ACK_SETTLE_MS);
        closeAll(a1.socket, a2.socket, b.socket);

        // A new socket of alice gets nothing pending; bob's new socket gets his again.
        const a3 = await join(alice);
        const b2 = await join(bob);
        const again = await b2.rec.nextData('notification');
        assert.deepEqual(again, rb.data);
        await a3.rec.none('notification', () => true, 600);
        await b2.rec.none('notification', () => true, 0);
        closeAll(a3.socket, b2.socket);
      } finally {
        closeAll(a1.socket, a2.socket, b.socket, outsider.socket);
      }
    });

    test('pending notifications arrive at connect, by priority then age, until acked', T, async () => {
      const carol = uniqueUser('carol');
      const priorities = ['low', 'high', 'normal', 'critical', 'high', 'urgent', 'normal'];
      const ids = [];
      for (const [i, priority] of priorities.entries()) {
        ids.push(await notifyOne(carol, { title: `n${i}`, priority }));
      }
      const [low, high1, normal1, critical, high2, urgent, normal2] = ids;
      const expected = [critical, urgent, high1, high2, normal1, normal2, low];

      const first = await join(carol, { autoAck: false });
      const got = await nextNotifications(first, 7);
      assert.deepEqual(got.map((r) => r.data.id), expected);
      assert.deepEqual(
        got.map((r) => r.data.priority),
        ['critical', 'urgent', 'high', 'high', 'normal', 'normal', 'low'],
      );
      assert.deepEqual(got.map((r) => r.data.title), [3, 5, 1, 4, 2, 6, 0].map((i) => `n${i}`));
      assert.ok(got.every((r) => typeof r.ack === 'function'), 'a pending notification came without an ack request');
      await first.rec.none('notification');
      closeAll(first.socket);

      // Nothing acked: all of them again, in the same order.
      const second = await join(carol, { autoAck: false });
      const again = await nextNotifications(second, 7);
      assert.deepEqual(again.map((r) => r.data.id), expected);
      assert.deepEqual(again.map((r) => r.data), got.map((r) => r.data));
      await second.rec.none('notification');

      // Three acked: the other four next time.
      for (const r of again.filter((r) => [critical, high1, low].includes(r.data.id))) r.ack({});
      await sleep(ACK_SETTLE_MS);
      closeAll(second.socket);
      const third = await join(carol);
      const rest = await nextNotifications(third, 4);
      assert.deepEqual(rest.map((r) => r.data.id), [urgent, high2, normal1, normal2]);
      await third.rec.none('notification');
      await sleep(ACK_SETTLE_MS);
      closeAll(third.socket);

      // All acked now.
      const fourth = await join(carol);
      await fourth.rec.none('notification', () => true, 600);
      closeAll(fourth.socket);
    });

    test('a repeated idempotencyKey returns the same ids and delivers nothing new', T, async () => {
      const dave = uniqueUser('dave');
      const erin = uniqueUser('erin');
      const d = await join(dave);
      try {
        const fields = { type: 'invoice', title: 'Invoice ready', body: 'March', idempotencyKey: `key-${dave}` };
        const ids = await notify([dave, erin], fields);
        assert.equal((await d.rec.nextData('notification')).id, ids[0]);

        const repeated = await notify([dave, erin], fields);
        assert.deepEqual(repeated, ids);
        const third = await notify([dave, erin], fields);
        assert.deepEqual(third, ids);
        await d.rec.none('notification', () => true, 500);

        // Another key is another notification.
        const other = await notify([dave], { ...fields, idempotencyKey: `other-${dave}` });
        assert.notEqual(other[0], ids[0]);
        assert.equal((await d.rec.nextData('notification')).id, other[0]);

        // dave has two stored; erin, connecting later, gets hers once.
        assert.deepEqual((await list(d)).items.map((n) => n.id), [other[0], ids[0]]);
        const e = await join(erin);
        assert.equal((await e.rec.nextData('notification')).id, ids[1]);
        await e.rec.none('notification');
        const erinList = await list(e);
        assert.deepEqual(erinList.items.map((n) => n.id), [ids[1]]);
        assert.equal(erinList.unread, 1);
        closeAll(e.socket);
      } finally {
        closeAll(d.socket);
      }
    });

    test('a notification past its ttlSeconds is neither delivered nor listed', T, async () => {
      const frank = uniqueUser('frank');
      const short = await notifyOne(frank, { title: 'short', ttlSeconds: 1, priority: 'critical' });
      const forever = await notifyOne(frank, { title: 'forever' });
      const hour = await notifyOne(frank, { title: 'hour', ttlSeconds: 3600 });
      await sleep(1200);

      const f = await join(frank);
      try {
        const got = await nextNotifications(f, 2);
        assert.deepEqual(got.map((r) => r.data.id), [forever, hour]);
        await f.rec.none('notification');
        const listed = await list(f);
        assert.deepEqual(listed.items.map((n) => n.id), [hour, forever]);
        assert.equal(listed.unread, 2);
        assert.ok(!listed.items.some((n) => n.id === short));
        const unreadOnly = await list(f, { unreadOnly: true });
        assert.deepEqual(unreadOnly.items.map((n) => n.id), [hour, forever]);
        // Reading everything does not count or announce the expired one.
        const read = await request(f.socket, 'notification:read', { all: true });
        assert.deepEqual(read, { ok: true, unread: 0 });
      } finally {
        closeAll(f.socket);
      }
    });

    test('notification:list pages newest first with before, limit, unreadOnly and unread', T, async () => {
      const gina = uniqueUser('gina');
      const since = Date.now();
      const ids = [];
      for (let i = 1; i <= 5; i += 1) {
        ids.push(await notifyOne(gina, { type: `t${i}`, title: `title ${i}`, body: `body ${i}`, data: { i }, priority: i === 3 ? 'urgent' : 'normal' }));
      }
      const until = Date.now();
      const [n1, n2, n3, n4, n5] = ids;
      const g = await join(gina);
      const other = await join(gina);
      try {
        await nextNotifications(g, 5);

        const all = await list(g);
        assert.deepEqual(Object.keys(all).sort(), ['items', 'ok', 'unread']);
        assert.deepEqual(all.items.map((n) => n.id), [n5, n4, n3, n2, n1]);
        assert.equal(all.unread, 5);
        for (const [k, n] of all.items.entries()) {
          const i = 5 - k;
          assert.deepEqual(Object.keys(n).sort(), ['body', 'createdAt', 'data', 'id', 'priority', 'title', 'type'], JSON.stringify(n));
          assert.equal(n.type, `t${i}`);
          assert.equal(n.title, `title ${i}`);
          assert.equal(n.body, `body ${i}`);
          assert.deepEqual(n.data, { i });
          assert.equal(n.priority, i === 3 ? 'urgent' : 'normal');
          assertTimestamp(n.createdAt, since, until, 'createdAt');
        }

        const ids_ = async (args) => (await list(g, args)).items.map((n) => n.id);
        assert.deepEqual(await ids_({ limit: 2 }), [n5, n4]);
        assert.deepEqual(await ids_({ before: n4, limit: 2 }), [n3, n2]);
        assert.deepEqual(await ids_({ before: n2, limit: 2 }), [n1]);
        assert.deepEqual(await ids_({ before: n1 }), []);
        assert.deepEqual(await ids_({ before: n5 }), [n4, n3, n2, n1]);
        assert.deepEqual(await ids_({ limit: 100 }), [n5, n4, n3, n2, n1]);

        // Read two: they carry readAt, the rest do not; unreadOnly leaves them out.
        const readFrom = Date.now();
        const read = await request(g.socket, 'notification:read', { ids: [n2, n4] });
        const readUntil = Date.now();
        assert.deepEqual(read, { ok: true, unread: 3 });
        const afterRead = await list(g);
        assert.equal(afterRead.unread, 3);
        for (const n of afterRead.items) {
          if (n.id === n2 || n.id === n4) assertTimestamp(n.readAt, readFrom, readUntil, `readAt of ${n.id}`);
          else assert.equal(n.readAt, undefined, `unread ${n.id} has readAt`);
        }
        const unread = await list(g, { unreadOnly: true });
        assert.deepEqual(unread.items.map((n) => n.id), [n5, n3, n1]);
        assert.equal(unread.unread, 3);
        assert.deepEqual(await ids_({ unreadOnly: true, before: n5, limit: 1 }), [n3]);
        assert.deepEqual(await ids_({ unreadOnly: true, before: n3 }), [n1]);
        assert.deepEqual(await ids_({ unreadOnly: false, limit: 3 }), [n5, n4, n3]);
        // The other socket sees the same.
        assert.deepEqual((await list(other, { unreadOnly: true })).items.map((n) => n.id), [n5, n3, n1]);

        // Bad arguments.
        for (const args of [{ limit: 0 }, { limit: 101 }, { limit: 'ten' }, { limit: 2.5 }, { before: 5 }, { unreadOnly: 'yes' }, 'all']) {
          const ack = await request(g.socket, 'notification:list', args);
          assert.equal(errorCodeOf(ack), 'invalid_payload', `${JSON.stringify(args)}: ${JSON.stringify(ack)}`);
        }
      } finally {
        closeAll(g.socket, other.socket);
      }
    });

    test('notification:list defaults to 50 items', T, async () => {
      const hal = uniqueUser('hal');
      const ids = [];
      for (let i = 0; i < 53; i += 1) ids.push(await notifyOne(hal, { title: `n${i}` }));
      const h = await join(hal);
      try {
        await nextNotifications(h, 53);
        const page = await list(h);
        assert.equal(page.unread, 53);
        assert.deepEqual(page.items.map((n) => n.id), ids.slice(3).reverse());
        const rest = await list(h, { before: page.items.at(-1).id });
        assert.deepEqual(rest.items.map((n) => n.id), ids.slice(0, 3).reverse());
        assert.equal((await list(h, { limit: 100 })).items.length, 53);
      } finally {
        closeAll(h.socket);
      }
    });

    test('notification:read by ids and by all is told to the other sockets only', T, async () => {
      const ivy = uniqueUser('ivy');
      const jack = uniqueUser('jack');
      const i1 = await join(ivy);
      const i2 = await join(ivy);
      const j = await join(jack);
      try {
        const [n1, n2, n3] = [await notifyOne(ivy), await notifyOne(ivy), await notifyOne(ivy)];
        const [jackId] = await notify([jack]);
        await nextNotifications(i1, 3);
        await nextNotifications(i2, 3);
        await j.rec.next('notification');

        // jack's id is ignored; ivy's other socket hears of n1 only.
        const first = await request(i1.socket, 'notification:read', { ids: [n1, jackId] });
        assert.deepEqual(first, { ok: true, unread: 2 });
        assert.deepEqual(await i2.rec.nextData('notification:read'), { ids: [n1], unread: 2 });
        await i1.rec.none('notification:read');
        await j.rec.none('notification:read', () => true, 0);
        const jackList = await list(j);
        assert.equal(jackList.unread, 1);
        assert.equal(jackList.items[0].readAt, undefined);

        // Reading an already read one changes nothing.
        const repeat = await request(i1.socket, 'notification:read', { ids: [n1] });
        assert.deepEqual(repeat, { ok: true, unread: 2 });

        // all from the other socket: the first hears of the two it marked.
        const all = await request(i2.socket, 'notification:read', { all: true });
        assert.deepEqual(all, { ok: true, unread: 0 });
        const told = await i1.rec.nextData('notification:read');
        assert.deepEqual(Object.keys(told).sort(), ['ids', 'unread']);
        assert.deepEqual([...told.ids].sort(), [n2, n3].sort());
        assert.equal(told.unread, 0);
        await i2.rec.none('notification:read');
        assert.equal((await list(i1)).unread, 0);
        assert.equal((await list(j)).unread, 1);

        // A later notification is unread again.
        await notifyOne(ivy);
        await i1.rec.next('notification');
        assert.equal((await list(i1)).unread, 1);

        // Exactly one of ids and all.
        for (const payload of [{}, { ids: [] }, { ids: [n1], all: true }, { all: false }, { ids: n1 }, { ids: [5] }, { all: 'yes' }, 'all']) {
          const ack = await request(i1.socket, 'notification:read', payload);
          assert.equal(errorCodeOf(ack), 'invalid_payload', `${JSON.stringify(payload)}: ${JSON.stringify(ack)}`);
        }
        assert.equal((await list(i1)).unread, 1);
      } finally {
        closeAll(i1.socket, i2.socket, j.socket);
      }
    });

    test('device:register and device:unregister accept good tokens and refuse bad ones', T, async () => {
      const kim = await join(uniqueUser('kim'));
      try {
        const token = `fcm-${kim.sub}-${transport}:APA91b_x-y.z`;
        for (const payload of [
          { token, platform: 'android' },
          { token, platform: 'ios', appId: 'com.example.app' },
          { token, platform: 'ios', appId: 'com.example.app', installationId: `install-${kim.sub}` },
          { token: `${token}-web`, platform: 'web' },
        ]) {
          assert.deepEqual(await request(kim.socket, 'device:register', payload), { ok: true }, JSON.stringify(payload));
        }
        assert.deepEqual(await request(kim.socket, 'device:unregister', { token }), { ok: true });
        assert.deepEqual(await request(kim.socket, 'device:unregister', { token: `${token}-web` }), { ok: true });
        const never = await request(kim.socket, 'device:unregister', { token: `never-registered-${kim.sub}` });
        assert.equal(errorCodeOf(never), 'not_found', JSON.stringify(never));

        const bad = [
          ['device:register', { token, platform: 'symbian' }],
          ['device:register', { token, platform: 'Android' }],
          ['device:register', { token: 'has a space', platform: 'ios' }],
          ['device:register', { token: 'tab\there', platform: 'ios' }],
          ['device:register', { token: '', platform: 'web' }],
          ['device:register', { platform: 'web' }],
          ['device:register', { token }],
          ['device:register', { token: 42, platform: 'web' }],
          ['device:register', 'a-token'],
          ['device:register', { token, platform: 'web', installationId: '' }],
          ['device:register', { token, platform: 'web', installationId: 7 }],
          ['device:unregister', { token: 'has a space' }],
          ['device:unregister', {}],
          ['device:unregister', { token: '' }],
        ];
        for (const [event, payload] of bad) {
          const ack = await request(kim.socket, event, payload);
          assert.equal(errorCodeOf(ack), 'invalid_payload', `${event} ${JSON.stringify(payload)}: ${JSON.stringify(ack)}`);
        }
      } finally {
        closeAll(kim.socket);
      }
    });

    test('unknown events are invalid_payload and announcements reach /notifications', T, async () => {
      const a = await join(uniqueUser('lee'));
      const b = await join(uniqueUser('max'));
      try {
        for (const event of ['no:such:event', 'message:send', 'notification', 'subscribe']) {
          const ack = await request(a.socket, event, {});
          assert.equal(errorCodeOf(ack), 'invalid_payload', `${event}: ${JSON.stringify(ack)}`);
        }
        a.socket.emit('no:such:event', {});
        assert.equal((await a.rec.nextData('error')).code, 'invalid_payload');

        const before_ = Date.now();
        const data = { link: 'https://status.example.test' };
        const res = await server.call('POST', '/api/v1/announce', {
          token: server.adminToken(),
          body: { title: 'Maintenance', body: 'at noon', data },
        });
        assert.equal(res.status, 202, res.text);
        for (const who of [a, b]) {
          const event = await who.rec.nextData('announcement');
          assert.deepEqual(Object.keys(event).sort(), ['body', 'data', 'title', 'ts']);
          assert.equal(event.title, 'Maintenance');
          assert.equal(event.body, 'at noon');
          assert.deepEqual(event.data, data);
          assertTimestamp(event.ts, before_, Date.now(), 'ts');
          await who.rec.none('announcement', () => true, 0);
        }
        // An announcement is not a notification.
        await a.rec.none('notification', () => true, 0);
        assert.deepEqual((await list(a)).items, []);
      } finally {
        closeAll(a.socket, b.socket);
      }
    });
  });
}

describe('SWITCHYARD_MAX_PENDING_NOTIFICATIONS', SUITE, () => {
  let server;
  const open = [];

  before(async () => {
    server = await startServer({ SWITCHYARD_MAX_PENDING_NOTIFICATIONS: '3' });
  }, HOOK);
  after(async () => {
    closeAll(open);
    await server?.stop();
  }, HOOK);

  for (const transport of TRANSPORTS) {
    test(`keeps the 3 newest pending, dropping older ones whatever their priority (${transport})`, T, async () => {
      const { join, notifyOne, nextNotifications } = notificationsClient(() => server, transport, open);
      const nina = uniqueUser('nina');
      const ids = [];
      for (const priority of ['critical', 'urgent', 'low', 'normal', 'high']) ids.push(await notifyOne(nina, { priority }));
      const [, , low, normal, high] = ids;

      const first = await join(nina, { autoAck: false });
      const got = await nextNotifications(first, 3);
      assert.deepEqual(got.map((r) => r.data.id), [high, normal, low]);
      await first.rec.none('notification', () => true, 500);
      closeAll(first.socket);

      // Unacked, the same three come again.
      const second = await join(nina);
      assert.deepEqual((await nextNotifications(second, 3)).map((r) => r.data.id), [high, normal, low]);
      await second.rec.none('notification');
      await sleep(ACK_SETTLE_MS);
      closeAll(second.socket);

      // Delivered ones do not count against the cap: three more are all kept.
      const more = [];
      for (let i = 0; i < 3; i += 1) more.push(await notifyOne(nina, { title: `more ${i}` }));
      const third = await join(nina);
      assert.deepEqual((await nextNotifications(third, 3)).map((r) => r.data.id), more);
      await third.rec.none('notification');
      closeAll(third.socket);
    });
  }
});

describe('POST /api/v1/notifications', SUITE, () => {
  let server;
  const body = () => ({ userIds: [uniqueUser('user')], type: 'test.event', title: 'Title', body: 'Body' });
  const post = (payload, token = server.serviceToken()) =>
    server.call('POST', '/api/v1/notifications', { token, body: payload });

  before(async () => {
    server = await startServer();
  }, HOOK);
  after(async () => {
    await server?.stop();
  }, HOOK);

  test('refuses a missing token with 401 and a caller without role service with 403', T, async () => {
    assertHttpError(await server.call('POST', '/api/v1/notifications', { body: body() }), 401, 'missing_token');
    assertHttpError(await post(body(), 'garbage'), 401, 'invalid_token');
    assertHttpError(await post(body(), server.token(uniqueUser('user'))), 403, 'forbidden');
    assertHttpError(await post(body(), server.adminToken()), 403, 'forbidden');
    assertHttpError(await post(body(), server.token(uniqueUser('user'), { roles: ['services'] })), 403, 'forbidden');
  });

  test('refuses bad JSON with 400 and invalid bodies with 422', T, async () => {
    const token = server.serviceToken();
    assertHttpError(await server.call('POST', '/api/v1/notifications', { token, rawBody: '{"userIds": ["a"' }), 400, 'invalid_payload');

    const invalid = [
      ['a bad priority', { priority: 'extreme' }],
      ['priority in capitals', { priority: 'HIGH' }],
      ['empty userIds', { userIds: [] }],
      ['userIds as a string', { userIds: 'u-1' }],
      ['userIds that are not strings', { userIds: [1, 2] }],
      ['501 userIds', { userIds: Array.from({ length: 501 }, (_, i) => `bulk-${i}`) }],
      ['data as an array', { data: [1, 2] }],
      ['data as a string', { data: 'x' }],
      ['data as a number', { data: 7 }],
      ['a title of 201 characters', { title: 't'.repeat(201) }],
      ['a body of 4001 characters', { body: 'b'.repeat(4001) }],
      ['ttlSeconds 0', { ttlSeconds: 0 }],
      ['ttlSeconds 2592001', { ttlSeconds: 2592001 }],
      ['ttlSeconds negative', { ttlSeconds: -5 }],
      ['ttlSeconds as a string', { ttlSeconds: '60' }],
      ['missing type', { type: undefined }],
      ['missing title', { title: undefined }],
      ['missing body', { body: undefined }],
      ['missing userIds', { userIds: undefined }],
    ];
    const failures = [];
    for (const [label, change] of invalid) {
      const res = await post({ ...body(), ...change }, token);
      if (res.status !== 422 || res.json?.error?.code !== 'invalid_payload' || typeof res.json?.error?.message !== 'string') {
        failures.push(`${label}: ${res.status} ${res.text.slice(0, 200)}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  test('accepts the limits and answers one id per user, in order', T, async () => {
    const edges = [
      { title: 't'.repeat(200), body: 'b'.repeat(4000) },
      { ttlSeconds: 1 },
      { ttlSeconds: 2592000 },
      { data: {} },
      { data: { a: [1, { b: null }] } },
      ...['low', 'normal', 'high', 'urgent', 'critical'].map((priority) => ({ priority })),
    ];
    for (const change of edges) {
      const res = await post({ ...body(), ...change });
      assert.equal(res.status, 202, `${JSON.stringify(change).slice(0, 80)}: ${res.text}`);
      assert.deepEqual(Object.keys(res.json), ['ids']);
      assert.equal(res.json.ids.length, 1);
    }

    const many = Array.from({ length: 500 }, () => uniqueUser('bulk'));
    const res = await post({ ...body(), userIds: many });
    assert.equal(res.status, 202, res.text.slice(0, 300));
    assert.equal(res.json.ids.length, 500);
    assert.equal(new Set(res.json.ids).size, 500);

    // The order of ids is the order of userIds: each user lists its own id.
    const users = [uniqueUser('first'), uniqueUser('second'), uniqueUser('third')];
    const ordered = await post({ ...body(), userIds: users });
    assert.equal(ordered.status, 202, ordered.text);
    for (const [i, user] of users.entries()) {
      const socket = await connect(server.url, NS, { token: server.token(user) });
      try {
        const ack = await request(socket, 'notification:list', {});
        assert.deepEqual(ack.items.map((n) => n.id), [ordered.json.ids[i]], `${user}: ${JSON.stringify(ack)}`);
      } finally {
        closeAll(socket);
      }
    }
  });
});
