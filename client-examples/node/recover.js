// Channel recovery on /realtime: subscribe to a channel, note the position (epoch and
// offset) of the last publication seen, disconnect, let a back-end service publish while
// the client is away (POST /api/v1/publish), then reconnect and subscribe with `since`:
// the ack's `missed` holds exactly what was published meanwhile, in order.
//
//   SWITCHYARD_URL=http://localhost:3000 USER_TOKEN=... SERVICE_TOKEN=... node recover.js
//   (CHANNEL defaults to a fresh public:example-… channel)

import { randomUUID } from 'node:crypto';

import { connect, env, http, next, request, run } from './lib.js';

const AWAY_PUBLICATIONS = 3;

run(async (sockets) => {
  const userToken = env('USER_TOKEN');
  const serviceToken = env('SERVICE_TOKEN');
  const channel = process.env.CHANNEL || `public:example-${randomUUID()}`;

  const socket = await connect('/realtime', userToken);
  sockets.push(socket);
  const sub = await request(socket, 'subscribe', { channels: [channel] });
  if (!sub.subscribed.includes(channel)) throw new Error(`not subscribed: ${JSON.stringify(sub.denied)}`);
  console.log(`subscribed to ${channel}`);

  // Remember where we are: every `event` carries its channel's epoch and offset.
  let position;
  socket.on('event', (p) => {
    if (p.channel === channel) position = { epoch: p.epoch, offset: p.offset };
  });
  const live = next(socket, 'event', (p) => p.channel === channel);
  await http('POST', '/api/v1/publish', serviceToken, { channel, event: 'score', data: { n: 0 } });
  const [first] = await live;
  console.log(`live: offset ${first.offset} ${first.event} ${JSON.stringify(first.data)}`);

  // Away: the socket disconnects and the service goes on publishing.
  socket.disconnect();
  console.log('disconnected');
  const published = [];
  for (let n = 1; n <= AWAY_PUBLICATIONS; n += 1) {
    published.push(await http('POST', '/api/v1/publish', serviceToken, { channel, event: 'score', data: { n } }));
  }
  console.log(`published ${published.length} while away (offsets ${published.map((p) => p.offset).join(', ')})`);

  // Back: the same Socket reconnects, then subscribes again with `since`.
  const reconnected = next(socket, 'connect');
  socket.connect();
  await reconnected;
  console.log('reconnected');
  const ack = await request(socket, 'subscribe', { channels: [channel], since: { [channel]: position } });
  if (!ack.recovered[channel]) throw new Error('history no longer covers the gap: fetch the state afresh');
  for (const p of ack.missed[channel]) {
    console.log(`recovered: offset ${p.offset} ${p.event} ${JSON.stringify(p.data)}`);
    position = { epoch: p.epoch, offset: p.offset };
  }
  const got = ack.missed[channel].map((p) => p.data.n);
  if (JSON.stringify(got) !== JSON.stringify([1, 2, 3])) throw new Error(`recovered ${JSON.stringify(got)}, expected [1,2,3]`);
  console.log(`recovered ${got.length} publications, now at offset ${position.offset}`);
});
