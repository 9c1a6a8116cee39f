import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Loader } from '../src/state/loading.js';

const INDEX = {
  runs: [
    { run: 'a', probes: [{ name: 'p', kinds: [{ kind: 'self', steps: [0, 10] }] }] },
    { run: 'b', probes: [{ name: 'p', kinds: [{ kind: 'self', steps: [0] }] }] },
  ],
};

function setup(relations) {
  let state = { index: INDEX, run: 'a', relations: null };
  const patches = [];
  const asked = [];
  const data = {
    relations: (run, sig) => {
      asked.push([run, sig]);
      return relations(run);
    },
  };
  const loader = new Loader({
    data,
    getState: () => state,
    set: (p) => {
      patches.push(p);
      state = { ...state, ...p };
    },
    status: () => {},
    unreachable: () => {},
    pollMs: 30000,
  });
  return { loader, patches, asked, getState: () => state, setState: (p) => (state = { ...state, ...p }) };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

test("the run's relations, asked with its logged steps, set once", async () => {
  const answer = { header: { relations: [] }, data: new Float32Array(0) };
  const t = setup(async () => answer);
  t.loader.loadRelations();
  await settle();
  assert.deepEqual(t.asked, [['a', '2:10']]);
  assert.deepEqual(t.getState().relations, { run: 'a', ...answer });
  t.loader.loadRelations(); // the same answer again: no new patch
  await settle();
  assert.equal(t.patches.length, 1);
});

test('a failure is kept as {run, error}; an answer for a run no longer selected is dropped', async () => {
  const err = Object.assign(new Error('boom'), { status: 500 });
  const t = setup(async () => {
    throw err;
  });
  t.loader.loadRelations();
  await settle();
  assert.deepEqual(t.getState().relations, { run: 'a', error: err });
  let resolve;
  const late = setup(() => new Promise((r) => (resolve = r)));
  late.loader.loadRelations();
  late.setState({ run: 'b', relations: null });
  resolve({ header: { relations: [] }, data: new Float32Array(0) });
  await settle();
  assert.equal(late.getState().relations, null);
});
