// Runs the backend: settings from the environment, as the gateway names them.
//
//   SWITCHYARD_WEBHOOK_SECRET=whsec_… SWITCHYARD_HOOKS_SECRET=whsec_… \
//   SWITCHYARD_URL=http://localhost:3000 SERVICE_TOKEN=… PORT=4000 node server.js
//
// It prints the gateway settings that point at it. SWITCHYARD_URL and SERVICE_TOKEN are
// optional: without them `pitch.viewed` counts views but tells no one.

import { createBackend } from './backend.js';
import { gatewayClient } from './gateway.js';

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set (a Standard Webhooks secret, whsec_ + base64)`);
    process.exit(2);
  }
  return value;
}

const webhookSecret = required('SWITCHYARD_WEBHOOK_SECRET');
const hooksSecret = required('SWITCHYARD_HOOKS_SECRET');
const url = process.env.SWITCHYARD_URL;
const token = process.env.SERVICE_TOKEN;
const gateway = url && token ? gatewayClient({ url, token }) : undefined;

const server = createBackend({ webhookSecret, hooksSecret, gateway, log: (line) => console.log(line) });
server.listen(Number(process.env.PORT ?? 4000), process.env.HOST ?? '127.0.0.1', () => {
  const { address, port } = server.address();
  const base = `http://${address}:${port}`;
  console.log(`backend listening on ${base}`);
  console.log(`gateway settings: SWITCHYARD_WEBHOOK_URL=${base}/webhooks SWITCHYARD_HOOKS_CONNECT_URL=${base}/hooks/connect SWITCHYARD_HOOKS_SUBSCRIBE_URL=${base}/hooks/subscribe SWITCHYARD_HOOKS_RPC_URL=${base}/rpc`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
