// A Node socket.io 4.x server speaking the benchmark subset of Switchyard's wire contract
// (bench/peers/README.md): `/realtime` with a JWT connect middleware, `subscribe`,
// `latency:ping`, and `POST /api/v1/publish` on plain node:http. socket.io runs with its
// defaults (in-memory adapter, no perMessageDeflate), as a typical user would.
import http from "node:http";
import { randomBytes } from "node:crypto";
import { Server } from "socket.io";
import jwt from "jsonwebtoken";

const NAMESPACE = "/realtime";
const MAX_BODY_BYTES = 64 * 1024;

const secret = process.env.BENCH_JWT_SECRET;
if (!secret) {
  console.error("BENCH_JWT_SECRET is not set");
  process.exit(2);
}
const port = Number(process.env.PORT ?? 0);

// A random 12-hex-digit string, new for every process.
const epoch = randomBytes(6).toString("hex");
// The last offset of each channel. Node runs this on one thread, so numbering and
// emitting happen together and subscribers see offsets in order.
const offsets = new Map();

/** The claims of a valid HS256 token with `sub` and `exp`, or null. */
function verify(token) {
  try {
    // clockTolerance as Switchyard's leeway.
    const claims = jwt.verify(token, secret, { algorithms: ["HS256"], clockTolerance: 5 });
    if (typeof claims.sub !== "string" || typeof claims.exp !== "number") return null;
    return claims;
  } catch {
    return null;
  }
}

const httpServer = http.createServer((req, res) => {
  if (req.method === "POST" && req.url === "/api/v1/publish") {
    publish(req, res);
  } else {
    reply(res, 404, { error: { code: "not_found", message: "no such route" } });
  }
});

function reply(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

function publish(req, res) {
  const header = req.headers.authorization ?? "";
  const [scheme, token] = header.split(" ", 2);
  if (scheme?.toLowerCase() !== "bearer" || !token?.trim()) {
    req.resume();
    return reply(res, 401, { error: { code: "missing_token", message: "a valid bearer token is required" } });
  }
  const claims = verify(token.trim());
  if (!claims) {
    req.resume();
    return reply(res, 401, { error: { code: "invalid_token", message: "a valid bearer token is required" } });
  }
  if (!Array.isArray(claims.roles) || !claims.roles.includes("service")) {
    req.resume();
    return reply(res, 403, { error: { code: "forbidden", message: "requires role service" } });
  }
  const chunks = [];
  let size = 0;
  req.on("data", (chunk) => {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  });
  req.on("end", () => {
    if (size > MAX_BODY_BYTES) {
      return reply(res, 413, { error: { code: "payload_too_large", message: "body too large" } });
    }
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return reply(res, 400, { error: { code: "invalid_payload", message: "body is not JSON" } });
    }
    const { channel, event, data = null } = body ?? {};
    if (typeof channel !== "string" || !channel || typeof event !== "string" || !event) {
      return reply(res, 400, { error: { code: "invalid_payload", message: "channel and event are required" } });
    }
    const offset = (offsets.get(channel) ?? 0) + 1;
    offsets.set(channel, offset);
    realtime.to(channel).emit("event", { channel, event, data, offset, epoch, ts: Date.now() });
    reply(res, 202, { offset, epoch });
  });
}

// PEER_CONNECTION_RECOVERY=1 turns on socket.io's connection-state recovery at its
// defaults (2 minutes, middlewares skipped on recovery), for the jitter scenario.
const io = new Server(
  httpServer,
  process.env.PEER_CONNECTION_RECOVERY === "1" ? { connectionStateRecovery: {} } : {},
);
const realtime = io.of(NAMESPACE);

// Connect middleware: handshake `auth.token`, else `?token=`.
realtime.use((socket, next) => {
  const token = socket.handshake.auth?.token || socket.handshake.query?.token;
  if (typeof token !== "string" || !token) return next(new Error("missing_token"));
  const claims = verify(token);
  if (!claims) return next(new Error("invalid_token"));
  socket.data.user = claims.sub;
  next();
});

realtime.on("connection", (socket) => {
  socket.on("subscribe", (req, ack) => {
    if (typeof ack !== "function" || !Array.isArray(req?.channels)) return;
    socket.join(req.channels);
    ack({ ok: true, subscribed: req.channels, denied: [], recovered: {}, missed: {} });
  });
  socket.on("latency:ping", (req, ack) => {
    if (typeof ack !== "function" || req == null) return;
    ack({ ok: true, t: req.t, serverTime: Date.now() });
  });
});

httpServer.listen(port, "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${httpServer.address().port}`);
});
