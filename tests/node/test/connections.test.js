// Connection caps per client IP with the real client: a client's namespaces multiplexed
// on one Manager are one connection; a second connection over the cap is refused at its
// handshake (`429 too_many_connections`, before any namespace); closing one frees its place.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { closeAll, connect, eventually, handshakeRefusal, startServer, uniqueUser } from '../lib/helpers.js';

const T = { timeout: 20_000 };
const HOOK = { timeout: 30_000 };

for (const transport of ['websocket', 'polling']) {
  describe(`connections per IP over ${transport}`, { timeout: 60_000 }, () => {
    let server;
    const open = [];

    before(async () => {
      server = await startServer({ SWITCHYARD_MAX_CONNECTIONS_PER_IP: '1' });
    }, HOOK);
    after(async () => {
      closeAll(open);
      await server?.stop();
    }, HOOK);

    test('three namespaces on one Manager count once; a second Manager is refused until the first closes', T, async () => {
      const user = uniqueUser('multi');
      const options = { token: server.token(user), transports: [transport], forceNew: false, multiplex: true };
      const ws = await connect(server.url, '/ws', { ...options, forceNew: true });
      open.push(ws);
      const manager = ws.io;
      const sockets = ['/realtime', '/notifications'].map((ns) => manager.socket(ns, { auth: { token: server.token(user) } }));
      await Promise.all(
        sockets.map(
          (s) =>
            new Promise((resolve, reject) => {
              s.once('connect', resolve);
              s.once('connect_error', (err) => reject(err));
              s.connect();
            }),
        ),
      );
      open.push(...sockets);
      const refusal = await handshakeRefusal(server.url, '/ws', { token: server.token(uniqueUser('second')), transports: [transport], forceNew: true });
      assert.equal(refusal.status, 429, `refused at the handshake: ${refusal.message}`);
      for (const s of [ws, ...sockets]) s.disconnect();
      await eventually(async () => {
        const again = await connect(server.url, '/ws', { token: server.token(user), transports: [transport], forceNew: true });
        open.push(again);
        return true;
      }, { timeoutMs: 5_000, intervalMs: 200 });
    });
  });
}
