import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  want,
  wantKey,
  sameWant,
  sameSeries,
  shown,
  failureText,
  finerShown,
  SnapshotSlot,
} from '../src/state/shown.js';
import { ApiError } from '../src/data/api.js';
import { ContainerError } from '../src/data/container.js';

const A = want({ run: 'r', probe: 'p', kind: 'self', step: 100 });
const A200 = { ...A, step: 200 };
const B = { ...A, probe: 'q' };
const snapA = { header: { step: 100 } };
const err = new ApiError(404, "the 'self' snapshot of probe 'q' in run 'r' at step 100 cannot be decoded");

test('a want needs run, probe, kind and step; layer, head, ref and pool default to null', () => {
  assert.equal(want({ run: 'r', probe: 'p', kind: 'self', step: null }), null);
  assert.equal(want({ run: 'r', probe: null, kind: 'self', step: 1 }), null);
  assert.equal(want(null), null);
  assert.deepEqual(A, {
    run: 'r',
    probe: 'p',
    kind: 'self',
    step: 100,
    layer: null,
    head: null,
    ref: null,
    pool: null,
  });
  assert.equal(wantKey(A), wantKey({ ...A, layer: undefined }));
  assert.ok(sameWant(A, { ...A }));
  assert.ok(!sameWant(A, { ...A, layer: 0 }));
  assert.ok(!sameWant(A, { ...A, ref: 0 }));
  assert.ok(!sameWant(A, { ...A, pool: 4 }), 'block means are not the stored weights');
  assert.ok(!sameWant(A, null));
  assert.equal(want({ run: 'r', probe: 'p', kind: 'self', step: 0 }).step, 0, 'step 0 is a step');
});

test('a reference in another run (B \u2212 A) is part of the want and of its failure text', () => {
  const BA = want({ ...A, ref: 100, vs: 'a' });
  assert.equal(BA.vs, 'a');
  assert.ok(!sameWant(BA, { ...A, ref: 100 }), 'B \u2212 A is not B minus its own step');
  assert.ok(sameSeries(BA, { ...BA, step: 200 }));
  assert.ok(!sameSeries(BA, { ...BA, vs: 'c' }));
  assert.match(failureText(BA, new ApiError(404, 'gone')).title, /with run a at step 100/);
});

test('series: only the step and the resolution may differ', () => {
  assert.ok(sameSeries(A, A200));
  assert.ok(sameSeries(A, { ...A200, pool: 4 }), 'another zoom shows the last step meanwhile');
  assert.ok(!sameSeries(A, B));
  assert.ok(!sameSeries(A, { ...A200, kind: 'cross' }));
  assert.ok(!sameSeries(A, { ...A200, run: 'other' }));
  assert.ok(!sameSeries({ ...A, layer: 0 }, { ...A200, layer: 1 }));
  assert.ok(!sameSeries(A, { ...A200, ref: 0 }));
});

test('data is shown only for exactly the want it was loaded for', () => {
  const last = { want: A, data: snapA };
  assert.deepEqual(shown(A, last), { state: 'data', data: snapA });
  assert.deepEqual(shown({ ...A }, last, { pending: true }), { state: 'data', data: snapA });
  // another probe, kind, run, layer or diff reference: never the old data, even while loading
  for (const w of [
    B,
    { ...A, kind: 'cross' },
    { ...A, run: 'b' },
    { ...A, layer: 1 },
    { ...A, head: 1 },
    { ...A, ref: 0 },
  ]) {
    assert.deepEqual(shown(w, last), { state: 'loading' });
    assert.deepEqual(shown(w, last, { pending: true }), { state: 'loading' });
  }
});

test('the previous step of the same series is kept, marked stale, only while the new step loads', () => {
  const last = { want: A, data: snapA };
  assert.deepEqual(shown(A200, last, { pending: true }), { state: 'stale', data: snapA, step: 100 });
  assert.deepEqual(shown(A200, last, { pending: false }), { state: 'loading' });
  assert.deepEqual(shown(A200, last, { pending: true, keepStale: false }), { state: 'loading' });
});

test('a failure is shown for its own want, replaces the stale data, and never leaks to another want', () => {
  const failed = { want: A200, error: err };
  assert.deepEqual(shown(A200, failed), { state: 'error', error: err });
  assert.deepEqual(
    shown(A200, failed, { pending: true }),
    { state: 'error', error: err },
    'retrying: the error stays until an answer',
  );
  assert.deepEqual(shown(A, failed, { pending: true }), { state: 'loading' }, 'an error is not stale data');
  assert.deepEqual(shown(B, failed), { state: 'loading' });
  assert.deepEqual(shown(null, failed), { state: 'none' });
});

test('failure text: what failed, the server message, what to do', () => {
  const t = failureText({ ...B, layer: 2 }, err);
  assert.match(t.title, /step 100, layer 2 of probe .q. \(self\) in run r/);
  assert.match(failureText({ ...B, layer: 2, head: 5 }, err).title, /step 100, layer 2 head 5 of probe/);
  assert.equal(t.reason, `${err.message} (HTTP 404)`);
  assert.match(t.hint, /Pick another step/);
  const d = failureText({ ...A, ref: 0 }, new ApiError(400, 'bad step'));
  assert.match(d.title, /diff vs step 0/);
  const net = failureText(A, new TypeError('Failed to fetch'));
  assert.equal(net.reason, 'Failed to fetch');
  assert.match(net.hint, /retried once.*TensorBoard is still running/);
  assert.match(failureText(A, new ApiError(502, 'Bad Gateway')).hint, /retried once/);
  const dec = failureText(A, new ContainerError('bad magic (expected TBAT)'));
  assert.match(dec.hint, /could not be decoded/);
  assert.equal(failureText(A, null).reason, 'unknown error');
});

test('slot: the latest request wins; failures and successes settle per want; recovery', async () => {
  const slot = new SnapshotSlot();
  let release;
  const slow = slot.request(
    A,
    () =>
      new Promise((r) => {
        release = r;
      }),
  );
  assert.deepEqual(slot.shown(A), { state: 'loading' });
  const fast = slot.request(B, () => Promise.reject(err));
  assert.equal(await fast, true);
  release(snapA);
  assert.equal(await slow, false, 'superseded answers are dropped');
  assert.deepEqual(slot.shown(B), { state: 'error', error: err });
  assert.deepEqual(slot.shown(A), { state: 'loading' }, "A's late answer was not recorded");
  // the same want asked again and answered: recovered
  const again = slot.request(B, () => Promise.resolve(snapA));
  assert.deepEqual(slot.shown(B), { state: 'error', error: err });
  assert.equal(await again, true);
  assert.deepEqual(slot.shown(B), { state: 'data', data: snapA });
  // a step change within the series: stale while pending, then the error of the new step
  const next = { ...B, step: 200 };
  const p = slot.request(next, () => Promise.reject(err));
  assert.equal(slot.shown(next).state, 'stale');
  await p;
  assert.deepEqual(slot.shown(next), { state: 'error', error: err });
  assert.equal(slot.reuse(next), false, 'an error is asked again, never reused');
  slot.settle(next, snapA);
  assert.equal(slot.reuse(next), true);
  slot.reset();
  assert.deepEqual(slot.shown(next), { state: 'loading' });
});

test('slot: a synchronous answer supersedes a request in flight', async () => {
  const slot = new SnapshotSlot();
  const p = slot.request(A, () => Promise.reject(err));
  slot.settle(A200, snapA);
  assert.equal(await p, false);
  assert.deepEqual(slot.shown(A200), { state: 'data', data: snapA });
  slot.fail(A, err);
  assert.deepEqual(slot.shown(A), { state: 'error', error: err });
});

test("of a map's exact weights and its block means, the finest data of the wanted step is shown", () => {
  const data = (d) => ({ state: 'data', data: d });
  const stale = (d) => ({ state: 'stale', data: d, step: 1 });
  const error = { state: 'error', error: new Error('x') };
  const loading = { state: 'loading' };
  const none = { state: 'none' };
  const pick = (fine, coarse) => {
    const r = finerShown(fine, coarse);
    return [r.view.state, r.view.data ?? null, r.fine];
  };
  assert.deepEqual(pick(data('e'), data('m')), ['data', 'e', true]);
  assert.deepEqual(pick(loading, data('m')), ['data', 'm', false], 'the new step in block means first');
  assert.deepEqual(pick(stale('e'), data('m')), ['data', 'm', false], 'the wanted step before an older one');
  assert.deepEqual(pick(stale('e'), loading), ['stale', 'e', true]);
  assert.deepEqual(pick(error, data('m')), ['data', 'm', false], 'the block means when the exact weights fail');
  assert.deepEqual(pick(error, loading), ['error', null, true]);
  assert.deepEqual(pick(none, loading), ['loading', null, false]);
  assert.deepEqual(pick(none, none), ['none', null, true]);
});
