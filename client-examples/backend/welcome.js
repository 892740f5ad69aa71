// Creates a conversation for some users and greets them with a system message, over the
// gateway's HTTP API, as a backend does when, say, two users match. Run it twice: the
// second run finds the same conversation and message (idempotent) and tells no one again.
//
//   SWITCHYARD_URL=http://localhost:3000 SERVICE_TOKEN=… PARTICIPANT_IDS=alice,bob node welcome.js

import { gatewayClient } from './gateway.js';

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set; see client-examples/README.md`);
    process.exit(2);
  }
  return value;
}

const gateway = gatewayClient({
  url: process.env.SWITCHYARD_URL || 'http://localhost:3000',
  token: required('SERVICE_TOKEN'),
});
const participantIds = required('PARTICIPANT_IDS').split(',').map((id) => id.trim()).filter(Boolean);

async function main() {
  // The key names the pair, so every run (and every retry) means the same conversation.
  const idempotencyKey = `welcome:${[...participantIds].sort().join(',')}`;
  const first = await gateway.createConversation({ participantIds, title: 'Welcome', idempotencyKey });
  const { conversation } = first;
  console.log(`conversation ${conversation.id} with ${conversation.participantIds.join(', ')} (${first.created ? 'created' : 'already there'})`);
  const greeting = { clientMsgId: `welcome:${conversation.id}`, content: 'Welcome! Say hello to each other.' };
  const sent = await gateway.postSystemMessage(conversation.id, greeting);
  console.log(`system message seq ${sent.message.seq} from ${sent.message.senderId}: ${sent.message.content} (${sent.created ? 'posted' : 'already there'})`);
  // A retry, as after a timeout: the same results, nothing new.
  const again = await gateway.createConversation({ participantIds, title: 'Welcome', idempotencyKey });
  const resent = await gateway.postSystemMessage(conversation.id, greeting);
  if (again.created || resent.created || again.conversation.id !== conversation.id || resent.message.id !== sent.message.id) {
    throw new Error('a retry created something new');
  }
  console.log('retry: same conversation, same message');
}

main().then(
  () => console.log('OK'),
  (err) => {
    console.error(`FAILED: ${err.message}`);
    process.exitCode = 1;
  },
);
