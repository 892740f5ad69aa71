// Two users chat on /ws: alice opens a conversation with bob, types, sends a message that
// bob receives (and acks, which tells alice it was delivered), bob replies and marks it
// all read, and alice sees the read receipt.
//
//   SWITCHYARD_URL=http://localhost:3000 ALICE_TOKEN=... BOB_TOKEN=... node chat.js

import { randomUUID } from 'node:crypto';

import { connect, env, next, request, run, subjectOf } from './lib.js';

run(async (sockets) => {
  const aliceToken = env('ALICE_TOKEN');
  const bobToken = env('BOB_TOKEN');
  const aliceId = subjectOf(aliceToken);
  const bobId = subjectOf(bobToken);

  const alice = await connect('/ws', aliceToken);
  const bob = await connect('/ws', bobToken);
  sockets.push(alice, bob);
  console.log(`connected: ${aliceId} and ${bobId}`);

  // Recipients ack `message:new`: the first ack becomes `message:delivered` for the sender.
  bob.on('message:new', ({ message }, ack) => {
    console.log(`${bobId} received: ${message.senderId}: ${message.content}`);
    ack?.({});
  });
  alice.on('message:new', ({ message }, ack) => {
    console.log(`${aliceId} received: ${message.senderId}: ${message.content}`);
    ack?.({});
  });

  // 1. alice opens a conversation; every participant's sockets get `conversation:new`.
  const bobSeesIt = next(bob, 'conversation:new');
  const { conversation } = await request(alice, 'conversation:create', {
    participantIds: [bobId],
    title: 'example chat',
  });
  await bobSeesIt;
  console.log(`conversation ${conversation.id} with ${conversation.participantIds.join(', ')}`);

  // 2. alice types: bob sees `typing` (it stops by itself after 5 s without typing:start).
  const typingShown = next(bob, 'typing', (e) => e.conversationId === conversation.id && e.typing);
  await request(alice, 'typing:start', { conversationId: conversation.id });
  await typingShown;
  console.log(`${bobId} sees: ${aliceId} is typing`);

  // 3. alice sends; the ack means stored. bob's ack of message:new tells alice "delivered".
  const delivered = next(alice, 'message:delivered', (r) => r.conversationId === conversation.id);
  const bobGetsHello = next(bob, 'message:new', ({ message }) => message.conversationId === conversation.id);
  const typingStopped = next(bob, 'typing', (e) => e.conversationId === conversation.id && !e.typing);
  const sent = await request(alice, 'message:send', {
    conversationId: conversation.id,
    clientMsgId: randomUUID(), // a resend with the same id is not stored twice
    content: 'hello bob',
  });
  console.log(`${aliceId} sent seq ${sent.message.seq}`);
  await bobGetsHello;
  const [receipt] = await delivered;
  console.log(`${aliceId} sees: delivered to ${receipt.userId} (seq ${receipt.seq})`);
  await request(alice, 'typing:stop', { conversationId: conversation.id });
  await typingStopped;
  console.log(`${bobId} sees: ${aliceId} stopped typing`);

  // 4. bob replies, then reads everything up to his reply; alice gets `message:read`.
  const aliceGetsReply = next(alice, 'message:new', ({ message }) => message.senderId === bobId);
  const reply = await request(bob, 'message:send', {
    conversationId: conversation.id,
    clientMsgId: randomUUID(),
    content: 'hi alice',
  });
  await aliceGetsReply;
  const readReceipt = next(alice, 'message:read', (r) => r.conversationId === conversation.id && r.userId === bobId);
  await request(bob, 'message:read', { conversationId: conversation.id, seq: reply.message.seq });
  const [read] = await readReceipt;
  console.log(`${aliceId} sees: ${read.userId} read up to seq ${read.seq}`);
});
