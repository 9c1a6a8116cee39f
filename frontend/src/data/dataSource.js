// Loads and caches what the views need. Snapshots are fetched on demand and kept in a
// bounded LRU cache; concurrent requests for the same snapshot share one fetch. A snapshot pooled
// for thumbnails (the means of each map's B x B blocks) is another entry than the exact one; so is
// one head of a snapshot (the views of one head never load a whole layer of a long probe). The answers about a
// whole series or run (stats, relations, scalars, predictions, contributions) are KeyedPromises,
// asked again when the logged steps change (scalars: when too old).

import { api as defaultApi } from './api.js';
import { LruCache } from './lruCache.js';
import { KeyedPromises } from './keyedPromises.js';
import { headOf } from './slices.js';
import { summaryOf, summaryMeansOf, listsSummaries } from './summaryAnswer.js';

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

/** A list of logged steps as a KeyedPromises signature: an answer is re-asked when it changes. */
const stepsSig = (steps) => (steps ? steps.join(',') : '');

/**
 * A predictions answer that lacks the last of `steps` (written just after the snapshot) and is older
 * than 5 s: stale (an answer {missing} never is).
 */
const behindLastStep = (steps) => (e) => {
  const last = steps[steps.length - 1];
  const v = e.value;
  return !!v && !v.missing && last !== undefined && !v.steps.includes(last) && Date.now() - e.time > 5000;
};

export class DataSource {
  constructor({ api = defaultApi, maxSnapshots = 48, maxBytes = 384 * 1024 * 1024 } = {}) {
    this.api = api;
    this.snapshots = new LruCache({ maxEntries: maxSnapshots, maxBytes, sizeOf: snapshotBytes });
    // one head at a time (the head view, the large map and its filmstrip): 16 exact heads of 4k tokens
    this.heads = new LruCache({ maxEntries: 160, maxBytes: 256 * 1024 * 1024, sizeOf: snapshotBytes });
    this.statsCache = new KeyedPromises(); // by series key
    this.scalarsCache = new KeyedPromises(); // by run
    this.relationsCache = new KeyedPromises(); // by run
    this.predictionsCache = new KeyedPromises(); // by series key
    this.contributionsCache = new KeyedPromises(); // by series key
    // a summarized head (answers/summaries.js): ~2 KB of block means + 24 bytes a query row; and a
    // step's block means of all its summarized heads (summaryMeans: ~2 KB a head)
    this.summaries = new LruCache({ maxEntries: 512, maxBytes: 64 * 1024 * 1024, sizeOf: (s) => s?.byteLength || 0 });
    this.similarities = new LruCache({ maxEntries: 64, maxBytes: 64 * 1024 * 1024, sizeOf: snapshotBytes });
  }

  static key({ run, probe, kind }, step, layer, pool) {
    return JSON.stringify([run, probe, kind, step, layer ?? null, pool ?? null]);
  }

  /**
   * Every layer of a snapshot: the stored weights, or with `pool` B the means of each map's B x B
   * blocks (./snapshot?pool=B: what a grid of small cells paints, a fraction of the bytes).
   */
  snapshot(sel, step, pool = null) {
    const key = DataSource.key(sel, step, null, pool);
    return this.snapshots.fetch(key, () => withRetry(() => this.api.snapshot({ ...sel, step, pool })));
  }

  cachedSnapshot(sel, step, pool = null) {
    return this.snapshots.get(DataSource.key(sel, step, null, pool));
  }

  /**
   * One head of a snapshot (./snapshot?layer=L&head=H[&pool=B]): its stored weights, or with `pool`
   * B its B x B block means (a long probe's head is 16 MB at 4k tokens: the large map asks for the
   * overview first). An exact head is cut from the exact full snapshot when that one is cached or
   * loading (no request, no copy).
   */
  headSnapshot(sel, step, layer, head, pool = null) {
    const cached = this.cachedHeadSnapshot(sel, step, layer, head, pool);
    if (cached) return Promise.resolve(cached);
    const loading = pool === null ? this.snapshots.inflight.get(DataSource.key(sel, step)) : null;
    if (loading) return loading.then((full) => headOf(full, layer, head));
    const key = JSON.stringify([DataSource.key(sel, step, layer, pool), head]);
    return this.heads.fetch(key, () => withRetry(() => this.api.snapshot({ ...sel, step, layer, head, pool })));
  }

  cachedHeadSnapshot(sel, step, layer, head, pool = null) {
    const hit = this.heads.get(JSON.stringify([DataSource.key(sel, step, layer, pool), head]));
    if (hit || pool !== null) return hit;
    const full = this.cachedSnapshot(sel, step);
    return full && headOf(full, layer, head);
  }

  /**
   * The summary of one head a storage budget kept without its map (./snapshot?layer&head&part=summary),
   * read by summaryAnswer.js: its block means and each query row's top-k keys.
   */
  headSummary(sel, step, layer, head) {
    const key = JSON.stringify([DataSource.key(sel, step, layer), head]);
    const load = async () => summaryOf(await this.api.snapshot({ ...sel, step, layer, head, part: 'summary' }));
    return this.summaries.fetch(key, () => withRetry(load));
  }

  cachedHeadSummary(sel, step, layer, head) {
    return this.summaries.get(JSON.stringify([DataSource.key(sel, step, layer), head]));
  }

  /**
   * The block means of every head that snapshot answer `snap` of `sel` keeps a summary of
   * (./snapshot?part=summary_means: one answer a step, whatever the number of heads; summaryAnswer.js),
   * or null when its header lists none.
   */
  summaryMeans(sel, snap) {
    if (!listsSummaries(snap)) return Promise.resolve(null);
    const step = snap.header.step;
    const load = async () => summaryMeansOf(await this.api.snapshot({ ...sel, step, part: 'summary_means' }));
    return this.summaries.fetch(JSON.stringify(['means', DataSource.key(sel, step)]), () => withRetry(load));
  }

  /** summaryMeans of `snap` when at hand: the answer, null when it lists no summary, undefined when not loaded. */
  cachedSummaryMeans(sel, snap) {
    if (!listsSummaries(snap)) return null;
    return this.summaries.get(JSON.stringify(['means', DataSource.key(sel, snap.header.step)]));
  }

  /**
   * Start loading snapshots (pooled by `pool`) and their summaries' block means without waiting
   * (errors are ignored: they'll be retried).
   */
  prefetch(sel, steps, pool = null) {
    for (const s of steps)
      this.snapshot(sel, s, pool)
        .then((snap) => this.summaryMeans(sel, snap))
        .catch(() => {});
  }

  /** Stats of a kind; re-fetched when its list of steps changes (live runs). */
  statsFor(sel, steps) {
    return this.statsCache.fetch(DataSource.key(sel), stepsSig(steps), () => this.api.stats(sel));
  }

  /** The run's relations (./relations); re-fetched when `sig` (its logged steps) changes. */
  relations(run, sig = '') {
    return this.relationsCache.fetch(run, sig, () => this.api.relations(run));
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
    const tooOld = (e) => Date.now() - e.time >= maxAgeMs;
    return this.scalarsCache.fetch(run, '', () => this.api.scalars(run), tooOld);
  }

  /**
   * A probe's predictions at every step (./predictions; kind 'self' or 'decoder'), re-fetched when
   * `steps` (the logged steps) change, or when its answer lacks the last of them (written just after
   * the snapshot) and is older than 5 s. A 404 (the probe has none) answers {missing: reason}, kept
   * like data; other failures are not kept.
   */
  predictions(sel, steps = []) {
    const load = () =>
      withRetry(() => this.api.predictions(sel)).catch((error) => {
        if (error && error.status === 404) return { ...sel, missing: error.message };
        throw error;
      });
    return this.predictionsCache.fetch(DataSource.key(sel), stepsSig(steps), load, behindLastStep(steps));
  }

  /** The predictions answer of `sel` for exactly these `steps`, when loaded (else undefined). */
  cachedPredictions(sel, steps = []) {
    return this.predictionsCache.entry(DataSource.key(sel), stepsSig(steps), behindLastStep(steps))?.value;
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
    const load = () => withRetry(() => this.api.contributions(sel));
    return this.contributionsCache.fetch(DataSource.key(sel), stepsSig(neuronSteps), load);
  }

  cachedNeurons(sel, step, layer, head) {
    return this.neuronCache?.get(JSON.stringify([DataSource.key(sel, step, layer), head]));
  }
}
