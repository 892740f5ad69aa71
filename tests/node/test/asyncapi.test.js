// asyncapi.yaml stays true: every event it documents, per namespace and in both
// directions, matches the namespace descriptors the server is built from (as the hidden
// `switchyard contract` prints them), and the running server knows every client event it
// documents (and answers an undocumented one as unknown).
// SWITCHYARD_ASYNCAPI=FILE checks another copy (to see the test fail on a broken one).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

import { parse } from 'yaml';

import { SERVER_BIN, WAIT_MS, closeAll, connect, startServer, uniqueUser } from '../lib/helpers.js';

const T = { timeout: 30_000 };
const HOOK = { timeout: 30_000 };
const SUITE = { timeout: 120_000 };

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SPEC_PATH = process.env.SWITCHYARD_ASYNCAPI || join(ROOT, 'asyncapi.yaml');
/** Operations with this extension are in the contract but not served yet. */
const PLANNED = 'x-switchyard-planned';

/** The ack message the server gives an event it has no handler for (dispatch.rs). */
const unknownEventMessage = (event) => `unknown event \`${event}\``;

// ---------------------------------------------------------------------------------------
// The document

/** Follows a local `$ref` (`#/a/b`) chain; returns the node itself when it has none. */
function deref(doc, node, seen = new Set()) {
  if (!node || typeof node !== 'object' || typeof node.$ref !== 'string') return node;
  const ref = node.$ref;
  assert.ok(ref.startsWith('#/'), `only local $refs are used, got ${ref}`);
  assert.ok(!seen.has(ref), `$ref cycle at ${ref}`);
  seen.add(ref);
  let target = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    assert.ok(target && typeof target === 'object' && key in target, `unresolvable $ref ${ref}`);
    target = target[key];
  }
  return deref(doc, target, seen);
}

/** Every `$ref` string in the document, with where it was found. */
function allRefs(node, path = '', out = []) {
  if (Array.isArray(node)) node.forEach((child, i) => allRefs(child, `${path}/${i}`, out));
  else if (node && typeof node === 'object') {
    for (const [key, child] of Object.entries(node)) {
      if (key === '$ref' && typeof child === 'string') out.push({ ref: child, at: path });
      else allRefs(child, `${path}/${key}`, out);
    }
  }
  return out;
}

const emptySides = () => ({ received: new Set(), sent: new Set(), plannedReceived: new Set(), plannedSent: new Set() });

/**
 * Events by namespace address, from the operations: `receive` is client → server, `send`
 * server → client. The event name is the message's `name`.
 */
function documentedEvents(doc) {
  const byNamespace = new Map();
  for (const [id, op] of Object.entries(doc.operations ?? {})) {
    const channel = deref(doc, op.channel);
    assert.ok(channel?.address, `operation ${id} names no channel with an address`);
    if (!byNamespace.has(channel.address)) byNamespace.set(channel.address, emptySides());
    const sides = byNamespace.get(channel.address);
    const planned = Boolean(op[PLANNED]);
    assert.ok(['receive', 'send'].includes(op.action), `operation ${id}: action ${op.action}`);
    for (const ref of op.messages ?? []) {
      const message = deref(doc, ref);
      assert.equal(typeof message?.name, 'string', `operation ${id}: a message without a name`);
      const side = op.action === 'receive' ? 'received' : 'sent';
      sides[planned ? `planned${side === 'received' ? 'Received' : 'Sent'}` : side].add(message.name);
    }
  }
  return byNamespace;
}

// ---------------------------------------------------------------------------------------
// The server's contract and the Rust source

function rustFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...rustFiles(path));
    else if (name.endsWith('.rs')) out.push(path);
  }
  return out;
}

/** Source without `//` comment lines, so commented-out code and examples do not count. */
const code = (path) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('//'))
    .join('\n');

/** The descriptors as the binary prints them (`switchyard contract`). */
function contract() {
  const out = execFileSync(SERVER_BIN, ['contract'], {
    env: { ...process.env, RUST_LOG: 'off' },
    encoding: 'utf8',
  });
  return JSON.parse(out);
}

/**
 * Per namespace: its client events (`received`) and its emits (`sent`), from its
 * descriptor. Shared by every namespace: the events it answers besides its own
 * (`auth:refresh`) and the events any socket may get (`error`, `announcement`,
 * `server:draining`, `auth:expired`). Handlers registered under a literal name anywhere in
 * the source are listed too: an event's name is a constant of its namespace.
 */
function sourceEvents() {
  const described = contract();
  const byNamespace = new Map();
  for (const ns of described.namespaces) {
    byNamespace.set(ns.path, {
      received: new Set(ns.events.map((e) => e.name)),
      sent: new Set(ns.emits),
    });
  }
  const shared = new Set(described.shared.emits);
  const sharedReceived = new Set(described.shared.events.map((e) => e.name));
  const literalHandlers = [];
  const nsRoot = join(ROOT, 'namespaces', 'src');
  for (const file of [...rustFiles(nsRoot), ...rustFiles(join(ROOT, 'src'))]) {
    const src = code(file);
    for (const m of src.matchAll(/\.on(?:_at_most)?\(\s*"([^"]+)"/g)) literalHandlers.push(`${relative(ROOT, file)}: ${m[1]}`);
  }
  return { byNamespace, shared, sharedReceived, literalHandlers };
}

const sorted = (set) => [...set].sort();

// ---------------------------------------------------------------------------------------

const doc = parse(readFileSync(SPEC_PATH, 'utf8'));
const documented = documentedEvents(doc);
const source = sourceEvents();

describe('asyncapi.yaml is well formed', () => {
  test('is AsyncAPI 3.0 with JWT security on its server', () => {
    assert.match(String(doc.asyncapi), /^3\.0\.\d+$/);
    assert.ok(doc.info?.title && doc.info?.version, 'info.title and info.version');
    const servers = Object.values(doc.servers ?? {});
    assert.ok(servers.length > 0, 'at least one server');
    for (const server of servers) {
      const schemes = (server.security ?? []).map((s) => deref(doc, s));
      assert.ok(schemes.length > 0, 'the server declares its security');
      assert.ok(
        schemes.some((s) => s.type === 'http' && s.scheme === 'bearer' && s.bearerFormat === 'JWT'),
        'a bearer JWT scheme',
      );
    }
  });

  test('every $ref resolves', () => {
    for (const { ref, at } of allRefs(doc)) {
      assert.doesNotThrow(() => deref(doc, { $ref: ref }), `${ref} at ${at}`);
    }
  });

  test('the channels are exactly the namespaces of the source', () => {
    const addresses = Object.values(doc.channels ?? {}).map((c) => c.address);
    assert.deepEqual(addresses.sort(), sorted(source.byNamespace.keys()));
  });

  test('operations use messages of their own channel, and every client event has an ack', () => {
    for (const [id, op] of Object.entries(doc.operations)) {
      const channelRef = op.channel.$ref;
      for (const m of op.messages ?? []) {
        assert.ok(m.$ref.startsWith(`${channelRef}/messages/`), `${id}: ${m.$ref} is not a message of ${channelRef}`);
      }
      assert.ok((op.messages ?? []).length > 0, `${id} has no message`);
      const msgPayload = deref(doc, op.messages[0]).payload;
      assert.ok(msgPayload !== undefined, `${id}: the message has no payload schema`);
      if (op.action !== 'receive') continue;
      assert.ok(op.reply, `${id}: a client → server event without an ack (reply)`);
      const replyChannel = op.reply.channel.$ref;
      assert.equal(replyChannel, channelRef, `${id}: the ack goes back on the same namespace`);
      for (const m of op.reply.messages ?? []) {
        assert.ok(m.$ref.startsWith(`${replyChannel}/messages/`), `${id}: ack ${m.$ref} is not in ${replyChannel}`);
        const payload = deref(doc, deref(doc, m).payload);
        const failed = JSON.stringify(payload).includes('#/components/schemas/FailedAck');
        assert.ok(failed, `${id}: the ack schema does not allow the failed ack shape`);
      }
    }
  });

  test('the error codes are the contract\'s', () => {
    assert.deepEqual(doc.components.schemas.ErrorCode.enum, [
      'invalid_payload', 'forbidden', 'not_found', 'conflict',
      'rate_limited', 'payload_too_large', 'unavailable', 'internal',
    ]);
  });
});

describe('asyncapi.yaml matches the Rust source', () => {
  test('handlers are registered through the event constants, not literal names', () => {
    assert.deepEqual(source.literalHandlers, [], 'a literal `.on("…")` cannot be attributed to a namespace');
  });

  test('the source emits the shared events', () => {
    // Guards the contract itself: if these vanish, the shared emits are not described.
    for (const event of ['error', 'announcement', 'server:draining']) {
      assert.ok(source.shared.has(event), `no emit of ${event} found`);
    }
  });

  for (const [path, events] of source.byNamespace) {
    test(`${path}: client → server events`, () => {
      assert.ok(events.received.size > 0, `no events constants parsed for ${path}`);
      const spec = documented.get(path) ?? emptySides();
      assert.deepEqual(sorted(spec.received), sorted(new Set([...events.received, ...source.sharedReceived])));
    });

    test(`${path}: server → client events`, () => {
      const spec = documented.get(path) ?? emptySides();
      assert.deepEqual(sorted(spec.sent), sorted(new Set([...events.sent, ...source.shared])));
    });

    test(`${path}: planned events are not implemented yet`, () => {
      const spec = documented.get(path) ?? emptySides();
      for (const e of spec.plannedReceived) {
        assert.ok(!events.received.has(e) && !source.sharedReceived.has(e), `${e} is implemented: drop ${PLANNED}`);
      }
      for (const e of spec.plannedSent) {
        assert.ok(!events.sent.has(e) && !source.shared.has(e), `${e} is emitted: drop ${PLANNED}`);
      }
    });
  }
});

describe('asyncapi.yaml matches the running server', SUITE, () => {
  let server;
  const open = [];

  before(async () => {
    server = await startServer();
  }, HOOK);
  after(async () => {
    closeAll(open);
    await server?.stop();
  }, HOOK);

  /** The ack of `event` with `{}`, sent on a fresh socket of `path`. */
  async function askAll(path, events) {
    const socket = await connect(server.url, path, { token: server.token(uniqueUser('asyncapi')) });
    open.push(socket);
    const answers = new Map();
    for (const event of events) {
      answers.set(event, await socket.timeout(WAIT_MS).emitWithAck(event, {}));
    }
    socket.close();
    return answers;
  }

  const isUnknown = (event, ack) =>
    ack?.ok === false && ack.error?.code === 'invalid_payload' && ack.error?.message === unknownEventMessage(event);

  for (const path of ['/realtime', '/notifications', '/ws']) {
    test(`${path}: the server knows every documented client event`, T, async () => {
      const spec = documented.get(path);
      assert.ok(spec && spec.received.size > 0, `no client events documented for ${path}`);
      const answers = await askAll(path, spec.received);
      const unknown = [];
      for (const [event, ack] of answers) {
        assert.equal(typeof ack, 'object', `${event}: ack ${JSON.stringify(ack)}`);
        assert.equal(typeof ack.ok, 'boolean', `${event}: ack ${JSON.stringify(ack)}`);
        if (isUnknown(event, ack)) unknown.push(event);
      }
      assert.deepEqual(unknown, [], `documented on ${path} but unknown to the server`);
    });

    test(`${path}: an undocumented event is answered as unknown`, T, async () => {
      const spec = documented.get(path);
      const name = `undocumented:${randomUUID()}`;
      const events = [name, ...spec.plannedReceived];
      const answers = await askAll(path, events);
      for (const event of events) {
        const ack = answers.get(event);
        assert.ok(isUnknown(event, ack), `${event}: expected the unknown-event answer, got ${JSON.stringify(ack)}`);
      }
    });
  }
});
