import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LruCache } from '../src/data/lruCache.js';

test('evicts the least recently used entry by count', () => {
  const c = new LruCache({ maxEntries: 2, sizeOf: () => 1 });
  c.set('a', 1);
  c.set('b', 2);
  c.get('a');
  c.set('c', 3);
  assert.ok(c.has('a') && c.has('c') && !c.has('b'));
});

test('evicts by bytes but keeps the newest even if alone too big', () => {
  const c = new LruCache({ maxEntries: 10, maxBytes: 10, sizeOf: (v) => v.length });
  c.set('a', 'xxxx');
  c.set('b', 'xxxx');
  c.set('c', 'xxxx');
  assert.equal(c.size, 2);
  assert.equal(c.bytes, 8);
  c.set('big', 'x'.repeat(50));
  assert.ok(c.has('big'));
  assert.equal(c.size, 1);
});

test('fetch de-duplicates requests in flight and caches the result', async () => {
  const c = new LruCache();
  let calls = 0;
  const load = () => new Promise((r) => setTimeout(() => r(++calls), 5));
  const [x, y] = await Promise.all([c.fetch('k', load), c.fetch('k', load)]);
  assert.equal(x, 1);
  assert.equal(y, 1);
  assert.equal(await c.fetch('k', load), 1);
  assert.equal(calls, 1);
});

test('a failed fetch is not cached', async () => {
  const c = new LruCache();
  await assert.rejects(
    c.fetch('k', () => Promise.reject(new Error('boom'))),
    /boom/,
  );
  assert.equal(await c.fetch('k', () => 7), 7);
});
