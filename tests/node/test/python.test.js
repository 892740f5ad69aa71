// client-examples/python: python-socketio's client against the real server, over
// long-polling, WebSocket and the usual polling-then-upgrade. The virtualenv lives in
// $HOME/.cache/switchyard-pyvenv and is (re)installed only when missing or when
// requirements.txt changed.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { startServer, uniqueUser } from '../lib/helpers.js';
import { EXAMPLES, cliToken, describeRun, runChild } from '../lib/child.js';

const T = { timeout: 45_000 };
const HOOK = { timeout: 400_000 };
const SUITE = { timeout: 600_000 };

const PY_EXAMPLES = join(EXAMPLES, 'python');
const REQUIREMENTS = join(PY_EXAMPLES, 'requirements.txt');
const VENV = process.env.SWITCHYARD_PYVENV || join(homedir(), '.cache', 'switchyard-pyvenv');
const PYTHON = join(VENV, 'bin', 'python');
/** Written after a successful install: the hash of the requirements it installed. */
const STAMP = join(VENV, '.switchyard-requirements.sha256');

async function ensureVenv() {
  const wanted = createHash('sha256').update(readFileSync(REQUIREMENTS)).digest('hex');
  if (existsSync(PYTHON) && existsSync(STAMP) && readFileSync(STAMP, 'utf8').trim() === wanted) return;
  const python3 = process.env.PYTHON || 'python3';
  if (!existsSync(PYTHON)) {
    const made = await runChild(python3, ['-m', 'venv', VENV], { timeoutMs: 120_000 });
    assert.equal(made.code, 0, `${python3} -m venv ${VENV} failed: ${describeRun(made)}`);
  }
  const pip = await runChild(PYTHON, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '-r', REQUIREMENTS], {
    timeoutMs: 300_000,
  });
  assert.equal(pip.code, 0, `pip install -r requirements.txt failed: ${describeRun(pip)}`);
  writeFileSync(STAMP, `${wanted}\n`);
}

describe('client-examples/python', SUITE, () => {
  let server;
  let env;
  let alice;
  let bob;

  before(async () => {
    await ensureVenv();
    server = await startServer();
    alice = uniqueUser('alice');
    bob = uniqueUser('bob');
    env = {
      SWITCHYARD_URL: server.url,
      ALICE_TOKEN: await cliToken(server.secret, alice),
      BOB_TOKEN: await cliToken(server.secret, bob),
    };
  }, HOOK);
  after(async () => {
    await server?.stop();
  }, HOOK);

  for (const transports of ['polling,websocket', 'websocket', 'polling']) {
    test(`chat.py sends a message that the second client receives (${transports})`, T, async () => {
      const r = await runChild(PYTHON, ['chat.py'], {
        cwd: PY_EXAMPLES,
        env: { ...env, SWITCHYARD_TRANSPORTS: transports, PYTHONUNBUFFERED: '1' },
        timeoutMs: 30_000,
      });
      assert.equal(r.code, 0, describeRun(r));
      const lines = r.stdout.split('\n').filter(Boolean);
      assert.equal(lines.at(-1), 'OK', describeRun(r));
      // Polling-then-upgrade ends on WebSocket: python-socketio speaks Engine.IO v4 with it.
      const expected = transports === 'polling' ? 'polling' : 'websocket';
      assert.ok(lines.includes(`connected: ${alice} and ${bob} (${expected})`), describeRun(r));
      assert.ok(lines.includes(`${bob} received: ${alice}: hello from python`), describeRun(r));
      assert.ok(lines.includes(`${alice} sees: delivered to ${bob} (seq 1)`), describeRun(r));
    });
  }
});
