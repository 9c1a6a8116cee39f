// View 5: run, probe, attention-kind and comparison-run pickers, plus the live status and, for a
// run with a storage budget, the line that says which heads have full maps.

import { el, select, setOptions } from '../../paint/dom.js';
import { findRun, findProbe, findKind, comparableRuns } from '../../answers/model.js';
import { storageLine } from '../../answers/storage.js';

const KIND_LABELS = {
  self: 'self-attention',
  encoder: 'encoder self-attention',
  decoder: 'decoder self-attention',
  cross: 'cross-attention',
};

/** Inputs: the actions `selectRun`, `set`; update(state, changed), setStatus(text, isError). */
export class Pickers {
  constructor({ selectRun, set }) {
    this.run = select([], '', (v) => selectRun(v), { 'data-testid': 'run-picker', title: 'Run' });
    this.probe = select([], '', (v) => set({ probe: v }), { 'data-testid': 'probe-picker', title: 'Probe' });
    this.kind = select([], '', (v) => set({ kind: v }), { 'data-testid': 'kind-picker', title: 'Attention kind' });
    this.compare = select([], '', (v) => set({ compareRun: v || null }), {
      'data-testid': 'compare-picker',
      title: 'Show a second run side by side at the same step',
    });
    this.match = select(
      [
        ['index', 'by index'],
        ['pattern', 'by pattern'],
      ],
      'index',
      (v) => set({ matchMode: v }),
      {
        'data-testid': 'match-mode',
        title:
          "Which head of the compare run is shown for a head of this run: the same layer and head, or the most similar map at this step (cosine over the probe's tokens)",
      },
    );
    this.matchField = el('label', { class: 'tba-field' }, 'match heads', this.match);
    this.kindField = el('label', { class: 'tba-field' }, 'attention', this.kind);
    this.compareField = el('label', { class: 'tba-field' }, 'compare with', this.compare);
    this.status = el('span', { class: 'tba-status', 'data-testid': 'status' });
    this.storage = el('div', { class: 'tba-storage', 'data-testid': 'storage-note', hidden: true });
    this.el = el(
      'header',
      { class: 'tba-header' },
      el('span', { class: 'tba-title' }, 'Attention'),
      el('label', { class: 'tba-field' }, 'run', this.run),
      el('label', { class: 'tba-field' }, 'probe', this.probe),
      this.kindField,
      this.compareField,
      this.matchField,
      this.status,
      this.storage,
    );
  }

  /** The storage budget of the selected kind (and of the compare run's, when it has one). */
  renderStorage(state) {
    const line = (run) => storageLine(findKind(findProbe(findRun(state.index, run), state.probe), state.kind));
    const a = line(state.run);
    const b = state.compareRun ? line(state.compareRun) : null;
    const lines = [a && (b ? `${state.run}: ${a}` : a), b && `${state.compareRun}: ${b}`].filter(Boolean);
    this.storage.replaceChildren(...lines.map((t) => el('div', {}, t)));
    this.storage.hidden = !lines.length;
  }

  update(state, changed) {
    if (changed.has('matchMode')) this.match.value = state.matchMode;
    this.matchField.style.display = state.compareRun ? '' : 'none';
    if (!['index', 'run', 'probe', 'kind', 'compareRun'].some((k) => changed.has(k))) return;
    const idx = state.index;
    setOptions(
      this.run,
      (idx?.runs || []).map((r) => [r.run, r.run]),
      state.run,
    );
    const run = findRun(idx, state.run);
    setOptions(
      this.probe,
      (run?.probes || []).map((p) => [p.name, p.name]),
      state.probe,
    );
    const probe = findProbe(run, state.probe);
    const kinds = probe?.kinds || [];
    setOptions(
      this.kind,
      kinds.map((k) => [k.kind, KIND_LABELS[k.kind] || k.kind]),
      state.kind,
    );
    this.kindField.style.display = kinds.length > 1 ? '' : 'none';
    const others = comparableRuns(idx, state.run, state.probe, state.kind);
    setOptions(this.compare, [['', 'none'], ...others.map((r) => [r, r])], state.compareRun || '');
    this.compareField.style.display = others.length ? '' : 'none';
    this.renderStorage(state);
  }

  setStatus(text, isError = false) {
    this.status.textContent = text;
    this.status.classList.toggle('error', isError);
  }
}
