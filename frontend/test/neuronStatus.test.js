import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  neuronAvailability,
  capturedHeadsOf,
  notCaptured,
  pickedQuery,
  kindsWithNeurons,
} from '../src/answers/neuronStatus.js';
import { NeuronSlot, neuronWant, neuronKey, neuronFailureText } from '../src/state/neuronSlot.js';
import { ApiError } from '../src/data/api.js';

const kind = (k, neuron_steps) => ({ kind: k, steps: [0, 1, 2, 3, 4], neuron_steps });
const run = (probes) => ({ run: 'r', probes });

test('what the view can show: load, step without record, kind or run without any', () => {
  const self = kind('self', [0, 2, 4]);
  const r = run([{ name: 'p', kinds: [self] }]);
  assert.deepEqual(neuronAvailability(r, self, 2), { state: 'load' });
  assert.deepEqual(neuronAvailability(r, self, 1), { state: 'step-none', before: 0, after: 2 });
  const none = kind('self', []);
  assert.deepEqual(neuronAvailability(run([{ name: 'p', kinds: [none] }]), none, 1), { state: 'run-none' });
  const old = { kind: 'self', steps: [0] }; // an index without neuron_steps (older plugin)
  assert.deepEqual(neuronAvailability(run([{ name: 'p', kinds: [old] }]), old, 0), { state: 'run-none' });
  const t5 = run([{ name: 'p', kinds: [kind('encoder', [0]), kind('cross', [])] }]);
  assert.deepEqual(neuronAvailability(t5, t5.probes[0].kinds[1], 0), {
    state: 'kind-none',
    others: [{ probe: 'p', kind: 'encoder' }],
  });
  assert.deepEqual(kindsWithNeurons(null), []);
  // the index names the captured heads: a head not among them needs no request
  const named = {
    ...kind('self', [0, 2]),
    neuron_heads: [
      [0, 1],
      [1, 3],
    ],
  };
  const rn = run([{ name: 'p', kinds: [named] }]);
  assert.deepEqual(neuronAvailability(rn, named, 2, 1, 3), { state: 'load' });
  assert.deepEqual(neuronAvailability(rn, named, 2, 1, 2), {
    state: 'not-captured',
    heads: [
      [0, 1],
      [1, 3],
    ],
  });
  assert.deepEqual(neuronAvailability(rn, named, 1, 0, 1), { state: 'step-none', before: 0, after: 2 });
});

test('the captured heads of a 404 for a head that was not captured', () => {
  const msg = "layer 0 head 0 of probe 'sad' (self) was not captured for the neuron view; captured heads: L0H1, L1H3";
  assert.deepEqual(capturedHeadsOf(msg), [
    [0, 1],
    [1, 3],
  ]);
  assert.ok(notCaptured(new ApiError(404, msg)));
  assert.ok(!notCaptured(new ApiError(404, 'no neuron record at step 1')));
  assert.ok(!notCaptured(new ApiError(500, msg)));
  assert.equal(capturedHeadsOf('captured heads: none'), null);
});

test('the picked query token holds for its probe and kind only', () => {
  const pick = { probe: 'p', kind: 'self', index: 3 };
  assert.equal(pickedQuery(pick, 'p', 'self', 5), 3);
  assert.equal(pickedQuery(pick, 'q', 'self', 5), null);
  assert.equal(pickedQuery(pick, 'p', 'encoder', 5), null);
  assert.equal(pickedQuery(pick, 'p', 'self', 3), null, 'beyond the tokens');
  assert.equal(pickedQuery(null, 'p', 'self', 5), null);
});

test('the neuron slot shows an answer only for the same head; a failure in place', async () => {
  const sel = { run: 'r', probe: 'p', kind: 'self' };
  const w3 = neuronWant(sel, 4, 1, 3);
  const w2 = neuronWant(sel, 4, 1, 2);
  assert.notEqual(neuronKey(w3), neuronKey(w2));
  assert.equal(neuronWant(sel, null, 1, 3), null);
  const slot = new NeuronSlot();
  slot.settle(w3, 'data of L1H3');
  assert.deepEqual(slot.shown(w3), { state: 'data', data: 'data of L1H3' });
  assert.deepEqual(slot.shown(w2), { state: 'loading' }, 'never another head');
  assert.deepEqual(slot.shown({ ...w3, step: 2 }), { state: 'loading' }, 'never another step');
  const err = new ApiError(404, 'nope');
  let reject;
  const done = slot.request(w2, () => new Promise((_, r) => (reject = r)));
  assert.deepEqual(slot.shown(w2), { state: 'loading' });
  reject(err);
  assert.equal(await done, true);
  assert.deepEqual(slot.shown(w2), { state: 'error', error: err });
  assert.deepEqual(slot.shown(w3), { state: 'loading' });
  assert.ok(!slot.reuse(w2), 'a failure is asked again');
  const t = neuronFailureText(w2, err);
  assert.match(t.title, /neuron view of L1 H2 at step 4 of probe \u201cp\u201d \(self\) in run r/);
  assert.equal(t.reason, 'nope (HTTP 404)');
});

test('a superseded answer is dropped', async () => {
  const sel = { run: 'r', probe: 'p', kind: 'self' };
  const slot = new NeuronSlot();
  let first;
  const a = slot.request(neuronWant(sel, 0, 0, 0), () => new Promise((r) => (first = r)));
  const b = slot.request(neuronWant(sel, 2, 0, 0), async () => 'step 2');
  first('step 0');
  assert.equal(await a, false);
  assert.equal(await b, true);
  assert.deepEqual(slot.shown(neuronWant(sel, 2, 0, 0)), { state: 'data', data: 'step 2' });
});
