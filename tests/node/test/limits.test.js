// PROTOCOL.md §2 rate limits with the real client: an event over its class's limit is
// answered `rate_limited` with `retryAfterMs` and the socket stays; a repeat offender is
// disconnected and refused `rate_limited` until the block ends. The rest of the suite
// runs with the limits off (lib/helpers.js).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { closeAll, connect, connectError, errorCodeOf, once, request, sleep, startServer, uniqueUser } from '../lib/helpers.js';

const T = { timeout: 20_000 };
const HOOK = { timeout: 30_000 };

for (const transport of ['websocket', 'polling']) {
  describe(`rate limits over ${transport}`, { timeout: 60_000 }, () => {
    let server;
    const open = [];

    before(async () => {
      server = await startServer({ SWITCHYARD_RATE_LIMITS: 'default', SWITCHYARD_RATE_LIMIT_BLOCK_SECS: '2' });
    }, HOOK);
    after(async () => {
      closeAll(open);
      await server?.stop();
    }, HOOK);

    async function join(sub) {
      const socket = await connect(server.url, '/realtime', { token: server.token(sub), transports: [transport] });
      open.push(socket);
      return socket;
    }

    test('the sixth presence event in a burst is refused with a retry time; the socket stays', T, async () => {
      const socket = await join(uniqueUser('eager'));
      for (let i = 0; i < 5; i += 1) {
        const ack = await request(socket, 'presence:get', { userIds: ['x'] });
        assert.equal(ack.ok, true, JSON.stringify(ack));
      }
      const refused = await request(socket, 'presence:get', { userIds: ['x'] });
      assert.equal(errorCodeOf(refused), 'rate_limited');
      assert.ok(refused.error.retryAfterMs > 0 && refused.error.retryAfterMs <= 12_000, JSON.stringify(refused));
      const pong = await request(socket, 'latency:ping', { t: 1 });
      assert.equal(pong.ok, true, 'other classes still served');
      assert.equal(socket.connected, true);
    });

    test('five violations in a minute disconnect the socket and keep the user out until the block ends', T, async () => {
      const user = uniqueUser('flooder');
      const socket = await join(user);
      const closed = once(socket, 'disconnect', 10_000);
      for (let i = 0; i < 5; i += 1) await request(socket, 'presence:get', { userIds: ['x'] });
      for (let i = 0; i < 5; i += 1) {
        const ack = await request(socket, 'presence:get', { userIds: ['x'] });
        assert.equal(errorCodeOf(ack), 'rate_limited');
      }
      assert.equal(await closed, 'io server disconnect');
      const refusal = await connectError(server.url, '/realtime', { token: server.token(user), transports: [transport] });
      assert.equal(refusal, 'rate_limited');
      await sleep(2_200);
      const back = await join(user);
      assert.equal((await request(back, 'latency:ping', { t: 1 })).ok, true, 'let back in after the block');
    });
  });
}
