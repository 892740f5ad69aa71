// What one client of the jitter scenario saw of the numbered stream, and the aggregate
// over all clients (bench/jitter/jitter.mjs). Pure: every time is passed in (ms).

/**
 * One client's view of a stream numbered 1..capacity. A "reconnect" is every connect
 * after the first; the messages it missed are those accepted by the server (`isAccepted`)
 * after the highest number the client had seen when it dropped, up to the highest accepted
 * when it came back, that it has not seen. Its replay latency is the time from the
 * reconnect to the last of those arriving; a reconnect whose missed messages never all
 * arrive is "incomplete".
 */
export class StreamTracker {
  constructor(capacity) {
    this.capacity = capacity;
    this.seen = new Uint8Array(capacity + 1);
    this.distinct = 0;
    this.receipts = 0;
    this.duplicates = 0;
    this.duplicated = []; // the first numbers received twice, for a client's timeline
    this.outOfOrder = 0;
    this.foreign = 0; // numbers outside 1..capacity
    this.maxSeen = 0;
    this.maxAtDrop = 0;
    this.opens = 0;
    this.opening = null; // the episode of the open not yet connected
    this.connects = 0;
    this.reconnects = 0;
    this.recovered = 0;
    this.gaps = 0; // reconnects that had missed something
    this.pending = []; // {at, missing: Set}
    this.replayMs = [];
  }

  disconnected() {
    this.maxAtDrop = this.maxSeen;
  }

  /**
   * The transport is open again (socket.io-client's Manager `open`), before the namespace
   * CONNECT: a server that replays may send the missed packets before its CONNECT answer
   * (Node's socket.io does), and the client emits them before `connect`. `lastAccepted`:
   * the highest number accepted so far; `isAccepted(n)`.
   */
  opened(now, lastAccepted, isAccepted) {
    this.opens += 1;
    if (this.opens === 1) return;
    // An open whose CONNECT never came back is replaced by this one.
    const stale = this.pending.indexOf(this.opening);
    if (stale >= 0) this.pending.splice(stale, 1);
    this.opening = null;
    const missing = new Set();
    for (let n = this.maxAtDrop + 1; n <= Math.min(lastAccepted, this.capacity); n++) {
      if (!this.seen[n] && isAccepted(n)) missing.add(n);
    }
    if (missing.size > 0) {
      this.opening = { at: now, missing };
      this.pending.push(this.opening);
    }
  }

  /** The namespace connected (`connect`), `recovered` as socket.io-client says. */
  connected(recovered) {
    this.connects += 1;
    if (this.connects === 1) return;
    this.reconnects += 1;
    if (recovered) this.recovered += 1;
    if (this.opening) {
      this.gaps += 1;
      if (this.opening.done !== undefined) this.replayMs.push(this.opening.done - this.opening.at);
    }
    this.opening = null;
  }

  /** Number n arrived; true when it was one a reconnect had missed. */
  received(n, now) {
    this.receipts += 1;
    if (!Number.isInteger(n) || n < 1 || n > this.capacity) {
      this.foreign += 1;
      return false;
    }
    if (this.seen[n]) {
      this.duplicates += 1;
      if (this.duplicated.length < 20) this.duplicated.push(n);
      return false;
    }
    this.seen[n] = 1;
    this.distinct += 1;
    if (n < this.maxSeen) this.outOfOrder += 1;
    else this.maxSeen = n;
    let missed = false;
    for (let i = 0; i < this.pending.length; i++) {
      const episode = this.pending[i];
      if (!episode.missing.delete(n)) continue;
      missed = true;
      if (episode.missing.size === 0) {
        if (episode === this.opening) episode.done = now;
        else this.replayMs.push(now - episode.at);
        this.pending.splice(i, 1);
        i -= 1;
      }
    }
    return missed;
  }

  /** `accepted`: the numbers the server accepted. */
  summary(accepted) {
    let delivered = 0;
    for (const n of accepted) if (n >= 1 && n <= this.capacity && this.seen[n]) delivered += 1;
    return {
      expected: accepted.length,
      delivered,
      duplicates: this.duplicates,
      outOfOrder: this.outOfOrder,
      foreign: this.foreign,
      reconnects: this.reconnects,
      recovered: this.recovered,
      gaps: this.gaps,
      incomplete: this.pending.length,
    };
  }
}

/** Nearest-rank percentile (q in 0..1) of numbers; null when empty. */
export function percentile(values, q) {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}

/** A latency histogram in whole milliseconds (the last bucket holds everything above). */
export class Histogram {
  constructor(maxMs = 120_000) {
    this.counts = new Uint32Array(maxMs + 1);
    this.total = 0;
  }
  add(ms) {
    const i = Math.min(this.counts.length - 1, Math.max(0, Math.round(ms)));
    this.counts[i] += 1;
    this.total += 1;
  }
  merge(counts) {
    for (let i = 0; i < counts.length; i++) {
      this.counts[i] += counts[i];
      this.total += counts[i];
    }
  }
  quantile(q) {
    if (this.total === 0) return null;
    const want = Math.max(1, Math.ceil(q * this.total));
    let sum = 0;
    for (let i = 0; i < this.counts.length; i++) {
      sum += this.counts[i];
      if (sum >= want) return i;
    }
    return this.counts.length - 1;
  }
  /** Non-zero buckets as [ms, count] pairs (compact for IPC). */
  sparse() {
    const out = [];
    for (let i = 0; i < this.counts.length; i++) if (this.counts[i]) out.push([i, this.counts[i]]);
    return out;
  }
  addSparse(pairs) {
    for (const [ms, count] of pairs) {
      this.counts[ms] += count;
      this.total += count;
    }
  }
}

const round = (v, digits = 2) => (v === null ? null : Number(v.toFixed(digits)));

/**
 * The aggregate over per-client summaries (`clients`), replay latency samples (ms) and the
 * live latency histogram.
 */
export function aggregate({ clients, replayMs, live, failedClients, published, publishFailures, cuts }) {
  const shares = clients.map((c) => (c.expected ? (100 * c.delivered) / c.expected : 100));
  const sum = (key) => clients.reduce((a, c) => a + c[key], 0);
  const expected = sum("expected");
  return {
    clients: clients.length,
    failed_clients: failedClients,
    published,
    publish_failures: publishFailures,
    cuts,
    delivered_pct: expected ? round((100 * sum("delivered")) / expected, 3) : null,
    delivered_pct_median: round(percentile(shares, 0.5), 3),
    delivered_pct_p1: round(percentile(shares, 0.01), 3),
    delivered_pct_min: round(percentile(shares, 0), 3),
    clients_complete: shares.filter((s) => s === 100).length,
    lost: expected - sum("delivered"),
    duplicates: sum("duplicates"),
    clients_with_duplicates: clients.filter((c) => c.duplicates > 0).length,
    out_of_order: sum("outOfOrder"),
    foreign: sum("foreign"),
    reconnects: sum("reconnects"),
    recovered: sum("recovered"),
    gaps: sum("gaps"),
    replays_complete: replayMs.length,
    replays_incomplete: sum("incomplete"),
    replay_ms_p50: round(percentile(replayMs, 0.5), 1),
    replay_ms_p99: round(percentile(replayMs, 0.99), 1),
    replay_ms_max: round(percentile(replayMs, 1), 1),
    live_ms_p50: live.quantile(0.5),
    live_ms_p99: live.quantile(0.99),
  };
}
