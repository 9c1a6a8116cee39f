import { test } from 'node:test';
import assert from 'node:assert/strict';
import { timelineMarks } from '../src/answers/marks.js';

test('the best checkpoint is labelled with its metric', () => {
  const marks = timelineMarks({ marks: [{ kind: 'best_checkpoint', step: 40, metric: 'eval/loss', value: 0.512345 }] });
  assert.deepEqual(marks, [{ step: 40, label: 'best checkpoint (eval/loss 0.5123)' }]);
});

test('no marks, malformed marks and unknown kinds', () => {
  assert.deepEqual(timelineMarks(null), []);
  assert.deepEqual(timelineMarks({ tags: {} }), []);
  assert.deepEqual(timelineMarks({ marks: [{ kind: 'best_checkpoint', step: 'x' }, null] }), []);
  assert.deepEqual(timelineMarks({ marks: [{ kind: 'best_checkpoint', step: 3 }] }), [
    { step: 3, label: 'best checkpoint' },
  ]);
  assert.deepEqual(timelineMarks({ marks: [{ kind: 'other', step: 3 }] }), [{ step: 3, label: 'other' }]);
});
