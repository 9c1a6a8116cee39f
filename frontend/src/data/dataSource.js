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
    this.relationsCache = new Map(); // run -> {sig, promise}
    this.similarities = new LruCache({ maxEntries: 64, maxBytes: 64 * 1024 * 1024, sizeOf: snapshotBytes });
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

  /** The run's relations (./relations); re-fetched when `sig` (its logged steps) changes. */
  relations(run, sig = '') {
    const e = this.relationsCache.get(run);
    if (e && e.sig === sig) return e.promise;
    const promise = this.api.relations(run);
    promise.catch(() => this.relationsCache.delete(run));
    this.relationsCache.set(run, { sig, promise });
    return promise;
  }

  /** Head-to-head distances of every layer at a step (./similarity), LRU-cached. */
  similarity(sel, step) {
    const key = DataSource.key(sel, step);
    return this.similarities.fetch(key, () => withRetry(() => this.api.similarity({ ...sel, step })));
  }

  cachedSimilarity(sel, step) {
    return this.similarities.get(DataSource.key(sel, step));
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

  /**
   * A probe's predictions at every step (./predictions; kind 'self' or 'decoder'), re-fetched when
   * `steps` (the logged steps) change, or when its answer lacks the last of them (written just after
   * the snapshot) and is older than 5 s. A 404 (the probe has none) answers {missing: reason}, kept
   * like data; other failures are not kept.
   */
  predictions(sel, steps = []) {
    this.predictionsCache ??= new Map(); // key -> {sig, time, promise, value}
    const key = DataSource.key(sel);
    const sig = steps.join(',');
    const e = this.predictionsCache.get(key);
    if (e && e.sig === sig && !this.predictionsBehind(e, steps)) return e.promise;
    const load = () => this.api.predictions(sel);
    const entry = { sig, time: Date.now(), value: undefined };
    entry.promise = withRetry(load).then(
      (answer) => (entry.value = answer),
      (error) => {
        if (error && error.status === 404) return (entry.value = { ...sel, missing: error.message });
        if (this.predictionsCache.get(key) === entry) this.predictionsCache.delete(key);
        throw error;
      },
    );
    this.predictionsCache.set(key, entry);
    return entry.promise;
  }

  /** The predictions answer of `sel` for exactly these `steps`, when loaded (else undefined). */
  cachedPredictions(sel, steps = []) {
    const e = this.predictionsCache?.get(DataSource.key(sel));
    return e && e.sig === steps.join(',') && !this.predictionsBehind(e, steps) ? e.value : undefined;
  }

  predictionsBehind(e, steps) {
    const last = steps[steps.length - 1];
    const v = e.value;
    return !!v && !v.missing && last !== undefined && !v.steps.includes(last) && Date.now() - e.time > 5000;
  }

  /** One head's query and key vectors at a step (./neurons), LRU-cached (an export holds none: 404). */
  neurons(sel, step, layer, head) {
    this.neuronCache ??= new LruCache({ maxEntries: 64, maxBytes: 64 * 1024 * 1024, sizeOf: snapshotBytes });
    const key = JSON.stringify([DataSource.key(sel, step, layer), head]);
    return this.neuronCache.fetch(key, () => withRetry(() => this.api.neurons({ ...sel, step, layer, head })));
  }

  /** Weight against contribution of every captured head over steps (./contributions), refetched when
   * the neuron steps change (an export holds none). */
  contributions(sel, neuronSteps) {
    this.contributionCache ??= new Map();
    const key = DataSource.key(sel);
    const sig = neuronSteps.join(',');
    const e = this.contributionCache.get(key);
    if (e && e.sig === sig) return e.promise;
    const promise = withRetry(() => this.api.contributions(sel));
    promise.catch(() => this.contributionCache.delete(key));
    this.contributionCache.set(key, { sig, promise });
    return promise;
  }

  cachedNeurons(sel, step, layer, head) {
    return this.neuronCache?.get(JSON.stringify([DataSource.key(sel, step, layer), head]));
  }
}
