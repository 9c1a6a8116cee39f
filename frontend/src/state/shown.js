// What a view shows, as a function of two explicit inputs: what it wants (the snapshot of exactly
// this run/probe/kind/step, and for some views this layer and diff reference step) and the last
// request it settled (data or an error, each tagged with the want it was made for).
//
// A view never shows data that was loaded for another want, with one exception meant for smooth
// scrubbing: while the snapshot of a new step is still loading, the previous step's data of the
// same series may stay on screen, marked as stale. Once the request for the new step fails, its
// error replaces it.

import { ContainerError } from '../data/container.js';

/**
 * The fields that identify the snapshot a view shows. `layer`/`head`/`ref` are null when not used
 * (`head`: the one head a view loads, or the head view's heads as "0,2"); `vs` is the run of the
 * reference when it is another run (B − A, and the pair a compare view loads); `pool` the block of
 * a pooled snapshot (the grid's thumbnails, a long map's overview), null for the stored weights.
 */
const FIELDS = ['run', 'probe', 'kind', 'step', 'layer', 'head', 'ref', 'vs', 'pool'];

export function want(sel) {
  if (!sel) return null;
  const w = {};
  for (const f of FIELDS) if (f !== 'vs' || (sel.vs ?? null) !== null) w[f] = sel[f] ?? null; // no `vs`: same run
  if (w.run === null || w.probe === null || w.kind === null || w.step === null) return null;
  return w;
}

export function wantKey(w) {
  return w ? JSON.stringify(FIELDS.map((f) => w[f] ?? null)) : '';
}

export function sameWant(a, b) {
  return !!a && !!b && wantKey(a) === wantKey(b);
}

/** Same run/probe/kind/layer/ref: only the step and the resolution (`pool`) may differ. */
export function sameSeries(a, b) {
  return !!a && !!b && FIELDS.every((f) => f === 'step' || f === 'pool' || (a[f] ?? null) === (b[f] ?? null));
}

/**
 * What to show for `wanted`, given `last` = {want, data} | {want, error} | null and whether a
 * request for `wanted` is in flight.
 *   {state: 'none'}                   nothing selected (no step, no probe)
 *   {state: 'data', data}             the data of exactly this want
 *   {state: 'error', error}           the request for exactly this want failed
 *   {state: 'stale', data, step}      loading this want; meanwhile the same series at another step
 *   {state: 'loading'}                loading this want; nothing that may be shown meanwhile
 */
export function shown(wanted, last, { pending = false, keepStale = true } = {}) {
  if (!wanted) return { state: 'none' };
  if (last && sameWant(last.want, wanted)) {
    if (last.error === undefined) return { state: 'data', data: last.data };
    return { state: 'error', error: last.error };
  }
  if (pending && keepStale && last && last.error === undefined && sameSeries(last.want, wanted)) {
    return { state: 'stale', data: last.data, step: last.want.step };
  }
  return { state: 'loading' };
}

/**
 * Which of two views of one map to show (each a `shown` result): the finer one (`fine`: the exact
 * weights of a zoomed window) before the coarser (`coarse`: its block means), data of the wanted
 * step before the previous step's (stale), an error only when neither has anything to paint.
 * -> {view, fine: whether it is the finer one's}
 */
export function finerShown(fine, coarse) {
  for (const state of ['data', 'stale', 'error'])
    for (const [view, isFine] of [
      [fine, true],
      [coarse, false],
    ])
      if (view.state === state) return { view, fine: isFine };
  return coarse.state === 'none' ? { view: fine, fine: true } : { view: coarse, fine: false };
}

function describe(w) {
  const vs = w.vs !== null && w.vs !== undefined;
  const ref = vs
    ? ` (with run ${w.vs} at step ${w.ref})`
    : w.ref !== null && w.ref !== undefined && w.ref !== w.step
      ? ` (diff vs step ${w.ref})`
      : '';
  const head = w.head !== null && w.head !== undefined ? ` head ${w.head}` : '';
  const layer = w.layer !== null && w.layer !== undefined ? `, layer ${w.layer}${head}` : '';
  return `step ${w.step}${ref}${layer} of probe \u201c${w.probe}\u201d (${w.kind}) in run ${w.run}`;
}

/**
 * The text of a failed load: what failed, the reason (the server's {"error"} message when it sent
 * one) and what the user can do about it.
 */
export function failureText(w, error) {
  const status = error && typeof error.status === 'number' ? error.status : null;
  const reason = String((error && error.message) || error || 'unknown error');
  let hint;
  if (status !== null && status < 500) {
    hint = 'Pick another step (\u2190/\u2192, the timeline or the filmstrip), probe or run.';
  } else if (error instanceof ContainerError) {
    hint = 'The answer could not be decoded. Pick another step, probe or run; reload the page if it persists.';
  } else {
    hint =
      'The request was retried once. Check that TensorBoard is still running, then pick this step again or another one.';
  }
  return {
    title: `Could not load ${describe(w)}`,
    reason: status !== null ? `${reason} (HTTP ${status})` : reason,
    hint,
  };
}

/**
 * The last settled request of one view (or one panel/frame of it), and the one in flight.
 * `request(w, load)` runs `load()` unless the answer is already known; `settle` records a
 * synchronous answer (a cached snapshot). Answers of superseded requests are dropped.
 */
export class SnapshotSlot {
  constructor() {
    this.last = null;
    this.pending = null; // the want in flight
    this.token = 0;
  }

  settle(w, data) {
    this.token++;
    this.pending = null;
    this.last = { want: w, data };
  }

  fail(w, error) {
    this.token++;
    this.pending = null;
    this.last = { want: w, error };
  }

  /** -> Promise resolving to true when this answer is the slot's latest, false when superseded. */
  request(w, load) {
    const token = ++this.token;
    this.pending = w;
    return new Promise((resolve) => resolve(load())) // started now: the request goes out first
      .then(
        (data) => ({ data }),
        (error) => ({ error: error ?? new Error('unknown error') }),
      )
      .then((r) => {
        if (token !== this.token) return false;
        this.pending = null;
        this.last = 'error' in r ? { want: w, error: r.error } : { want: w, data: r.data };
        return true;
      });
  }

  /** When the last answer is the data of exactly `w`, keep it (a request in flight is dropped). */
  reuse(w) {
    if (!this.last || this.last.error !== undefined || !sameWant(this.last.want, w)) return false;
    this.token++;
    this.pending = null;
    return true;
  }

  /** Drop everything (the view's series is gone). */
  reset() {
    this.token++;
    this.pending = null;
    this.last = null;
  }

  shown(w, opts = {}) {
    return shown(w, this.last, { ...opts, pending: !!this.pending && sameWant(this.pending, w) });
  }
}
