import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  nextSelection,
  stepsOf,
  diffRefStep,
  runPatch,
  stepPatch,
  stepByPatch,
  headPatch,
  toggleHeadPatch,
  headRefPatch,
} from '../src/state/selection.js';

const kind = (k, layers, heads, steps) => ({ kind: k, layers, heads, query: 'tokens', key: 'tokens', steps });
const probe = (name, kinds) => ({ name, tokens: ['a', 'b'], kinds });
const index = (steps = [0, 50, 100]) => ({
  runs: [
    { run: 'a', probes: [probe('p', [kind('self', 3, 4, steps)]), probe('q', [kind('self', 2, 2, [5, 15])])] },
    { run: 'b', probes: [probe('p', [kind('self', 3, 4, [0, 100])])] },
    { run: 'c', probes: [probe('q', [kind('self', 2, 2, [5])])] },
  ],
});

const BASE = {
  index: null,
  run: null,
  probe: null,
  kind: null,
  compareRun: null,
  step: null,
  playing: false,
  layer: 0,
  head: 0,
  heads: [0],
  diffRef: null,
  stats: null,
  compareStats: null,
  scalars: null,
};

const opened = (patch = {}) => nextSelection(nextSelection(BASE, { index: index() }), patch);

test('a first index selects the first run, probe and kind at the last step', () => {
  const s = nextSelection(BASE, { index: index() });
  assert.deepEqual([s.run, s.probe, s.kind, s.step], ['a', 'p', 'self', 100]);
  assert.deepEqual(stepsOf(s), [0, 50, 100]);
  assert.deepEqual(stepsOf(s, 'b'), [0, 100]);
});

test('an index without runs or steps leaves no step', () => {
  assert.equal(nextSelection(BASE, { index: { runs: [] } }).step, null);
  assert.equal(nextSelection(BASE, { index: index([]) }).step, null);
});

test('a run, probe or kind that is gone falls back to the first one', () => {
  const s = nextSelection(opened(), { run: 'nope' });
  assert.equal(s.run, 'a');
  const t = nextSelection(opened(), { probe: 'nope' });
  assert.equal(t.probe, 'p');
});

test('the step snaps to the nearest logged step of the new series', () => {
  const s = nextSelection(opened({ step: 50 }), { probe: 'q' });
  assert.equal(s.step, 15);
  assert.equal(nextSelection(opened({ step: 40 }), { index: index([0, 30, 60]) }).step, 30);
});

test('the last step follows a live run, unless playing or the patch sets the step', () => {
  const atEnd = opened();
  assert.equal(nextSelection(atEnd, { index: index([0, 50, 100, 150]) }).step, 150);
  const playing = { ...atEnd, playing: true };
  assert.equal(nextSelection(playing, { index: index([0, 50, 100, 150]) }).step, 100);
  assert.equal(nextSelection(atEnd, { index: index([0, 50, 100, 150]), step: 50 }).step, 50);
  const inside = nextSelection(atEnd, { step: 50 });
  assert.equal(nextSelection(inside, { index: index([0, 50, 100, 150]) }).step, 50, 'not at the end: stays');
  assert.equal(nextSelection(atEnd, { run: 'b' }).step, 100, 'a new run is not a live update');
});

test('layer and head clamp to the kind; head-view heads beyond it are dropped', () => {
  const s = opened({ layer: 2, head: 3, heads: [1, 3] });
  const t = nextSelection(s, { probe: 'q' });
  assert.deepEqual([t.layer, t.head, t.heads], [1, 1, [1]]);
  const u = nextSelection(opened({ layer: 2, head: 3, heads: [3] }), { probe: 'q' });
  assert.deepEqual(u.heads, [1], 'none left: the (clamped) selected head');
});

test('a compare run that lacks the probe or kind is dropped', () => {
  const s = opened({ compareRun: 'b' });
  assert.equal(s.compareRun, 'b');
  assert.equal(nextSelection(s, { probe: 'q' }).compareRun, null);
  assert.equal(nextSelection(opened({ compareRun: 'c' }), { index: index() }).compareRun, null);
});

test('stats and the diff reference reset with the series, scalars with the run', () => {
  const s = { ...opened(), stats: 'S', compareStats: 'C', scalars: 'X', diffRef: 50 };
  const sameSeries = nextSelection(s, { index: index([0, 50, 100]) });
  assert.deepEqual([sameSeries.stats, sameSeries.diffRef, sameSeries.scalars], ['S', 50, 'X']);
  const probeChanged = nextSelection(s, { probe: 'q' });
  assert.deepEqual([probeChanged.stats, probeChanged.diffRef, probeChanged.scalars], [null, null, 'X']);
  assert.equal(probeChanged.compareStats, null);
  const runChanged = nextSelection(s, { run: 'b' });
  assert.deepEqual([runChanged.stats, runChanged.scalars], [null, null]);
  assert.equal(runChanged.compareStats, 'C', 'the compare series did not change');
});

test('compare stats reset when the compare run changes, and only then', () => {
  const s = { ...opened({ compareRun: 'b' }), compareStats: 'C' };
  assert.equal(nextSelection(s, { compareRun: null }).compareStats, null);
  assert.equal(nextSelection(s, { compareRun: 'b' }).compareStats, 'C');
  assert.equal(nextSelection(s, { badgeStat: 'drift' }).compareStats, 'C');
});

test('B \u2212 A stays on while a run is compared and ends with the comparison', () => {
  const s = { ...opened({ compareRun: 'b' }), compareDiff: true };
  assert.equal(nextSelection(s, { step: 0 }).compareDiff, true);
  assert.equal(nextSelection(s, { compareRun: null }).compareDiff, false);
  assert.equal(nextSelection(s, { probe: 'q' }).compareDiff, false, 'the compare run lacks the probe: dropped');
});

test('a patch that touches no structural key is applied as it is', () => {
  const s = opened();
  assert.equal(nextSelection(s, { step: 37 }).step, 37, 'the caller snaps (stepPatch)');
  assert.equal(nextSelection(s, { layer: 9 }).layer, 9);
});

test('diff reference: the chosen step snapped, else the first', () => {
  const s = opened();
  assert.equal(diffRefStep(s), 0);
  assert.equal(diffRefStep({ ...s, diffRef: 60 }), 50);
  assert.equal(diffRefStep({ ...s, diffRef: 60 }, 'b'), 100);
  assert.equal(diffRefStep({ ...s, probe: 'none' }), null);
});

test('action patches: run, step, step by, heads', () => {
  const s = opened({ compareRun: 'b' });
  assert.deepEqual(runPatch(s, 'b'), { run: 'b', compareRun: null });
  assert.deepEqual(runPatch(s, 'a'), { run: 'a', compareRun: 'b' });
  assert.deepEqual(stepPatch(s, 70), { step: 50 });
  assert.deepEqual(stepPatch(s, 70, { snap: false }), { step: 70 });
  assert.deepEqual(stepPatch(s, Infinity), { step: 100 });
  assert.equal(stepPatch({ ...s, probe: 'none' }, 5), null);
  assert.deepEqual(stepByPatch(s, -1), { step: 50 });
  assert.deepEqual(stepByPatch(s, 5), { step: 100 });
  assert.deepEqual(headPatch(s, 2, 3), { layer: 2, head: 3, heads: [3] });
  const two = { ...s, layer: 1, head: 0, heads: [0] };
  assert.deepEqual(headPatch(two, 1, 2, { add: true }), { heads: [0, 2], head: 2 });
  assert.deepEqual(headPatch({ ...two, heads: [0, 2] }, 1, 2, { add: true }), { heads: [0], head: 0 });
  assert.deepEqual(headPatch(two, 1, 0, { add: true }), { heads: [0], head: 0 }, 'never none');
  assert.deepEqual(headPatch(two, 2, 1, { add: true }), { layer: 2, head: 1, heads: [1] }, 'other layer');
  assert.deepEqual(toggleHeadPatch({ ...two, heads: [0, 2] }, 0), { heads: [2], head: 2 });
  assert.deepEqual(toggleHeadPatch(two, 3), { heads: [0, 3], head: 0 });
  assert.deepEqual(toggleHeadPatch(two, 0), { heads: [0], head: 0 });
});

test('go to a head by name: "L37 H12", "37 12", "37.12", a layer alone; out of range is none', () => {
  const s = { ...opened(), layer: 0, head: 1 };
  const k = s.index.runs[0].probes[0].kinds[0];
  const last = [k.layers - 1, k.heads - 1];
  for (const text of [
    `L${last[0]} H${last[1]}`,
    `${last[0]} ${last[1]}`,
    `${last[0]}.${last[1]}`,
    `l${last[0]}h${last[1]}`,
  ])
    assert.deepEqual(headRefPatch(s, text), { layer: last[0], head: last[1], heads: [last[1]] }, text);
  assert.deepEqual(headRefPatch(s, `L${last[0]}`), { layer: last[0], head: 1, heads: [1] });
  assert.equal(headRefPatch(s, `L${k.layers} H0`), null);
  assert.equal(headRefPatch(s, 'L0 H99'), null);
  assert.equal(headRefPatch(s, 'induction'), null);
});
