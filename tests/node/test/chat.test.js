// PROTOCOL.md §5: conversations and messages on /ws, run once per transport.

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

function assertTimestamp(value, notBefore, notAfter, label) {
  assert.ok(Number.isInteger(value), `${label} is not an integer: ${JSON.stringify(value)}`);
  assert.ok(value >= notBefore - 1000 && value <= notAfter + 1000, `${label} ${value} is not within [${notBefore}, ${notAfter}]`);
}

/** The fields every message carries, checked against what was sent. */
function assertMessage(message, { conversationId, seq, senderId, clientMsgId, content, since, until }) {
  assert.equal(typeof message.id, 'string');
  assert.ok(message.id.length > 0);
  assert.equal(message.conversationId, conversationId);
  if (seq !== undefined) assert.equal(message.seq, seq);
  assert.equal(message.senderId, senderId);
  assert.equal(message.clientMsgId, clientMsgId);
  assert.equal(message.content, content);
  assert.ok(Array.isArray(message.attachments), `attachments is not an array: ${JSON.stringify(message)}`);
  assert.ok('replyTo' in message, `message has no replyTo field: ${JSON.stringify(message)}`);
  assertTimestamp(message.createdAt, since, until ?? Date.now(), 'createdAt');
  assert.notEqual(message.deleted, true);
}

for (const transport of ['websocket', 'polling']) {
  describe(`/ws conversations and messages over ${transport}`, SUITE, () => {
    let server;
    const open = [];

    before(async () => {
      server = await startServer();
    }, HOOK);
    after(async () => {
      closeAll(open);
      await server?.stop();
    }, HOOK);

    /** Connects `sub` with its own token over this transport; recorded, auto-acking. */
    async function join(sub, { autoAck = true } = {}) {
      const socket = await connect(server.url, '/ws', { token: server.token(sub), transports: [transport] });
      open.push(socket);
      return { sub, socket, rec: new Recorder(socket, { autoAck }) };
    }

    /**
     * alice (two sockets) and bob in a conversation alice created, carol outside it.
     * The creation's conversation:new events are consumed.
     */
    async function world({ bobAutoAck = true } = {}) {
      const names = { alice: uniqueUser('alice'), bob: uniqueUser('bob'), carol: uniqueUser('carol') };
      const alice1 = await join(names.alice);
      const alice2 = await join(names.alice);
      const bob = await join(names.bob, { autoAck: bobAutoAck });
      const carol = await join(names.carol);
      const ack = await request(alice1.socket, 'conversation:create', { participantIds: [names.bob] });
      assert.equal(ack.ok, true, JSON.stringify(ack));
      const conversationId = ack.conversation.id;
      await bob.rec.next('conversation:new', (d) => d.conversation.id === conversationId);
      await alice2.rec.next('conversation:new', (d) => d.conversation.id === conversationId);
      const close = () => closeAll(alice1.socket, alice2.socket, bob.socket, carol.socket);
      return { alice1, alice2, bob, carol, conversationId, close };
    }

    async function send(from, conversationId, clientMsgId, content, extra = {}) {
      const ack = await request(from.socket, 'message:send', { conversationId, clientMsgId, content, ...extra });
      assert.equal(ack.ok, true, `message:send failed: ${JSON.stringify(ack)}`);
      return ack.message;
    }

    test('conversation:create answers the conversation and tells the participants', T, async () => {
      // Names chosen so that the creator sorts before the invitees: the ids must be sorted.
      const zed = await join(uniqueUser('zed'));
      const bob = await join(uniqueUser('bob'));
      const alice2 = await join(zed.sub);
      const amy = await join(uniqueUser('amy'));
      const outsider = await join(uniqueUser('outsider'));
      try {
        const since = Date.now();
        const ack = await request(zed.socket, 'conversation:create', {
          participantIds: [bob.sub, amy.sub],
          title: 'Launch plan',
        });
        const until = Date.now();
        assert.equal(ack.ok, true, JSON.stringify(ack));
        const { conversation } = ack;
        assert.equal(typeof conversation.id, 'string');
        assert.ok(conversation.id.length > 0);
        assert.equal(conversation.title, 'Launch plan');
        assert.deepEqual(conversation.participantIds, [amy.sub, bob.sub, zed.sub].sort());
        assertTimestamp(conversation.createdAt, since, until, 'createdAt');

        for (const who of [bob, amy, alice2]) {
          const event = await who.rec.nextData('conversation:new', (d) => d.conversation?.id === conversation.id);
          assert.deepEqual(event, { conversation });
        }
        await outsider.rec.none('conversation:new');

        // The creator is added once even when it names itself.
        const again = await request(zed.socket, 'conversation:create', { participantIds: [bob.sub, zed.sub] });
        assert.equal(again.ok, true, JSON.stringify(again));
        assert.deepEqual(again.conversation.participantIds, [bob.sub, zed.sub].sort());
        assert.notEqual(again.conversation.id, conversation.id);

        // Every participant's later sockets see it in conversation:list.
        const listed = await request(amy.socket, 'conversation:list', {});
        assert.equal(listed.ok, true, JSON.stringify(listed));
        const entry = listed.conversations.find((c) => c.id === conversation.id);
        assert.ok(entry, `conversation:list lacks ${conversation.id}: ${JSON.stringify(listed)}`);
        assert.equal(entry.title, 'Launch plan');
        assert.deepEqual(entry.participantIds, conversation.participantIds);
        assert.equal(entry.unread, 0);
        assert.equal(entry.lastMessage, undefined);
        const outsiderList = await request(outsider.socket, 'conversation:list', {});
        assert.deepEqual(outsiderList, { ok: true, conversations: [] });
      } finally {
        closeAll(zed.socket, bob.socket, alice2.socket, amy.socket, outsider.socket);
      }
    });

    test('message:send is stored, broadcast, and reported delivered once bob acks', T, async () => {
      const w = await world({ bobAutoAck: false });
      try {
        const since = Date.now();
        const message = await send(w.alice1, w.conversationId, 'c-1', 'hello bob');
        assertMessage(message, {
          conversationId: w.conversationId,
          seq: 1,
          senderId: w.alice1.sub,
          clientMsgId: 'c-1',
          content: 'hello bob',
          since,
        });
        assert.deepEqual(message.attachments, []);
        assert.equal(message.replyTo ?? null, null);

        // bob gets it with an ack request.
        const received = await w.bob.rec.next('message:new');
        assert.deepEqual(received.data, { message });
        assert.equal(typeof received.ack, 'function', 'message:new was sent without an ack request');

        // alice's other socket gets it; the sending socket does not.
        assert.deepEqual(await w.alice2.rec.nextData('message:new'), { message });
        await w.alice1.rec.none('message:new');
        await w.carol.rec.none('message:new');

        // Not delivered until bob acks.
        await w.alice1.rec.none('message:delivered', () => true, 400);
        received.ack({});
        const expected = { conversationId: w.conversationId, userId: w.bob.sub, seq: 1 };
        assert.deepEqual(await w.alice1.rec.nextData('message:delivered'), expected);
        assert.deepEqual(await w.alice2.rec.nextData('message:delivered'), expected);
        await w.bob.rec.none('message:delivered');

        // The next one takes the next seq, and carries attachments and replyTo as sent.
        const attachments = [{ url: 'https://example.test/a.png', kind: 'image', size: 1234 }];
        const reply = await send(w.alice1, w.conversationId, 'c-2', 'see attached', {
          attachments,
          replyTo: message.id,
        });
        assert.equal(reply.seq, 2);
        assert.deepEqual(reply.attachments, attachments);
        assert.equal(reply.replyTo, message.id);
        const second = await w.bob.rec.next('message:new');
        assert.deepEqual(second.data, { message: reply });
        assert.deepEqual(await w.alice2.rec.nextData('message:new'), { message: reply });
        second.ack({});
        assert.deepEqual(await w.alice1.rec.nextData('message:delivered'), { ...expected, seq: 2 });

        // bob answers: alice's two sockets both get it and both see bob's message delivered.
        w.bob.rec.autoAck = true;
        const answer = await send(w.bob, w.conversationId, 'b-1', 'hi alice');
        assert.equal(answer.seq, 3);
        assert.equal(answer.senderId, w.bob.sub);
        assert.deepEqual(await w.alice1.rec.nextData('message:new'), { message: answer });
        assert.deepEqual(await w.alice2.rec.nextData('message:new'), { message: answer });
        assert.deepEqual(await w.bob.rec.nextData('message:delivered'), {
          conversationId: w.conversationId,
          userId: w.alice1.sub,
          seq: 3,
        });
      } finally {
        w.close();
      }
    });

    test('message:send with a known clientMsgId returns the stored message and broadcasts nothing', T, async () => {
      const w = await world();
      try {
        const first = await send(w.alice1, w.conversationId, 'dup-1', 'only once');
        assert.deepEqual(await w.bob.rec.nextData('message:new'), { message: first });
        assert.deepEqual(await w.alice2.rec.nextData('message:new'), { message: first });
        await w.alice1.rec.nextData('message:delivered');

        // The resend, from another of alice's sockets (a retry after a reconnect).
        const again = await send(w.alice2, w.conversationId, 'dup-1', 'only once');
        assert.equal(again.id, first.id);
        assert.equal(again.seq, first.seq);
        assert.deepEqual(again, first);
        const third = await send(w.alice1, w.conversationId, 'dup-1', 'only once');
        assert.deepEqual(third, first);

        await w.bob.rec.none('message:new');
        await w.alice1.rec.none('message:new', () => true, 0);
        await w.alice2.rec.none('message:new', () => true, 0);

        // The resend used no seq, and bob may reuse alice's clientMsgId for his own message.
        const next = await send(w.alice1, w.conversationId, 'dup-2', 'second');
        assert.equal(next.seq, first.seq + 1);
        const bobs = await send(w.bob, w.conversationId, 'dup-1', 'bob too');
        assert.notEqual(bobs.id, first.id);
        assert.equal(bobs.seq, first.seq + 2);

        const history = await request(w.bob.socket, 'message:history', { conversationId: w.conversationId });
        assert.equal(history.ok, true, JSON.stringify(history));
        assert.deepEqual(
          history.messages.map((m) => [m.seq, m.clientMsgId, m.senderId]),
          [
            [1, 'dup-1', w.alice1.sub],
            [2, 'dup-2', w.alice1.sub],
            [3, 'dup-1', w.bob.sub],
          ],
        );
      } finally {
        w.close();
      }
    });

    test('message:edit and message:delete are the sender\'s alone and are broadcast', T, async () => {
      const w = await world();
      try {
        const original = await send(w.alice1, w.conversationId, 'e-1', 'typo hre');
        await w.bob.rec.next('message:new');

        for (const who of [w.bob, w.carol]) {
          const edit = await request(who.socket, 'message:edit', { messageId: original.id, content: 'hijacked' });
          assert.equal(errorCodeOf(edit), 'forbidden', `${who.sub} edit`);
          const del = await request(who.socket, 'message:delete', { messageId: original.id });
          assert.equal(errorCodeOf(del), 'forbidden', `${who.sub} delete`);
        }
        await w.alice1.rec.none('message:updated', () => true, 0);

        const before = Date.now();
        const edited = await request(w.alice1.socket, 'message:edit', { messageId: original.id, content: 'typo here' });
        assert.equal(edited.ok, true, JSON.stringify(edited));
        const { message } = edited;
        assert.equal(message.id, original.id);
        assert.equal(message.seq, original.seq);
        assert.equal(message.clientMsgId, original.clientMsgId);
        assert.equal(message.createdAt, original.createdAt);
        assert.equal(message.content, 'typo here');
        assertTimestamp(message.editedAt, before, Date.now(), 'editedAt');
        assert.deepEqual(await w.bob.rec.nextData('message:updated'), { message });
        assert.deepEqual(await w.alice2.rec.nextData('message:updated'), { message });
        await w.carol.rec.none('message:updated');

        // History shows the edit, and the content is not bob's attempted one.
        const page = await request(w.bob.socket, 'message:history', { conversationId: w.conversationId });
        assert.equal(page.messages[0].content, 'typo here');

        const deleted = await request(w.alice2.socket, 'message:delete', { messageId: original.id });
        assert.deepEqual(deleted, { ok: true });
        const event = { conversationId: w.conversationId, messageId: original.id };
        assert.deepEqual(await w.bob.rec.nextData('message:deleted'), event);
        assert.deepEqual(await w.alice1.rec.nextData('message:deleted'), event);
        await w.carol.rec.none('message:deleted');

        const after = await request(w.bob.socket, 'message:history', { conversationId: w.conversationId });
        assert.equal(after.messages.length, 1);
        assert.equal(after.messages[0].id, original.id);
        assert.equal(after.messages[0].deleted, true);

        const editDeleted = await request(w.alice1.socket, 'message:edit', { messageId: original.id, content: 'back' });
        assert.equal(editDeleted.ok, false, JSON.stringify(editDeleted));
        const missing = await request(w.alice1.socket, 'message:edit', { messageId: 'no-such-message', content: 'x' });
        assert.equal(errorCodeOf(missing), 'not_found');
        const missingDelete = await request(w.alice1.socket, 'message:delete', { messageId: 'no-such-message' });
        assert.equal(errorCodeOf(missingDelete), 'not_found');
      } finally {
        w.close();
      }
    });

    test('message:history pages backwards, oldest first, with more', T, async () => {
      const w = await world();
      try {
        const sent = [];
        for (let i = 1; i <= 7; i += 1) sent.push(await send(w.alice1, w.conversationId, `h-${i}`, `message ${i}`));
        assert.deepEqual(sent.map((m) => m.seq), [1, 2, 3, 4, 5, 6, 7]);

        const page = async (args) => {
          const ack = await request(w.bob.socket, 'message:history', { conversationId: w.conversationId, ...args });
          assert.equal(ack.ok, true, JSON.stringify(ack));
          assert.equal(typeof ack.more, 'boolean');
          return [ack.messages.map((m) => m.seq), ack.more, ack.messages];
        };

        const [newest, moreAfterNewest, messages] = await page({ limit: 3 });
        assert.deepEqual([newest, moreAfterNewest], [[5, 6, 7], true]);
        assert.deepEqual(messages, sent.slice(4));
        assert.deepEqual((await page({ beforeSeq: 5, limit: 3 })).slice(0, 2), [[2, 3, 4], true]);
        assert.deepEqual((await page({ beforeSeq: 2, limit: 3 })).slice(0, 2), [[1], false]);
        assert.deepEqual((await page({ beforeSeq: 4, limit: 3 })).slice(0, 2), [[1, 2, 3], false]);
        assert.deepEqual((await page({ beforeSeq: 1 })).slice(0, 2), [[], false]);
        assert.deepEqual((await page({})).slice(0, 2), [[1, 2, 3, 4, 5, 6, 7], false]);
        assert.deepEqual((await page({ limit: 7 })).slice(0, 2), [[1, 2, 3, 4, 5, 6, 7], false]);
        assert.deepEqual((await page({ limit: 100 })).slice(0, 2), [[1, 2, 3, 4, 5, 6, 7], false]);
      } finally {
        w.close();
      }
    });

    test('message:sync returns what bob missed while offline, and his new socket gets live messages', T, async () => {
      const w = await world();
      try {
        const first = await send(w.alice1, w.conversationId, 's-1', 'before you left');
        const seen = await w.bob.rec.nextData('message:new');
        const lastSeq = seen.message.seq;
        assert.equal(lastSeq, first.seq);

        w.bob.socket.close();
        await sleep(100);
        const missed = [];
        for (let i = 2; i <= 4; i += 1) missed.push(await send(w.alice1, w.conversationId, `s-${i}`, `while away ${i}`));

        // A second conversation bob takes part in, which he has seen nothing of.
        const other = await request(w.alice1.socket, 'conversation:create', { participantIds: [w.bob.sub], title: 'other' });
        const otherMessage = await send(w.alice1, other.conversation.id, 's-other', 'elsewhere');

        const bob = await join(w.bob.sub);
        try {
          const sync = await request(bob.socket, 'message:sync', { cursors: { [w.conversationId]: lastSeq } });
          assert.equal(sync.ok, true, JSON.stringify(sync));
          assert.deepEqual(sync.messages, missed);
          assert.equal(sync.more, false);

          const both = await request(bob.socket, 'message:sync', {
            cursors: { [w.conversationId]: 3, [other.conversation.id]: 0 },
          });
          assert.equal(both.ok, true, JSON.stringify(both));
          const byConversation = (id) => both.messages.filter((m) => m.conversationId === id);
          assert.deepEqual(byConversation(w.conversationId), [missed[2]]);
          assert.deepEqual(byConversation(other.conversation.id), [otherMessage]);
          assert.equal(both.messages.length, 2);
          assert.equal(both.more, false);

          const upToDate = await request(bob.socket, 'message:sync', { cursors: { [w.conversationId]: 4 } });
          assert.deepEqual(upToDate, { ok: true, messages: [], more: false });

          // The new socket joined bob's conversations at connect, including the one
          // created while he was away.
          const live = await send(w.alice1, w.conversationId, 's-5', 'welcome back');
          assert.deepEqual(await bob.rec.nextData('message:new'), { message: live });
          const liveOther = await send(w.alice1, other.conversation.id, 's-other-2', 'here too');
          assert.deepEqual(await bob.rec.nextData('message:new'), { message: liveOther });
        } finally {
          closeAll(bob.socket);
        }
      } finally {
        w.close();
      }
    });

    test('message:read moves bob\'s cursor, tells the conversation and lowers unread', T, async () => {
      const w = await world();
      try {
        const sent = [];
        for (let i = 1; i <= 3; i += 1) sent.push(await send(w.alice1, w.conversationId, `r-${i}`, `read me ${i}`));

        const entryOf = async (who) => {
          const ack = await request(who.socket, 'conversation:list', {});
          assert.equal(ack.ok, true, JSON.stringify(ack));
          const entry = ack.conversations.find((c) => c.id === w.conversationId);
          assert.ok(entry, `conversation:list of ${who.sub} lacks the conversation: ${JSON.stringify(ack)}`);
          return entry;
        };

        const bobsBefore = await entryOf(w.bob);
        assert.equal(bobsBefore.unread, 3);
        assert.deepEqual(bobsBefore.lastMessage, sent[2]);
        assert.deepEqual(bobsBefore.participantIds, [w.alice1.sub, w.bob.sub].sort());
        assert.equal((await entryOf(w.alice1)).unread, 0, 'own messages are not unread');

        const before = Date.now();
        const ack = await request(w.bob.socket, 'message:read', { conversationId: w.conversationId, seq: 2 });
        assert.deepEqual(ack, { ok: true });
        for (const who of [w.alice1, w.alice2]) {
          const receipt = await who.rec.nextData('message:read');
          assert.deepEqual(Object.keys(receipt).sort(), ['conversationId', 'readAt', 'seq', 'userId']);
          assert.equal(receipt.conversationId, w.conversationId);
          assert.equal(receipt.userId, w.bob.sub);
          assert.equal(receipt.seq, 2);
          assertTimestamp(receipt.readAt, before, Date.now(), 'readAt');
        }
        await w.carol.rec.none('message:read');

        assert.equal((await entryOf(w.bob)).unread, 1);

        // A new message from alice counts; bob's own message does not.
        const fourth = await send(w.alice1, w.conversationId, 'r-4', 'one more');
        await send(w.bob, w.conversationId, 'r-b', 'bob writes');
        const bobsAfter = await entryOf(w.bob);
        assert.equal(bobsAfter.unread, 2);
        assert.equal(bobsAfter.lastMessage.clientMsgId, 'r-b');

        const all = await request(w.bob.socket, 'message:read', { conversationId: w.conversationId, seq: fourth.seq + 1 });
        assert.deepEqual(all, { ok: true });
        assert.equal((await w.alice1.rec.nextData('message:read')).seq, fourth.seq + 1);
        assert.equal((await entryOf(w.bob)).unread, 0);
      } finally {
        w.close();
      }
    });

    test('typing:start and typing:stop are told to the other participants', T, async () => {
      const w = await world();
      try {
        const start = await request(w.alice1.socket, 'typing:start', { conversationId: w.conversationId });
        assert.deepEqual(start, { ok: true });
        assert.deepEqual(await w.bob.rec.nextData('typing'), {
          conversationId: w.conversationId,
          userId: w.alice1.sub,
          typing: true,
        });
        const stop = await request(w.alice1.socket, 'typing:stop', { conversationId: w.conversationId });
        assert.deepEqual(stop, { ok: true });
        assert.deepEqual(await w.bob.rec.nextData('typing'), {
          conversationId: w.conversationId,
          userId: w.alice1.sub,
          typing: false,
        });
        // Not to the typist's own sockets, nor to outsiders.
        await w.alice1.rec.none('typing', () => true, 0);
        await w.alice2.rec.none('typing', () => true, 0);
        await w.carol.rec.none('typing');

        // bob typing reaches both of alice's sockets.
        assert.deepEqual(await request(w.bob.socket, 'typing:start', { conversationId: w.conversationId }), { ok: true });
        for (const who of [w.alice1, w.alice2]) {
          assert.deepEqual(await who.rec.nextData('typing'), {
            conversationId: w.conversationId,
            userId: w.bob.sub,
            typing: true,
          });
        }
        await request(w.bob.socket, 'typing:stop', { conversationId: w.conversationId });
        await w.alice1.rec.next('typing', (d) => d.typing === false);
      } finally {
        w.close();
      }
    });

    test('typing ends by itself about 5 s after the last typing:start', { timeout: 25_000 }, async () => {
      const w = await world();
      try {
        const t0 = Date.now();
        await request(w.alice1.socket, 'typing:start', { conversationId: w.conversationId });
        await w.bob.rec.next('typing', (d) => d.typing === true);

        // Renewed after 2.5 s: the end counts from here.
        await sleep(2500);
        const renewedAt = Date.now();
        assert.deepEqual(await request(w.alice1.socket, 'typing:start', { conversationId: w.conversationId }), { ok: true });

        const ended = await w.bob.rec.next('typing', (d) => d.typing === false, 9000);
        assert.deepEqual(ended.data, { conversationId: w.conversationId, userId: w.alice1.sub, typing: false });
        const afterRenewal = ended.at - renewedAt;
        assert.ok(afterRenewal >= 4500, `typing ended ${afterRenewal} ms after the renewing typing:start (${ended.at - t0} ms after the first)`);
        assert.ok(afterRenewal <= 7000, `typing ended only ${afterRenewal} ms after the last typing:start`);
        // Once: no second start was announced in between, and no second end follows.
        assert.equal(w.bob.rec.all('typing').filter((r) => r.data.typing === true).length, 1);
        await w.bob.rec.none('typing');
      } finally {
        w.close();
      }
    });

    test('a non-participant gets forbidden on every conversation event and sees nothing', T, async () => {
      const w = await world();
      try {
        const message = await send(w.alice1, w.conversationId, 'p-1', 'private');
        const { conversationId } = w;
        const attempts = [
          ['message:send', { conversationId, clientMsgId: 'intruder-1', content: 'let me in' }],
          ['message:edit', { messageId: message.id, content: 'defaced' }],
          ['message:delete', { messageId: message.id }],
          ['message:history', { conversationId }],
          ['message:history', { conversationId, beforeSeq: 5, limit: 10 }],
          ['message:sync', { cursors: { [conversationId]: 0 } }],
          ['message:read', { conversationId, seq: 1 }],
          ['typing:start', { conversationId }],
          ['typing:stop', { conversationId }],
        ];
        for (const [event, payload] of attempts) {
          const ack = await request(w.carol.socket, event, payload);
          assert.equal(errorCodeOf(ack), 'forbidden', `${event} ${JSON.stringify(payload)} -> ${JSON.stringify(ack)}`);
          assert.equal(ack.messages, undefined, `${event} leaked messages`);
        }

        // Nothing carol tried reached anyone, and she saw nothing of the conversation.
        await w.bob.rec.none('typing', () => true, 0);
        await w.bob.rec.none('message:read', () => true, 0);
        await w.bob.rec.next('message:new', (d) => d.message.id === message.id);
        await w.bob.rec.none('message:new');
        for (const event of ['message:new', 'typing', 'message:updated', 'message:deleted', 'conversation:new']) {
          assert.equal(w.carol.rec.all(event).length, 0, `carol received ${event}`);
        }
        const history = await request(w.bob.socket, 'message:history', { conversationId });
        assert.deepEqual(history.messages, [message]);
        const list = await request(w.carol.socket, 'conversation:list', {});
        assert.deepEqual(list, { ok: true, conversations: [] });
      } finally {
        w.close();
      }
    });
  });
}
