// A TCP proxy that cuts clients' connections on demand (bench/jitter/jitter.mjs). Each
// client has its own loopback source address; the proxy knows it by that address, opens
// the upstream connection from the same address (so the server sees one address per
// client), and, when told to cut it for a while, resets both sides of every connection it
// has and resets any new one it opens until the cut ends (a refused connect, as far as
// the client can tell).
import net from "node:net";

export class CuttingProxy {
  /** `upstream`: {host, port} of the server. */
  constructor(upstream) {
    this.upstream = upstream;
    this.clients = new Map(); // address -> {cutUntil, conns: Set<[client, server]>}
    this.refused = 0;
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
    const server = net.connect({ ...this.upstream, localAddress: address, noDelay: true });
    const pair = [client, server];
    s.conns.add(pair);
    const close = () => {
      if (!s.conns.delete(pair)) return;
      client.destroy();
      server.destroy();
    };
    for (const side of pair) {
      side.on("error", close);
      side.on("close", close);
    }
    client.pipe(server);
    server.pipe(client);
  }

  /** Resets every connection of `address` and refuses new ones for `ms`. */
  cut(address, ms) {
    const s = this.state(address);
    s.cutUntil = Date.now() + ms;
    for (const pair of [...s.conns]) {
      s.conns.delete(pair);
      for (const side of pair) {
        if (!side.destroyed) side.resetAndDestroy();
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
