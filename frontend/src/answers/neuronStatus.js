// Whether the neuron view has something to load for the selection, and what to say when not, pure:
// from the index's `neuron_steps` and `neuron_heads` (docs/http-api.md, "index"), and the 404 message
// of ./neurons for a head that was not captured (it lists the captured heads; older indexes only).

import { neighbourSteps } from './stepNav.js';

export const HOW_TO =
  'AttentionRecorder and the Lightning callback take the same option. neurons=True keeps every head ' +
  '(up to 256); on a larger model name the heads, and keep them every k-th snapshot.';

/** "probe “p” (kind)" of every probe/kind of the run entry that has neuron records. */
export function kindsWithNeurons(runEntry) {
  const out = [];
  for (const p of runEntry?.probes || [])
    for (const k of p.kinds || []) if (k.neuron_steps?.length) out.push({ probe: p.name, kind: k.kind });
  return out;
}

/**
 * What the view can show for run entry / kind entry / step:
 *   {state: 'run-none'}                       the run has no neuron records at all (how to turn them on)
 *   {state: 'kind-none', others: [{probe, kind}]}  this probe/kind has none, others of the run have
 *   {state: 'step-none', before, after}       this step has none; the nearest steps that have one
 *   {state: 'not-captured', heads}             the head (layer, head) is not among the captured ones
 *   {state: 'load'}                           ask ./neurons
 */
export function neuronAvailability(runEntry, kindEntry, step, layer, head) {
  const steps = kindEntry?.neuron_steps || [];
  if (!steps.length) {
    const others = kindsWithNeurons(runEntry);
    return others.length ? { state: 'kind-none', others } : { state: 'run-none' };
  }
  const heads = kindEntry.neuron_heads || [];
  if (heads.length && layer !== undefined && !heads.some(([l, h]) => l === layer && h === head))
    return { state: 'not-captured', heads };
  if (!steps.includes(step)) return { state: 'step-none', ...neighbourSteps(steps, step) };
  return { state: 'load' };
}

/** The captured heads [[layer, head]] a 404 message lists ("... captured heads: L0H1, L1H3"), or null. */
export function capturedHeadsOf(message) {
  const m = /captured heads:\s*(.*)$/s.exec(String(message || ''));
  if (!m) return null;
  const heads = [...m[1].matchAll(/L(\d+)H(\d+)/g)].map((x) => [Number(x[1]), Number(x[2])]);
  return heads.length ? heads : null;
}

/** Whether a failed ./neurons request says the head was not captured (a 404 listing the captured heads). */
export function notCaptured(error) {
  return !!error && error.status === 404 && capturedHeadsOf(error.message) !== null;
}

/** The query token chosen for this probe/kind (the state's `neuronQuery`), or null for the default. */
export function pickedQuery(pick, probe, kind, count) {
  if (!pick || pick.probe !== probe || pick.kind !== kind) return null;
  return Number.isInteger(pick.index) && pick.index >= 0 && pick.index < count ? pick.index : null;
}
