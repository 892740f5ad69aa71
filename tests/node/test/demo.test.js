// The demo page (`GET /demo`, client-examples/browser/) in a real browser: Debian's
// Chromium, headless, driven by playwright-core. Two pages, alice and bob, chat with
// typing and read receipts, see each other's presence, bob gets a notification created
// over HTTP, and the public:demo feed shows publications and recovers the ones missed
// while disconnected. Screenshots go to tests/node/artifacts/ (CI keeps them).

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { startServer, uniqueUser } from '../lib/helpers.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = join(HERE, '..', 'artifacts');
const BROWSER_DIR = join(HERE, '..', '..', '..', 'client-examples', 'browser');
const CHROMIUM = process.env.SWITCHYARD_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Bound of every wait on the page: a shared 2-core machine runs Chromium slowly. */
const UI_MS = 15_000;
const LAUNCH_MS = 60_000;

describe('GET /demo assets', { timeout: 60_000 }, () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  for (const [path, type, file] of [
    ['/demo', 'text/html', 'index.html'],
    ['/demo/app.js', 'text/javascript', 'app.js'],
    ['/demo/socket.io.esm.min.js', 'text/javascript', 'socket.io.esm.min.js'],
    ['/demo/style.css', 'text/css', 'style.css'],
  ]) {
    test(`${path} is ${file}, served as ${type}`, async () => {
      const r = await server.call('GET', path);
      assert.equal(r.status, 200);
      assert.ok(r.type.startsWith(type), `content type ${r.type}`);
      assert.equal(r.text, readFileSync(join(BROWSER_DIR, file), 'utf8'), 'the embedded copy is the file');
    });
  }

  test('the vendored socket.io-client is the pinned one', () => {
    const pinned = JSON.parse(readFileSync(join(HERE, '..', 'node_modules', 'socket.io-client', 'package.json'), 'utf8'));
    const vendored = readFileSync(join(BROWSER_DIR, 'socket.io.esm.min.js'), 'utf8');
    assert.ok(vendored.includes(`Socket.IO v${pinned.version}`), `vendored build is not v${pinned.version}`);
    assert.equal(vendored, readFileSync(join(HERE, '..', 'node_modules', 'socket.io-client', 'dist', 'socket.io.esm.min.js'), 'utf8'));
  });

  test('a page of another origin is refused, the same origin is not', async () => {
    const other = await server.call('GET', '/socket.io/?EIO=4&transport=polling', { headers: { Origin: 'https://elsewhere.example' } });
    assert.equal(other.status, 403);
    const same = await server.call('GET', '/socket.io/?EIO=4&transport=polling', { headers: { Origin: server.url } });
    assert.equal(same.status, 200);
  });
});

describe('the demo page in Chromium', { timeout: 240_000 }, () => {
  let server;
  let context;
  let profile;
  const pageErrors = [];
  const alice = uniqueUser('alice');
  const bob = uniqueUser('bob');
  let pageA;
  let pageB;

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (scripts/test does it when run as root)`);
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer();
    profile = mkdtempSync(join(tmpdir(), 'switchyard-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: LAUNCH_MS,
      viewport: { width: 1200, height: 800 },
    });
    context.setDefaultTimeout(UI_MS);
    [pageA, pageB] = [await context.newPage(), await context.newPage()];
    for (const [name, page] of [['alice', pageA], ['bob', pageB]]) {
      page.on('pageerror', (err) => pageErrors.push(`${name}: ${err.message}`));
      page.on('console', (msg) => {
        if (msg.type() === 'error') pageErrors.push(`${name} console: ${msg.text()}`);
      });
    }
  }, { timeout: LAUNCH_MS + 30_000 });

  after(async () => {
    // Bounded like every other wait; the browser process is killed with the test process
    // if closing hangs.
    await Promise.race([context?.close().catch(() => {}), new Promise((resolve) => setTimeout(resolve, UI_MS))]);
    if (profile) rmSync(profile, { recursive: true, force: true });
    await server?.stop();
  });

  const byId = (page, id) => page.locator(`[data-testid="${id}"]`);
  const waitText = (page, id, text) => byId(page, id).filter({ hasText: text }).waitFor({ timeout: UI_MS });

  async function snap(t, page, name) {
    const path = join(ARTIFACTS, `demo-${name}.png`);
    await page.screenshot({ path, fullPage: true, timeout: UI_MS });
    t.diagnostic(`screenshot: ${path}`);
  }

  /** Runs a step; on failure saves both pages for the CI artifacts, then rethrows. */
  async function step(t, name, body) {
    try {
      await body();
    } catch (err) {
      for (const [who, page] of [['alice', pageA], ['bob', pageB]]) {
        await snap(t, page, `failed-${name}-${who}`).catch(() => {});
      }
      err.message += `\npage errors: ${JSON.stringify(pageErrors)}\nserver log tail:\n${server.log.slice(-15).join('\n')}`;
      throw err;
    }
  }

  /** Opens the page signed in by `?token=`, or with the sign-in form when `viaForm`. */
  async function signIn(page, user, { viaForm = false } = {}) {
    const token = server.token(user);
    if (viaForm) {
      await page.goto(`${server.url}/demo`, { timeout: UI_MS });
      await byId(page, 'token').fill(token);
      await page.locator('[data-testid="signin"] button').click();
    } else {
      await page.goto(`${server.url}/demo?token=${token}`, { timeout: UI_MS });
    }
    await waitText(page, 'me', user);
    for (const ns of ['/ws', '/realtime', '/notifications']) await waitText(page, `ns-${ns}`, 'online');
    assert.ok(await byId(page, 'signin').isHidden(), 'no sign-in form once signed in');
  }

  test('two users chat with typing and read receipts, and see each other online', async (t) => {
    await step(t, 'sign-in', async () => {
      await signIn(pageA, alice);
      await signIn(pageB, bob, { viaForm: true });
    });

    await step(t, 'conversation', async () => {
      await byId(pageA, 'chat-with').fill(bob);
      await byId(pageA, 'start-chat').click();
      await waitText(pageA, 'conversation-title', bob);
      // bob's page opens the conversation it is told about (`conversation:new`).
      await waitText(pageB, 'conversation-title', alice);
    });

    await step(t, 'presence', async () => {
      await pageA.locator(`[data-testid="presence"] li[data-user="${bob}"][data-status="online"]`).waitFor();
      await pageB.locator(`[data-testid="presence"] li[data-user="${alice}"][data-status="online"]`).waitFor();
    });

    await step(t, 'typing', async () => {
      await byId(pageA, 'composer').pressSequentially('hello bob', { delay: 20 });
      await waitText(pageB, 'typing', `${alice} is typing`);
      await snap(t, pageB, 'bob-sees-alice-typing');
    });

    await step(t, 'send-and-read', async () => {
      await byId(pageA, 'send').click();
      await pageB.locator('[data-testid="messages"] li.theirs').filter({ hasText: 'hello bob' }).waitFor();
      // Sending stops the typing indicator at once (typing:stop), not after 5 s.
      await pageB.waitForFunction(() => document.querySelector('[data-testid="typing"]').textContent === '', null, { timeout: 3_000 });
      // bob's page is open on the conversation: it marks the message read.
      await pageA.locator('[data-testid="messages"] li.mine[data-seq="1"] [data-testid="receipt"]').filter({ hasText: `read by ${bob}` }).waitFor();
    });

    await step(t, 'reply', async () => {
      await byId(pageB, 'composer').fill('hi alice');
      await byId(pageB, 'send').click();
      await pageA.locator('[data-testid="messages"] li.theirs').filter({ hasText: 'hi alice' }).waitFor();
      await pageB.locator('[data-testid="messages"] li.mine[data-seq="2"] [data-testid="receipt"]').filter({ hasText: `read by ${alice}` }).waitFor();
      await snap(t, pageA, 'alice-chat-read-receipts');
      await snap(t, pageB, 'bob-chat-read-receipts');
    });
  });

  test('a notification created over HTTP reaches bob, who marks it read', async (t) => {
    await step(t, 'notification', async () => {
      const r = await server.call('POST', '/api/v1/notifications', {
        token: server.serviceToken(),
        body: { userIds: [bob], type: 'mention', title: 'Build finished', body: 'main is green', priority: 'high' },
      });
      assert.equal(r.status, 202, r.text);
      const [id] = r.json.ids;
      await pageB.locator(`[data-testid="notifications"] li.unread[data-id="${id}"]`).filter({ hasText: 'Build finished' }).waitFor();
      await waitText(pageB, 'unread', '1');
      await snap(t, pageB, 'bob-notification');
      await byId(pageB, 'read-all').click();
      await pageB.locator(`[data-testid="notifications"] li.read[data-id="${id}"]`).waitFor();
      await waitText(pageB, 'unread', '0');
      // alice got nothing.
      assert.equal(await pageA.locator('[data-testid="notifications"] li').count(), 0);
    });
  });

  test('the channel feed shows publications and recovers those missed while disconnected', async (t) => {
    const service = server.serviceToken();
    const publish = async (n) => {
      const r = await server.call('POST', '/api/v1/publish', {
        token: service,
        body: { channel: 'public:demo', event: 'deploy', data: { build: n } },
      });
      assert.equal(r.status, 202, r.text);
      return r.json.offset;
    };
    await step(t, 'feed-live', async () => {
      await waitText(pageA, 'feed-status', 'live');
      await waitText(pageB, 'feed-status', 'live');
      const offset = await publish(1);
      for (const page of [pageA, pageB]) {
        await page.locator(`[data-testid="feed"] li[data-offset="${offset}"]`).filter({ hasText: '"build":1' }).waitFor();
      }
    });
    await step(t, 'feed-recovery', async () => {
      await byId(pageA, 'feed-toggle').click();
      await waitText(pageA, 'feed-status', 'disconnected');
      await waitText(pageA, 'ns-/realtime', 'offline');
      const missed = [await publish(2), await publish(3)];
      await byId(pageA, 'feed-toggle').click();
      await waitText(pageA, 'feed-status', 'recovered 2 missed');
      for (const offset of missed) await pageA.locator(`[data-testid="feed"] li[data-offset="${offset}"]`).waitFor();
      const offsets = await pageA.locator('[data-testid="feed"] li[data-offset]').evaluateAll((items) => items.map((i) => Number(i.dataset.offset)));
      assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b), 'in order');
      assert.equal(new Set(offsets).size, offsets.length, 'none twice');
      // Presence is watched again after the reconnect.
      await pageA.locator(`[data-testid="presence"] li[data-user="${bob}"][data-status="online"]`).waitFor();
      await snap(t, pageA, 'alice-feed-recovered');
    });
    assert.deepEqual(pageErrors, [], 'no script errors on either page');
  });
});
