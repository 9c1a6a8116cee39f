// The maps of the head evolution card: the selected head's large map at the current step
// (hover readout, diff vs a reference step) and a filmstrip of it at evenly spaced steps.
// Each loads only the selected layer and shows exactly its want, or the error (shown.js).
// With a compare run, B's large map beside A's: B's head matched to A's selected head
// (compare.js), or B \u2212 A (diverging colours); or, when B lacks the step, that message.

import { el, clear, tokenLabel } from '../dom.js';
import { paintHeatmap } from '../heatmap.js';
import { lutsFor } from '../colorScale.js';
import { evenlySpaced } from '../stepNav.js';
import { filmstripCount } from '../layout.js';
import { mapOffset, kindTokens } from '../model.js';
import { kindInfo, probeInfo, stepsOf, diffRefStep } from '../selection.js';
import { want, failureText, SnapshotSlot } from '../shown.js';
import { matchedHead, matchLabel, missingStepText } from '../compare.js';
import { formatStep } from './stepChart.js';

const errorParts = (t) => [el('b', {}, t.title), el('div', {}, t.reason), el('div', { class: 'tba-hint' }, t.hint)];

/**
 * Inputs: `data` (DataSource), the action `setStep` and `onMatch()` (B's head matched to A's
 * selected head changed: `match`); render(state), width (set by the card).
 */
export class HeadMaps {
  constructor({ data, setStep, onMatch = () => {} }) {
    Object.assign(this, { data, setStep, onMatch });
    this.match = null; // B's head shown for A's selected head: {layer, head, score} | null
    this.bSlot = new SnapshotSlot();
    this.bWant = null;
    this.bCanvas = el('canvas', { width: 1, height: 1, 'data-testid': 'bigmap-b' });
    this.bCaption = el('div', { class: 'tba-caption', 'data-testid': 'bigmap-b-caption' });
    this.bError = el('div', { class: 'tba-view-error', 'data-testid': 'bigmap-b-error', role: 'alert', hidden: true });
    this.bMissing = el('div', { class: 'tba-view-error tba-missing', 'data-testid': 'no-snapshot', hidden: true });
    this.bReadout = el('div', { class: 'tba-readout', 'data-testid': 'bigmap-b-readout' });
    this.bShown = null; // what B's large map paints: {snap, ref, m}
    this.filmB = el('div', { class: 'tba-film', 'data-testid': 'filmstrip-b' });
    this.filmBLabel = el('div', { class: 'tba-sub', 'data-testid': 'filmstrip-b-label' });
    this.filmBWrap = el('div', { class: 'tba-film-b', hidden: true }, this.filmBLabel, this.filmB);
    this.frameBEls = [];
    this.bEl = el(
      'div',
      { class: 'tba-bigmap tba-bigmap-b', hidden: true },
      this.bCaption,
      this.bCanvas,
      this.bReadout,
      this.bError,
      this.bMissing,
    );
    this.state = null;
    this.width = 800;
    this.bigSlot = new SnapshotSlot();
    this.bigWant = null;
    this.frameEls = [];
    this.bigCanvas = el('canvas', { width: 1, height: 1, 'data-testid': 'bigmap' });
    this.readout = el('div', { class: 'tba-readout' });
    this.bigCaption = el('div', { class: 'tba-caption' });
    this.film = el('div', { class: 'tba-film', 'data-testid': 'filmstrip' });
    this.bigError = el('div', { class: 'tba-view-error', 'data-testid': 'bigmap-error', role: 'alert', hidden: true });
    this.filmError = el('div', { class: 'tba-message error', 'data-testid': 'filmstrip-error', hidden: true });
    this.bigEl = el('div', { class: 'tba-bigmap' }, this.bigCaption, this.bigCanvas, this.readout, this.bigError);
    this.el = el(
      'div',
      { class: 'tba-evo-row' },
      this.bigEl,
      this.bEl,
      el(
        'div',
        { class: 'tba-film-wrap' },
        el('div', { class: 'tba-sub' }, 'filmstrip \u00b7 click a frame to go to its step'),
        this.film,
        this.filmError,
        this.filmBWrap,
      ),
    );
    this.bigCanvas.addEventListener('pointermove', (e) => this.onBigHover(e));
    this.bCanvas.addEventListener('pointermove', (e) => this.onBHover(e));
    this.bCanvas.addEventListener('pointerleave', () => {
      this.bReadout.textContent = '';
    });
    this.bigCanvas.addEventListener('pointerleave', () => {
      this.readout.textContent = '';
    });
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

  /** Head (layer, head) of `snap`, minus the same head of `ref` (or head `refHead` = [layer, head]). */
  paintMap(canvas, { snap, ref }, px, layer = this.state.layer, head = this.state.head, refHead = [layer, head]) {
    const s = this.state;
    const off = mapOffset(snap, layer, head);
    const refOff = ref ? mapOffset(ref, ...refHead) : -1;
    const h = snap.header;
    if (off < 0 || (ref && (refOff < 0 || ref.header.query_len !== h.query_len || ref.header.key_len !== h.key_len))) {
      canvas.getContext('2d').clearRect(0, 0, canvas.width, canvas.height);
      return;
    }
    const refOpt = ref ? { data: ref.data, offset: refOff } : null;
    const dpr = window.devicePixelRatio || 1;
    paintHeatmap(canvas, snap.data, off, h.query_len, h.key_len, {
      ...lutsFor(s.contrast),
      targetPx: px * dpr,
      ref: refOpt,
    });
  }

  /** The large map of the current step: its data, the previous step's marked stale, or the error. */
  renderBig() {
    const w = this.bigWant;
    const view = this.bigSlot.shown(w);
    this.bigEl.dataset.state = view.state;
    this.bigEl.classList.toggle('stale', view.state === 'stale');
    this.bigError.hidden = view.state !== 'error';
    this.bigCanvas.hidden = view.state === 'error'; // the error takes the map's place
    this.bigSnap = null;
    this.bigRef = null;
    this.readout.textContent = '';
    if (view.state === 'data' || view.state === 'stale') {
      this.paintMap(this.bigCanvas, view.data, 220);
      this.bigSnap = view.data.snap; // the hover readout reads exactly what is painted
      this.bigRef = view.data.ref;
      const shownStep = view.state === 'stale' ? view.step : w.step;
      this.bigCaption.textContent =
        (w.ref === null ? `step ${shownStep} \u00b7 hover to read weights` : `step ${shownStep} \u2212 step ${w.ref}`) +
        (view.state === 'stale' ? ` \u00b7 loading step ${w.step}\u2026` : '');
      return;
    }
    this.bigCanvas.getContext('2d').clearRect(0, 0, this.bigCanvas.width, this.bigCanvas.height);
    if (view.state === 'error') {
      this.bigCaption.textContent = `step ${w.step}: could not load`;
      clear(this.bigError).append(...errorParts(failureText(w, view.error)));
    } else {
      this.bigCaption.textContent = view.state === 'loading' ? `step ${w.step} \u00b7 loading\u2026` : '';
    }
  }

  /** B's snapshot and A's at the cursor step (null when there is no compare run or B lacks the step). */
  wantB() {
    const s = this.state;
    if (!s.compareRun || missingStepText(s.compareRun, stepsOf(s, s.compareRun), s.step)) return null;
    return want({ run: s.compareRun, probe: s.probe, kind: s.kind, step: s.step, ref: s.step, vs: s.run });
  }

  cachedB(w) {
    const sel = { run: w.run, probe: w.probe, kind: w.kind };
    const snap = this.data.cachedSnapshot(sel, w.step);
    const ref = this.data.cachedSnapshot({ ...sel, run: w.vs }, w.ref);
    return snap && ref ? { snap, ref } : null;
  }

  loadB(w) {
    const sel = { run: w.run, probe: w.probe, kind: w.kind };
    return Promise.all([this.data.snapshot(sel, w.step), this.data.snapshot({ ...sel, run: w.vs }, w.ref)]).then(
      ([snap, ref]) => ({ snap, ref }),
    );
  }

  setMatch(m) {
    const key = (x) => (x ? `${x.layer},${x.head},${x.score}` : '');
    const changed = key(m) !== key(this.match);
    const moved = (m ? `${m.layer},${m.head}` : '') !== (this.match ? `${this.match.layer},${this.match.head}` : '');
    this.match = m;
    if (moved && this.state) this.renderFilmB();
    if (changed) this.onMatch();
  }

  /** B's large map: its head matched to A's selected one (or B \u2212 A), the message, or the error. */
  renderB() {
    const s = this.state;
    const mode = s.matchMode || 'index';
    const w = this.bWant;
    this.bEl.hidden = !s.compareRun;
    const missing = s.compareRun ? missingStepText(s.compareRun, stepsOf(s, s.compareRun), s.step) : null;
    const view = this.bSlot.shown(w);
    this.bEl.dataset.state = missing ? 'missing' : view.state;
    this.bEl.dataset.diff = String(!!s.compareDiff);
    this.bMissing.hidden = !missing;
    this.bMissing.textContent = missing || '';
    this.bError.hidden = view.state !== 'error';
    this.bCanvas.hidden = view.state === 'error' || !!missing;
    const what = s.compareDiff ? 'B \u2212 A' : `B: ${s.compareRun}`;
    const a = { layer: s.layer, head: s.head };
    this.bShown = null;
    this.bReadout.textContent = '';
    if (view.state === 'data' || view.state === 'stale') {
      const m = matchedHead(mode, s.layer, s.head, view.data.ref, view.data.snap);
      this.setMatch(m);
      const pair = { snap: view.data.snap, ref: s.compareDiff ? view.data.ref : null };
      if (m) this.paintMap(this.bCanvas, pair, 220, m.layer, m.head, [s.layer, s.head]);
      if (m) this.bShown = { snap: view.data.snap, ref: view.data.ref, m };
      else this.bCanvas.getContext('2d').clearRect(0, 0, this.bCanvas.width, this.bCanvas.height);
      const shownStep = view.state === 'stale' ? view.step : w.step;
      this.bCaption.textContent = `${what} \u00b7 step ${shownStep} \u00b7 ${matchLabel(mode, a, m, { loaded: true })}`;
      return;
    }
    this.setMatch(mode === 'index' && s.compareRun ? { ...a, score: NaN } : null);
    this.bCanvas.getContext('2d').clearRect(0, 0, this.bCanvas.width, this.bCanvas.height);
    if (view.state === 'error') {
      this.bCaption.textContent = `${what} \u00b7 step ${w.step}: could not load`;
      clear(this.bError).append(...errorParts(failureText(w, view.error)));
    } else {
      this.bCaption.textContent = missing
        ? `${what} \u00b7 step ${s.step}`
        : view.state === 'loading'
          ? `${what} \u00b7 loading\u2026`
          : '';
    }
  }

  /** Request B's pair (or take it from the cache) and show it. */
  loadAndRenderB() {
    this.bWant = this.wantB();
    const w = this.bWant;
    let done = Promise.resolve(false);
    if (!w) this.bSlot.reset();
    else if (!this.bSlot.reuse(w)) {
      const cached = this.cachedB(w);
      if (cached) this.bSlot.settle(w, cached);
      else done = this.bSlot.request(w, () => this.loadB(w));
    }
    this.renderB();
    done.then((current) => current && this.renderB());
  }

  /**
   * B's filmstrip under A's, at A's frame steps: B's head matched to A's selected one (the match at
   * the cursor step); a step B lacks is marked "\u2013" with the nearest ones in its tooltip.
   */
  renderFilmB() {
    const s = this.state;
    const show = !!s.compareRun && this.frameEls.length > 0;
    this.filmBWrap.hidden = !show;
    if (!show) {
      clear(this.filmB);
      this.frameBEls = [];
      this.filmBSig = null;
      return;
    }
    const sig = JSON.stringify([this.frameEls.map((f) => f.step), s.compareRun, s.probe, s.kind]);
    if (sig !== this.filmBSig) {
      this.filmBSig = sig;
      clear(this.filmB);
      this.frameBEls = this.frameEls.map(({ step }) => {
        const canvas = el('canvas', { width: 1, height: 1 });
        const label = el('span', {}, `step ${formatStep(step)}`);
        const f = el(
          'div',
          { class: 'tba-frame', 'data-step': step, onclick: () => this.setStep(step) },
          canvas,
          label,
        );
        this.filmB.appendChild(f);
        return { step, f, canvas, label, slot: new SnapshotSlot(), want: null };
      });
    }
    const m = this.match;
    const stepsB = stepsOf(s, s.compareRun);
    this.filmBLabel.textContent = `B: ${s.compareRun} \u00b7 ${m ? `L${m.layer}H${m.head}` : 'matching\u2026'}`;
    for (const fr of this.frameBEls) {
      fr.f.classList.toggle('current', fr.step === s.step);
      const missing = missingStepText(s.compareRun, stepsB, fr.step);
      fr.want =
        missing || !m ? null : want({ run: s.compareRun, probe: s.probe, kind: s.kind, step: fr.step, layer: m.layer });
      fr.f.title = missing || `step ${fr.step}`;
      if (!fr.want) {
        fr.slot.reset();
        this.renderFrameB(fr, missing);
        continue;
      }
      const sel = { run: fr.want.run, probe: fr.want.probe, kind: fr.want.kind };
      let done = Promise.resolve(false);
      if (!fr.slot.reuse(fr.want)) {
        const cached = this.data.cachedLayerSnapshot(sel, fr.step, m.layer);
        if (cached) fr.slot.settle(fr.want, cached);
        else done = fr.slot.request(fr.want, () => this.data.layerSnapshot(sel, fr.step, fr.want.layer));
      }
      this.renderFrameB(fr, null);
      done.then((current) => current && this.renderFrameB(fr, null));
    }
  }

  renderFrameB(fr, missing) {
    const view = fr.slot.shown(fr.want, { keepStale: false });
    const m = this.match;
    fr.f.dataset.state = missing ? 'missing' : view.state;
    fr.f.classList.toggle('failed', view.state === 'error');
    if (view.state === 'data' && m) this.paintMap(fr.canvas, { snap: view.data, ref: null }, 96, m.layer, m.head);
    else fr.canvas.getContext('2d').clearRect(0, 0, fr.canvas.width, fr.canvas.height);
    if (view.state === 'error') fr.f.title = failureText(fr.want, view.error).reason;
    const mark = missing ? ' \u2013' : view.state === 'error' ? ' \u2715' : '';
    fr.label.textContent = `step ${formatStep(fr.step)}${mark}`;
  }

  /** One filmstrip frame: its step's map, or blank and marked failed (the reason in its tooltip). */
  renderFrame(fr) {
    const view = fr.slot.shown(fr.want, { keepStale: false });
    fr.f.dataset.state = view.state;
    fr.f.classList.toggle('failed', view.state === 'error');
    if (view.state === 'data') {
      this.paintMap(fr.canvas, view.data, 96);
      fr.f.title = `step ${fr.step}`;
    } else {
      fr.canvas.getContext('2d').clearRect(0, 0, fr.canvas.width, fr.canvas.height);
      if (view.state === 'error') {
        const t = failureText(fr.want, view.error);
        fr.f.title = `${t.title}: ${t.reason}`;
      }
    }
    fr.label.textContent =
      view.state === 'error' ? `step ${formatStep(fr.step)} \u2715` : `step ${formatStep(fr.step)}`;
    const failed = this.frameEls.filter((x) => x.f.dataset.state === 'error');
    if (failed.length) {
      const t = failureText(failed[0].want, failed[0].slot.last.error);
      this.filmError.textContent = `${failed.length} of ${this.frameEls.length} frames could not be loaded (\u2715): ${t.reason}`;
    }
    this.filmError.hidden = !failed.length;
  }

  /** Rebuild the frames' DOM when the set of frames changes. */
  buildFrames(frames, sel) {
    const sig = JSON.stringify([frames, sel]);
    if (this.filmSig === sig) return;
    this.filmSig = sig;
    clear(this.film);
    this.frameEls = frames.map((step) => {
      const canvas = el('canvas', { width: 1, height: 1 });
      const label = el('span', {}, `step ${formatStep(step)}`);
      const onclick = () => this.setStep(step);
      const f = el('div', { class: 'tba-frame', 'data-step': step, title: `step ${step}`, onclick }, canvas, label);
      this.film.appendChild(f);
      return { step, f, canvas, label, slot: new SnapshotSlot(), want: null };
    });
  }

  /** Filmstrip frames and the large map of `state`. */
  render(state) {
    this.state = state;
    const s = state;
    const steps = stepsOf(s);
    if (!kindInfo(s) || !steps.length || s.step === null) {
      clear(this.film);
      this.frameEls = [];
      this.filmSig = null;
      this.filmError.hidden = true;
      this.bigWant = null;
      this.bigSlot.reset();
      this.renderBig();
      this.loadAndRenderB();
      this.renderFilmB();
      return;
    }
    const filmWidth = this.width - 250 - (s.compareRun ? 234 : 0); // B's large map takes a column
    this.buildFrames(evenlySpaced(steps, filmstripCount(Math.max(200, filmWidth))), {
      run: s.run,
      probe: s.probe,
      kind: s.kind,
    });
    for (const fr of this.frameEls) fr.f.classList.toggle('current', fr.step === s.step);
    this.bigWant = this.want(s.step);
    const big = this.requestSlot(this.bigSlot, this.bigWant);
    this.renderBig();
    big.then((current) => current && this.renderBig());
    this.loadAndRenderB();
    this.renderFilmB();
    for (const fr of this.frameEls) {
      fr.want = this.want(fr.step);
      const done = this.requestSlot(fr.slot, fr.want);
      this.renderFrame(fr);
      done.then((current) => current && this.renderFrame(fr));
    }
  }

  /** B's weight under the pointer, A's at the same cell and their difference (B's tokens). */
  onBHover(e) {
    const shownB = this.bShown;
    if (!shownB) return;
    const s = this.state;
    const { snap, ref, m } = shownB;
    const h = snap.header;
    const r = this.bCanvas.getBoundingClientRect();
    const qi = Math.floor(((e.clientY - r.top) / r.height) * h.query_len);
    const ki = Math.floor(((e.clientX - r.left) / r.width) * h.key_len);
    if (qi < 0 || ki < 0 || qi >= h.query_len || ki >= h.key_len) return;
    const at = (x, layer, head) => {
      const off = mapOffset(x, layer, head);
      const xh = x.header;
      return off < 0 || qi >= xh.query_len || ki >= xh.key_len
        ? NaN
        : x.data[off + qi * xh.key_len + ki] * (xh.scale ?? 1 / 255);
    };
    const vb = at(snap, m.layer, m.head);
    const va = at(ref, s.layer, s.head);
    const { query, key } = kindTokens(probeInfo(s, s.compareRun), kindInfo(s, s.compareRun));
    let text = `${tokenLabel(query.tokens[qi])} \u2192 ${tokenLabel(key.tokens[ki])}: B ${vb.toFixed(3)}`;
    if (Number.isFinite(va))
      text += ` \u00b7 A ${va.toFixed(3)} (\u0394 ${vb - va >= 0 ? '+' : ''}${(vb - va).toFixed(3)})`;
    this.bReadout.textContent = text; // textContent: tokens are never parsed as HTML
  }

  onBigHover(e) {
    const snap = this.bigSnap;
    if (!snap) return;
    const s = this.state;
    const h = snap.header;
    const r = this.bigCanvas.getBoundingClientRect();
    const qi = Math.floor(((e.clientY - r.top) / r.height) * h.query_len);
    const ki = Math.floor(((e.clientX - r.left) / r.width) * h.key_len);
    if (qi < 0 || ki < 0 || qi >= h.query_len || ki >= h.key_len) return;
    const off = mapOffset(snap, s.layer, s.head);
    const v = snap.data[off + qi * h.key_len + ki] * (h.scale ?? 1 / 255);
    const { query, key } = kindTokens(probeInfo(s), kindInfo(s));
    let text = `${tokenLabel(query.tokens[qi])} \u2192 ${tokenLabel(key.tokens[ki])}: ${v.toFixed(3)}`;
    if (this.bigRef) {
      const ro = mapOffset(this.bigRef, s.layer, s.head);
      const d = v - this.bigRef.data[ro + qi * h.key_len + ki] * (h.scale ?? 1 / 255);
      text += ` (\u0394 ${d >= 0 ? '+' : ''}${d.toFixed(3)})`;
    }
    this.readout.textContent = text; // textContent: tokens are never parsed as HTML
  }
}
