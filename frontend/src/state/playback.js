// Play/pause and read-ahead. Playing advances one logged step (wrapping) once the grid of the
// previous one was painted and `frameMs` has passed, prefetching the next three; when idle, the
// arrow-key neighbours of the painted step are prefetched so stepping by one is instant.

import { offsetStep, prefetchSteps } from '../answers/stepNav.js';
import { stepsOf, seriesOf } from './selection.js';

export const IDLE_PREFETCH_MS = 150;

export class Playback {
  /**
   * @param {{getState: () => object, set: (patch: object) => void,
   *          prefetch: (series: object, steps: number[]) => void, frameMs?: number}} inputs
   */
  constructor({ getState, set, prefetch, frameMs = 280 }) {
    this.getState = getState;
    this.set = set;
    this.prefetch = prefetch;
    this.frameMs = frameMs;
    this.awaitingPaint = false;
    this.playTimer = 0;
    this.neighbourTimer = 0;
  }

  toggle() {
    const playing = !this.getState().playing;
    this.set({ playing });
    clearTimeout(this.playTimer);
    if (playing) this.advance();
  }

  /** The next step while playing (stops when there is nothing to play). */
  advance() {
    const s = this.getState();
    if (!s.playing) return;
    const steps = stepsOf(s);
    if (steps.length < 2) {
      this.set({ playing: false });
      return;
    }
    const next = offsetStep(steps, s.step, 1, true);
    this.prefetch(seriesOf(s), prefetchSteps(steps, next, 3));
    this.awaitingPaint = true;
    this.set({ step: next });
  }

  /** The grid showed a step: schedule the next frame, or prefetch the neighbours when idle. */
  painted() {
    const s = this.getState();
    clearTimeout(this.neighbourTimer);
    if (!s.playing) {
      this.neighbourTimer = setTimeout(() => {
        const t = this.getState();
        const steps = stepsOf(t);
        const cur = t.step;
        if (cur === null || !steps.length) return;
        const around = [offsetStep(steps, cur, 1), offsetStep(steps, cur, -1)].filter((x) => x !== cur);
        this.prefetch(seriesOf(t), around);
      }, IDLE_PREFETCH_MS);
    }
    if (s.playing && this.awaitingPaint) {
      this.awaitingPaint = false;
      clearTimeout(this.playTimer);
      this.playTimer = setTimeout(() => this.advance(), this.frameMs);
    }
  }

  /** The grid failed to show a step: play stops. */
  failed() {
    if (this.getState().playing) this.set({ playing: false });
  }
}
