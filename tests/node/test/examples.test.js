// client-examples/node: each example runs against a real server as a person would run it
// (tokens from `switchyard token`, settings from the environment) and exits 0 having
// printed what it promises.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { startServer, uniqueUser } from '../lib/helpers.js';
import { EXAMPLES, cliToken, describeRun, runChild } from '../lib/child.js';

const T = { timeout: 45_000 };
const HOOK = { timeout: 150_000 };
const SUITE = { timeout: 400_000 };
const NODE_EXAMPLES = join(EXAMPLES, 'node');

/**
 * The examples have their own package.json and lockfile (they are what a user copies).
 * scripts/test installs them; a run of this file alone installs them when missing.
 */
async function ensureInstalled() {
  if (existsSync(join(NODE_EXAMPLES, 'node_modules', 'socket.io-client', 'package.json'))) return;
  const r = await runChild('npm', ['ci', '--no-audit', '--no-fund'], { cwd: NODE_EXAMPLES, timeoutMs: 120_000 });
  assert.equal(r.code, 0, `npm ci in client-examples/node failed: ${describeRun(r)}`);
}

describe('client-examples/node', SUITE, () => {
  let server;
  let env;
  const ids = {};

  before(async () => {
    await ensureInstalled();
    server = await startServer();
    for (const name of ['alice', 'bob', 'carol']) ids[name] = uniqueUser(name);
    const [alice, bob, carol, service] = await Promise.all([
      cliToken(server.secret, ids.alice),
      cliToken(server.secret, ids.bob),
      cliToken(server.secret, ids.carol),
      cliToken(server.secret, uniqueUser('backend'), ['service']),
    ]);
    env = { SWITCHYARD_URL: server.url, ALICE_TOKEN: alice, BOB_TOKEN: bob, CAROL_TOKEN: carol, SERVICE_TOKEN: service };
  }, HOOK);
  after(async () => {
    await server?.stop();
  }, HOOK);

  /** Runs an example; asserts exit 0, the final OK, and each of `lines` (regexps) in stdout. */
  async function runExample(script, extraEnv, lines) {
    const r = await runChild(process.execPath, [script], {
      cwd: NODE_EXAMPLES,
      env: { ...env, ...extraEnv },
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 0, `${script}: ${describeRun(r)}`);
    const out = r.stdout.split('\n');
    assert.equal(out.filter(Boolean).at(-1), 'OK', `${script}: ${describeRun(r)}`);
    for (const line of lines) {
      assert.ok(out.some((l) => line.test(l)), `${script}: no line matching ${line}\n${describeRun(r)}`);
    }
    return r;
  }

  const q = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  test('chat.js: two users chat on /ws', T, async () => {
    const a = q(ids.alice);
    const b = q(ids.bob);
    await runExample('chat.js', {}, [
      new RegExp(`^conversation \\S+ with (${a}, ${b}|${b}, ${a})$`),
      new RegExp(`^${b} sees: ${a} is typing$`),
      new RegExp(`^${b} received: ${a}: hello bob$`),
      new RegExp(`^${a} sees: delivered to ${b} \\(seq 1\\)$`),
      new RegExp(`^${b} sees: ${a} stopped typing$`),
      new RegExp(`^${a} received: ${b}: hi alice$`),
      new RegExp(`^${a} sees: ${b} read up to seq 2$`),
    ]);
  });

  test('presence.js: a watcher sees a user come online and go offline', T, async () => {
    const c = q(ids.carol);
    await runExample('presence.js', { WATCHER_TOKEN: env.BOB_TOKEN, USER_TOKEN: env.CAROL_TOKEN }, [
      new RegExp(`^${c} is offline \\(0 devices\\)$`),
      new RegExp(`^presence: ${c} is online$`),
      new RegExp(`^presence:get: ${c} is online on 1 device\\(s\\)$`),
      new RegExp(`^presence: ${c} is offline \\(last seen \\d{4}-\\d\\d-\\d\\dT`),
    ]);
  });

  test('notifications.js: a notification created over HTTP is received, acked and read', T, async () => {
    const r = await runExample('notifications.js', { USER_TOKEN: env.ALICE_TOKEN }, [
      /^created over HTTP: \S+$/,
      /^notification \S+ \[high\] Build finished: main is green$/,
      /^unread before: 1$/,
      /^marked \S+ read; unread now 0$/,
    ]);
    const id = /^created over HTTP: (\S+)$/m.exec(r.stdout)[1];
    assert.match(r.stdout, new RegExp(`^marked ${q(id)} read`, 'm'));
  });

  test('recover.js: publications made while away are recovered with since', T, async () => {
    await runExample('recover.js', { USER_TOKEN: env.ALICE_TOKEN }, [
      /^live: offset 1 score \{"n":0\}$/,
      /^published 3 while away \(offsets 2, 3, 4\)$/,
      /^recovered: offset 2 score \{"n":1\}$/,
      /^recovered: offset 3 score \{"n":2\}$/,
      /^recovered: offset 4 score \{"n":3\}$/,
      /^recovered 3 publications, now at offset 4$/,
    ]);
  });

  test('an example fails with a non-zero exit when the server refuses it', T, async () => {
    const r = await runChild(process.execPath, ['chat.js'], {
      cwd: NODE_EXAMPLES,
      env: { ...env, ALICE_TOKEN: await cliToken('not-the-secret', ids.alice) },
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.stderr, /FAILED: cannot connect to \/ws: invalid_token/);
  });
});
