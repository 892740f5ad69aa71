// PROTOCOL.md §1: token sources, JWT checks and the exact connect_error messages.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  algNoneToken,
  closeAll,
  connect,
  connectError,
  expiredToken,
  mintToken,
  request,
  startServer,
  uniqueUser,
  wrongAudienceToken,
  wrongSignatureToken,
} from '../lib/helpers.js';

const T = { timeout: 15_000 };
const HOOK = { timeout: 30_000 };
const SUITE = { timeout: 120_000 };
const nowSecs = () => Math.floor(Date.now() / 1000);

/** Proves the socket is authenticated as `sub`: a conversation it creates includes it. */
async function assertIdentity(socket, sub) {
  const ack = await request(socket, 'conversation:create', { participantIds: [uniqueUser('peer')] });
  assert.equal(ack.ok, true, JSON.stringify(ack));
  assert.ok(ack.conversation.participantIds.includes(sub), `participants ${ack.conversation.participantIds} lack ${sub}`);
}

describe('authentication with an HS256 secret', SUITE, () => {
  let server;
  before(async () => {
    server = await startServer();
  }, HOOK);
  after(async () => {
    await server?.stop();
  }, HOOK);

  test('no token at all is refused with missing_token', T, async () => {
    assert.equal(await connectError(server.url, '/ws', {}), 'missing_token');
  });

  test('an empty auth.token is refused with missing_token', T, async () => {
    assert.equal(await connectError(server.url, '/ws', { token: '' }), 'missing_token');
  });

  test('a token signed with another secret is refused with invalid_token', T, async () => {
    const token = wrongSignatureToken(uniqueUser('mallory'));
    assert.equal(await connectError(server.url, '/ws', { token }), 'invalid_token');
  });

  test('a tampered payload (signature of another payload) is refused with invalid_token', T, async () => {
    const [header, , signature] = server.token(uniqueUser('user')).split('.');
    const forged = Buffer.from(JSON.stringify({ sub: 'admin', exp: nowSecs() + 3600, roles: ['admin'] })).toString('base64url');
    const token = `${header}.${forged}.${signature}`;
    assert.equal(await connectError(server.url, '/ws', { token }), 'invalid_token');
  });

  test('an expired token is refused with token_expired', T, async () => {
    const token = expiredToken(server.secret, uniqueUser('late'));
    assert.equal(await connectError(server.url, '/ws', { token }), 'token_expired');
  });

  test('an alg:none token is refused with invalid_token', T, async () => {
    const token = algNoneToken(uniqueUser('none'));
    assert.equal(await connectError(server.url, '/ws', { token }), 'invalid_token');
  });

  test('an alg:none token with a signature part is refused with invalid_token', T, async () => {
    const token = algNoneToken(uniqueUser('none')) + 'c2lnbmF0dXJl';
    assert.equal(await connectError(server.url, '/ws', { token }), 'invalid_token');
  });

  for (const [label, token] of [
    ['a random string', 'not-a-jwt'],
    ['three dots of garbage', 'abc.def.ghi'],
    ['a header that is not JSON', `${Buffer.from('hello').toString('base64url')}.e30.sig`],
  ]) {
    test(`a malformed token (${label}) is refused with invalid_token`, T, async () => {
      assert.equal(await connectError(server.url, '/ws', { token }), 'invalid_token');
    });
  }

  test('a token without sub is refused with invalid_token', T, async () => {
    const token = mintToken(server.secret, { sub: null });
    assert.equal(await connectError(server.url, '/ws', { token }), 'invalid_token');
  });

  test('a token without exp is refused with invalid_token', T, async () => {
    const token = mintToken(server.secret, { sub: uniqueUser('forever'), exp: null });
    assert.equal(await connectError(server.url, '/ws', { token }), 'invalid_token');
  });

  test('a token whose nbf is an hour ahead is refused with invalid_token', T, async () => {
    const token = mintToken(server.secret, { sub: uniqueUser('early'), nbf: nowSecs() + 3600 });
    assert.equal(await connectError(server.url, '/ws', { token }), 'invalid_token');
  });

  test('a refused token in the query is refused too', T, async () => {
    const token = expiredToken(server.secret, uniqueUser('late'));
    assert.equal(await connectError(server.url, '/ws', { token, via: 'query' }), 'token_expired');
  });

  test('a refused token in the Authorization header is refused too', T, async () => {
    const token = wrongSignatureToken(uniqueUser('mallory'));
    const message = await connectError(server.url, '/ws', { token, via: 'header', transports: ['polling'] });
    assert.equal(message, 'invalid_token');
  });

  for (const [via, transports] of [
    ['auth', ['websocket']],
    ['auth', ['polling']],
    ['query', ['websocket']],
    ['query', ['polling']],
    ['header', ['polling']],
  ]) {
    test(`a valid token via ${via} (${transports[0]}) connects as its sub`, T, async () => {
      const sub = uniqueUser(`via-${via}`);
      const socket = await connect(server.url, '/ws', { token: server.token(sub), via, transports });
      try {
        assert.equal(socket.connected, true);
        await assertIdentity(socket, sub);
      } finally {
        closeAll(socket);
      }
    });
  }

  test('handshake auth.token wins over the query token', T, async () => {
    const sub = uniqueUser('first');
    const socket = await connect(server.url, '/ws', {
      token: server.token(sub),
      query: { token: 'garbage' },
      extraHeaders: { Authorization: 'Bearer garbage' },
      transports: ['polling'],
    });
    try {
      await assertIdentity(socket, sub);
    } finally {
      closeAll(socket);
    }
  });

  test('the first token found is the one checked: a bad auth.token is not rescued by a good query token', T, async () => {
    const message = await connectError(server.url, '/ws', {
      token: 'garbage',
      query: { token: server.token(uniqueUser('second')) },
    });
    assert.equal(message, 'invalid_token');
  });

  test('the query token wins over the Authorization header', T, async () => {
    const message = await connectError(server.url, '/ws', {
      token: expiredToken(server.secret, uniqueUser('q')),
      via: 'query',
      extraHeaders: { Authorization: `Bearer ${server.token(uniqueUser('h'))}` },
      transports: ['polling'],
    });
    assert.equal(message, 'token_expired');
  });

  test('a token with an aud claim is accepted when no audience is configured', T, async () => {
    const sub = uniqueUser('aud');
    const socket = await connect(server.url, '/ws', { token: server.token(sub, { aud: 'anything' }) });
    closeAll(socket);
  });

  for (const namespace of ['/', '/nope']) {
    test(`namespace ${namespace} is refused with unknown_namespace, even with a valid token`, T, async () => {
      const token = server.token(uniqueUser('lost'));
      assert.equal(await connectError(server.url, namespace, { token }), 'unknown_namespace');
      assert.equal(
        await connectError(server.url, namespace, { token, transports: ['polling'] }),
        'unknown_namespace',
      );
    });
  }

  test('namespace /nope without a token is refused with unknown_namespace', T, async () => {
    assert.equal(await connectError(server.url, '/nope', {}), 'unknown_namespace');
  });
});

describe('authentication with a configured audience', SUITE, () => {
  const AUDIENCE = 'switchyard-e2e';
  let server;
  before(async () => {
    server = await startServer({ SWITCHYARD_JWT_AUDIENCE: AUDIENCE });
  }, HOOK);
  after(async () => {
    await server?.stop();
  }, HOOK);

  test('a token for another audience is refused with invalid_token', T, async () => {
    const token = wrongAudienceToken(server.secret, uniqueUser('aud'));
    assert.equal(await connectError(server.url, '/ws', { token }), 'invalid_token');
  });

  test('a token without aud is refused with invalid_token', T, async () => {
    const token = server.token(uniqueUser('noaud'));
    assert.equal(await connectError(server.url, '/ws', { token }), 'invalid_token');
  });

  test('a token for the configured audience connects', T, async () => {
    const sub = uniqueUser('aud');
    const socket = await connect(server.url, '/ws', { token: server.token(sub, { aud: AUDIENCE }) });
    try {
      await assertIdentity(socket, sub);
    } finally {
      closeAll(socket);
    }
  });

  test('an audience list that contains the configured audience connects', T, async () => {
    const sub = uniqueUser('auds');
    const socket = await connect(server.url, '/ws', { token: server.token(sub, { aud: ['other', AUDIENCE] }) });
    closeAll(socket);
  });

  test('an expired token for the right audience is refused with token_expired', T, async () => {
    const token = mintToken(server.secret, { sub: uniqueUser('late'), aud: AUDIENCE, exp: nowSecs() - 3600 });
    assert.equal(await connectError(server.url, '/ws', { token }), 'token_expired');
  });
});
