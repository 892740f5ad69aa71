// What every example shares: settings from the environment, a connected socket, waiting
// for one event with a deadline, and an exit code a script runner can trust.

import { io } from 'socket.io-client';

/** The gateway's base URL, e.g. http://localhost:3000 (no namespace, no trailing slash). */
export const URL = (process.env.SWITCHYARD_URL || 'http://localhost:3000').replace(/\/+$/, '');

/** How long any single wait may take. */
export const WAIT_MS = Number(process.env.SWITCHYARD_WAIT_MS || 5000);

/** The value of a required environment variable; exits 2 with a hint when it is unset. */
export function env(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set; see client-examples/README.md for how to mint tokens`);
    process.exit(2);
  }
  return value;
}

/**
 * The `sub` claim of a JWT, read without verifying it: the server checks tokens, a client
 * only needs to know whose token it holds.
 */
export function subjectOf(token) {
  const [, payload] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString('utf8') || '{}');
  if (typeof claims.sub !== 'string') throw new Error('the token has no sub claim');
  return claims.sub;
}

/**
 * Connects to `namespace` with `token` in the handshake auth (the first place the gateway
 * looks). Resolves once connected; rejects with the server's `connect_error` message
 * (`invalid_token`, `token_expired`, ...) or after WAIT_MS.
 */
export function connect(namespace, token, options = {}) {
  const socket = io(URL + namespace, {
    auth: { token },
    transports: ['websocket'],
    reconnection: false,
    timeout: WAIT_MS,
    ...options,
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`no connection to ${namespace} within ${WAIT_MS} ms`)), WAIT_MS);
    const ok = () => {
      clearTimeout(timer);
      socket.off('connect_error', fail);
      resolve(socket);
    };
    function fail(err) {
      clearTimeout(timer);
      socket.off('connect', ok);
      socket.close();
      reject(new Error(`cannot connect to ${namespace}: ${err.message}`));
    }
    socket.once('connect', ok);
    socket.once('connect_error', fail);
  });
}

/**
 * Resolves with the arguments of the next `event` on `socket` for which `match(...args)`
 * is true, or rejects after WAIT_MS. Call it before doing what triggers the event.
 */
export function next(socket, event, match = () => true) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, handler);
      reject(new Error(`no '${event}' within ${WAIT_MS} ms`));
    }, WAIT_MS);
    function handler(...args) {
      if (!match(...args)) return;
      clearTimeout(timer);
      socket.off(event, handler);
      resolve(args);
    }
    socket.on(event, handler);
  });
}

/**
 * Emits `event` and waits for its ack; throws unless the ack is `{ok: true, ...}`
 * (every Switchyard ack is `{ok: true, ...}` or `{ok: false, error: {code, message}}`).
 */
export async function request(socket, event, payload) {
  const ack = await socket.timeout(WAIT_MS).emitWithAck(event, payload);
  if (!ack?.ok) throw new Error(`${event} failed: ${JSON.stringify(ack?.error ?? ack)}`);
  return ack;
}

/** A JSON request to the gateway's HTTP API with a bearer token. */
export async function http(method, path, token, body) {
  const res = await fetch(URL + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : {};
}

/**
 * Runs `main(sockets)`: exit 0 when it resolves, 1 when it throws or when the whole run
 * takes longer than `SWITCHYARD_EXAMPLE_TIMEOUT_MS` (default 20 s). Sockets pushed onto
 * `sockets` are closed at the end either way.
 */
export function run(main) {
  const sockets = [];
  const limit = Number(process.env.SWITCHYARD_EXAMPLE_TIMEOUT_MS || 20000);
  const deadline = setTimeout(() => {
    console.error(`FAILED: not done within ${limit} ms`);
    process.exit(1);
  }, limit);
  main(sockets)
    .then(() => {
      console.log('OK');
      process.exitCode = 0;
    })
    .catch((err) => {
      console.error(`FAILED: ${err.message}`);
      process.exitCode = 1;
    })
    .finally(() => {
      clearTimeout(deadline);
      for (const socket of sockets) socket.close();
    });
}
