import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataSource } from '../src/data/dataSource.js';
import { ApiError } from '../src/data/api.js';

const SEL = { run: 'r', probe: 'p', kind: 'self' };

function fakeApi(answers) {
  const calls = [];
  return {
    calls,
    predictions: async (sel) => {
      calls.push(sel);
      const a = answers.shift();
      if (a instanceof Error) throw a;
      return a;
    },
  };
}

test('predictions are fetched once per list of steps and kept', async () => {
  const api = fakeApi([
    { steps: [0, 10], predictions: [] },
    { steps: [0, 10, 20], predictions: [] },
  ]);
  const data = new DataSource({ api });
  assert.equal(data.cachedPredictions(SEL, [0, 10]), undefined);
  const a = await data.predictions(SEL, [0, 10]);
  assert.equal(await data.predictions(SEL, [0, 10]), a);
  assert.equal(data.cachedPredictions(SEL, [0, 10]), a);
  assert.equal(data.cachedPredictions(SEL, [0, 10, 20]), undefined, 'a new step: not that answer');
  assert.deepEqual((await data.predictions(SEL, [0, 10, 20])).steps, [0, 10, 20]);
  assert.equal(api.calls.length, 2);
});

test('a 404 is the answer "none" (kept); other failures are retried once and not kept', async () => {
  const api = fakeApi([new ApiError(404, 'run has no attention predictions')]);
  const data = new DataSource({ api });
  assert.deepEqual(await data.predictions(SEL, [0]), { ...SEL, missing: 'run has no attention predictions' });
  assert.equal(data.cachedPredictions(SEL, [0]).missing, 'run has no attention predictions');
  const api2 = fakeApi([new ApiError(500, 'boom'), new ApiError(500, 'boom again'), { steps: [0], predictions: [] }]);
  const data2 = new DataSource({ api: api2 });
  await assert.rejects(data2.predictions(SEL, [0]), /boom again/);
  assert.equal(api2.calls.length, 2, 'retried once');
  assert.equal(data2.cachedPredictions(SEL, [0]), undefined);
  assert.deepEqual((await data2.predictions(SEL, [0])).steps, [0], 'asked again');
});

test('an answer lacking the last logged step is asked again after 5 s', async () => {
  const api = fakeApi([
    { steps: [0], predictions: [] },
    { steps: [0, 10], predictions: [] },
  ]);
  const data = new DataSource({ api });
  await data.predictions(SEL, [0, 10]);
  assert.ok(data.cachedPredictions(SEL, [0, 10]), 'young: kept');
  data.predictionsCache.entries.get(DataSource.key(SEL)).time -= 6000;
  assert.equal(data.cachedPredictions(SEL, [0, 10]), undefined);
  assert.deepEqual((await data.predictions(SEL, [0, 10])).steps, [0, 10]);
});
