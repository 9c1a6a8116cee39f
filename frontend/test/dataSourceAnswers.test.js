import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataSource } from '../src/data/dataSource.js';
import { ApiError } from '../src/data/api.js';

const SEL = { run: 'r', probe: 'p', kind: 'self' };

/** An api whose every route answers its call count (or fails with the next of `failures`). */
function countingApi(failures = []) {
  const calls = { stats: 0, relations: 0, scalars: 0, contributions: 0 };
  const route = (name) => async () => {
    calls[name]++;
    if (failures.length) throw failures.shift();
    return { name, n: calls[name] };
  };
  return { calls, ...Object.fromEntries(Object.keys(calls).map((k) => [k, route(k)])) };
}

test('stats, relations and contributions are asked again only when the steps change', async () => {
  const api = countingApi();
  const data = new DataSource({ api });
  assert.equal((await data.statsFor(SEL, [0, 10])).n, 1);
  assert.equal((await data.statsFor(SEL, [0, 10])).n, 1);
  assert.equal((await data.statsFor(SEL, [0, 10, 20])).n, 2);
  assert.equal((await data.statsFor(SEL, null)).n, 3, 'no steps: a signature of its own');
  assert.equal((await data.relations('r', '2:10')).n, 1);
  assert.equal((await data.relations('r', '2:10')).n, 1);
  assert.equal((await data.relations('r', '3:20')).n, 2);
  assert.equal((await data.contributions(SEL, [0])).n, 1);
  assert.equal((await data.contributions(SEL, [0])).n, 1);
  assert.equal((await data.contributions(SEL, [0, 5])).n, 2);
});

test('scalars are asked again once older than maxAgeMs', async () => {
  const api = countingApi();
  const data = new DataSource({ api });
  assert.equal((await data.scalars('r', Infinity)).n, 1);
  assert.equal((await data.scalars('r', Infinity)).n, 1);
  assert.equal((await data.scalars('r', 0)).n, 2);
});

test('a failure is not kept; contributions retry a 5xx once, stats do not', async () => {
  const api = countingApi([new ApiError(500, 'boom'), new ApiError(500, 'boom')]);
  const data = new DataSource({ api });
  await assert.rejects(data.statsFor(SEL, [0]), /boom/);
  assert.equal((await data.contributions(SEL, [0])).n, 2, 'retried once');
  assert.equal((await data.statsFor(SEL, [0])).n, 2, 'asked again');
});
