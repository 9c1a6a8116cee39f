// The selection rules, as pure functions of the state: what the index offers for the chosen
// run/probe/kind, and what happens to layer, head(s), step, compare run, diff reference, stats
// and scalars when the run, probe, kind or the index change (nextSelection).

import { nearestStep, offsetStep } from '../answers/stepNav.js';
import { findRun, findProbe, findKind, resolveSelection, comparableRuns } from '../answers/model.js';

/** The index entry of `run` (default: the selected run), of its selected probe, of the kind. */
export function runInfo(state, run = state.run) {
  return findRun(state.index, run);
}

export function probeInfo(state, run = state.run) {
  return findProbe(runInfo(state, run), state.probe);
}

export function kindInfo(state, run = state.run) {
  return findKind(probeInfo(state, run), state.kind);
}

/** Logged snapshot steps of the selected probe/kind in `run`. */
export function stepsOf(state, run = state.run) {
  return kindInfo(state, run)?.steps || [];
}

/** {run, probe, kind} of the selected series in `run` (what the data source keys on). */
export function seriesOf(state, run = state.run) {
  return { run, probe: state.probe, kind: state.kind };
}

/** The reference step of the diff in `run`: the chosen one snapped to a logged step, or the first. */
export function diffRefStep(state, run = state.run) {
  const steps = stepsOf(state, run);
  if (!steps.length) return null;
  const ref = state.diffRef;
  return ref === null || ref === undefined ? steps[0] : nearestStep(steps, ref);
}

const STRUCTURAL = ['index', 'run', 'probe', 'kind'];

/**
 * The state after `patch`, kept consistent with the index. When the index, run, probe or kind
 * change: run/probe/kind fall back to the first existing ones; layer and head clamp to the
 * kind's size and the head-view heads drop those beyond it; the step snaps to the nearest logged
 * step (the last one when there was none), and follows a live run (stays at the last step when
 * a new index adds steps) unless playing or the patch sets the step; a compare run that lacks the
 * probe/kind is dropped; stats, the diff reference and the large map's zoom window reset with the
 * series, scalars and relations with the run, compare stats with the compare series; B \u2212 A (`compareDiff`) ends when no run is compared.
 */
export function nextSelection(previous, patch) {
  const s = previous;
  const next = { ...s, ...patch };
  if (STRUCTURAL.some((k) => k in patch)) {
    Object.assign(next, resolveSelection(next.index, next));
    const prevSteps = s.index ? stepsOf(s) : [];
    const kind = kindInfo(next);
    const steps = kind?.steps || [];
    if (kind) {
      next.layer = Math.min(next.layer, kind.layers - 1);
      next.head = Math.min(next.head, kind.heads - 1);
      next.heads = (next.heads || []).filter((h) => h < kind.heads);
      if (!next.heads.length) next.heads = [next.head];
    }
    const wasAtEnd = s.step !== null && prevSteps.length && s.step === prevSteps[prevSteps.length - 1];
    if (!steps.length) next.step = null;
    else if (next.step === null || next.step === undefined) next.step = steps[steps.length - 1];
    else if (wasAtEnd && !next.playing && 'index' in patch && !('step' in patch))
      next.step = steps[steps.length - 1]; // follow a live run
    else next.step = nearestStep(steps, next.step);
    if (next.compareRun && !comparableRuns(next.index, next.run, next.probe, next.kind).includes(next.compareRun))
      next.compareRun = null;
    if (next.run !== s.run || next.probe !== s.probe || next.kind !== s.kind) {
      next.stats = null;
      next.diffRef = null;
      next.mapWindow = null; // another map's tokens
    }
    if (next.run !== s.run) next.scalars = null;
    if (next.run !== s.run) next.relations = null;
    if (next.compareRun !== s.compareRun || next.probe !== s.probe || next.kind !== s.kind) next.compareStats = null;
  }
  if ('compareRun' in patch && patch.compareRun !== s.compareRun) next.compareStats = null;
  if (!next.compareRun) next.compareDiff = false; // B \u2212 A ends with the comparison
  return next;
}

// ---- the patches of the user's actions (null: nothing to do) ---------------------------------

/** Choose a run; the compare run is dropped when it is the run chosen. */
export function runPatch(state, run) {
  return { run, compareRun: state.compareRun === run ? null : state.compareRun };
}

/** Go to `value`, snapped to the nearest logged step unless `snap` is false. */
export function stepPatch(state, value, { snap = true } = {}) {
  const steps = stepsOf(state);
  if (!steps.length) return null;
  return { step: snap ? nearestStep(steps, value) : value };
}

/** Go `delta` logged steps away (clamped to the ends). */
export function stepByPatch(state, delta) {
  const steps = stepsOf(state);
  if (!steps.length) return null;
  return { step: offsetStep(steps, state.step ?? steps[0], delta) };
}

const toggled = (heads, head) =>
  heads.includes(head) ? heads.filter((h) => h !== head) : [...heads, head].sort((a, b) => a - b);

/** Click on a grid cell: that head alone, or with `add` (shift-click) toggled in the same layer. */
export function headPatch(state, layer, head, { add = false } = {}) {
  if (add && layer === state.layer) {
    const heads = toggled(state.heads, head);
    return { heads: heads.length ? heads : [head], head: heads.includes(head) ? head : (heads[0] ?? head) };
  }
  return { layer, head, heads: [head] };
}

/** A head button of the head view: toggled in the shown heads (never none). */
export function toggleHeadPatch(state, head) {
  let heads = toggled(state.heads, head);
  if (!heads.length) heads = [head];
  return { heads, head: heads.includes(state.head) ? state.head : heads[0] };
}

/**
 * The head typed in the grid's "go to" box: "L37 H12", "37 12", "37.12", "l37h12" (layer first),
 * or a layer alone ("L37": its head kept); null when it names no head of the kind.
 */
export function headRefPatch(state, text) {
  const k = kindInfo(state);
  const m = String(text)
    .trim()
    .match(/^l?\s*(\d+)(?:\s*[\s.,:/h]\s*h?\s*(\d+))?$/i);
  if (!k || !m) return null;
  const layer = Number(m[1]);
  const head = m[2] === undefined ? state.head : Number(m[2]);
  if (layer >= k.layers || head >= k.heads) return null;
  return { layer, head, heads: [head] };
}
