// The model view's navigation controls for large grids: zoom out / in / fit (the state's
// `gridZoom`: 'fit' or a cell size) and a "go to head" box (selection.js: headRefPatch).

import { el } from '../../paint/dom.js';
import { stepZoom } from '../../paint/gridGeometry.js';
import { headRefPatch } from '../../state/selection.js';

/** Inputs: `set` (a state patch, or a function of the state giving one); update(state, cell). */
export class GridNav {
  constructor({ set }) {
    this.cell = 0; // the cell size shown
    const zoomTo = (dir) => set({ gridZoom: stepZoom(this.cell, dir) });
    const button = (tid, text, title, onclick) => el('button', { 'data-testid': tid, title, onclick }, text);
    this.zoomLabel = el('span', { class: 'tba-sub', 'data-testid': 'zoom-level' });
    this.fitBtn = button('zoom-fit', 'fit', 'Fit every head in the width', () => set({ gridZoom: 'fit' }));
    this.find = el('input', {
      type: 'text',
      class: 'tba-find',
      placeholder: 'go to L H',
      title: 'Go to a head: "L37 H12", "37 12" or a layer "L37"; Enter',
      'data-testid': 'find-head',
      size: 8,
    });
    this.find.addEventListener('keydown', (e) => {
      if (e.key !== 'Enter') return;
      const text = this.find.value;
      this.find.classList.remove('invalid');
      set((s) => headRefPatch(s, text) || (this.find.classList.add('invalid'), null));
    });
    this.el = el(
      'span',
      { class: 'tba-gridnav' },
      button('zoom-out', '\u2212', 'Smaller heads', () => zoomTo(-1)),
      this.zoomLabel,
      button('zoom-in', '+', 'Larger heads (scroll, or drag the overview)', () => zoomTo(1)),
      this.fitBtn,
      this.find,
    );
  }

  /** The zoom shown: `cell` px cells, from the state's gridZoom. */
  update(state, cell) {
    this.cell = cell;
    const fit = state.gridZoom === 'fit';
    this.zoomLabel.textContent = fit ? `fit \u00b7 ${cell} px` : `${cell} px`;
    this.fitBtn.setAttribute('aria-pressed', String(fit));
  }
}
