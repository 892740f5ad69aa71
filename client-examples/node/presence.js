// Watch a user's presence on /realtime: the watcher asks for `presence` events about
// alice, then alice comes online (any namespace counts) and goes offline again.
//
//   SWITCHYARD_URL=http://localhost:3000 WATCHER_TOKEN=... USER_TOKEN=... node presence.js

import { connect, env, next, request, run, subjectOf } from './lib.js';

run(async (sockets) => {
  const watcherToken = env('WATCHER_TOKEN');
  const userToken = env('USER_TOKEN');
  const userId = subjectOf(userToken);

  const watcher = await connect('/realtime', watcherToken);
  sockets.push(watcher);

  // presence:watch answers with the status now and subscribes to every later change.
  const { users } = await request(watcher, 'presence:watch', { userIds: [userId] });
  for (const u of users) console.log(`${u.userId} is ${u.status} (${u.devices} devices)`);

  const isAbout = (status) => (e) => e.userId === userId && e.status === status;

  // The user connects: the watcher gets `presence` with status online.
  const online = next(watcher, 'presence', isAbout('online'));
  const user = await connect('/realtime', userToken);
  sockets.push(user);
  const [came] = await online;
  console.log(`presence: ${came.userId} is ${came.status}`);

  // presence:get tells the same, with the number of open connections.
  const now = await request(watcher, 'presence:get', { userIds: [userId] });
  console.log(`presence:get: ${userId} is ${now.users[0].status} on ${now.users[0].devices} device(s)`);

  // The user's last socket closes: offline, with lastSeen.
  const offline = next(watcher, 'presence', isAbout('offline'));
  user.close();
  const [left] = await offline;
  console.log(`presence: ${left.userId} is ${left.status} (last seen ${new Date(left.lastSeen).toISOString()})`);

  await request(watcher, 'presence:unwatch', { userIds: [userId] });
});
