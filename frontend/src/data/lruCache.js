// A bounded cache of snapshots (by count and by bytes) that also de-duplicates requests in
// flight, so playing and prefetching never fetch the same step twice.

export class LruCache {
  constructor({ maxEntries = 32, maxBytes = 256 * 1024 * 1024, sizeOf = (v) => v?.byteLength || 0 } = {}) {
    this.maxEntries = maxEntries;
    this.maxBytes = maxBytes;
    this.sizeOf = sizeOf;
    this.map = new Map(); // key -> {value, size}
    this.bytes = 0;
    this.inflight = new Map(); // key -> Promise
  }

  get size() {
    return this.map.size;
  }

  has(key) {
    return this.map.has(key);
  }

  get(key) {
    const e = this.map.get(key);
    if (!e) return undefined;
    this.map.delete(key);
    this.map.set(key, e); // most recently used goes last
    return e.value;
  }

  set(key, value) {
    const old = this.map.get(key);
    if (old) {
      this.bytes -= old.size;
      this.map.delete(key);
    }
    const size = this.sizeOf(value);
    this.map.set(key, { value, size });
    this.bytes += size;
    this.evict(key);
  }

  evict(keep) {
    for (const [k, e] of this.map) {
      if (this.map.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      if (k === keep) continue;
      this.map.delete(k);
      this.bytes -= e.size;
    }
  }

  /** Cached value, else the pending request, else start `load()` once, right now (not a microtask later). */
  fetch(key, load) {
    if (this.map.has(key)) return Promise.resolve(this.get(key));
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const p = new Promise((resolve) => resolve(load())) // a throw becomes a rejection
      .then(
        (v) => {
          this.inflight.delete(key);
          this.set(key, v);
          return v;
        },
        (e) => {
          this.inflight.delete(key);
          throw e;
        },
      );
    this.inflight.set(key, p);
    return p;
  }

  clear() {
    this.map.clear();
    this.bytes = 0;
    this.inflight.clear();
  }
}
