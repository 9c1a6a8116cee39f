// The neuron view's want and slot: shown.js's rules (data for exactly this want, or the error for
// it, never another selection's data) over a want that also names the head, since one ./neurons
// answer is one head. Nothing stale is shown: another step's vectors would explain another map.

import { want, wantKey, SnapshotSlot, failureText } from './shown.js';

/** {run, probe, kind, step, layer, head} of the selection, or null when nothing is selected. */
export function neuronWant(sel, step, layer, head) {
  const w = want({ ...sel, step, layer });
  return w && Number.isInteger(head) ? { ...w, head } : null;
}

export function neuronKey(w) {
  return w ? `${wantKey(w)}|${w.head}` : '';
}

/** SnapshotSlot whose answers match a want only with the same head. */
export class NeuronSlot extends SnapshotSlot {
  reuse(w) {
    if (!this.last || this.last.error !== undefined || neuronKey(this.last.want) !== neuronKey(w)) return false;
    this.token++;
    this.pending = null;
    return true;
  }

  /** {state: 'none'} | {state: 'data', data} | {state: 'error', error} | {state: 'loading'}. */
  shown(w) {
    if (!w) return { state: 'none' };
    const last = this.last;
    if (last && neuronKey(last.want) === neuronKey(w)) {
      return last.error === undefined ? { state: 'data', data: last.data } : { state: 'error', error: last.error };
    }
    return { state: 'loading' };
  }
}

/** failureText for a neuron request: the head and step named in the title. */
export function neuronFailureText(w, error) {
  const f = failureText(w, error);
  const where = `the neuron view of L${w.layer} H${w.head} at step ${w.step} of probe \u201c${w.probe}\u201d (${w.kind}) in run ${w.run}`;
  return { ...f, title: `Could not load ${where}` };
}
