// The selected head's large map at the cursor step (run A), a long probe's included: it loads one
// head, never a layer. The overview is the head's block means at about the canvas's pixel size
// (./snapshot?layer&head&pool=B, mapWindow.overviewPool; a short probe's map is exact at once);
// once the zoom window (the state's `mapWindow`) is fine enough that a block would cover 1.5
// pixels, the exact head (16 MB at 4k tokens) is loaded once per step and the window is painted
// from it, locally, as it zooms and pans. A step change keeps the window; meanwhile the new step's
// block means paint it, then its exact weights. The hover readout names the query and key tokens
// and the weight, or on block means the rows and columns the mean is over. A head a storage budget
// kept a summary of instead of its map is painted from the summary (summaryMap.js), never from the
// zeros of its missing map, and its exact weights are not asked for.

import { tokenLabel } from '../../paint/dom.js';
import { mapPixels, overviewPool, clampWindow, needsExact } from '../../paint/mapWindow.js';
import { mapOffset, kindTokens } from '../../answers/model.js';
import { kindInfo, probeInfo, diffRefStep } from '../../state/selection.js';
import { want, SnapshotSlot, finerShown } from '../../state/shown.js';
import { BigMap, paintWindow, clearCanvas } from './bigMap.js';
import { requestPair, loadPair, cachedPair, noMapOf } from './headPairs.js';
import { paintSummary, summaryCaption, summaryReadout } from './summaryMap.js';
import { pairShows } from '../../answers/storage.js';
import { noMapLine, summaryDiffLine } from '../common/noMapNote.js';
import { mark } from '../common/perf.js';

const tok = (list, i) => `${tokenLabel(list.tokens[i])} #${i}`;

/** Inputs: `data` (DataSource) and the action `setWindow(win)`; render(state). */
export class MainMap {
  constructor({ data, setWindow }) {
    this.data = data;
    this.state = null;
    this.over = new SnapshotSlot(); // the overview: block means, or the exact head of a short probe
    this.exact = new SnapshotSlot(); // the exact head, while the window needs it
    this.wants = { over: null, exact: null };
    this.geom = null; // {q, k, px, dev, pool, win}
    this.big = new BigMap({
      tid: 'bigmap',
      readoutText: (shown, qi, ki) => this.readout(shown, qi, ki),
      onWindow: setWindow,
    });
    this.el = this.big.el;
  }

  /** The CSS px of the map (for the card's layout): that of the selected kind's tokens. */
  get px() {
    return this.geom ? this.geom.px : mapPixels(0);
  }

  /** The map's geometry in `state`: tokens, canvas px, the overview's block, the window; null: none. */
  geometry(state) {
    const k = kindInfo(state);
    const probe = probeInfo(state);
    if (!k || !probe || state.step === null) return null;
    const { query, key } = kindTokens(probe, k);
    const [q, kl] = [query.tokens.length, key.tokens.length];
    const px = mapPixels(Math.max(q, kl));
    const dev = Math.round(px * (window.devicePixelRatio || 1));
    const pool = overviewPool(q, kl, dev);
    return { q, k: kl, px, dev, pool, win: clampWindow(state.mapWindow, q, kl), query, key };
  }

  /** What the map of `state` at `step` loads: {over, exact} wants (exact null: the overview paints it). */
  wantsAt(state, g, step) {
    const s = state;
    const base = { run: s.run, probe: s.probe, kind: s.kind, step, layer: s.layer, head: s.head };
    base.ref = s.diffMode ? diffRefStep(s) : null;
    const exact = needsExact(g.win, g.dev, g.pool) ? want({ ...base, pool: null }) : null;
    return { over: want({ ...base, pool: g.pool }), exact };
  }

  /** Whether the overview of `w` is loaded and shows a summary (no exact weights to ask for). */
  summarized(w) {
    return !!cachedPair(this.data, w)?.sum;
  }

  /** Load the map of `steps` (the arrow keys' neighbours) before they are asked for; errors are ignored. */
  prefetch(steps) {
    const g = this.geom;
    if (!g || !this.state) return;
    const summarized = this.wants.over && this.summarized(this.wants.over); // likely its neighbours' too
    for (const step of steps) {
      const w = this.wantsAt(this.state, g, step);
      loadPair(this.data, summarized ? w.over : (w.exact ?? w.over)).catch(() => {});
    }
  }

  render(state) {
    this.state = state;
    const g = (this.geom = this.geometry(state));
    if (!g) {
      this.over.reset();
      this.exact.reset();
      this.wants = { over: null, exact: null };
      this.paint();
      return;
    }
    this.wants = this.wantsAt(state, g, state.step);
    if (this.summarized(this.wants.over)) this.wants.exact = null;
    const exactW = this.wants.exact;
    let exactDone = Promise.resolve(false);
    if (exactW) exactDone = requestPair(this.data, this.exact, exactW);
    else this.exact.reset();
    const exactReady = exactW && this.exact.shown(exactW).state === 'data';
    const overDone = exactReady ? Promise.resolve(false) : requestPair(this.data, this.over, this.wants.over);
    this.paint();
    for (const done of [overDone, exactDone]) done.then((current) => current && this.paint());
    // a summary has no exact weights: once the overview says so, stop waiting for them
    overDone.then((current) => current && exactW && this.summarized(this.wants.over) && this.render(this.state));
  }

  /** The finest data there is for the wanted step (or, stale, the previous step's), or its state. */
  paint() {
    const { over, exact } = this.wants;
    const { view, fine } = finerShown(exact ? this.exact.shown(exact) : { state: 'none' }, this.over.shown(over));
    const big = this.big;
    big.showState(view.state);
    big.el.classList.remove('summary');
    big.el.classList.toggle('stale', view.state === 'stale');
    const g = this.geom;
    big.setView(g ? g.px : mapPixels(0), null);
    if (view.state !== 'data' && view.state !== 'stale') {
      clearCanvas(big.canvas);
      this.captionEmpty(view, fine ? exact : over);
      return;
    }
    const noMap = noMapOf(this.state, view.data);
    const step = view.state === 'stale' ? view.step : over.step;
    const shows = pairShows(view.data, this.state.layer, this.state.head);
    if (noMap.length || shows === 'mixed') {
      clearCanvas(big.canvas);
      const s = this.state;
      big.showNoMap(noMap.length ? noMap.map(noMapLine) : [summaryDiffLine({ ...s, step, ref: over.ref })]);
      big.caption.textContent = `step ${step} \u00b7 ${noMap.length ? 'no map stored' : 'no difference to show'}`;
      return;
    }
    if (shows === 'summary') this.paintSummaryData(view.data, step, view.state === 'stale');
    else this.paintData(view.data, step, view.state === 'stale');
  }

  /** Paint the summary of `pair` (shown at `step`) and say what it is. */
  paintSummaryData(pair, step, stale) {
    const g = this.geom;
    const big = this.big;
    big.shown = paintSummary(big, pair, g, this.state.contrast); // the hover readout reads exactly what is painted
    big.setView(g.px, { win: g.win, q: g.q, k: g.k });
    big.el.classList.add('summary');
    const source = big.shown.zoomed ? 'summary-top' : 'summary-means';
    Object.assign(big.el.dataset, { source, pool: pair.sum.block, step });
    mark('bigmap-painted', { step, source, stale, window: big.el.dataset.window });
    const ref = this.wants.over.ref;
    big.caption.textContent =
      `step ${step}${ref === null ? '' : ` \u2212 step ${ref}`} \u00b7 ${summaryCaption(pair.sum, big.shown.zoomed, ref)}` +
      (stale ? ` \u00b7 loading step ${this.wants.over.step}\u2026` : '');
  }

  /** Paint the window of `pair` (shown at `step`) and say what it is. */
  paintData(pair, step, stale) {
    const s = this.state;
    const g = this.geom;
    const big = this.big;
    paintWindow(big.canvas, pair, g.dev, s.contrast, g.win, s.layer, s.head);
    big.shown = pair; // the hover readout reads exactly what is painted
    big.setView(g.px, { win: g.win, q: g.q, k: g.k });
    const pool = pair.snap.header.pool ?? null;
    Object.assign(big.el.dataset, { source: pool ? 'pooled' : 'exact', pool: pool ?? '', step });
    mark('bigmap-painted', { step, source: big.el.dataset.source, stale, window: big.el.dataset.window });
    const what = pool ? `block means of ${pool}\u00d7${pool} tokens` : 'exact weights';
    const zoomed = pool && this.wants.exact ? ' \u00b7 loading exact weights\u2026' : '';
    const ref = this.wants.over.ref;
    big.caption.textContent =
      `step ${step}${ref === null ? '' : ` \u2212 step ${ref}`} \u00b7 ${what}${zoomed}` +
      (stale ? ` \u00b7 loading step ${this.wants.over.step}\u2026` : ' \u00b7 scroll to zoom, drag to pan');
  }

  /** The caption (and the error in place) when there is nothing to paint. */
  captionEmpty(view, w) {
    const big = this.big;
    delete big.el.dataset.source;
    if (view.state === 'error') {
      big.caption.textContent = `step ${w.step}: could not load`;
      big.showError(w, view.error);
    } else big.caption.textContent = view.state === 'loading' ? `step ${w.step} \u00b7 loading\u2026` : '';
  }

  /**
   * The weight of token qi -> ki (and its difference from the reference step's in diff mode), or on
   * block means the mean over the rows and columns of the block under the pointer.
   */
  readout(shown, qi, ki) {
    const { query, key } = this.geom;
    if (shown.sum) return summaryReadout(shown, qi, ki, query, key);
    const { snap, ref } = shown;
    const s = this.state;
    const h = snap.header;
    const b = h.pool ?? 1;
    const cols = h.shape[3];
    const [bi, bj] = [Math.floor(qi / b), Math.floor(ki / b)];
    const at = (x) => x.data[mapOffset(x, s.layer, s.head) + bi * cols + bj] * (x.header.scale ?? 1 / 255);
    const digits = b > 1 ? 4 : 3;
    const v = at(snap);
    let text = `${tok(query, qi)} \u2192 ${tok(key, ki)}: ${v.toFixed(digits)}`;
    if (b > 1) {
      const end = (i, n) => Math.min(n, (i + 1) * b) - 1;
      const rows = `rows ${bi * b}\u2013${end(bi, h.query_len)}`;
      const columns = `columns ${bj * b}\u2013${end(bj, h.key_len)}`;
      text = `block mean over ${rows} \u00d7 ${columns}: ${v.toFixed(digits)} (at ${tok(query, qi)} \u2192 ${tok(key, ki)})`;
    }
    if (ref) {
      const d = v - at(ref);
      text += ` (\u0394 ${d >= 0 ? '+' : ''}${d.toFixed(digits)})`;
    }
    return text;
  }
}
