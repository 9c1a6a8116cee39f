// The model overview's head-to-head similarity at the cursor step (./similarity: the mean
// Jensen-Shannon distance between two heads' rows): a small heads x heads heatmap per layer
// (one canvas each; all layers as small multiples, or one layer larger), darker = more alike,
// with a hover readout. It shows exactly the selected step's answer, or its failure in place. A head
// whose map a storage budget left out has no distances (NaN, grey), and its readout says why.

import { el, clear, select, setOptions } from '../../paint/dom.js';
import { seriesOf } from '../../state/selection.js';
import { want, SnapshotSlot, failureText } from '../../state/shown.js';
import { lutsFor } from '../../paint/colorScale.js';
import { hasMap } from '../../answers/storage.js';

/** The pixel size of a cell: about `target` px for the whole map, 3..24 px a cell. */
export function similarityCell(heads, target) {
  return Math.max(3, Math.min(24, Math.floor(target / Math.max(1, heads))));
}

/** A layer's distances [heads x heads] -> packed RGBA pixels (cell x cell blocks), dark = alike. */
export function similarityPixels(data, layer, heads, cell, lut) {
  const w = heads * cell;
  const out = new Uint32Array(w * w);
  for (let i = 0; i < heads; i++)
    for (let j = 0; j < heads; j++) {
      const d = data[(layer * heads + i) * heads + j];
      const c = Number.isFinite(d) ? lut[Math.round(255 * (1 - Math.min(1, Math.max(0, d))))] : 0xffe0e0e0;
      for (let y = 0; y < cell; y++) out.fill(c, (i * cell + y) * w + j * cell, (i * cell + y) * w + (j + 1) * cell);
    }
  return out;
}

/** Inputs: `data` (DataSource), the action `set`; `render(state)`. */
export class SimilarityView {
  constructor({ data, set }) {
    this.data = data;
    this.slot = new SnapshotSlot();
    this.state = null;
    this.layerSel = select([], 'all', (v) => set({ similarityLayer: v }), {
      'data-testid': 'similarity-layer',
      title: 'All layers, or one layer larger',
    });
    this.readout = el('div', { class: 'tba-sub tba-sim-readout', 'data-testid': 'similarity-readout' });
    this.status = el('div', { class: 'tba-message', 'data-testid': 'similarity-error', hidden: true });
    this.maps = el('div', { class: 'tba-sim-maps' });
    this.el = el(
      'div',
      { class: 'tba-similarity', 'data-testid': 'similarity' },
      el(
        'div',
        { class: 'tba-row' },
        el('b', {}, 'Head-to-head similarity'),
        el('span', { class: 'tba-sub' }, ' mean Jensen-Shannon distance of the rows, dark = alike '),
        this.layerSel,
      ),
      this.status,
      this.maps,
      this.readout,
    );
  }

  render(state) {
    this.state = state;
    const w = want({ ...seriesOf(state), step: state.step });
    const layers = state.stats?.header?.layers ?? 0;
    setOptions(
      this.layerSel,
      [['all', 'all layers'], ...Array.from({ length: layers }, (_, l) => [String(l), `layer ${l}`])],
      state.similarityLayer ?? 'all',
    );
    const cached = w && this.data.cachedSimilarity(seriesOf(state), state.step);
    if (cached) this.slot.settle(w, cached);
    else if (w && !this.slot.reuse(w)) {
      this.slot
        .request(w, () => this.data.similarity(seriesOf(state), state.step))
        .then((latest) => {
          if (latest) this.paint(this.state);
        });
    }
    this.paint(state);
  }

  paint(state) {
    const w = want({ ...seriesOf(state), step: state.step });
    const view = this.slot.shown(w, { keepStale: false });
    this.el.dataset.state = view.state;
    this.status.hidden = view.state !== 'error';
    if (view.state === 'error') {
      const f = failureText(w, view.error);
      this.status.textContent = `${f.title}: ${f.reason}. ${f.hint}`;
      this.status.classList.add('error');
    }
    if (view.state !== 'data') return void clear(this.maps);
    this.el.dataset.step = String(w.step);
    this.drawMaps(view.data, state.similarityLayer ?? 'all');
  }

  drawMaps(sim, which) {
    const [all, heads] = sim.header.shape; // header.layers: the snapshot's layer numbers
    const layers = which === 'all' ? Array.from({ length: all }, (_, l) => l) : [Number(which)].filter((l) => l < all);
    const cell = similarityCell(heads, which === 'all' ? 96 : 320);
    const { lut } = lutsFor('linear');
    clear(this.maps);
    for (const l of layers) {
      const size = heads * cell;
      const canvas = el('canvas', {
        width: size,
        height: size,
        class: 'tba-sim-canvas',
        'data-testid': 'similarity-canvas',
        'data-layer': l,
        'data-cell': cell,
      });
      const img = new ImageData(
        new Uint8ClampedArray(similarityPixels(sim.data, l, heads, cell, lut).buffer),
        size,
        size,
      );
      canvas.getContext('2d').putImageData(img, 0, 0);
      canvas.addEventListener('pointermove', (e) => this.hover(sim, l, cell, e));
      canvas.addEventListener('pointerleave', () => (this.readout.textContent = ''));
      this.maps.append(el('figure', { class: 'tba-sim-map' }, canvas, el('figcaption', {}, `layer ${l}`)));
    }
  }

  hover(sim, layer, cell, e) {
    const heads = sim.header.heads;
    const rect = e.target.getBoundingClientRect();
    const scale = e.target.width / rect.width;
    const j = Math.floor(((e.clientX - rect.left) * scale) / cell);
    const i = Math.floor(((e.clientY - rect.top) * scale) / cell);
    if (i < 0 || j < 0 || i >= heads || j >= heads) return;
    const d = sim.data[(layer * heads + i) * heads + j];
    const noMap = [...new Set([i, j])].filter((x) => !hasMap(sim, layer, x)).map((x) => `H${x}`);
    const why = noMap.length ? ` (no map of ${noMap.join(', ')} stored at step ${sim.header.step})` : '';
    this.readout.textContent = `L${layer}: H${i} vs H${j} \u00b7 distance ${Number.isFinite(d) ? d.toFixed(3) : '\u2013'}${why}`;
  }
}
