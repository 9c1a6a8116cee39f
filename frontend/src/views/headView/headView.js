// View 3: the head view (BertViz-style) of one layer and one or more heads (a colour per head):
// the card, its controls (layer, heads, hide special tokens), and what it shows for the selection
// (shown.js); headLines.js draws the token columns and lines. Handles sentence pairs (segments),
// causal masks and cross attention (decoder queries -> encoder keys).
// With `compare`, the same for the compare run B at the cursor step (compareRun.js): for each head
// shown in A's head view, B's head matched to it (compare.js: same index, or most similar map), in
// A's head colour and labelled "B L3H5 \u2248 A L2H1 (0.93)"; or, when B lacks the step, that message.
// A head whose map a storage budget left out at the step draws no lines: a note says so, with
// its statistics (noMapNote.js); one it kept a summary of draws each row's top keys and says so
// (headSummaries.js), in B's view too (B's summaries loaded once its heads are matched). A's view
// loads the heads it shows, one exact head each, never the whole layer (a long probe's layer of 32
// heads is 537 MB at 4k tokens).

import { el, clear, select, setOptions } from '../../paint/dom.js';
import { headColor, rgbCss } from '../../paint/colorScale.js';
import { keptIndices } from '../../answers/renormalize.js';
import { kindTokens } from '../../answers/model.js';
import { hasMap } from '../../answers/storage.js';
import { want, failureText, SnapshotSlot } from '../../state/shown.js';
import { kindInfo, probeInfo } from '../../state/selection.js';
import { matchedHead, matchLabel } from '../../state/compare.js';
import { HeadLines, headWeights } from './headLines.js';
import { missingB, wantB, cachedB, loadB, SummaryLoads } from '../common/compareRun.js';
import { saveButtons } from '../common/saveButtons.js';
import { noMapLine } from '../common/noMapNote.js';
import { cachedSummaries, loadSummaries, summaryNote, summariesOfB, drawnHeads } from './headSummaries.js';
import { HoverPredictions } from './hoverPredictions.js';
import { sideHasPredictions } from '../../answers/predictions.js';

const LOAD_KEYS = ['index', 'run', 'probe', 'kind', 'layer', 'heads', 'step', 'hideSpecial'];

/** A's toggle button of head `h`, in its colour, pressed when shown. */
function headButton(h, on, toggleHead) {
  const c = headColor(h);
  return el(
    'button',
    {
      'aria-pressed': String(on),
      title: `Toggle head ${h} (shift-click a grid cell also adds heads)`,
      'data-head': h,
      style: { borderColor: rgbCss(c), background: on ? rgbCss(c, 0.18) : '#fff', fontWeight: on ? '600' : '400' },
      onclick: () => toggleHead(h),
    },
    `H${h}`,
  );
}

/**
 * Inputs: `data` (DataSource), the actions `set`, `toggleHead`, and `compare` (this is the view of
 * the compare run); update(state, changed).
 */
export class HeadView {
  constructor({ data, set, toggleHead, compare = false }) {
    Object.assign(this, { data, compare, toggleHead, set });
    this.state = null;
    this.slot = new SnapshotSlot();
    this.sums = new SummaryLoads(data, () => this.render()); // B's summarized heads shown
    this.preds = new HoverPredictions({ data, tid: this.tid() }); // hv-predictions: the hovered token's
    this.lines = new HeadLines(this.tid(), { onHover: (t) => this.preds.hover(t), onPick: (t) => this.pick(t) });
    this.body = this.lines.body;
    this.layerSel = select([], 0, (v) => set({ layer: Number(v) }), { title: 'Layer', 'data-testid': 'hv-layer' });
    this.headsEl = el('span', { class: 'tba-hv-heads', 'data-testid': 'hv-heads' });
    this.hideBox = el('input', { type: 'checkbox', 'data-testid': 'hide-special' });
    this.hideBox.addEventListener('change', () => set({ hideSpecial: this.hideBox.checked }));
    this.title = el('span', { class: 'tba-card-title' }, 'Head view');
    this.status = el('span', { class: 'tba-sub' });
    this.errorEl = el('div', {
      class: 'tba-view-error',
      'data-testid': `${this.tid()}-error`,
      role: 'alert',
      hidden: true,
    });
    this.missingEl = el('div', { class: 'tba-view-error tba-missing', 'data-testid': 'no-snapshot', hidden: true });
    this.noMapEl = el('div', {
      class: 'tba-view-error tba-no-map',
      'data-testid': `${this.tid()}-no-map`,
      hidden: true,
    });
    this.summaryEl = el('div', { class: 'tba-hv-summary', 'data-testid': `${this.tid()}-summary`, hidden: true });
    this.matchEl = el('span', { class: 'tba-hv-match', 'data-testid': 'hv-match' });
    this.el = this.buildCard();
    if (compare) this.el.hidden = true;
  }

  /** The weights drawn (null: none; a test hook: an error draws nothing). */
  get weights() {
    return this.lines.weights;
  }

  tid() {
    return this.compare ? 'hv-b' : 'hv';
  }

  /** The card: title, status, (A) hide special tokens; the controls or (B) the match labels; the body. */
  buildCard() {
    const hideLabel = el(
      'label',
      { class: 'tba-check', title: 'Hide [CLS]/[SEP]/BOS... and renormalize each row over the remaining tokens' },
      this.hideBox,
      'hide special tokens',
    );
    const find = this.lines.find.el;
    const controls = this.compare
      ? el('div', { class: 'tba-card-head' }, this.matchEl, el('span', { class: 'tba-spacer' }), find)
      : el(
          'div',
          { class: 'tba-card-head' },
          el('label', { class: 'tba-field' }, 'layer', this.layerSel),
          this.headsEl,
          el('span', { class: 'tba-spacer' }),
          find,
        );
    const spacer = el('span', { class: 'tba-spacer' });
    const save = saveButtons(
      `${this.tid()}-save`,
      () => this.figure(),
      () => this.fileParts(),
    );
    return el(
      'section',
      {
        class: this.compare ? 'tba-card tba-headview tba-headview-b' : 'tba-card tba-headview',
        'data-testid': this.compare ? 'head-view-b' : 'head-view',
      },
      el('div', { class: 'tba-card-head' }, this.title, this.status, spacer, this.compare ? '' : hideLabel, save),
      controls,
      this.errorEl,
      this.missingEl,
      this.noMapEl,
      this.summaryEl,
      this.body,
      this.lines.focus,
      this.preds.el,
      this.lines.notes,
    );
  }

  /** The lines and tokens shown, titled with run, probe, kind, step and heads (null: none shown). */
  figure() {
    const s = this.state;
    if (!s || this.el.dataset.state !== 'data') return null;
    return this.lines.figure(
      `${this.run()} \u00b7 ${s.probe} (${s.kind}) \u00b7 step ${s.step} \u00b7 ${this.title.textContent}`,
    );
  }

  fileParts() {
    const s = this.state;
    return ['attention-heads', this.run(), s.probe, s.kind, `step${s.step}`, `L${s.layer}`];
  }

  /** The run this view shows: the selected one, or the compare run. */
  run() {
    return this.compare ? this.state.compareRun : this.state.run;
  }

  update(state, changed) {
    this.state = state;
    if (this.compare) {
      this.el.hidden = !state.compareRun;
      if (!state.compareRun) {
        if (this.slot.last || this.slot.pending) this.slot.reset();
        return;
      }
    }
    const keys = (list) => list.some((k) => changed.has(k)) || (this.compare && changed.has('compareRun'));
    if (keys(['index', 'run', 'probe', 'kind', 'layer', 'heads', 'head'])) this.renderControls();
    if (keys(['index', 'run', 'probe', 'kind', 'hideSpecial']))
      this.lines.renderTokens(this.tokensInfo(), !!state.hideSpecial);
    if (changed.has('hideSpecial')) this.hideBox.checked = !!state.hideSpecial;
    if (keys(this.compare ? [...LOAD_KEYS, 'matchMode'] : LOAD_KEYS)) this.load();
    if (keys(['index', 'run', 'probe', 'kind', 'step'])) this.preds.update(state, this.run());
    else if (changed.has(this.compare ? 'compareStats' : 'stats')) this.render(); // a no-map note's numbers
  }

  /** A clicked token with predictions becomes the Predictions card's position (A only). */
  pick({ side, index }) {
    if (!this.compare && sideHasPredictions(kindInfo(this.state), side))
      this.set({ predictionPick: { probe: this.state.probe, position: index, token: null } });
  }

  renderControls() {
    const s = this.state;
    const k = kindInfo(s);
    if (!k) return;
    if (this.compare) {
      this.title.textContent = `Head view \u00b7 B: ${s.compareRun}`;
      return;
    }
    const layers = Array.from({ length: k.layers }, (_, i) => [String(i), `L${i}`]);
    setOptions(this.layerSel, layers, String(s.layer));
    clear(this.headsEl);
    for (let h = 0; h < k.heads; h++)
      this.headsEl.appendChild(headButton(h, (s.heads || []).includes(h), this.toggleHead));
    this.title.textContent = `Head view \u00b7 L${s.layer} ${(s.heads || []).map((h) => 'H' + h).join(' ')}`;
  }

  tokensInfo() {
    const probe = probeInfo(this.state, this.run());
    const k = kindInfo(this.state, this.run());
    if (!probe || !k) return null;
    const { query, key } = kindTokens(probe, k);
    const hide = !!this.state.hideSpecial;
    const rows = keptIndices(query.tokens.length, query.special, hide);
    const cols = keptIndices(key.tokens.length, key.special, hide);
    return { k, query, key, rows, cols };
  }

  /** Why the compare run shows nothing at the cursor step (null: it has a snapshot there). */
  missing() {
    return this.compare ? missingB(this.state) : null;
  }

  /**
   * What the head view shows: this run/probe/kind at this step, the heads shown of one layer (`head`
   * "0,2"); for the compare run, B's snapshot and A's at the same step (compareRun.js).
   */
  want() {
    const s = this.state;
    if (!this.tokensInfo()) return null;
    if (this.compare) return wantB(s);
    const head = (s.heads || []).join(',');
    return want({ run: s.run, probe: s.probe, kind: s.kind, step: s.step, layer: s.layer, head });
  }

  /**
   * A's heads of `w`, one exact head each (./snapshot?layer&head), and the summaries of those kept
   * as one ({snaps, sums}), when all are cached; B's pair.
   */
  cached(w) {
    if (this.compare) return cachedB(this.data, w);
    const snaps = this.headsOf(w).map((h) => this.data.cachedHeadSnapshot(this.sel(w), w.step, w.layer, h));
    const sums = snaps.every(Boolean) && cachedSummaries(this.data, this.sel(w), w.step, w.layer, snaps);
    return sums ? { snaps, sums } : null;
  }

  async fetch(w) {
    if (this.compare) return loadB(this.data, w);
    const head = (h) => this.data.headSnapshot(this.sel(w), w.step, w.layer, h);
    const snaps = await Promise.all(this.headsOf(w).map(head));
    return { snaps, sums: await loadSummaries(this.data, this.sel(w), w.step, w.layer, snaps) };
  }

  sel(w) {
    return { run: w.run, probe: w.probe, kind: w.kind };
  }

  headsOf(w) {
    return String(w.head).split(',').filter(Boolean).map(Number);
  }

  async load() {
    const w = this.want();
    if (!w) {
      this.slot.reset();
      this.render();
      return;
    }
    const cached = this.cached(w);
    if (cached) {
      this.slot.settle(w, cached);
      this.render();
      return;
    }
    const done = this.slot.request(w, () => this.fetch(w));
    this.render(); // loading (or the previous step, marked stale)
    if (await done) this.render();
  }

  /** Lines, status and error from exactly what the current selection resolves to (shown.js). */
  render() {
    const w = this.want();
    const view = this.slot.shown(w);
    const missing = this.missing();
    const failed = view.state === 'error';
    this.el.dataset.state = missing ? 'missing' : view.state;
    this.body.classList.toggle('stale', view.state === 'stale');
    this.missingEl.textContent = missing || '';
    this.missingEl.hidden = !missing;
    this.body.hidden = failed || !!missing;
    this.errorEl.hidden = !failed;
    if (this.compare) clear(this.matchEl);
    this.noMap = [];
    this.summaries = [];
    this.lines.setWeights(this.renderStatus(w, view));
    this.renderNoMap();
    this.summaryEl.replaceChildren(...summaryNote(this.summaries));
    this.summaryEl.hidden = !this.summaries.length;
    this.el.dataset.summary = this.summaries.map((u) => `L${u.layer}H${u.head}`).join(' ');
  }

  /** The note on the shown heads that have no map at the step drawn (`noMap`: [{layer, head, step}]). */
  renderNoMap() {
    const s = this.state;
    const stats = this.compare ? s.compareStats : s.stats;
    const kind = kindInfo(s, this.run());
    this.noMapEl.replaceChildren(...this.noMap.map((m) => noMapLine({ ...m, kind, stats })));
    this.noMapEl.hidden = !this.noMap.length;
    this.el.dataset.noMap = this.noMap.map((m) => `L${m.layer}H${m.head}`).join(' ');
  }

  /** The status line (and the error) of `view`; -> the weights to draw, or null. */
  renderStatus(w, view) {
    if (this.missing()) {
      this.status.textContent = `step ${this.state.step}: no snapshot`;
      return null;
    }
    if (view.state === 'error') {
      const t = failureText(w, view.error);
      clear(this.errorEl).append(
        el('b', {}, t.title),
        el('div', {}, t.reason),
        el('div', { class: 'tba-hint' }, t.hint),
      );
      this.status.textContent = `step ${w.step}: could not load`;
      return null;
    }
    if (view.state === 'loading' || view.state === 'none') {
      this.status.textContent = view.state === 'loading' ? 'loading\u2026' : '';
      return null;
    }
    const snaps = this.compare ? [view.data.snap] : view.data.snaps; // B's snapshot, or A's heads
    const h = snaps[0].header;
    const { rows, cols } = this.tokensInfo();
    this.status.textContent =
      view.state === 'stale' ? `loading step ${w.step}\u2026 (showing step ${view.step})` : `step ${w.step}`;
    if (h.query_len < (rows[rows.length - 1] ?? -1) + 1 || h.key_len < (cols[cols.length - 1] ?? -1) + 1) {
      this.status.textContent = 'snapshot and probe tokens disagree in length';
    }
    const heads = this.shownHeads(view.data);
    const b = this.compare ? summariesOfB(this.sums, this.state, snaps[0], heads) : { sums: view.data.sums };
    this.status.textContent += b.status ?? '';
    const d = drawnHeads(snaps, heads, b.sums);
    this.noMap = d.noMap.map((x) => ({ ...x, step: h.step }));
    this.summaries = d.summaries;
    return headWeights(snaps, d.drawn, rows, cols, b.sums);
  }

  /** [{layer, head, color}] drawn: A's heads of its layer, or B's heads matched to them. */
  shownHeads(data) {
    const s = this.state;
    const heads = s.heads || [];
    if (!this.compare) return heads.map((head) => ({ layer: s.layer, head, color: head }));
    const mode = s.matchMode || 'index';
    const out = [];
    for (const head of heads) {
      const m = matchedHead(mode, s.layer, head, data.ref, data.snap, data.refMeans, data.means);
      const noMapA = hasMap(data.ref, s.layer, head) ? null : data.ref.header.step;
      const label = matchLabel(mode, { layer: s.layer, head }, m, { loaded: true, noMapA });
      const c = headColor(head);
      this.matchEl.appendChild(
        el('span', { class: 'tba-match', style: { borderColor: rgbCss(c), background: rgbCss(c, 0.12) } }, label),
      );
      if (m) out.push({ layer: m.layer, head: m.head, color: head });
    }
    return out;
  }
}
