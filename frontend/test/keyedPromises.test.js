import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyedPromises } from '../src/data/keyedPromises.js';

/** A load that answers (or fails with) the next of `answers`, counting its calls. */
function loader(answers) {
  const load = async () => {
    load.calls++;
    const a = answers.shift();
    if (a instanceof Error) throw a;
    return a;
  };
  load.calls = 0;
  return load;
}

test('one load per key and signature; concurrent asks share it', async () => {
  const cache = new KeyedPromises();
  const load = loader(['a', 'b']);
  const first = cache.fetch('k', '0,10', load);
  assert.equal(cache.fetch('k', '0,10', load), first, 'in flight: the same promise');
  assert.equal(await first, 'a');
  assert.equal(await cache.fetch('k', '0,10', load), 'a');
  assert.equal(load.calls, 1);
  assert.equal(await cache.fetch('other', '0,10', loader(['c'])), 'c', 'keys are apart');
});

test('another signature loads again and replaces the kept entry', async () => {
  const cache = new KeyedPromises();
  const load = loader(['a', 'b']);
  await cache.fetch('k', '0', load);
  assert.equal(await cache.fetch('k', '0,10', load), 'b');
  assert.equal(cache.entry('k', '0'), undefined, 'the old signature is gone');
  assert.equal(load.calls, 2);
});

test('entry: the kept value once fulfilled, for its signature only, unless stale', async () => {
  const cache = new KeyedPromises();
  const p = cache.fetch('k', 's', loader(['a']));
  assert.equal(cache.entry('k', 's').value, undefined, 'in flight: no value yet');
  await p;
  assert.equal(cache.entry('k', 's').value, 'a');
  assert.equal(cache.entry('k', 't'), undefined);
  assert.equal(
    cache.entry('k', 's', () => true),
    undefined,
  );
  assert.equal(typeof cache.entry('k', 's').time, 'number');
});

test('isStale: a stale entry is loaded again under the same signature', async () => {
  const cache = new KeyedPromises();
  const load = loader(['a', 'b']);
  await cache.fetch('k', '', load);
  const old = (e) => Date.now() - e.time >= 0;
  assert.equal(await cache.fetch('k', '', load, () => false), 'a');
  assert.equal(await cache.fetch('k', '', load, old), 'b');
  assert.equal(load.calls, 2);
});

test('a failure is passed on and forgotten: the next ask loads again', async () => {
  const cache = new KeyedPromises();
  const load = loader([new Error('boom'), 'a']);
  await assert.rejects(cache.fetch('k', 's', load), /boom/);
  assert.equal(cache.entry('k', 's'), undefined);
  assert.equal(await cache.fetch('k', 's', load), 'a');
});

test("a superseded load's failure leaves the newer entry of its key", async () => {
  const cache = new KeyedPromises();
  let fail;
  const old = cache.fetch('k', '0', () => new Promise((_, reject) => (fail = reject)));
  const newer = cache.fetch('k', '0,10', loader(['b']));
  fail(new Error('late'));
  await assert.rejects(old, /late/);
  assert.equal(cache.fetch('k', '0,10', loader(['c'])), newer);
  assert.equal(await newer, 'b');
});
