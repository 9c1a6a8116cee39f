// Loads and caches what the views need. Snapshots are fetched on demand and kept in a
// bounded LRU cache; concurrent requests for the same snapshot share one fetch.

import { api as defaultApi } from './api.js';
import { LruCache } from './lruCache.js';

/** One retry after a network failure or a 5xx (a 4xx is the backend's answer: no retry). */
export async function withRetry(load, delayMs = 300) {
  try {
    return await load();
  } catch (e) {
    if (e && e.status && e.status < 500) throw e;
    await new Promise((r) => setTimeout(r, delayMs));
    return load();
  }
}

const snapshotBytes = (s) => s?.data?.byteLength || 0;

export class DataSource {
  constructor({ api = defaultApi, maxSnapshots = 48, maxBytes = 384 * 1024 * 1024 } = {}) {
    this.api = api;
    this.snapshots = new LruCache({ maxEntries: maxSnapshots, maxBytes, sizeOf: snapshotBytes });
    this.layerSnapshots = new LruCache({ maxEntries: 96, maxBytes: 128 * 1024 * 1024, sizeOf: snapshotBytes });
    this.stats = new Map(); // key -> {sig, promise}
    this.scalarsCache = new Map(); // run -> {time, promise}
  }

  static key({ run, probe, kind }, step, layer) {
    return JSON.stringify([run, probe, kind, step, layer ?? null]);
  }

  /** Every layer of a snapshot. */
  snapshot(sel, step) {
    const key = DataSource.key(sel, step);
    return this.snapshots.fetch(key, () => withRetry(() => this.api.snapshot({ ...sel, step })));
  }

  cachedSnapshot(sel, step) {
    return this.snapshots.get(DataSource.key(sel, step));
  }

  /** One layer of a snapshot; served from the full snapshot when that one is cached or loading. */
  layerSnapshot(sel, step, layer) {
    const full = this.cachedSnapshot(sel, step);
    if (full) return Promise.resolve(full);
    const loading = this.snapshots.inflight.get(DataSource.key(sel, step));
    if (loading) return loading;
    const key = DataSource.key(sel, step, layer);
    return this.layerSnapshots.fetch(key, () => withRetry(() => this.api.snapshot({ ...sel, step, layer })));
  }

  cachedLayerSnapshot(sel, step, layer) {
    return this.cachedSnapshot(sel, step) || this.layerSnapshots.get(DataSource.key(sel, step, layer));
  }

  /** Start loading snapshots without waiting (errors are ignored: they'll be retried). */
  prefetch(sel, steps) {
    for (const s of steps) this.snapshot(sel, s).catch(() => {});
  }

  /** Stats of a kind; re-fetched when its list of steps changes (live runs). */
  statsFor(sel, steps) {
    const key = DataSource.key(sel);
    const sig = steps ? steps.join(',') : '';
    const e = this.stats.get(key);
    if (e && e.sig === sig) return e.promise;
    const promise = this.api.stats(sel);
    promise.catch(() => this.stats.delete(key));
    this.stats.set(key, { sig, promise });
    return promise;
  }

  /** Scalars of a run, refreshed at most every `maxAgeMs`. */
  scalars(run, maxAgeMs = 25000) {
    const e = this.scalarsCache.get(run);
    const now = Date.now();
    if (e && now - e.time < maxAgeMs) return e.promise;
    const promise = this.api.scalars(run);
    promise.catch(() => this.scalarsCache.delete(run));
    this.scalarsCache.set(run, { time: now, promise });
    return promise;
  }
}
