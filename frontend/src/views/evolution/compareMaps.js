// The compare run B's maps in the head evolution card: B's large map beside A's (B's head matched
// to A's selected head, compare.js, or B \u2212 A in diverging colours) with its readout (B, A, \u0394),
// and B's filmstrip under A's at A's frame steps; when B lacks a step, that message. The same
// components as A's (bigMap.js, filmstrip.js), drawn for run B: its large map shows A's zoom
// window, and zooming or panning it moves both. A head without a stored map (a storage budget's)
// is said, with its statistics, in the map's place (noMapNote.js); where B (or A, in B − A) kept a
// summary instead, B's large map paints it (compareSummary.js), and B's filmstrip its block means.

import { el, tokenLabel } from '../../paint/dom.js';
import { poolFor } from '../../paint/gridGeometry.js';
import { clampWindow } from '../../paint/mapWindow.js';
import { mapOffset, kindTokens } from '../../answers/model.js';
import { hasMap, missingMaps, pairShows } from '../../answers/storage.js';
import { summaryText } from '../../answers/summaries.js';
import { kindInfo, probeInfo, stepsOf } from '../../state/selection.js';
import { want, SnapshotSlot } from '../../state/shown.js';
import { matchedHead, matchLabel, missingStepText, unmatchedText } from '../../state/compare.js';
import { BigMap, paintWindow, clearCanvas } from './bigMap.js';
import { summaryReadout } from './summaryMap.js';
import { requestPair, meansPair } from './headPairs.js';
import { Filmstrip, FRAME_PX } from './filmstrip.js';
import { missingB, wantB, cachedB, loadB, SummaryLoads } from '../common/compareRun.js';
import { paintBSummary } from './compareSummary.js';
import { noMapTitle } from '../common/noMapNote.js';

const headKey = (x) => (x ? `${x.layer},${x.head}` : '');

/**
 * Inputs: `data` (DataSource), the actions `setStep`, `setWindow(win)`, `onMatch()` (B's head
 * matched to A's selected head changed: `match`), `frameSteps()` (A's filmstrip steps) and
 * `geometry()` (A's large map's: its canvas px); render(state) after A's maps.
 */
export class CompareMaps {
  constructor({ data, setStep, setWindow, onMatch, frameSteps, geometry }) {
    Object.assign(this, { data, onMatch, frameSteps, geometry });
    this.state = null;
    this.match = null; // B's head shown for A's selected head: {layer, head, score} | null
    this.unmatched = null; // why no head is matched (A's head has no map at the step), or null
    this.slot = new SnapshotSlot();
    this.sums = new SummaryLoads(data, () => this.renderBig()); // B's (and A's) summaries shown
    this.want = null;
    this.big = new BigMap({
      tid: 'bigmap-b',
      compare: true,
      readoutText: (shown, qi, ki) => this.readout(shown, qi, ki),
      onWindow: setWindow,
    });
    this.film = new Filmstrip({ testid: 'filmstrip-b', setStep });
    this.filmLabel = el('div', { class: 'tba-sub', 'data-testid': 'filmstrip-b-label' });
    this.filmWrap = el('div', { class: 'tba-film-b', hidden: true }, this.filmLabel, this.film.el);
  }

  render(state) {
    this.state = state;
    this.loadAndRenderBig();
    this.renderFilm();
  }

  setMatch(m) {
    const key = (x) => (x ? `${x.layer},${x.head},${x.score}` : '');
    const changed = key(m) !== key(this.match);
    const moved = headKey(m) !== headKey(this.match);
    this.match = m;
    if (moved && this.state) this.renderFilm();
    if (changed) this.onMatch();
  }

  /** Request B's pair (or take it from the cache) and show it. */
  loadAndRenderBig() {
    const w = (this.want = wantB(this.state));
    let done = Promise.resolve(false);
    if (!w) this.slot.reset();
    else if (!this.slot.reuse(w)) {
      const cached = cachedB(this.data, w);
      if (cached) this.slot.settle(w, cached);
      else done = this.slot.request(w, () => loadB(this.data, w));
    }
    this.renderBig();
    done.then((current) => current && this.renderBig());
  }

  /** B's large map: its head matched to A's selected one (or B \u2212 A), the message, or the error. */
  renderBig() {
    const s = this.state;
    const w = this.want;
    const view = this.slot.shown(w);
    const missing = missingB(s);
    this.big.el.hidden = !s.compareRun;
    this.big.showState(view.state, missing);
    this.big.el.dataset.diff = String(!!s.compareDiff);
    if (view.state === 'data' || view.state === 'stale') {
      this.paintBig(view);
      return;
    }
    const mode = s.matchMode || 'index';
    this.setMatch(mode === 'index' && s.compareRun ? { layer: s.layer, head: s.head, score: NaN } : null);
    clearCanvas(this.big.canvas);
    const what = this.what();
    if (view.state === 'error') {
      this.big.caption.textContent = `${what} \u00b7 step ${w.step}: could not load`;
      this.big.showError(w, view.error);
    } else {
      this.big.caption.textContent = missing
        ? `${what} \u00b7 step ${s.step}`
        : view.state === 'loading'
          ? `${what} \u00b7 loading\u2026`
          : '';
    }
  }

  what() {
    return this.state.compareDiff ? 'B \u2212 A' : `B: ${this.state.compareRun}`;
  }

  /** What to say of each snapshot of `pair` that lacks its head (B's `m`, A's selected one), with its header. */
  noMapOf(pair, m) {
    const s = this.state;
    return missingMaps(pair, m.layer, m.head, [s.layer, s.head]).map((h) => {
      const [layer, head] = h === pair.snap.header ? [m.layer, m.head] : [s.layer, s.head];
      const stats = h.run === s.compareRun ? s.compareStats : s.stats;
      return { layer, head, step: h.step, kind: kindInfo(s, h.run), stats, run: h.run, header: h };
    });
  }

  /** B's data (or the previous step's): the matched head, or B \u2212 A, and its caption. */
  paintBig(view) {
    const s = this.state;
    const mode = s.matchMode || 'index';
    const { snap, ref, means, refMeans } = view.data;
    const m = matchedHead(mode, s.layer, s.head, ref, snap, refMeans, means);
    this.setMatch(m);
    const pair = { snap, ref: s.compareDiff ? ref : null };
    const noMap = m ? this.noMapOf(pair, m) : [];
    const g = this.geometry();
    this.big.el.classList.remove('summary');
    delete this.big.el.dataset.source; // 'exact', 'summary-means' or 'summary-top' once painted
    let shows = '';
    if (m && g && noMap.length) shows = paintBSummary(this.big, { pair, m, noMap, g, state: s, loads: this.sums });
    else if (m && g) this.paintMap(view.data, m, g);
    else clearCanvas(this.big.canvas);
    const shownStep = view.state === 'stale' ? view.step : this.want.step;
    const noMapA = hasMap(ref, s.layer, s.head) ? null : ref.header.step;
    const label = matchLabel(mode, { layer: s.layer, head: s.head }, m, { loaded: true, noMapA });
    this.unmatched = !m && noMapA !== null ? unmatchedText(s, noMapA) : null; // B's filmstrip says why
    if (!m) this.filmLabel.textContent = this.filmLabelText();
    this.big.caption.textContent = [this.what(), `step ${shownStep}`, label, shows].filter(Boolean).join(' \u00b7 ');
  }

  /** B's matched head `m` (or B \u2212 A) from maps. */
  paintMap({ snap, ref }, m, g) {
    const s = this.state;
    const h = snap.header;
    const win = clampWindow(s.mapWindow, h.query_len, h.key_len);
    const pair = { snap, ref: s.compareDiff ? ref : null };
    paintWindow(this.big.canvas, pair, g.dev, s.contrast, win, m.layer, m.head, [s.layer, s.head]);
    this.big.setView(g.px, { win, q: h.query_len, k: h.key_len });
    this.big.el.dataset.source = 'exact';
    this.big.shown = { snap, ref, m };
  }

  /** B's weight under the pointer, A's at the same cell and their difference (B's tokens); or a summary's. */
  readout(shown, qi, ki) {
    const s = this.state;
    const { query, key } = kindTokens(probeInfo(s, s.compareRun), kindInfo(s, s.compareRun));
    if (shown.sum) return summaryReadout(shown, qi, ki, query, key);
    const { snap, ref, m } = shown;
    const at = (x, layer, head) => {
      const off = mapOffset(x, layer, head);
      const xh = x.header;
      return off < 0 || qi >= xh.query_len || ki >= xh.key_len
        ? NaN
        : x.data[off + qi * xh.key_len + ki] * (xh.scale ?? 1 / 255);
    };
    const vb = at(snap, m.layer, m.head);
    const va = at(ref, s.layer, s.head);
    let text = `${tokenLabel(query.tokens[qi])} \u2192 ${tokenLabel(key.tokens[ki])}: B ${vb.toFixed(3)}`;
    if (Number.isFinite(va))
      text += ` \u00b7 A ${va.toFixed(3)} (\u0394 ${vb - va >= 0 ? '+' : ''}${(vb - va).toFixed(3)})`;
    return text;
  }

  /** "B: run · L1H2" (the head B's filmstrip shows), or why none is matched yet. */
  filmLabelText() {
    const m = this.match;
    return `B: ${this.state.compareRun} \u00b7 ${m ? `L${m.layer}H${m.head}` : (this.unmatched ?? 'matching\u2026')}`;
  }

  /**
   * B's filmstrip under A's, at A's frame steps: B's head matched to A's selected one (the match at
   * the cursor step); a step B lacks is marked "\u2013" with the nearest ones in its tooltip.
   */
  renderFilm() {
    const s = this.state;
    const steps = this.frameSteps();
    const show = !!s.compareRun && steps.length > 0;
    this.filmWrap.hidden = !show;
    if (!show) {
      this.film.reset();
      return;
    }
    this.film.build(steps, JSON.stringify([steps, s.compareRun, s.probe, s.kind]));
    const m = this.match;
    this.filmLabel.textContent = this.filmLabelText();
    this.film.markCurrent(s.step);
    const stepsB = stepsOf(s, s.compareRun);
    for (const fr of this.film.frames) this.loadFrame(fr, m, missingStepText(s.compareRun, stepsB, fr.step));
  }

  /** One frame of B's filmstrip: B's matched head at its step, in block means at a frame's size. */
  loadFrame(fr, m, missing) {
    const s = this.state;
    const { query, key } = kindTokens(probeInfo(s, s.compareRun), kindInfo(s, s.compareRun));
    const pool = poolFor(Math.max(query.tokens.length, key.tokens.length), FRAME_PX * (window.devicePixelRatio || 1));
    const at = { run: s.compareRun, probe: s.probe, kind: s.kind, step: fr.step, pool };
    fr.want = missing || !m ? null : want({ ...at, layer: m.layer, head: m.head });
    fr.f.title = missing || `step ${fr.step}`;
    if (!fr.want) {
      fr.slot.reset();
      this.renderFrame(fr, missing);
      return;
    }
    const done = requestPair(this.data, fr.slot, fr.want);
    this.renderFrame(fr, null);
    done.then((current) => current && this.renderFrame(fr, null));
  }

  renderFrame(fr, missing) {
    const s = this.state;
    const m = this.match;
    const px = Math.round(FRAME_PX * (window.devicePixelRatio || 1));
    const summarized = (pair) => !!m && pairShows(pair, m.layer, m.head) === 'summary';
    const paint = m
      ? (canvas, pair) =>
          paintWindow(canvas, summarized(pair) ? meansPair(pair) : pair, px, s.contrast, null, m.layer, m.head)
      : null;
    const at = { layer: m?.layer, head: m?.head, kind: kindInfo(s, s.compareRun), stats: s.compareStats };
    const noMap = (pair) =>
      !m || hasMap(pair.snap, m.layer, m.head) || summarized(pair)
        ? null
        : noMapTitle({ ...at, step: pair.snap.header.step });
    const summary = (pair) =>
      summarized(pair)
        ? `B L${m.layer} H${m.head}: ${summaryText(pair.sum.step, pair.sum.topK)} (its block means)`
        : null;
    this.film.renderFrame(fr, { paint, missing, noMap, summary, errorTitle: (t) => t.reason });
  }
}
