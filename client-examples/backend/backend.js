// The backend's HTTP side: one server for the gateway's webhooks and its hook and RPC
// calls. Every request is checked with the `standardwebhooks` library before anything
// else (signature over `webhook-id.webhook-timestamp.body`, timestamp within 5 minutes);
// webhooks with the webhook secret, hooks and RPC with the hooks secret.
//
//   POST /webhooks        events, at least once: deduplicated by `webhook-id`; 204
//   POST /hooks/connect   {allow, roles?, channels?} | {allow: false, code?}
//   POST /hooks/subscribe {channels: {name: bool}} | {allow}
//   POST /rpc             {data} | {error: {code, message}}

import http from 'node:http';

import { Webhook } from 'standardwebhooks';

import { answerConnect, answerSubscribe, createRpc } from './answers.js';

/** The largest request body read (the gateway's own payload limit is 64 KiB by default). */
export const MAX_BODY_BYTES = 1024 * 1024;

/** How many webhook ids are remembered for deduplication. */
const REMEMBERED_IDS = 10_000;

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, 'body too large'));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** The parsed body when `req`'s signature headers check out with `signer`; else a 401. */
function verified(signer, body, headers) {
  try {
    return signer.verify(body, {
      'webhook-id': headers['webhook-id'] ?? '',
      'webhook-timestamp': headers['webhook-timestamp'] ?? '',
      'webhook-signature': headers['webhook-signature'] ?? '',
    });
  } catch (err) {
    throw new HttpError(401, `signature check failed: ${err.message}`);
  }
}

/**
 * The backend. `webhookSecret` and `hooksSecret` are the gateway's `whsec_…` secrets;
 * `gateway` (optional, see gateway.js) lets RPC methods call the gateway's HTTP API;
 * `onEvent(event, id)` hears each new webhook event once.
 */
export function createBackend({ webhookSecret, hooksSecret, gateway, onEvent = () => {}, log = () => {} }) {
  const webhooks = new Webhook(webhookSecret);
  const hooks = new Webhook(hooksSecret);
  const answerRpc = createRpc({ gateway });
  const seen = new Set();

  function remember(id) {
    if (seen.has(id)) return false;
    seen.add(id);
    if (seen.size > REMEMBERED_IDS) seen.delete(seen.values().next().value);
    return true;
  }

  const routes = {
    '/webhooks': (body, id) => {
      const event = verified(webhooks, body.raw, body.headers);
      // At least once: a retry after a lost answer carries the same id.
      if (remember(id)) {
        log(`webhook ${event.type} ${id}`);
        onEvent(event, id);
      }
      return null;
    },
    '/hooks/connect': (body) => answerConnect(verified(hooks, body.raw, body.headers)),
    '/hooks/subscribe': (body) => answerSubscribe(verified(hooks, body.raw, body.headers)),
    '/rpc': (body, id) => answerRpc(verified(hooks, body.raw, body.headers), id),
  };

  return http.createServer(async (req, res) => {
    const reply = (status, answer) => {
      res.writeHead(status, answer === null ? {} : { 'Content-Type': 'application/json' });
      res.end(answer === null ? undefined : JSON.stringify(answer));
    };
    try {
      const route = routes[new URL(req.url, 'http://backend').pathname];
      if (req.method !== 'POST' || !route) throw new HttpError(404, 'no such route');
      const raw = await readBody(req);
      const answer = await route({ raw, headers: req.headers }, req.headers['webhook-id']);
      if (answer !== null) log(`${req.url} → ${JSON.stringify(answer)}`);
      reply(answer === null ? 204 : 200, answer);
    } catch (err) {
      if (!(err instanceof HttpError)) log(`failed: ${err.stack}`);
      const status = err instanceof HttpError ? err.status : 500;
      reply(status, { error: err.message });
    }
  });
}
