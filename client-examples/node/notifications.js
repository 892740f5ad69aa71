// Receive a notification on /notifications: a back-end service creates it over HTTP
// (POST /api/v1/notifications with a `service` token), the user's socket gets it with an
// ack request, acks it (delivered: no push will be sent) and marks it read.
//
//   SWITCHYARD_URL=http://localhost:3000 USER_TOKEN=... SERVICE_TOKEN=... node notifications.js

import { randomUUID } from 'node:crypto';

import { connect, env, http, next, request, run, subjectOf } from './lib.js';

run(async (sockets) => {
  const userToken = env('USER_TOKEN');
  const serviceToken = env('SERVICE_TOKEN');
  const userId = subjectOf(userToken);

  const socket = await connect('/notifications', userToken);
  sockets.push(socket);

  // Acking tells the server the notification reached this device. Pending notifications
  // (created while no socket was connected) also arrive this way right after connecting.
  socket.on('notification', (n, ack) => {
    console.log(`notification ${n.id} [${n.priority}] ${n.title}: ${n.body}`);
    ack?.({});
  });

  // `data` is the sender's: here it tells this run's notification from older ones.
  const tag = randomUUID();
  const arrived = next(socket, 'notification', (n) => n.data?.tag === tag);
  const { ids } = await http('POST', '/api/v1/notifications', serviceToken, {
    userIds: [userId],
    type: 'example',
    title: 'Build finished',
    body: 'main is green',
    data: { url: '/builds/42', tag },
    priority: 'high',
    ttlSeconds: 3600,
  });
  console.log(`created over HTTP: ${ids.join(', ')}`);
  const [notification] = await arrived;
  if (notification.id !== ids[0]) throw new Error(`got ${notification.id}, expected ${ids[0]}`);

  const before = await request(socket, 'notification:list', { unreadOnly: true, limit: 10 });
  console.log(`unread before: ${before.unread}`);
  const { unread } = await request(socket, 'notification:read', { ids: [notification.id] });
  console.log(`marked ${notification.id} read; unread now ${unread}`);
});
