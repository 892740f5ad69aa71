// Running the client examples as child processes, with bounded time, and minting their
// tokens the way client-examples/README.md tells a person to: `switchyard token`.

import { execFile, spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { SERVER_BIN } from './helpers.js';

/** The repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const EXAMPLES = join(ROOT, 'client-examples');

const execFileP = promisify(execFile);

/** `switchyard token --sub SUB [--role R]...` signed with `secret`; resolves with the token. */
export async function cliToken(secret, sub, roles = []) {
  const args = ['token', '--sub', sub, ...roles.flatMap((r) => ['--role', r])];
  const { stdout } = await execFileP(SERVER_BIN, args, {
    env: { ...process.env, SWITCHYARD_JWT_SECRET: secret },
    timeout: 10_000,
  });
  const token = stdout.trim();
  if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token)) throw new Error(`switchyard token printed ${JSON.stringify(stdout)}`);
  return token;
}

/**
 * Runs `command args` in `cwd` with `env` added to this process's environment. Resolves
 * with `{code, signal, stdout, stderr}` once it exits; kills it after `timeoutMs` (the
 * result then has signal SIGKILL and `timedOut: true`).
 */
export function runChild(command, args, { cwd, env = {}, timeoutMs = 30_000 } = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** A readable account of a child's run, for assertion messages. */
export const describeRun = (r) =>
  `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}${r.timedOut ? ' after the time limit' : ''}\n` +
  `--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
