import { test } from 'node:test';
import assert from 'node:assert/strict';
import { timelineEvents, eventText, eventNear } from '../src/answers/events.js';

const stats = {
  header: {
    head_types: [
      { layer: 1, head: 2, type: 'induction', score: 0.8, formed_step: 300 },
      { layer: 0, head: 1, type: 'previous-token', score: 0.9, formed_step: 300 },
      { layer: 0, head: 0, type: 'first-token', score: 0.7, formed_step: 0 },
      { layer: 0, head: 3, type: 'broad', score: 0.9, formed_step: null },
    ],
  },
};
const relations = {
  header: {
    relations: [
      { relation: 'coreference', formed_step: 500 },
      { relation: 'object', formed_step: null },
      { relation: 'possessive', formed_step: 300 },
    ],
  },
};

test('events grouped by step, head types before relations, those at the first step left out', () => {
  const ev = timelineEvents(stats, relations, 0);
  assert.deepEqual(
    ev.map((e) => [e.step, e.items.map((i) => i.text)]),
    [
      [300, ['L0H1 previous-token', 'L1H2 induction', 'possessive (relation)']],
      [500, ['coreference (relation)']],
    ],
  );
  assert.equal(ev[0].items[2].kind, 'relation');
  assert.equal(eventText(ev[1]), 'step 500: coreference (relation)');
  // without a first step: the type formed at 0 is an event too
  assert.deepEqual(
    timelineEvents(stats, null).map((e) => e.step),
    [0, 300],
  );
  assert.deepEqual(timelineEvents(null, null), []);
});

test('the event under the pointer', () => {
  const ev = timelineEvents(stats, relations, 0);
  const toX = (s) => s / 10; // 300 -> 30 px, 500 -> 50 px
  assert.equal(eventNear(ev, toX, 33).step, 300);
  assert.equal(eventNear(ev, toX, 47).step, 500);
  assert.equal(eventNear(ev, toX, 40), null);
});
