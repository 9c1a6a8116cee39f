import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Loader } from '../src/state/loading.js';

const INDEX = { runs: [{ run: 'a', probes: [{ name: 'p', kinds: [{ kind: 'self', steps: [0, 10] }] }] }] };

function setup({ index = async () => INDEX, stats, scalars } = {}) {
  let state = { index: null, run: null, probe: null, kind: null, compareRun: null, stats: null, scalars: null };
  const patches = [];
  const statuses = [];
  const unreachable = [];
  const data = {
    api: { index },
    statsFor: stats || (async (sel) => ({ sel })),
    scalars: scalars || (async (run) => ({ run, tags: {} })),
  };
  const loader = new Loader({
    data,
    getState: () => state,
    set: (p) => {
      patches.push(p);
      state = { ...state, ...p };
    },
    status: (text, isError = false) => statuses.push([text, isError]),
    unreachable: (text) => unreachable.push(text),
    pollMs: 30000,
  });
  return { loader, patches, statuses, unreachable, setState: (p) => (state = { ...state, ...p }) };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

test('the index is set when it changed, not when it is the same', async () => {
  const { loader, patches } = setup();
  await loader.refreshIndex();
  await loader.refreshIndex();
  assert.equal(patches.filter((p) => 'index' in p).length, 1);
});

test('an unreachable plugin: status, and the message while there is no index', async () => {
  const { loader, statuses, unreachable } = setup({
    index: async () => {
      throw new Error('down');
    },
  });
  await loader.refreshIndex();
  assert.match(statuses[0][0], /could not load the index: down \(retrying every 30 s\)/);
  assert.equal(statuses[0][1], true);
  assert.deepEqual(unreachable, ['Could not reach the attention plugin: down']);
});

test('stats for a selection that changed meanwhile are dropped', async () => {
  let release;
  const { loader, patches, setState } = setup({ stats: () => new Promise((r) => (release = r)) });
  setState({ index: INDEX, run: 'a', probe: 'p', kind: 'self' });
  loader.loadStats();
  setState({ probe: 'q' });
  release('S');
  await settle();
  assert.equal(patches.length, 0);
});

test('stats and scalars of the current selection are set; failed scalars become empty', async () => {
  const { loader, patches, statuses, setState } = setup({
    scalars: async () => {
      throw new Error('nope');
    },
  });
  setState({ index: INDEX, run: 'a', probe: 'p', kind: 'self' });
  loader.loadStats();
  loader.loadScalars();
  await settle();
  assert.deepEqual(patches, [
    { stats: { sel: { run: 'a', probe: 'p', kind: 'self' } } },
    { scalars: { run: 'a', tags: {} } },
  ]);
  assert.deepEqual(statuses, [['could not load scalars: nope', true]]);
});
