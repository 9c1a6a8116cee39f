// The model overview's table: every head at the cursor step against a reference step (the first
// snapshot by default): drift, the change of entropy, [CLS] (first-token) and [SEP] mass, previous-
// and next-token attention, and each relation's mass when the run has relations. A click on a
// column header sorts by it (again: the other way), a click on a row selects the head.

import { el, clear, select, setOptions } from '../../paint/dom.js';
import { formatStat, statIndex, statsStepIndex } from '../../answers/model.js';
import { headDeltas, sortRows, DELTA_COLUMNS } from '../../answers/overviewNumbers.js';
import { relationList, relationStepIndex, relationValue, MASS } from '../../answers/relationData.js';

const MAX_ROWS = 60;

/** The table's columns: the statistics this probe has, then one per relation ({key, label, delta}). */
export function tableColumns(stats, relations) {
  const cols = DELTA_COLUMNS.filter((c) => statIndex(stats, c.stat) >= 0);
  for (const r of relationList(relations)) cols.push({ key: `rel:${r.relation}`, label: `${r.relation} mass` });
  return cols;
}

/** Each row's relation masses at `step` (added in place, as `rel:<name>`). */
export function addRelationScores(rows, relations, step) {
  relationList(relations).forEach((entry, r) => {
    const i = relationStepIndex(relations, r, step);
    for (const row of rows) row[`rel:${entry.relation}`] = relationValue(relations, r, MASS, i, row.layer, row.head);
  });
  return rows;
}

/** Inputs: the actions `set`, `selectHead`; `render(state)`. */
export class HeadTable {
  constructor({ set, selectHead }) {
    this.set = set;
    this.selectHead = selectHead;
    this.refSel = select([], '', (v) => set({ overviewRef: v === '' ? null : Number(v) }), {
      'data-testid': 'overview-ref',
      title: 'Reference step of the changes',
    });
    this.note = el('span', { class: 'tba-sub', 'data-testid': 'head-table-note' });
    this.table = el('table', { class: 'tba-table tba-head-table', 'data-testid': 'head-table' });
    this.el = el(
      'div',
      { class: 'tba-head-table-wrap' },
      el('div', { class: 'tba-row' }, el('label', { class: 'tba-field' }, 'changes vs', this.refSel), this.note),
      el('div', { class: 'tba-table-scroll' }, this.table),
    );
  }

  render(state) {
    const stats = state.stats;
    const steps = stats?.header?.steps || [];
    setOptions(
      this.refSel,
      [['', `first (${steps[0] ?? '\u2013'})`], ...steps.map((s) => [String(s), `step ${s}`])],
      state.overviewRef === null || state.overviewRef === undefined ? '' : String(state.overviewRef),
    );
    clear(this.table);
    if (!stats) return void (this.note.textContent = 'loading statistics\u2026');
    const stepIdx = statsStepIndex(stats, state.step);
    const refIdx =
      state.overviewRef === null || state.overviewRef === undefined ? 0 : statsStepIndex(stats, state.overviewRef);
    const rel = state.relations?.header ? state.relations : null;
    const cols = tableColumns(stats, rel);
    const rows = addRelationScores(headDeltas(stats, stepIdx, refIdx), rel, state.step);
    const sort = state.overviewSort || { key: 'drift', dir: 'desc' };
    const sorted = sortRows(rows, cols.some((c) => c.key === sort.key) ? sort.key : 'drift', sort.dir);
    this.note.textContent = `step ${steps[stepIdx]} vs step ${steps[refIdx]} \u00b7 ${
      sorted.length > MAX_ROWS ? `the first ${MAX_ROWS} of ${sorted.length} heads` : `${sorted.length} heads`
    }`;
    this.table.append(
      this.header(cols, sort),
      el(
        'tbody',
        {},
        sorted.slice(0, MAX_ROWS).map((r) => this.row(r, cols, state)),
      ),
    );
  }

  header(cols, sort) {
    const th = (c) => {
      const on = c.key === sort.key;
      const flip = () => this.set({ overviewSort: { key: c.key, dir: on && sort.dir === 'desc' ? 'asc' : 'desc' } });
      return el(
        'th',
        {
          'data-testid': 'sort-' + c.key,
          'aria-sort': on ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none',
        },
        el(
          'button',
          { class: 'tba-sort', onclick: flip, title: `Sort by ${c.label}` },
          c.label,
          on ? (sort.dir === 'asc' ? ' \u25b2' : ' \u25bc') : '',
        ),
      );
    };
    return el('thead', {}, el('tr', {}, el('th', {}, 'head'), cols.map(th)));
  }

  row(r, cols, state) {
    const selected = r.layer === state.layer && r.head === state.head;
    return el(
      'tr',
      {
        'data-testid': 'head-row',
        'data-layer': r.layer,
        'data-head': r.head,
        class: selected ? 'selected' : '',
        title: `Select layer ${r.layer}, head ${r.head}`,
        onclick: () => this.selectHead(r.layer, r.head),
      },
      el('td', {}, `L${r.layer} H${r.head}`),
      cols.map((c) => el('td', { 'data-key': c.key, 'data-value': r[c.key] }, signed(r[c.key], c.delta))),
    );
  }
}

function signed(v, delta) {
  const text = formatStat(v);
  return delta && Number.isFinite(v) && v > 0 ? '+' + text : text;
}
