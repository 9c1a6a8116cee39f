// The head view's "find a token" (answers/tokenFind.js): substring matches in row order, "#i" for a
// probe index, next/previous wrapping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findTokens, stepMatch } from '../src/answers/tokenFind.js';

const TOKENS = ['<bos>', 'The', ' cat', 'sat', ' on', ' the', ' mat', '\n'];

test('a substring, ignoring case, in the rows shown (hidden tokens are not found)', () => {
  const sides = { q: { tokens: TOKENS, idx: [1, 2, 3, 4, 5, 6, 7] }, k: null };
  assert.deepEqual(
    findTokens(sides, 'the').map((m) => [m.side, m.pos, m.index]),
    [
      ['q', 0, 1],
      ['q', 4, 5],
    ],
  );
  assert.deepEqual(
    findTokens(sides, 'at').map((m) => m.index),
    [2, 3, 6],
  );
  assert.deepEqual(findTokens(sides, '<bos>'), [], '<bos> is hidden');
  assert.deepEqual(findTokens(sides, '   '), [], 'nothing typed: nothing found');
  assert.deepEqual(
    findTokens(sides, '\u21b5').map((m) => m.index),
    [7],
    'as the view shows a newline',
  );
  assert.deepEqual(
    findTokens(sides, ' on').map((m) => m.index),
    [4],
    'a leading space as typed',
  );
});

test('"#i" is the token at probe index i', () => {
  const sides = { q: { tokens: TOKENS, idx: [0, 1, 2, 3, 4, 5, 6, 7] }, k: null };
  assert.deepEqual(findTokens(sides, '#5'), [{ side: 'q', pos: 5, index: 5 }]);
  assert.deepEqual(findTokens(sides, '#50'), []);
});

test('cross attention: both columns, row by row, the left one first', () => {
  const sides = {
    q: { tokens: ['<pad>', 'le', 'chat'], idx: [0, 1, 2] },
    k: { tokens: ['the', 'cat', 'chat', '</s>'], idx: [0, 1, 2, 3] },
  };
  assert.deepEqual(
    findTokens(sides, 'cha').map((m) => [m.side, m.pos]),
    [
      ['q', 2],
      ['k', 2],
    ],
  );
  assert.deepEqual(
    findTokens(sides, '</s>').map((m) => [m.side, m.pos]),
    [['k', 3]],
  );
});

test('next and previous wrap around', () => {
  assert.equal(stepMatch(0, -1, 1), -1);
  assert.equal(stepMatch(3, -1, 1), 0);
  assert.equal(stepMatch(3, -1, -1), 2);
  assert.equal(stepMatch(3, 2, 1), 0);
  assert.equal(stepMatch(3, 0, -1), 2);
  assert.equal(stepMatch(3, 1, 1), 2);
});
