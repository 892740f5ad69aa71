// What this backend decides, apart from HTTP and signatures: the connect hook, the
// subscribe hook and the RPC methods. The request and answer bodies are the gateway's
// (README "Backend integration"):
//   connect   {user: {id, roles}, ns, ...}           → {allow: true, roles?, channels?} | {allow: false, code?}
//   subscribe {user, channels: [..]} | {user, channel} → {channels: {name: bool}} | {allow: bool}
//   rpc       {method, data, user: {id, roles}, ns}   → {data} | {error: {code, message}}

/**
 * Connect: users whose id starts with `banned-` are refused (`forbidden`); `vip-` users get
 * the role `vip`; everyone may subscribe to `inbox:<their id>` on this connection.
 */
export function answerConnect({ user } = {}) {
  if (typeof user?.id !== 'string') return { allow: false, code: 'invalid_payload' };
  if (user.id.startsWith('banned-')) return { allow: false, code: 'forbidden' };
  const roles = user.id.startsWith('vip-') ? ['vip'] : [];
  return { allow: true, roles, channels: [`inbox:${user.id}`] };
}

/** Whether `user` may subscribe to `channel`: `vip:*` is for VIPs; nothing else is asked of us. */
export function maySubscribe(user, channel) {
  if (channel.startsWith('vip:')) {
    return Boolean(user?.roles?.includes('vip') || user?.id?.startsWith('vip-'));
  }
  return false; // a channel this backend knows nothing about: no.
}

/** Subscribe, for one channel or a batch. */
export function answerSubscribe({ user, channel, channels } = {}) {
  if (Array.isArray(channels)) {
    return { channels: Object.fromEntries(channels.map((c) => [c, maySubscribe(user, String(c))])) };
  }
  return { allow: typeof channel === 'string' && maySubscribe(user, channel) };
}

const fail = (code, message) => ({ error: { code, message } });

/**
 * The RPC methods. `pitch.viewed {pitchId, ownerId}` counts a view and, when a gateway
 * client is given, tells the owner with a system message in their "Pitch activity"
 * conversation (created once: its idempotency key names the owner). `requestId` (the
 * RPC request's `webhook-id`) makes the message's `clientMsgId`, so the same request
 * handled twice (its answer lost, say) posts one message.
 */
export function createRpc({ gateway } = {}) {
  const views = new Map();
  const methods = {
    echo: async (data) => ({ data }),
    time: async () => ({ data: { now: new Date().toISOString() } }),
    'pitch.viewed': async (data, user, requestId) => {
      const { pitchId, ownerId } = data ?? {};
      if (typeof pitchId !== 'string' || typeof ownerId !== 'string') {
        return fail('invalid_payload', 'pitch.viewed takes {pitchId, ownerId}');
      }
      const count = (views.get(pitchId) ?? 0) + 1;
      views.set(pitchId, count);
      const notified = gateway && ownerId !== user.id ? await tellOwner(gateway, { pitchId, ownerId, viewer: user.id, count, requestId }) : null;
      return { data: { pitchId, views: count, notified } };
    },
  };
  return async function answerRpc({ method, data, user } = {}, requestId = '') {
    const run = methods[method];
    if (!run) return fail('not_found', `no method ${JSON.stringify(method)}`);
    if (typeof user?.id !== 'string') return fail('invalid_payload', 'no user');
    try {
      return await run(data, user, requestId);
    } catch (err) {
      // The gateway answers an RPC that fails here `unavailable` anyway; say so plainly.
      return fail('unavailable', `pitch.viewed could not finish: ${err.message}`);
    }
  };
}

async function tellOwner(gateway, { pitchId, ownerId, viewer, count, requestId }) {
  const { conversation } = await gateway.createConversation({
    participantIds: [ownerId],
    title: 'Pitch activity',
    idempotencyKey: `pitch-activity:${ownerId}`,
  });
  const { message } = await gateway.postSystemMessage(conversation.id, {
    clientMsgId: `pitch-viewed:${requestId || `${pitchId}:${count}`}`,
    content: `${viewer} viewed your pitch ${pitchId} (${count} view${count === 1 ? '' : 's'})`,
  });
  return { conversationId: conversation.id, seq: message.seq };
}
