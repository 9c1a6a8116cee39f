// View 3: the head view (BertViz-style). The probe's tokens in two columns (queries left,
// keys right) joined by lines weighted by attention, for one layer and one or more heads
// (a colour per head). Hovering a token isolates its lines. Handles sentence pairs
// (segments), causal masks and cross attention (decoder queries -> encoder keys).
// With `compare`, the same for the compare run B at the cursor step: for each head shown in
// A's head view, B's head matched to it (compare.js: same index, or most similar map), in A's
// head colour and labelled "B L3H5 \u2248 A L2H1 (0.93)"; or, when B lacks the step, that message.

import { el, clear, select, setOptions, tokenLabel } from '../dom.js';
import { headColor, rgbCss } from '../colorScale.js';
import { keptIndices, subMatrix } from '../renormalize.js';
import { attentionLines } from '../layout.js';
import { mapOffset, kindTokens } from '../model.js';
import { want, failureText, SnapshotSlot } from '../shown.js';
import { kindInfo, probeInfo, stepsOf } from '../selection.js';
import { matchedHead, matchLabel, missingStepText } from '../compare.js';

const ROW_H = 20;

/**
 * The renormalized weights of each head of `shown` ([{layer, head, color}]: `color` is the head
 * index whose colour its lines take) over the kept rows/columns (those in the snapshot).
 */
function headWeights(snap, shown, rows, cols) {
  const h = snap.header;
  const validRows = rows.filter((r) => r < h.query_len);
  const validCols = cols.filter((c) => c < h.key_len);
  return shown
    .map(({ layer, head, color }) => {
      const off = mapOffset(snap, layer, head);
      if (off < 0) return null;
      const w = subMatrix(snap.data, off, h.key_len, validRows, validCols, h.scale ?? 1 / 255, true);
      return { head: color, w, nr: validRows.length, nc: validCols.length };
    })
    .filter(Boolean);
}

/**
 * Inputs: `data` (DataSource), the actions `set`, `toggleHead`, and `compare` (this is the view of
 * the compare run); update(state, changed).
 */
export class HeadView {
  // (the card's DOM, built once: long but flat)
  constructor({ data, set, toggleHead, compare = false }) {
    this.data = data;
    this.compare = compare;
    this.toggleHead = toggleHead;
    const tid = compare ? 'hv-b' : 'hv'; // test ids: hv-canvas, hv-error... (hv-b-canvas... for B)
    this.state = null;
    this.hover = null; // {side: 'q'|'k', index}
    this.slot = new SnapshotSlot();
    this.layerSel = select([], 0, (v) => set({ layer: Number(v) }), { title: 'Layer', 'data-testid': 'hv-layer' });
    this.headsEl = el('span', { class: 'tba-hv-heads', 'data-testid': 'hv-heads' });
    this.hideBox = el('input', { type: 'checkbox', 'data-testid': 'hide-special' });
    this.hideBox.addEventListener('change', () => set({ hideSpecial: this.hideBox.checked }));
    this.title = el('span', { class: 'tba-card-title' }, 'Head view');
    this.status = el('span', { class: 'tba-sub' });
    this.leftHead = el('div', { class: 'tba-hv-colhead left' });
    this.rightHead = el('div', { class: 'tba-hv-colhead right' });
    this.leftCol = el('div', { 'data-testid': `${tid}-left` });
    this.rightCol = el('div', { 'data-testid': `${tid}-right` });
    this.canvas = el('canvas', { class: 'tba-hv-canvas', 'data-testid': `${tid}-canvas` });
    this.canvasWrap = el('div', { style: { position: 'relative', minWidth: '120px' } }, this.canvas);
    this.notes = el('div', { class: 'tba-hv-notes' });
    this.errorEl = el('div', { class: 'tba-view-error', 'data-testid': `${tid}-error`, role: 'alert', hidden: true });
    this.missingEl = el('div', { class: 'tba-view-error tba-missing', 'data-testid': 'no-snapshot', hidden: true });
    this.matchEl = el('span', { class: 'tba-hv-match', 'data-testid': 'hv-match' });
    this.body = el(
      'div',
      { class: 'tba-hv-body' },
      el(
        'div',
        { class: 'tba-hv-cols' },
        this.leftHead,
        el('div'),
        this.rightHead,
        this.leftCol,
        this.canvasWrap,
        this.rightCol,
      ),
    );
    const hideLabel = el(
      'label',
      { class: 'tba-check', title: 'Hide [CLS]/[SEP]/BOS... and renormalize each row over the remaining tokens' },
      this.hideBox,
      'hide special tokens',
    );
    const controls = compare
      ? el('div', { class: 'tba-card-head' }, this.matchEl)
      : el(
          'div',
          { class: 'tba-card-head' },
          el('label', { class: 'tba-field' }, 'layer', this.layerSel),
          this.headsEl,
        );
    this.el = el(
      'section',
      {
        class: compare ? 'tba-card tba-headview tba-headview-b' : 'tba-card tba-headview',
        'data-testid': compare ? 'head-view-b' : 'head-view',
      },
      el(
        'div',
        { class: 'tba-card-head' },
        this.title,
        this.status,
        el('span', { class: 'tba-spacer' }),
        compare ? '' : hideLabel,
      ),
      controls,
      this.errorEl,
      this.missingEl,
      this.body,
      this.notes,
    );
    if (compare) this.el.hidden = true;
    this.body.addEventListener('pointerleave', () => this.setHover(null));
    new ResizeObserver(() => this.draw()).observe(this.canvasWrap);
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
    if (keys(['index', 'run', 'probe', 'kind', 'hideSpecial'])) this.renderTokens();
    if (changed.has('hideSpecial')) this.hideBox.checked = !!state.hideSpecial;
    const loadKeys = ['index', 'run', 'probe', 'kind', 'layer', 'heads', 'step', 'hideSpecial'];
    if (keys(this.compare ? [...loadKeys, 'matchMode'] : loadKeys)) this.load();
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
    for (let h = 0; h < k.heads; h++) {
      const on = (s.heads || []).includes(h);
      const c = headColor(h);
      const b = el(
        'button',
        {
          'aria-pressed': String(on),
          title: `Toggle head ${h} (shift-click a grid cell also adds heads)`,
          'data-head': h,
          style: { borderColor: rgbCss(c), background: on ? rgbCss(c, 0.18) : '#fff', fontWeight: on ? '600' : '400' },
          onclick: () => this.toggleHead(h),
        },
        `H${h}`,
      );
      this.headsEl.appendChild(b);
    }
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

  renderTokens() {
    const info = this.tokensInfo();
    clear(this.leftCol);
    clear(this.rightCol);
    this.leftEls = [];
    this.rightEls = [];
    if (!info) return;
    const { k, query, key, rows, cols } = info;
    const cross = k.query !== k.key;
    this.leftHead.textContent = cross ? 'decoder (query)' : 'query';
    this.rightHead.textContent = cross ? 'encoder (key)' : 'key';
    const mk = (side, list, idx, i) => {
      const t = list.tokens[idx];
      const cls = ['tba-tok', side === 'q' ? 'left' : 'right'];
      if (list.segments && list.segments[idx] === 1) cls.push('seg1');
      if (list.special && list.special[idx]) cls.push('special');
      const node = el('span', { class: cls.join(' '), title: `${idx}: ${String(t)}`, 'data-index': idx });
      node.textContent = tokenLabel(t); // always text, never HTML
      node.addEventListener('pointerenter', () => this.setHover({ side, index: i }));
      return node;
    };
    rows.forEach((idx, i) => this.leftEls.push(this.leftCol.appendChild(mk('q', query, idx, i))));
    cols.forEach((idx, i) => this.rightEls.push(this.rightCol.appendChild(mk('k', key, idx, i))));
    const notes = [];
    if (k.causal) notes.push('causal: each token attends only to itself and earlier tokens');
    if (cross) notes.push('cross attention: decoder tokens (left) attend to encoder tokens (right)');
    if ((query.segments || []).some((v) => v === 1)) notes.push('shaded tokens: second segment of the sentence pair');
    if (this.state.hideSpecial) notes.push('special tokens hidden, rows renormalized');
    notes.push('hover a token to isolate its lines');
    this.notes.textContent = notes.join(' \u00b7 ');
    this.canvas.style.height = `${Math.max(rows.length, cols.length) * ROW_H}px`;
  }

  setHover(h) {
    const same = (a, b) => a === b || (a && b && a.side === b.side && a.index === b.index);
    if (same(this.hover, h)) return;
    this.hover = h;
    this.draw();
  }

  /** Why the compare run shows nothing at the cursor step (null: it has a snapshot there). */
  missing() {
    const s = this.state;
    return this.compare ? missingStepText(s.compareRun, stepsOf(s, s.compareRun), s.step) : null;
  }

  /**
   * The snapshot the head view shows: this run/probe/kind at this step, one layer; for the compare
   * run, B's snapshot (every layer: a matched head may sit in another layer) with A's at the same
   * step to match against (the two the grid panels load).
   */
  want() {
    const s = this.state;
    if (!this.tokensInfo()) return null;
    if (this.compare)
      return this.missing()
        ? null
        : want({ run: s.compareRun, probe: s.probe, kind: s.kind, step: s.step, ref: s.step, vs: s.run });
    return want({ run: s.run, probe: s.probe, kind: s.kind, step: s.step, layer: s.layer });
  }

  cached(w) {
    const sel = { run: w.run, probe: w.probe, kind: w.kind };
    if (!this.compare) return this.data.cachedLayerSnapshot(sel, w.step, w.layer);
    const snap = this.data.cachedSnapshot(sel, w.step);
    const ref = this.data.cachedSnapshot({ ...sel, run: w.vs }, w.ref);
    return snap && ref ? { snap, ref } : null;
  }

  fetch(w) {
    const sel = { run: w.run, probe: w.probe, kind: w.kind };
    if (!this.compare) return this.data.layerSnapshot(sel, w.step, w.layer);
    return Promise.all([this.data.snapshot(sel, w.step), this.data.snapshot({ ...sel, run: w.vs }, w.ref)]).then(
      ([snap, ref]) => ({ snap, ref }),
    );
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
    const s = this.state;
    const w = this.want();
    const view = this.slot.shown(w);
    const info = this.tokensInfo();
    this.el.dataset.state = view.state;
    this.body.classList.toggle('stale', view.state === 'stale');
    const failed = view.state === 'error';
    const missing = this.missing();
    if (missing) this.el.dataset.state = 'missing';
    this.missingEl.textContent = missing || '';
    this.missingEl.hidden = !missing;
    this.body.hidden = failed || !!missing;
    this.errorEl.hidden = !failed;
    this.weights = null;
    if (this.compare) clear(this.matchEl);
    if (missing) {
      this.status.textContent = `step ${s.step}: no snapshot`;
    } else if (failed) {
      const t = failureText(w, view.error);
      clear(this.errorEl).append(
        el('b', {}, t.title),
        el('div', {}, t.reason),
        el('div', { class: 'tba-hint' }, t.hint),
      );
      this.status.textContent = `step ${w.step}: could not load`;
    } else if (view.state === 'loading') {
      this.status.textContent = 'loading\u2026';
    } else if (view.state === 'none') {
      this.status.textContent = '';
    } else {
      const snap = this.compare ? view.data.snap : view.data;
      const h = snap.header;
      const { rows, cols } = info;
      this.status.textContent =
        view.state === 'stale' ? `loading step ${w.step}\u2026 (showing step ${view.step})` : `step ${w.step}`;
      if (h.query_len < (rows[rows.length - 1] ?? -1) + 1 || h.key_len < (cols[cols.length - 1] ?? -1) + 1) {
        this.status.textContent = 'snapshot and probe tokens disagree in length';
      }
      this.weights = headWeights(snap, this.shownHeads(view.data), rows, cols);
    }
    this.draw();
  }

  /** [{layer, head, color}] drawn: A's heads of its layer, or B's heads matched to them. */
  shownHeads(data) {
    const s = this.state;
    const heads = s.heads || [];
    if (!this.compare) return heads.map((head) => ({ layer: s.layer, head, color: head }));
    const mode = s.matchMode || 'index';
    const out = [];
    for (const head of heads) {
      const m = matchedHead(mode, s.layer, head, data.ref, data.snap);
      const label = matchLabel(mode, { layer: s.layer, head }, m, { loaded: true });
      const c = headColor(head);
      this.matchEl.appendChild(
        el('span', { class: 'tba-match', style: { borderColor: rgbCss(c), background: rgbCss(c, 0.12) } }, label),
      );
      if (m) out.push({ layer: m.layer, head: m.head, color: head });
    }
    return out;
  }

  draw() {
    const cv = this.canvas;
    const w = Math.max(60, this.canvasWrap.clientWidth);
    const nRows = this.leftEls?.length || 0;
    const nCols = this.rightEls?.length || 0;
    const hPx = Math.max(nRows, nCols) * ROW_H;
    const dpr = window.devicePixelRatio || 1;
    cv.width = Math.round(w * dpr);
    cv.height = Math.max(1, Math.round(hPx * dpr));
    const ctx = cv.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, hPx);
    for (const e of [...(this.leftEls || []), ...(this.rightEls || [])]) {
      e.style.background = '';
      e.classList.remove('hover');
    }
    if (!this.weights || !this.weights.length) return;
    const hov = this.hover;
    const highlight = new Float32Array(hov ? (hov.side === 'q' ? nCols : nRows) : 0);
    for (const weights of this.weights) this.drawLines(ctx, weights, w, hov, highlight);
    ctx.globalAlpha = 1;
    if (hov) this.highlightTokens(hov, highlight);
  }

  /** One head's lines (only the hovered token's when hovering); the weights per other-side token. */
  drawLines(ctx, { head, w: wt, nr, nc }, width, hov, highlight) {
    const lines = attentionLines(wt, nr, nc, {
      minWeight: hov ? 0.005 : 0.02,
      onlyRow: hov && hov.side === 'q' ? hov.index : -1,
      onlyCol: hov && hov.side === 'k' ? hov.index : -1,
    });
    ctx.strokeStyle = rgbCss(headColor(head));
    for (const [r, col, v] of lines) {
      ctx.globalAlpha = Math.min(1, 0.08 + v * 0.92);
      ctx.lineWidth = 1 + 2 * v;
      ctx.beginPath();
      ctx.moveTo(2, r * ROW_H + ROW_H / 2);
      ctx.lineTo(width - 2, col * ROW_H + ROW_H / 2);
      ctx.stroke();
      if (hov) {
        const idx = hov.side === 'q' ? col : r;
        highlight[idx] = Math.max(highlight[idx], v);
      }
    }
  }

  /** The hovered token outlined, the tokens it attends to (or that attend to it) shaded. */
  highlightTokens(hov, highlight) {
    const mine = hov.side === 'q' ? this.leftEls : this.rightEls;
    const other = hov.side === 'q' ? this.rightEls : this.leftEls;
    mine[hov.index]?.classList.add('hover');
    const one = this.weights.length === 1;
    const c = headColor(one ? this.weights[0].head : 0);
    other.forEach((e, i) => {
      if (highlight[i] > 0.005)
        e.style.background = one
          ? rgbCss(c, 0.15 + 0.6 * highlight[i])
          : `rgba(26,115,232,${0.15 + 0.6 * highlight[i]})`;
    });
  }
}
