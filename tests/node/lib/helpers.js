// Shared helpers of the end-to-end suite: run a Switchyard server, mint tokens, connect
// socket.io-client sockets and wait for events with bounded timeouts.
//
// Not a test file: node's runner may load it (it lives in test/), and then it registers no
// test and runs nothing.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

import jwt from 'jsonwebtoken';
import { io } from 'socket.io-client';

export const SERVER_BIN =
  process.env.SWITCHYARD_BIN || join(homedir(), '.cache', 'switchyard-target', 'debug', 'switchyard');

const STARTUP_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;
const ANSI = /\x1b\[[0-9;]*m/g;
const LISTENING = /switchyard listening on http:\/\/127\.0\.0\.1:(\d+)/;

/** Default bound of every wait in the suite. */
export const WAIT_MS = 5_000;
/** How long "nothing more arrives" is watched for. */
export const QUIET_MS = 300;

let userCounter = 0;
/** A user id unique within this process, so tests never share users. */
export function uniqueUser(name) {
  userCounter += 1;
  return `${name}-${process.pid}-${userCounter}`;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Servers still running when the test process exits (a crash, a cancelled run) are killed.
const running = new Set();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts a server on a free port with a fresh SQLite database and a random secret.
 * `env` adds or overrides environment variables; `args` go before `serve` (`--config FILE`).
 * Resolves once the listening line is logged.
 */
export async function startServer(env = {}, { args = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-e2e-'));
  const secret = randomBytes(32).toString('hex');
  const child = spawn(SERVER_BIN, [...args, 'serve'], {
    env: {
      ...process.env,
      SWITCHYARD_BIND: '127.0.0.1:0',
      SWITCHYARD_DATABASE_URL: `sqlite://${join(dir, 'sy.db')}`,
      SWITCHYARD_JWT_SECRET: secret,
      RUST_LOG: 'info',
      // The suite drives many events per socket, and all its clients share 127.0.0.1: it
      // tests behaviour, not floods. The limits themselves are tested with them on
      // (limits.test.js, connections.test.js).
      SWITCHYARD_RATE_LIMITS: 'off',
      SWITCHYARD_MAX_CONNECTIONS_PER_IP: '100000',
      SWITCHYARD_HANDSHAKES_PER_IP_PER_MINUTE: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const log = [];
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  const port = await new Promise((resolve, reject) => {
    let settled = false;
    const finish = (fn, value) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        fn(value);
      }
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(reject, new Error(`server did not log its port within ${STARTUP_TIMEOUT_MS} ms:\n${log.join('\n')}`));
    }, STARTUP_TIMEOUT_MS);
    const onData = (chunk) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        const plain = line.replace(ANSI, '');
        if (plain.trim()) log.push(plain);
        const match = LISTENING.exec(plain);
        if (match) finish(resolve, Number(match[1]));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', (err) => finish(reject, new Error(`cannot run ${SERVER_BIN}: ${err.message}`)));
    exited.then(({ code, signal }) =>
      finish(reject, new Error(`server exited (code ${code}, signal ${signal}) before listening:\n${log.join('\n')}`)),
    );
  });

  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    secret,
    log,
    /** A valid HS256 token for `sub` signed with this server's secret. */
    token(sub, options = {}) {
      return mintToken(secret, { sub, ...options });
    },
    /** A token with `roles: ["service"]`, for the back-end HTTP API. */
    serviceToken(sub = uniqueUser('service')) {
      return mintToken(secret, { sub, roles: ['service'] });
    },
    /** A token with `roles: ["admin"]`. */
    adminToken(sub = uniqueUser('admin')) {
      return mintToken(secret, { sub, roles: ['admin'] });
    },
    /** An HTTP request to this server; see {@link httpCall}. */
    call(method, path, options) {
      return httpCall(url + path, method, options);
    },
    /** Sends `signal` (SIGKILL by default: a node that dies without closing anything). */
    async kill(signal = 'SIGKILL') {
      child.kill(signal);
      return exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------
// HTTP

/**
 * Sends `method` to `url`: `token` as a bearer token, `body` as JSON, or `rawBody` as is
 * (labelled JSON unless a Content-Type header is given). Resolves with the status, the
 * content type, the body text and the body parsed as JSON (undefined when it is not).
 */
export async function httpCall(url, method, { token, body, rawBody, headers = {}, timeoutMs = WAIT_MS } = {}) {
  const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(timeoutMs) };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  } else if (rawBody !== undefined) {
    init.body = rawBody;
    init.headers['Content-Type'] ??= 'application/json';
  }
  const res = await fetch(url, init);
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, type: res.headers.get('content-type') ?? '', json, text };
}

// ---------------------------------------------------------------------------------------
// Tokens

const nowSecs = () => Math.floor(Date.now() / 1000);

/**
 * Signs an HS256 token. `ttl` (seconds, default 3600) sets `exp` unless `exp` is given;
 * `exp: null` or `sub: null` leave the claim out. Other claims (roles, aud, iss, nbf, name)
 * are copied as given.
 */
export function mintToken(secret, { sub, ttl = 3600, exp, ...claims } = {}) {
  const payload = { ...claims };
  if (sub !== null && sub !== undefined) payload.sub = sub;
  if (exp !== null) payload.exp = exp ?? nowSecs() + ttl;
  if (payload.iat === undefined) payload.iat = nowSecs();
  return jwt.sign(payload, secret, { algorithm: 'HS256', noTimestamp: true });
}

/** Expired an hour ago: far beyond any clock-skew leeway. */
export function expiredToken(secret, sub) {
  return mintToken(secret, { sub, exp: nowSecs() - 3600, iat: nowSecs() - 7200 });
}

/** Well formed and unexpired, but signed with another secret. */
export function wrongSignatureToken(sub) {
  return mintToken(randomBytes(32).toString('hex'), { sub });
}

/** Signed correctly, for an audience the server does not serve. */
export function wrongAudienceToken(secret, sub) {
  return mintToken(secret, { sub, aud: 'someone-else' });
}

const b64url = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An unsigned token (`alg: none`) with otherwise valid claims, crafted by hand. */
export function algNoneToken(sub) {
  const header = b64url({ alg: 'none', typ: 'JWT' });
  const payload = b64url({ sub, exp: nowSecs() + 3600, iat: nowSecs() });
  return `${header}.${payload}.`;
}

// ---------------------------------------------------------------------------------------
// Sockets

/**
 * Connects to `url + namespace`. `via` picks the token source: `auth` (handshake auth),
 * `query` (`?token=`) or `header` (`Authorization: Bearer`, sent by the polling transport's
 * HTTP requests). Resolves with the connected socket, or rejects with an Error whose message
 * is the connect_error message. Reconnection is off: every refusal is final.
 * `onCreate`, when given, is called with the socket before it connects: listeners it adds
 * miss nothing, not even events that arrive in the same polling payload as the connect
 * (those are emitted before the promise's continuation could add a listener).
 */
export function connect(url, namespace, { token, via = 'auth', transports = ['websocket'], timeoutMs = WAIT_MS, onCreate, ...rest } = {}) {
  const options = {
    forceNew: true,
    reconnection: false,
    timeout: timeoutMs,
    transports,
    ...rest,
  };
  if (token !== undefined) {
    if (via === 'auth') options.auth = { token };
    else if (via === 'query') options.query = { token };
    else if (via === 'header') options.extraHeaders = { Authorization: `Bearer ${token}` };
    else throw new Error(`unknown token source ${via}`);
  }
  const socket = io(url + namespace, options);
  onCreate?.(socket);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      socket.close();
      reject(new Error(`no connect nor connect_error on ${namespace} within ${timeoutMs} ms`));
    }, timeoutMs + 500);
    const onConnect = () => {
      cleanup();
      resolve(socket);
    };
    const onError = (err) => {
      cleanup();
      socket.close();
      const error = new Error(err?.message ?? String(err));
      error.data = err?.data;
      error.description = err?.description;
      reject(error);
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('connect_error', onError);
    };
    socket.on('connect', onConnect);
    socket.on('connect_error', onError);
  });
}

/** The message of the connect_error a connection attempt ends with; fails if it connects. */
export async function connectError(url, namespace, options) {
  let socket;
  try {
    socket = await connect(url, namespace, options);
  } catch (err) {
    return err.message;
  }
  socket.close();
  throw new Error(`expected a connect_error on ${namespace}, but the socket connected`);
}

/**
 * A connection refused at its Engine.IO handshake, over HTTP before any Socket.IO packet:
 * the client reports a transport error ('xhr poll error', 'websocket error') whose
 * description carries the HTTP status (a number for polling, the ws library's
 * "Unexpected server response: 429" for WebSocket). Fails if it connects.
 */
export async function handshakeRefusal(url, namespace, options) {
  let socket;
  try {
    socket = await connect(url, namespace, options);
  } catch (err) {
    const d = err.description;
    const status = typeof d === 'number' ? d : Number(/\b(\d{3})\b/.exec(String(d?.message ?? d))?.[1]);
    return { message: err.message, status };
  }
  socket.close();
  throw new Error(`expected the handshake for ${namespace} to be refused, but the socket connected`);
}

/** Resolves with the first argument of the next `event`, or rejects after `timeoutMs`. */
export function once(socket, event, timeoutMs = WAIT_MS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, handler);
      reject(new Error(`no '${event}' within ${timeoutMs} ms`));
    }, timeoutMs);
    const handler = (data) => {
      clearTimeout(timer);
      socket.off(event, handler);
      resolve(data);
    };
    socket.on(event, handler);
  });
}

/** Emits with an ack request; resolves with the ack, rejects if none comes in time. */
export function request(socket, event, ...args) {
  return socket.timeout(WAIT_MS).emitWithAck(event, ...args);
}

/**
 * Records every event a socket receives, from now on, so a test can wait for an event
 * that may already have arrived. Events the server sent with an ack request are acked
 * with `{}` at once while `autoAck` is true; otherwise their `ack` function is kept on the
 * record for the test to call.
 */
export class Recorder {
  constructor(socket, { autoAck = true } = {}) {
    this.socket = socket;
    this.autoAck = autoAck;
    this.events = [];
    this.consumed = new Set();
    this.waiters = [];
    socket.onAny((event, ...args) => {
      const ack = typeof args.at(-1) === 'function' ? args.pop() : null;
      const record = { event, data: args[0], args, ack, at: Date.now() };
      if (ack && this.autoAck) {
        ack({});
        record.acked = true;
      }
      this.events.push(record);
      for (const waiter of [...this.waiters]) waiter(record);
    });
  }

  /** Records of `event` received so far (consumed or not). */
  all(event) {
    return this.events.filter((r) => r.event === event);
  }

  /**
   * The next record of `event` not yet taken by `next` and matching `filter`, waiting up
   * to `timeoutMs` for it.
   */
  next(event, filter = () => true, timeoutMs = WAIT_MS) {
    const matches = (r) => r.event === event && !this.consumed.has(r) && filter(r.data);
    const found = this.events.find(matches);
    if (found) {
      this.consumed.add(found);
      return Promise.resolve(found);
    }
    return new Promise((resolve, reject) => {
      const waiter = (r) => {
        if (!matches(r)) return;
        this.consumed.add(r);
        done();
        resolve(r);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no '${event}' matching the filter within ${timeoutMs} ms; got: ${this.summary()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
      };
      this.waiters.push(waiter);
    });
  }

  /** The data of the next matching `event`. */
  async nextData(event, filter, timeoutMs) {
    return (await this.next(event, filter, timeoutMs)).data;
  }

  /**
   * Waits `ms` and fails if an unconsumed `event` matching `filter` is present (received
   * before or during the wait).
   */
  async none(event, filter = () => true, ms = QUIET_MS) {
    await sleep(ms);
    const extra = this.events.filter((r) => r.event === event && !this.consumed.has(r) && filter(r.data));
    if (extra.length > 0) {
      throw new Error(`unexpected '${event}': ${JSON.stringify(extra.map((r) => r.data))}`);
    }
  }

  summary() {
    return JSON.stringify(this.events.map((r) => [r.event, r.data])).slice(0, 2000);
  }
}

/** Closes every socket given, ignoring those already closed. */
export function closeAll(...sockets) {
  for (const s of sockets.flat()) s?.close();
}

/** Asserts a failed ack `{ok: false, error: {code, message}}` with the given code. */
export function errorCodeOf(ack) {
  if (!ack || ack.ok !== false || typeof ack.error !== 'object' || ack.error === null) {
    throw new Error(`expected a failed ack, got ${JSON.stringify(ack)}`);
  }
  if (typeof ack.error.message !== 'string' || ack.error.message.length === 0) {
    throw new Error(`error ack without a message: ${JSON.stringify(ack)}`);
  }
  return ack.error.code;
}

/**
 * Runs `check` (which throws while its condition does not hold) until it passes, every
 * `intervalMs`, for at most `timeoutMs`; then rethrows its last failure.
 */
export async function eventually(check, { timeoutMs = WAIT_MS, intervalMs = 50 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() >= deadline) throw err;
    }
    await sleep(intervalMs);
  }
}
