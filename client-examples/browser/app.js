// The Switchyard demo page: one signed-in user on all three namespaces, with the stock
// socket.io-client (vendored ES module build, no bundler). Served by the gateway at /demo,
// so the sockets are same-origin and pass the gateway's origin check.
//
//   /ws             conversations, messages, typing, delivered and read receipts
//   /realtime       presence of the conversation's other participants, the public:demo feed
//   /notifications  notifications (acked on arrival), unread count, mark as read
//
// Every event and payload here is described in the repository's asyncapi.yaml.

import { io } from './socket.io.esm.min.js';

const FEED_CHANNEL = 'public:demo';
const ACK_TIMEOUT_MS = 10_000;
/** typing:start is repeated while typing goes on: the server stops it after 5 s. */
const TYPING_REPEAT_MS = 4_000;

const $ = (id) => document.getElementById(id);
/** An element with properties, `dataset` entries and children. */
const el = (tag, { dataset = {}, ...props } = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  Object.assign(node.dataset, dataset);
  node.append(...children);
  return node;
};

function log(text) {
  $('log').textContent = `${new Date().toLocaleTimeString()} ${text}`;
}

/** The `sub` claim of a JWT, unverified: the gateway checks the token, the page only shows it. */
function subjectOf(token) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(payload)).sub ?? '?';
  } catch {
    return '?';
  }
}

/** Emits with an ack and resolves with the ack's data; throws on `{ok: false}` or no answer. */
async function request(socket, event, payload) {
  const ack = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload);
  if (!ack?.ok) {
    const err = new Error(`${event}: ${ack?.error?.code ?? 'no ack'} ${ack?.error?.message ?? ''}`);
    err.code = ack?.error?.code;
    throw err;
  }
  return ack;
}

/** Runs an async UI action, reporting a failure in the log line instead of throwing. */
const guarded = (fn) => (...args) => fn(...args).catch((err) => log(err.message));

// ---------------------------------------------------------------------------------------
// Sign-in and the three connections

/** Signs in with `?token=`, or asks for a token. Called at the end of the module. */
function main() {
  const token = new URLSearchParams(location.search).get('token');
  if (token) {
    start(token);
    return;
  }
  $('signin').hidden = false;
  $('signin').addEventListener('submit', (e) => {
    e.preventDefault();
    const value = new FormData(e.target).get('token').trim();
    // Keep the token in the address so a reload signs in again.
    history.replaceState(null, '', `?token=${encodeURIComponent(value)}`);
    $('signin').hidden = true;
    start(value);
  });
}

function connectTo(namespace, tok) {
  const socket = io(namespace, { auth: { token: tok } });
  const badge = document.querySelector(`[data-testid="ns-${namespace}"]`);
  socket.on('connect', () => {
    badge.textContent = 'online';
    badge.className = 'on';
  });
  socket.on('disconnect', (reason) => {
    badge.textContent = 'offline';
    badge.className = '';
    log(`${namespace}: disconnected (${reason})`);
  });
  socket.on('connect_error', (err) => {
    badge.textContent = err.message;
    badge.className = 'err';
    log(`${namespace}: ${err.message}`);
  });
  socket.on('error', (err) => log(`${namespace}: ${err.code}: ${err.message}`));
  socket.on('announcement', ({ title, body }) => log(`announcement: ${title}: ${body}`));
  socket.on('server:draining', ({ reconnectInMs }) => log(`server draining, reconnecting within ${reconnectInMs} ms`));
  return socket;
}

let me = '';
let ws;
let realtime;
let notifications;

function start(tok) {
  me = subjectOf(tok);
  $('me').textContent = `signed in as ${me}`;
  $('app').hidden = false;
  ws = connectTo('/ws', tok);
  realtime = connectTo('/realtime', tok);
  notifications = connectTo('/notifications', tok);
  setUpChat();
  setUpPresence();
  setUpNotifications();
  setUpFeed();
}

// ---------------------------------------------------------------------------------------
// /ws: conversations, messages, typing, receipts

const conversations = new Map(); // id -> {id, title, participantIds, unread}
let current = null; // the open conversation's id
const messages = new Map(); // seq -> message, of the open conversation
const delivered = new Map(); // conversationId -> highest seq delivered to someone else
const readBy = new Map(); // conversationId -> Map(userId -> seq read)
const typingNow = new Map(); // conversationId -> Set(userId)

function setUpChat() {
  ws.on('connect', guarded(async () => {
    const { conversations: list } = await request(ws, 'conversation:list', {});
    for (const c of list) conversations.set(c.id, c);
    renderConversations();
    if (!current && list.length > 0) await open(list[0].id);
    else if (current) await open(current);
  }));
  ws.on('conversation:new', ({ conversation }) => {
    conversations.set(conversation.id, { ...conversation, unread: 0 });
    renderConversations();
    if (!current) open(conversation.id).catch((err) => log(err.message));
  });
  ws.on('message:new', ({ message }, ack) => {
    ack?.({}); // the first recipient ack becomes `message:delivered` for the sender
    if (message.conversationId === current) {
      messages.set(message.seq, message);
      stopTyping(message.conversationId, message.senderId);
      renderMessages();
      markRead(message.seq);
    } else {
      const c = conversations.get(message.conversationId);
      if (c) c.unread = (c.unread ?? 0) + 1;
      renderConversations();
    }
  });
  ws.on('message:delivered', ({ conversationId, seq }) => {
    delivered.set(conversationId, Math.max(delivered.get(conversationId) ?? 0, seq));
    if (conversationId === current) renderMessages();
  });
  ws.on('message:read', ({ conversationId, userId, seq }) => {
    if (userId === me) return; // my own reading, on another tab
    const readers = readBy.get(conversationId) ?? new Map();
    readers.set(userId, Math.max(readers.get(userId) ?? 0, seq));
    readBy.set(conversationId, readers);
    if (conversationId === current) renderMessages();
  });
  ws.on('message:updated', ({ message }) => {
    if (message.conversationId === current && messages.has(message.seq)) {
      messages.set(message.seq, message);
      renderMessages();
    }
  });
  ws.on('typing', ({ conversationId, userId, typing }) => {
    if (userId === me) return;
    const users = typingNow.get(conversationId) ?? new Set();
    if (typing) users.add(userId);
    else users.delete(userId);
    typingNow.set(conversationId, users);
    renderTyping();
  });

  $('new-conversation').addEventListener('submit', guarded(async (e) => {
    e.preventDefault();
    const ids = new FormData(e.target).get('with').split(',').map((s) => s.trim()).filter(Boolean);
    const { conversation } = await request(ws, 'conversation:create', { participantIds: ids });
    conversations.set(conversation.id, { ...conversation, unread: 0 });
    e.target.reset();
    renderConversations();
    await open(conversation.id);
  }));
  $('composer').addEventListener('submit', guarded(send));
  $('composer').content.addEventListener('input', onTypingInput);
}

async function open(id) {
  const switching = current !== id;
  current = id;
  const c = conversations.get(id);
  if (switching) {
    messages.clear();
    clearTimeout(typingTimer);
    typingSince = 0;
  }
  $('conversation').hidden = false;
  $('conversation-title').textContent = c?.title || (c?.participantIds ?? []).filter((p) => p !== me).join(', ');
  const { messages: page } = await request(ws, 'message:history', { conversationId: id, limit: 50 });
  for (const m of page) messages.set(m.seq, m);
  if (c) c.unread = 0;
  renderConversations();
  renderMessages();
  renderTyping();
  if (page.length > 0) markRead(Math.max(...page.map((m) => m.seq)));
  await watchParticipants(c?.participantIds ?? []);
}

const readUpTo = new Map(); // conversationId -> seq this page reported read
function markRead(seq) {
  if (document.visibilityState === 'hidden' || (readUpTo.get(current) ?? 0) >= seq) return;
  readUpTo.set(current, seq);
  request(ws, 'message:read', { conversationId: current, seq }).catch((err) => log(err.message));
}

let typingSince = 0;
let typingTimer;
function onTypingInput() {
  if (!current) return;
  const now = Date.now();
  if (now - typingSince >= TYPING_REPEAT_MS) {
    typingSince = now;
    request(ws, 'typing:start', { conversationId: current }).catch((err) => log(err.message));
  }
  // Quiet for a while: say so now rather than leave it to the server's 5 s auto-stop.
  clearTimeout(typingTimer);
  typingTimer = setTimeout(endTyping, TYPING_REPEAT_MS);
}

function endTyping() {
  clearTimeout(typingTimer);
  if (!typingSince || !current) return;
  typingSince = 0;
  request(ws, 'typing:stop', { conversationId: current }).catch((err) => log(err.message));
}

async function send(e) {
  e.preventDefault();
  const input = e.target.content;
  const content = input.value.trim();
  if (!content || !current) return;
  input.value = '';
  endTyping();
  // The ack means stored; a resend with the same clientMsgId is never stored twice.
  const { message } = await request(ws, 'message:send', {
    conversationId: current,
    clientMsgId: crypto.randomUUID(),
    content,
  });
  if (message.conversationId === current) {
    messages.set(message.seq, message);
    renderMessages();
  }
}

function stopTyping(conversationId, userId) {
  typingNow.get(conversationId)?.delete(userId);
  renderTyping();
}

function renderConversations() {
  $('conversations').replaceChildren(
    ...[...conversations.values()].map((c) => {
      const others = c.participantIds.filter((p) => p !== me).join(', ');
      const button = el('button', { type: 'button', textContent: c.title || others });
      button.addEventListener('click', () => open(c.id).catch((err) => log(err.message)));
      const unread = c.unread ? el('span', { className: 'badge', textContent: String(c.unread) }) : '';
      return el('li', { className: c.id === current ? 'current' : '' }, button, unread);
    }),
  );
}

/** My message's state: sent (stored), delivered (a recipient's socket acked it), read by whom. */
function receiptOf(m) {
  const readers = [...(readBy.get(m.conversationId) ?? new Map())].filter(([, seq]) => seq >= m.seq);
  if (readers.length > 0) return `read by ${readers.map(([u]) => u).join(', ')}`;
  if ((delivered.get(m.conversationId) ?? 0) >= m.seq) return 'delivered';
  return 'sent';
}

function renderMessages() {
  const sorted = [...messages.values()].sort((a, b) => a.seq - b.seq);
  $('messages').replaceChildren(
    ...sorted.map((m) => {
      const mine = m.senderId === me;
      const item = el(
        'li',
        { className: mine ? 'mine' : 'theirs', dataset: { seq: String(m.seq), sender: m.senderId } },
        el('span', { className: 'who', textContent: mine ? 'me' : m.senderId }),
        el('span', { className: 'content', textContent: m.deleted ? '(deleted)' : m.content }),
      );
      if (mine) item.append(el('span', { className: 'receipt', textContent: receiptOf(m), dataset: { testid: 'receipt' } }));
      return item;
    }),
  );
  $('messages').lastElementChild?.scrollIntoView({ block: 'nearest' });
}

function renderTyping() {
  const users = [...(typingNow.get(current) ?? [])];
  $('typing').textContent = users.length === 0 ? '' : `${users.join(', ')} ${users.length === 1 ? 'is' : 'are'} typing…`;
}

// ---------------------------------------------------------------------------------------
// /realtime: presence of the open conversation's other participants

const presence = new Map(); // userId -> {status, lastSeen}
let watched = [];

function setUpPresence() {
  realtime.on('presence', ({ userId, status, lastSeen }) => {
    if (!watched.includes(userId)) return;
    presence.set(userId, { status, lastSeen });
    renderPresence();
  });
  // A new socket watches nothing: watch again after every (re)connect.
  realtime.on('connect', () => {
    if (watched.length > 0) watchParticipants(watched, true).catch((err) => log(err.message));
  });
}

async function watchParticipants(participantIds, again = false) {
  const others = participantIds.filter((p) => p !== me);
  if (!again && others.join() === watched.join()) return;
  if (!again && watched.length > 0) {
    await request(realtime, 'presence:unwatch', { userIds: watched }).catch(() => {});
  }
  watched = others;
  presence.clear();
  renderPresence();
  if (others.length === 0 || !realtime.connected) return;
  const { users } = await request(realtime, 'presence:watch', { userIds: others });
  for (const u of users) presence.set(u.userId, u);
  renderPresence();
}

function renderPresence() {
  $('presence').replaceChildren(
    ...watched.map((userId) => {
      const status = presence.get(userId)?.status ?? 'unknown';
      return el(
        'li',
        { dataset: { user: userId, status } },
        el('span', { className: `dot ${status}` }),
        el('span', { textContent: `${userId} ` }),
        el('span', { className: 'status', textContent: status }),
      );
    }),
  );
}

// ---------------------------------------------------------------------------------------
// /notifications: the panel and its unread count

const shown = new Map(); // id -> notification (readAt set once read)
let unread = 0;

function setUpNotifications() {
  notifications.on('connect', guarded(async () => {
    const list = await request(notifications, 'notification:list', { limit: 20 });
    for (const n of list.items) shown.set(n.id, n);
    unread = list.unread;
    renderNotifications();
  }));
  // Live and pending-at-connect notifications come with an ack request: acking marks
  // them delivered, so the gateway does not push them to the user's phone.
  notifications.on('notification', (n, ack) => {
    ack?.({});
    if (!shown.has(n.id)) {
      shown.set(n.id, n);
      unread += 1;
    }
    renderNotifications();
  });
  // Read on another of my sockets.
  notifications.on('notification:read', ({ ids, unread: left }) => {
    markShownRead(ids);
    unread = left;
    renderNotifications();
  });
  $('read-all').addEventListener('click', guarded(async () => {
    const ack = await request(notifications, 'notification:read', { all: true });
    markShownRead([...shown.keys()]);
    unread = ack.unread;
    renderNotifications();
  }));
}

function markShownRead(ids) {
  const now = new Date().toISOString();
  for (const id of ids) {
    const n = shown.get(id);
    if (n && !n.readAt) n.readAt = now;
  }
}

async function readOne(id) {
  const ack = await request(notifications, 'notification:read', { ids: [id] });
  markShownRead([id]);
  unread = ack.unread;
  renderNotifications();
}

function renderNotifications() {
  $('unread').textContent = String(unread);
  const newestFirst = [...shown.values()].sort((a, b) => String(b.createdAt).localeCompare(String(a.createdAt)));
  $('notifications').replaceChildren(
    ...newestFirst.map((n) => {
      const item = el(
        'li',
        { className: n.readAt ? 'read' : 'unread', dataset: { id: n.id, priority: n.priority } },
        el('strong', { textContent: n.title }),
        el('span', { textContent: ` ${n.body}` }),
      );
      item.addEventListener('click', () => readOne(n.id).catch((err) => log(err.message)));
      return item;
    }),
  );
}

// ---------------------------------------------------------------------------------------
// /realtime: the public:demo feed, recovered after a reconnect

let position = null; // {epoch, offset} of the last publication seen
let subscribed = false;

function setUpFeed() {
  realtime.on('event', (pub) => {
    if (pub.channel !== FEED_CHANNEL) return;
    showPublication(pub);
  });
  // Every (re)connect subscribes again; after the first, `since` asks for what was missed.
  realtime.on('connect', guarded(subscribe));
  realtime.on('disconnect', () => {
    subscribed = false;
    renderFeedState('disconnected');
  });
  $('feed-toggle').addEventListener('click', () => {
    // Stands in for a network drop: the reconnect takes the same path as an automatic one.
    if (realtime.connected) realtime.disconnect();
    else realtime.connect();
  });
}

async function subscribe() {
  const request_ = { channels: [FEED_CHANNEL] };
  if (position) request_.since = { [FEED_CHANNEL]: position };
  const ack = await request(realtime, 'subscribe', request_);
  if (!ack.subscribed.includes(FEED_CHANNEL)) {
    renderFeedState(`denied: ${ack.denied.map((d) => d.code).join(', ')}`);
    return;
  }
  subscribed = true;
  if (!position) {
    renderFeedState('live');
    return;
  }
  const missed = ack.missed?.[FEED_CHANNEL] ?? [];
  if (ack.recovered?.[FEED_CHANNEL]) {
    for (const pub of missed) showPublication(pub);
    renderFeedState(`live, recovered ${missed.length} missed`);
  } else {
    // History no longer covers the gap (or the node restarted): say so, start afresh.
    position = null;
    $('feed').append(el('li', { className: 'gap', textContent: '… some publications were missed …' }));
    renderFeedState('live, could not recover');
  }
}

function showPublication(pub) {
  if (position && pub.epoch === position.epoch && pub.offset <= position.offset) return;
  position = { epoch: pub.epoch, offset: pub.offset };
  const text = typeof pub.data === 'string' ? pub.data : JSON.stringify(pub.data);
  $('feed').append(
    el(
      'li',
      { dataset: { offset: String(pub.offset) } },
      el('code', { textContent: `#${pub.offset} ${pub.event}` }),
      el('span', { textContent: ` ${text}` }),
    ),
  );
}

function renderFeedState(text) {
  $('feed-status').textContent = text;
  $('feed-toggle').textContent = realtime.connected ? 'Disconnect' : 'Reconnect';
  $('feed-toggle').dataset.subscribed = String(subscribed);
}

main();
