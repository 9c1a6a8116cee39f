import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Playback, IDLE_PREFETCH_MS } from '../src/state/playback.js';

const STEPS = [0, 10, 20, 30, 40];
const INDEX = { runs: [{ run: 'r', probes: [{ name: 'p', kinds: [{ kind: 'self', steps: STEPS }] }] }] };

function setup(state = {}, frameMs = 100) {
  let s = { index: INDEX, run: 'r', probe: 'p', kind: 'self', step: 30, playing: false, ...state };
  const prefetched = [];
  const pb = new Playback({
    getState: () => s,
    set: (patch) => {
      s = { ...s, ...patch };
    },
    prefetch: (series, steps) => prefetched.push([series, steps]),
    frameMs,
  });
  return { pb, prefetched, get: () => s };
}

test('play advances at once, prefetching the next three (wrapping), then waits for the paint', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { pb, prefetched, get } = setup();
  pb.toggle();
  assert.equal(get().playing, true);
  assert.equal(get().step, 40);
  assert.deepEqual(prefetched, [[{ run: 'r', probe: 'p', kind: 'self' }, [0, 10, 20]]]);
  t.mock.timers.tick(1000);
  assert.equal(get().step, 40, 'no paint yet: no next frame');
  pb.painted();
  t.mock.timers.tick(99);
  assert.equal(get().step, 40);
  t.mock.timers.tick(1);
  assert.equal(get().step, 0, 'wraps to the first step');
  pb.painted();
  pb.painted(); // a second paint of the same step does not schedule a second frame
  t.mock.timers.tick(100);
  assert.equal(get().step, 10);
  t.mock.timers.tick(1000);
  assert.equal(get().step, 10);
});

test('pause cancels the pending frame', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { pb, get } = setup();
  pb.toggle();
  pb.painted();
  pb.toggle();
  assert.equal(get().playing, false);
  t.mock.timers.tick(1000);
  assert.equal(get().step, 40);
});

test('nothing to play: stops', () => {
  const { pb, get } = setup({
    index: { runs: [{ run: 'r', probes: [{ name: 'p', kinds: [{ kind: 'self', steps: [5] }] }] }] },
  });
  pb.toggle();
  assert.equal(get().playing, false);
  assert.equal(get().step, 30);
});

test('a failed grid stops play', () => {
  const { pb, get } = setup();
  pb.toggle();
  pb.failed();
  assert.equal(get().playing, false);
});

test('idle: the neighbours of the painted step are prefetched after a pause', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { pb, prefetched } = setup({ step: 40 });
  pb.painted();
  pb.painted(); // debounced: one prefetch
  t.mock.timers.tick(IDLE_PREFETCH_MS - 1);
  assert.equal(prefetched.length, 0);
  t.mock.timers.tick(1);
  assert.deepEqual(prefetched, [[{ run: 'r', probe: 'p', kind: 'self' }, [30]]], 'clamped at the end');
});

test('no idle prefetch while playing', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { pb, prefetched } = setup({}, 10 * IDLE_PREFETCH_MS);
  pb.toggle();
  prefetched.length = 0;
  pb.painted();
  t.mock.timers.tick(IDLE_PREFETCH_MS);
  assert.deepEqual(prefetched.length, 0);
});
