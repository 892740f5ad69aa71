// The gateway's HTTP API as a backend calls it (a `service` token): create a conversation
// and post a message into it, as a user or as the system sender. Both calls are
// idempotent, so a backend retries them freely after a timeout or a 503: the same
// `idempotencyKey`, or the same sender and `clientMsgId`, returns the first result (HTTP
// 200 instead of 201) and tells no one again.

/** An error answer of the gateway: `status` and the contract's `code`. */
export class GatewayError extends Error {
  constructor(status, code, message) {
    super(`HTTP ${status} ${code}: ${message}`);
    this.status = status;
    this.code = code;
  }
}

/** A client of `url`'s `/api/v1` with `token` (role `service`). */
export function gatewayClient({ url, token, timeoutMs = 5000 }) {
  const base = url.replace(/\/+$/, '');

  async function post(path, body) {
    const res = await fetch(`${base}/api/v1${path}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const answer = await res.json().catch(() => ({}));
    if (!res.ok) {
      const { code = 'unknown', message = res.statusText } = answer.error ?? {};
      throw new GatewayError(res.status, code, message);
    }
    return { ...answer, created: res.status === 201 };
  }

  return {
    /** `{conversation, created}`; the service itself takes no part in it. */
    createConversation({ participantIds, title, idempotencyKey }) {
      return post('/conversations', { participantIds, title, idempotencyKey });
    },
    /** `{message, created}` from `senderId`, who must take part in the conversation. */
    postMessage(conversationId, { senderId, clientMsgId, content, attachments }) {
      return post(`/conversations/${encodeURIComponent(conversationId)}/messages`, {
        senderId,
        clientMsgId,
        content,
        attachments,
      });
    },
    /** `{message, created}` from the system sender (its `senderId` is `{system}`). */
    postSystemMessage(conversationId, { clientMsgId, content, attachments }) {
      return post(`/conversations/${encodeURIComponent(conversationId)}/messages`, {
        system: true,
        clientMsgId,
        content,
        attachments,
      });
    },
  };
}
