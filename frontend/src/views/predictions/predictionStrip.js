// The Predictions card's strip: the top-1 token (or label) at each logged step as text labels
// along the step axis, one segment per run of the same token (predictions.js: segments), drawn over
// the chart's plot area so both line up with the loss timeline. A change of the top-1 is a new
// segment with a marked left edge; segments whose token is the target are green; the segment under
// the step cursor is outlined. Tokens are text (textContent), never HTML.

import { el, clear, tokenLabel } from '../../paint/dom.js';
import { segments, segmentBounds, formatProb } from '../../answers/predictions.js';

/**
 * Inputs: `setStep`, `tid` (its test id); render(series, place, step) where `place(step)` gives a
 * CSS x in the strip.
 */
export class PredictionStrip {
  constructor({ setStep, tid = 'pred-strip' }) {
    this.setStep = setStep;
    this.segs = [];
    this.el = el('div', { class: 'tba-pred-strip', 'data-testid': tid });
  }

  /**
   * `series`: {steps, tokens, probs, target} (target: the token counted as right, or null); `place`
   * maps a step to pixels from the strip's left edge; `step`: the cursor step.
   */
  render(series, place, step) {
    clear(this.el);
    this.segs = [];
    if (!series) return;
    const { steps, tokens, probs, target } = series;
    segments(steps, tokens).forEach((seg, i) => {
      const [lo, hi] = segmentBounds(steps, seg).map(place);
      const best = Math.max(...probs.slice(seg.from, seg.to + 1).filter((p) => p !== null));
      const cls = ['tba-pred-seg'];
      if (i > 0) cls.push('changed');
      if (target !== null && seg.token === target) cls.push('right');
      if (hi - lo < 7 * tokenLabel(seg.token).length + 6) cls.push('narrow'); // its text in the tooltip only
      const node = el(
        'span',
        {
          class: cls.join(' '),
          'data-testid': 'pred-segment',
          'data-token': seg.token,
          'data-first': seg.first,
          'data-last': seg.last,
          title: `steps ${seg.first}\u2013${seg.last}: top-1 \u201c${seg.token}\u201d (up to ${formatProb(best)})`,
          style: { left: `${lo}px`, width: `${Math.max(1, hi - lo)}px` },
          onclick: () => this.setStep(seg.first, { snap: true }),
        },
        tokenLabel(seg.token),
      );
      this.el.appendChild(node);
      this.segs.push({ seg, node });
    });
    this.mark(step);
  }

  /** Outline the segment that holds the cursor step. */
  mark(step) {
    for (const { seg, node } of this.segs) node.classList.toggle('current', step >= seg.first && step <= seg.last);
  }
}
