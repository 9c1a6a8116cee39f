// A filmstrip: one frame (a small map and its step) per step, a click goes to the step. The same
// component for run A's frames and, under them, the compare run B's at the same steps (headMaps.js,
// compareMaps.js); each frame holds its own SnapshotSlot and shows exactly its want (shown.js).

import { el, clear } from '../../paint/dom.js';
import { failureText, SnapshotSlot } from '../../state/shown.js';
import { formatStep } from '../charts/stepChart.js';
import { clearCanvas } from './bigMap.js';

/** CSS px of a frame's map (its block means are fetched at this size). */
export const FRAME_PX = 96;

/** Inputs: `testid` (filmstrip, filmstrip-b), the action `setStep`. */
export class Filmstrip {
  constructor({ testid, setStep }) {
    this.setStep = setStep;
    this.frames = []; // [{step, f, canvas, label, slot, want}]
    this.sig = null;
    this.el = el('div', { class: 'tba-film', 'data-testid': testid });
  }

  reset() {
    clear(this.el);
    this.frames = [];
    this.sig = null;
  }

  /** Rebuild the frames' DOM when `sig` (the steps and what they show) changes. */
  build(steps, sig) {
    if (this.sig === sig) return;
    this.sig = sig;
    clear(this.el);
    this.frames = steps.map((step) => {
      const canvas = el('canvas', { width: 1, height: 1 });
      const label = el('span', {}, `step ${formatStep(step)}`);
      const onclick = () => this.setStep(step);
      const f = el('div', { class: 'tba-frame', 'data-step': step, title: `step ${step}`, onclick }, canvas, label);
      this.el.appendChild(f);
      return { step, f, canvas, label, slot: new SnapshotSlot(), want: null };
    });
  }

  markCurrent(step) {
    for (const fr of this.frames) fr.f.classList.toggle('current', fr.step === step);
  }

  /**
   * One frame: its step's map (`paint(canvas, data)`; null: nothing to paint), or blank and marked
   * failed (✕, `errorTitle(failureText)` as tooltip), missing (–, the step is not in the run) or
   * hatched when the head has no stored map there (`noMap(data)`: why, as its tooltip; null: it has),
   * or outlined when it paints a summary's block means (`summary(data)`: its tooltip; null: a map).
   */
  renderFrame(fr, { paint, errorTitle, missing = null, noMap = () => null, summary = () => null }) {
    const view = fr.slot.shown(fr.want, { keepStale: false });
    const why = view.state === 'data' ? noMap(view.data) : null;
    const summarized = view.state === 'data' && !why ? summary(view.data) : null;
    fr.f.dataset.state = missing ? 'missing' : view.state;
    fr.f.classList.toggle('failed', view.state === 'error');
    fr.f.classList.toggle('no-map', !!why);
    fr.f.classList.toggle('summary', !!summarized);
    if (view.state === 'data' && paint && !why) {
      paint(fr.canvas, view.data);
      fr.f.title = summarized || `step ${fr.step}`;
    } else clearCanvas(fr.canvas);
    if (why) fr.f.title = why;
    if (view.state === 'error') fr.f.title = errorTitle(failureText(fr.want, view.error));
    const mark = missing
      ? ' \u2013'
      : view.state === 'error'
        ? ' \u2715'
        : why
          ? ' \u00b7 no map'
          : summarized
            ? ' \u00b7 summary'
            : '';
    fr.label.textContent = `step ${formatStep(fr.step)}${mark}`;
  }
}
