// Answers kept by key, each for the signature it was asked with (e.g. the logged steps it covers):
// asking with another signature, or when the caller's `isStale` rejects the kept entry, loads again,
// so a live run's new steps refetch while a finished run is asked once. Concurrent asks share one
// load; a failed load is forgotten (the next ask retries), a fulfilled one is kept as `value` too.

const neverStale = () => false;

export class KeyedPromises {
  constructor() {
    this.entries = new Map(); // key -> {sig, time (ms, when asked), promise, value (once fulfilled)}
  }

  /** The kept entry of `key` when it was asked with `sig` and is not stale, else undefined. */
  entry(key, sig, isStale = neverStale) {
    const e = this.entries.get(key);
    return e && e.sig === sig && !isStale(e) ? e : undefined;
  }

  /** The kept promise of `key` for `sig`, else `load()`'s, kept in its place. */
  fetch(key, sig, load, isStale = neverStale) {
    const kept = this.entry(key, sig, isStale);
    if (kept) return kept.promise;
    const e = { sig, time: Date.now(), value: undefined };
    e.promise = load().then(
      (value) => (e.value = value),
      (error) => {
        if (this.entries.get(key) === e) this.entries.delete(key); // not a newer entry of the key
        throw error;
      },
    );
    this.entries.set(key, e);
    return e.promise;
  }
}
