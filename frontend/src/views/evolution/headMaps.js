// The maps of the head evolution card: the selected head's large map at the current step
// (hover readout, diff vs a reference step) and a filmstrip of it at evenly spaced steps
// (bigMap.js, filmstrip.js). Each loads only the selected layer and shows exactly its want, or
// the error (shown.js). With a compare run, B's large map beside A's and B's filmstrip under
// A's (compareMaps.js). A step at which a storage budget stored no map of the head shows, in the
// large map's place, why and the head's statistics; its filmstrip frame is hatched ("no map").

import { el, tokenLabel } from '../../paint/dom.js';
import { evenlySpaced } from '../../answers/stepNav.js';
import { filmstripCount } from '../../paint/layout.js';
import { mapOffset, kindTokens } from '../../answers/model.js';
import { missingMaps } from '../../answers/storage.js';
import { kindInfo, probeInfo, stepsOf, diffRefStep } from '../../state/selection.js';
import { want, failureText, SnapshotSlot } from '../../state/shown.js';
import { BigMap, paintMap, clearCanvas } from './bigMap.js';
import { Filmstrip } from './filmstrip.js';
import { CompareMaps } from './compareMaps.js';
import { noMapLine, noMapTitle } from '../common/noMapNote.js';

/**
 * Inputs: `data` (DataSource), the action `setStep` and `onMatch()` (B's head matched to A's
 * selected head changed: `match`); render(state), width (set by the card).
 */
export class HeadMaps {
  constructor({ data, setStep, onMatch = () => {} }) {
    Object.assign(this, { data, setStep });
    this.state = null;
    this.width = 800;
    this.bigSlot = new SnapshotSlot();
    this.bigWant = null;
    this.big = new BigMap({ tid: 'bigmap', readoutText: (shown, qi, ki) => this.readout(shown, qi, ki) });
    this.film = new Filmstrip({ testid: 'filmstrip', setStep });
    this.filmError = el('div', { class: 'tba-message error', 'data-testid': 'filmstrip-error', hidden: true });
    this.b = new CompareMaps({ data, setStep, onMatch, frameSteps: () => this.film.frames.map((f) => f.step) });
    this.el = el(
      'div',
      { class: 'tba-evo-row' },
      this.big.el,
      this.b.big.el,
      el(
        'div',
        { class: 'tba-film-wrap' },
        el('div', { class: 'tba-sub' }, 'filmstrip \u00b7 click a frame to go to its step'),
        this.film.el,
        this.filmError,
        this.b.filmWrap,
      ),
    );
  }

  /** B's head shown for A's selected head: {layer, head, score} | null. */
  get match() {
    return this.b.match;
  }

  /** The layer snapshot (and diff reference) that the large map or a frame at `step` shows. */
  want(step) {
    const s = this.state;
    const ref = s.diffMode ? diffRefStep(s) : null;
    return want({ run: s.run, probe: s.probe, kind: s.kind, step, layer: s.layer, ref });
  }

  cachedPair(w) {
    const sel = { run: w.run, probe: w.probe, kind: w.kind };
    const snap = this.data.cachedLayerSnapshot(sel, w.step, w.layer);
    const ref = w.ref === null ? null : this.data.cachedLayerSnapshot(sel, w.ref, w.layer);
    return snap && (w.ref === null || ref) ? { snap, ref } : null;
  }

  loadPair(w) {
    const sel = { run: w.run, probe: w.probe, kind: w.kind };
    const load = (step) => this.data.layerSnapshot(sel, step, w.layer);
    return Promise.all([load(w.step), w.ref === null ? null : load(w.ref)]).then(([snap, ref]) => ({ snap, ref }));
  }

  /** Settle a slot from the cache or start its request; -> Promise of whether it is still current. */
  requestSlot(slot, w) {
    if (slot.reuse(w)) return Promise.resolve(true);
    const cached = this.cachedPair(w);
    if (cached) {
      slot.settle(w, cached);
      return Promise.resolve(true);
    }
    return slot.request(w, () => this.loadPair(w));
  }

  /** The selected head of `pair` ({snap, ref}: ref null, or the diff reference) in `px` pixels. */
  paint(canvas, pair, px) {
    const s = this.state;
    paintMap(canvas, pair, px, s.contrast, s.layer, s.head);
  }

  /**
   * What to say of the selected head for each snapshot of `pair` that has no map of it (a storage
   * budget's): {layer, head, step, kind, stats, run} for noMapNote.js; [] when both have their maps.
   */
  noMapOf(pair) {
    const s = this.state;
    const at = { layer: s.layer, head: s.head, kind: kindInfo(s), stats: s.stats };
    return missingMaps(pair, s.layer, s.head).map((h) => ({ ...at, step: h.step }));
  }

  /** The large map of the current step: its data, the previous step's marked stale, or the error. */
  renderBig() {
    const w = this.bigWant;
    const view = this.bigSlot.shown(w);
    const big = this.big;
    big.showState(view.state);
    big.el.classList.toggle('stale', view.state === 'stale');
    const noMap = view.data ? this.noMapOf(view.data) : [];
    if (noMap.length) {
      clearCanvas(big.canvas);
      big.showNoMap(noMap.map(noMapLine));
      big.caption.textContent = `step ${view.state === 'stale' ? view.step : w.step} \u00b7 no map stored`;
      return;
    }
    if (view.state === 'data' || view.state === 'stale') {
      this.paint(big.canvas, view.data, 220);
      big.shown = view.data; // the hover readout reads exactly what is painted
      const shownStep = view.state === 'stale' ? view.step : w.step;
      big.caption.textContent =
        (w.ref === null ? `step ${shownStep} \u00b7 hover to read weights` : `step ${shownStep} \u2212 step ${w.ref}`) +
        (view.state === 'stale' ? ` \u00b7 loading step ${w.step}\u2026` : '');
      return;
    }
    clearCanvas(big.canvas);
    if (view.state === 'error') {
      big.caption.textContent = `step ${w.step}: could not load`;
      big.showError(w, view.error);
    } else {
      big.caption.textContent = view.state === 'loading' ? `step ${w.step} \u00b7 loading\u2026` : '';
    }
  }

  /** A's weight under the pointer (and its difference from the reference step's in diff mode). */
  readout({ snap, ref }, qi, ki) {
    const s = this.state;
    const h = snap.header;
    const off = mapOffset(snap, s.layer, s.head);
    const v = snap.data[off + qi * h.key_len + ki] * (h.scale ?? 1 / 255);
    const { query, key } = kindTokens(probeInfo(s), kindInfo(s));
    let text = `${tokenLabel(query.tokens[qi])} \u2192 ${tokenLabel(key.tokens[ki])}: ${v.toFixed(3)}`;
    if (ref) {
      const ro = mapOffset(ref, s.layer, s.head);
      const d = v - ref.data[ro + qi * h.key_len + ki] * (h.scale ?? 1 / 255);
      text += ` (\u0394 ${d >= 0 ? '+' : ''}${d.toFixed(3)})`;
    }
    return text;
  }

  /** One filmstrip frame: its step's map, or blank and marked failed (the reason in its tooltip). */
  renderFrame(fr) {
    const paint = (canvas, pair) => this.paint(canvas, pair, 96);
    const noMap = (pair) => this.noMapOf(pair).map(noMapTitle).join('\n') || null;
    this.film.renderFrame(fr, { paint, noMap, errorTitle: (t) => `${t.title}: ${t.reason}` });
    const frames = this.film.frames;
    const failed = frames.filter((x) => x.f.dataset.state === 'error');
    if (failed.length) {
      const t = failureText(failed[0].want, failed[0].slot.last.error);
      this.filmError.textContent = `${failed.length} of ${frames.length} frames could not be loaded (\u2715): ${t.reason}`;
    }
    this.filmError.hidden = !failed.length;
  }

  /** Nothing to show (no kind, no steps or no step): no frames, a blank large map. */
  renderEmpty() {
    this.film.reset();
    this.filmError.hidden = true;
    this.bigWant = null;
    this.bigSlot.reset();
    this.renderBig();
    this.b.render(this.state);
  }

  /** Filmstrip frames and the large map of `state`, then B's maps. */
  render(state) {
    this.state = state;
    const s = state;
    const steps = stepsOf(s);
    if (!kindInfo(s) || !steps.length || s.step === null) {
      this.renderEmpty();
      return;
    }
    const filmWidth = this.width - 250 - (s.compareRun ? 234 : 0); // B's large map takes a column
    const frames = evenlySpaced(steps, filmstripCount(Math.max(200, filmWidth)));
    this.film.build(frames, JSON.stringify([frames, { run: s.run, probe: s.probe, kind: s.kind }]));
    this.film.markCurrent(s.step);
    this.bigWant = this.want(s.step);
    const big = this.requestSlot(this.bigSlot, this.bigWant);
    this.renderBig();
    big.then((current) => current && this.renderBig());
    this.b.render(s);
    for (const fr of this.film.frames) {
      fr.want = this.want(fr.step);
      const done = this.requestSlot(fr.slot, fr.want);
      this.renderFrame(fr);
      done.then((current) => current && this.renderFrame(fr));
    }
  }
}
