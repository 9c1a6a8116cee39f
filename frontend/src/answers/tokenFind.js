// Finding tokens in the head view's columns, pure (unit-tested): which shown tokens match what the
// user typed, in row order, and the next or previous match (wrapping).

import { tokenLabel } from '../paint/dom.js';

/**
 * The shown tokens matching `query` in the columns `sides` ({q, k}: each {tokens, idx}, a column's
 * token list and the probe indices it shows, in order; `k` null when the right column shows the
 * same tokens as the left one): [{side, pos, index}] (`pos` the row, `index` the probe index) in
 * row order, the left column's before the right's. A token matches when its text, or its text as
 * the view shows it (tokenLabel), contains the query, ignoring case; "#12" is the token at index 12.
 */
export function findTokens(sides, query) {
  const text = String(query ?? '');
  if (!text.trim()) return [];
  const at = /^#(\d+)$/.exec(text.trim());
  const needle = text.toLowerCase();
  const matches = (tok, index) =>
    at
      ? index === Number(at[1])
      : String(tok ?? '')
          .toLowerCase()
          .includes(needle) || tokenLabel(tok).toLowerCase().includes(needle);
  const cols = [
    ['q', sides.q],
    ['k', sides.k],
  ].filter(([, c]) => c);
  const rows = Math.max(0, ...cols.map(([, c]) => c.idx.length));
  const out = [];
  for (let pos = 0; pos < rows; pos++)
    for (const [side, c] of cols)
      if (pos < c.idx.length && matches(c.tokens[c.idx[pos]], c.idx[pos])) out.push({ side, pos, index: c.idx[pos] });
  return out;
}

/** Of `n` matches, the one after `current` (dir 1) or before it (dir -1), wrapping; -1 when none. */
export function stepMatch(n, current, dir) {
  if (!n) return -1;
  if (current < 0 || current >= n) return dir > 0 ? 0 : n - 1;
  return (current + dir + n) % n;
}
