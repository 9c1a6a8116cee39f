// The head view's "find a token" box: what is typed is looked up in the shown tokens
// (answers/tokenFind.js: a substring, or "#12" for a probe index); Enter or ↓ goes to the next
// match, Shift+Enter or ↑ to the previous one (wrapping), and the view scrolls to it and marks it.

import { el } from '../../paint/dom.js';
import { findTokens, stepMatch } from '../../answers/tokenFind.js';

/**
 * Inputs: `tid` (the test id prefix), `sides()` (the columns' {q, k} for findTokens) and
 * `onGo(match, matches)` (show `match` ({side, pos, index}) of `matches`; null: none, unmark).
 * `el` goes in the card; refresh() when the tokens shown change.
 */
export class FindBox {
  constructor(tid, { sides, onGo }) {
    Object.assign(this, { sides, onGo });
    this.matches = [];
    this.current = -1;
    this.input = el('input', {
      type: 'search',
      placeholder: 'find a token',
      title: 'Find a token (a part of its text, or #index); Enter: next, Shift+Enter: previous',
      'data-testid': `${tid}-find`,
    });
    this.count = el('span', { class: 'tba-sub', 'data-testid': `${tid}-find-count` });
    const go = (dir) => () => this.step(dir);
    this.el = el(
      'span',
      { class: 'tba-tokfind' },
      this.input,
      el('button', { title: 'Previous match', 'data-testid': `${tid}-find-prev`, onclick: go(-1) }, '\u2191'),
      el('button', { title: 'Next match', 'data-testid': `${tid}-find-next`, onclick: go(1) }, '\u2193'),
      this.count,
    );
    this.input.addEventListener('input', () => this.refresh(true));
    this.input.addEventListener('keydown', (e) => {
      const dir = e.key === 'Enter' ? (e.shiftKey ? -1 : 1) : e.key === 'ArrowDown' ? 1 : e.key === 'ArrowUp' ? -1 : 0;
      if (!dir) return;
      e.preventDefault();
      this.step(dir);
    });
  }

  /** Look the typed text up again (the tokens changed, or `restart`: the text did): the first match. */
  refresh(restart = false) {
    const sides = this.sides();
    this.matches = sides ? findTokens(sides, this.input.value) : [];
    if (restart || this.current >= this.matches.length) this.current = this.matches.length ? 0 : -1;
    this.show();
  }

  step(dir) {
    this.current = stepMatch(this.matches.length, this.current, dir);
    this.show();
  }

  show() {
    const n = this.matches.length;
    this.count.textContent = !this.input.value.trim() ? '' : n ? `${this.current + 1} of ${n}` : 'not found';
    this.input.classList.toggle('invalid', !!this.input.value.trim() && !n);
    this.onGo(n ? this.matches[this.current] : null, this.matches);
  }
}
