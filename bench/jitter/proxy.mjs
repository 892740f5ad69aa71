// A TCP proxy that cuts clients' connections on demand (bench/jitter/jitter.mjs). Each
// client has its own loopback source address; the proxy knows it by that address, opens
// the upstream connection from the same address (so the server sees one address per
// client), and, when told to cut it for a while, resets both sides of every connection it
// has and resets any new one it opens until the cut ends (a refused connect, as far as
// the client can tell). With several upstreams (the nodes of a cluster) each client has
// its own node, and a node that refuses the connection (killed) is passed over for the
// next one, as a load balancer drops an endpoint that is gone.
import net from "node:net";

export class CuttingProxy {
  /** `upstreams`: {host, port} of the server, or a list of them (a cluster's nodes). */
  constructor(upstreams) {
    this.upstreams = Array.isArray(upstreams) ? upstreams : [upstreams];
    this.clients = new Map(); // address -> {cutUntil, conns: Set<[client, server]>}
    this.refused = 0;
    this.failovers = 0;
    this.server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server.on("error", () => {});
  }

  listen(host = "127.0.0.1") {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen({ host, port: 0, backlog: 4096 }, () => {
        this.server.off("error", reject);
        resolve(this.server.address().port);
      });
    });
  }

  state(address) {
    let s = this.clients.get(address);
    if (!s) {
      s = { cutUntil: 0, conns: new Set() };
      this.clients.set(address, s);
    }
    return s;
  }

  accept(client) {
    const address = normalize(client.remoteAddress);
    const s = this.state(address);
    if (Date.now() < s.cutUntil) {
      this.refused += 1;
      client.on("error", () => {});
      client.resetAndDestroy();
      return;
    }
    // What the client sends waits until a node has taken the connection.
    client.pause();
    const pair = [client, null];
    s.conns.add(pair);
    const close = () => {
      if (!s.conns.delete(pair)) return;
      client.destroy();
      pair[1]?.destroy();
    };
    client.on("error", close);
    client.on("close", close);
    const first = homeNode(address, this.upstreams.length);
    const attempt = (k) => {
      const upstream = this.upstreams[(first + k) % this.upstreams.length];
      const server = net.connect({ ...upstream, localAddress: address, noDelay: true });
      pair[1] = server;
      const refused = () => {
        server.destroy();
        if (!s.conns.has(pair)) return; // cut meanwhile
        if (k + 1 >= this.upstreams.length) return close();
        this.failovers += 1;
        attempt(k + 1);
      };
      server.once("error", refused);
      server.once("connect", () => {
        server.off("error", refused);
        server.on("error", close);
        server.on("close", close);
        client.pipe(server);
        server.pipe(client);
        client.resume();
      });
    };
    attempt(0);
  }

  /** Resets every connection of `address` and refuses new ones for `ms`. */
  cut(address, ms) {
    const s = this.state(address);
    s.cutUntil = Date.now() + ms;
    for (const pair of [...s.conns]) {
      s.conns.delete(pair);
      for (const side of pair) {
        if (side && !side.destroyed) side.resetAndDestroy();
      }
    }
  }

  /** Open connections of `address`. */
  open(address) {
    return this.clients.get(address)?.conns.size ?? 0;
  }

  close() {
    for (const [address] of this.clients) this.cut(address, 0);
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** The node a client's connections go to first: spread evenly by its address. */
function homeNode(address, nodes) {
  const [, , a, b] = address.split(".").map(Number);
  return ((a || 0) * 250 + (b || 0)) % nodes;
}

function normalize(address) {
  return address?.startsWith("::ffff:") ? address.slice(7) : address;
}

/**
 * The loopback address of client `i` (0-based): 127.100.a.b with a and b in 1..250, one
 * per client, so that neither per-address connection caps nor ephemeral ports limit N.
 */
export function clientAddress(i) {
  if (i < 0 || i >= 250 * 250) throw new RangeError(`client ${i}: at most 62,500 clients`);
  return `127.100.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
}
