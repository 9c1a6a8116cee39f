// The relations card: a relation picker; the heads ranked by their score (mass or Clark et al.'s
// accuracy) at the cursor step, as a table whose rows select the head; their curves over steps with
// the probing classifier's held-out accuracy (relationsChart.js); "formed at step N" and the
// classifier's top-weighted heads. Says in place what to add when the run has no relation probes,
// and shows the failure, never another run's relations, when ./relations fails.

import { el, clear, select, setOptions } from '../../paint/dom.js';
import { formatStat } from '../../answers/model.js';
import { relationList, relationIndex, rankHeads, relationStep, instancesText } from '../../answers/relationData.js';
import { RelationsChart } from './relationsChart.js';
import { saveButtons } from '../common/saveButtons.js';

const TABLE_ROWS = 12;
const CHART_HEADS = 5;

const NONE_TEXT =
  'This run has no relation probes. Add labelled relations to the callback: AttentionCallback(probes=[...], ' +
  'relations="english") for the built-in English set (coreference, determiner/modifier \u2192 noun, object \u2192 ' +
  'verb, possessive \u2192 noun), or a probe with "relations", e.g. {"text": "The cat did not eat the food because ' +
  'it was not fresh.", "relations": [("it", "food", "coreference")]}, or relations="my_relations.jsonl".';

/** Inputs: the actions `set`, `setStep`, `selectHead`; update(state, changed). */
export class RelationsCard {
  constructor({ set, setStep, selectHead }) {
    this.selectHead = selectHead;
    this.state = null;
    this.chart = new RelationsChart({ setStep });
    this.picker = select([], '', (v) => set({ relation: v }), { 'data-testid': 'relation-picker', title: 'Relation' });
    this.rankBy = select(
      [
        ['mass', 'rank by mass'],
        ['accuracy', 'rank by accuracy'],
      ],
      'mass',
      (v) => set({ relationRank: v }),
      { 'data-testid': 'relation-rank-by', title: 'Rank the heads by attention mass or by accuracy (Clark et al.)' },
    );
    this.formed = el('span', { class: 'tba-sub', 'data-testid': 'relation-formed' });
    this.pairs = el('div', { class: 'tba-sub', 'data-testid': 'relation-pairs' });
    this.message = el('div', { class: 'tba-message', 'data-testid': 'relations-message', hidden: true });
    this.table = el('table', { class: 'tba-table', 'data-testid': 'relation-table' });
    this.classifier = el('div', { class: 'tba-classifier', 'data-testid': 'relation-classifier' });
    // the chart across the card, as wide as the loss timeline's (same step axis, same pixels)
    this.body = el(
      'div',
      { class: 'tba-rel-body' },
      this.chart.el,
      el('div', { class: 'tba-rel-below' }, el('div', { class: 'tba-rel-table' }, this.table), this.classifier),
    );
    const head = el(
      'div',
      { class: 'tba-card-head' },
      el('span', { class: 'tba-card-title' }, 'Relations'),
      this.picker,
      this.rankBy,
      this.formed,
      el('span', { class: 'tba-spacer' }),
      saveButtons(
        'rel-save',
        () =>
          this.chart.figure(`${this.state.run} \u00b7 Relations \u00b7 ${this.picker.value} (${this.rankBy.value})`),
        () => ['attention-relations', this.state.run, this.picker.value],
      ),
    );
    this.el = el('section', { class: 'tba-card tba-relations', 'data-testid': 'relations' }, head, this.pairs);
    this.el.append(this.message, this.body);
  }

  update(state, changed) {
    this.state = state;
    const keys = ['relations', 'run', 'step', 'layer', 'head', 'relation', 'relationRank', 'index'];
    if (keys.some((k) => changed.has(k))) this.render();
  }

  /** Loading, the failure, "no relation probes", or the relation's views. */
  render() {
    const s = this.state;
    const rel = s.relations;
    const list = relationList(rel);
    const problem = !rel
      ? ['loading', 'loading relations\u2026']
      : rel.error
        ? ['error', failure(s.run, rel.error)]
        : !list.length
          ? ['none', NONE_TEXT]
          : null;
    this.el.dataset.state = problem ? problem[0] : 'data';
    this.message.hidden = !problem;
    this.message.classList.toggle('error', !!problem && problem[0] === 'error');
    this.body.hidden = !!problem;
    this.picker.hidden = this.rankBy.hidden = !!problem;
    if (problem) {
      this.message.textContent = problem[1];
      clear(this.pairs);
      this.formed.textContent = '';
      this.chart.render(s, null, -1, [], 'mass');
      return;
    }
    const r = Math.max(0, relationIndex(rel, s.relation));
    setOptions(
      this.picker,
      list.map((x) => [x.relation, x.relation]),
      list[r].relation,
    );
    this.rankBy.value = s.relationRank || 'mass';
    this.renderRelation(rel, r, s.relationRank || 'mass');
  }

  renderRelation(rel, r, by) {
    const s = this.state;
    const entry = relationList(rel)[r];
    const ranked = rankHeads(rel, r, s.step, by);
    const at = relationStep(rel, r, s.step);
    const held = s.stats?.header?.formed_snapshots;
    this.formed.textContent = Number.isFinite(entry.formed_step)
      ? `formed at step ${entry.formed_step}`
      : 'not formed (no head picks the target in half of the pairs' +
        (held ? ` at each of the last ${held} snapshots)` : ' up to the last step)');
    this.formed.title = held
      ? `Formed: from that step on, the best head picks the target in at least half of the pairs at every snapshot, ${held} at least`
      : '';
    this.pairs.textContent = `${entry.instances.length} labelled pairs: ${instancesText(entry)}`;
    this.renderTable(ranked, at, entry.pairs ?? entry.instances.length);
    const shownHeads = ranked.slice(0, CHART_HEADS).map((h) => ({ layer: h.layer, head: h.head }));
    if (!shownHeads.some((h) => h.layer === s.layer && h.head === s.head))
      shownHeads.push({ layer: s.layer, head: s.head });
    for (const h of shownHeads) h.selected = h.layer === s.layer && h.head === s.head;
    this.chart.render(s, rel, r, shownHeads, by);
    this.renderClassifier(entry);
  }

  renderTable(ranked, at, pairs) {
    const s = this.state;
    const caption = el(
      'caption',
      {},
      `heads at step ${at ?? '\u2013'}`,
      at !== s.step ? ' (the relation\u2019s step at or before the cursor)' : '',
      `; accuracy over ${pairs} labelled pair${pairs === 1 ? '' : 's'}, [95% interval]`,
    );
    const head = el('tr', {}, el('th', {}, '#'), el('th', {}, 'head'), el('th', {}, 'mass'), el('th', {}, 'accuracy'));
    const rows = ranked.slice(0, TABLE_ROWS).map((h, i) =>
      el(
        'tr',
        {
          'data-testid': 'relation-row',
          'data-layer': h.layer,
          'data-head': h.head,
          class: h.layer === s.layer && h.head === s.head ? 'selected' : '',
          title: `Select layer ${h.layer}, head ${h.head}`,
          onclick: () => this.selectHead(h.layer, h.head),
        },
        el('td', {}, String(i + 1)),
        el('td', {}, `L${h.layer} H${h.head}`),
        el('td', {}, formatStat(h.mass)),
        el('td', { 'data-testid': 'relation-accuracy' }, withInterval(h.accuracy, h.interval)),
      ),
    );
    clear(this.table).append(caption, el('thead', {}, head), el('tbody', {}, rows));
  }

  /** "probing classifier: held-out accuracy 0.83 at step 200 · top heads L2H3 (+1.4) ..." */
  renderClassifier(entry) {
    const c = entry.classifier || {};
    const accs = c.heldout_accuracy || [];
    const last = accs.length ? accs[accs.length - 1] : null;
    const pairs = entry.pairs ?? entry.instances.length;
    const text = Number.isFinite(last)
      ? `probing classifier (all heads, held-out pairs): accuracy ${withInterval(last, c.interval?.at(-1))} ` +
        `at step ${c.steps.at(-1)}, over ${pairs} pairs`
      : `probing classifier: too few pairs for a held-out accuracy (${pairs}; it takes ${c.min_pairs ?? 10} or more)`;
    const tops = (c.top_heads || [])
      .slice(0, 5)
      .map((t) =>
        el(
          'button',
          { class: 'tba-chip', 'data-testid': 'classifier-head', onclick: () => this.selectHead(t.layer, t.head) },
          `L${t.layer}H${t.head} (${t.weight >= 0 ? '+' : ''}${formatStat(t.weight)})`,
        ),
      );
    clear(this.classifier).append(el('span', {}, text), tops.length ? ' \u00b7 top-weighted heads: ' : '', ...tops);
  }
}

/** "0.80 [0.49, 0.94]": a proportion with its 95% interval (the interval left out where there is none). */
function withInterval(value, interval) {
  if (!Number.isFinite(value)) return formatStat(value);
  const [low, high] = interval || [];
  return Number.isFinite(low) && Number.isFinite(high)
    ? `${formatStat(value)} [${formatStat(low)}, ${formatStat(high)}]`
    : formatStat(value);
}

function failure(run, error) {
  const status = typeof error?.status === 'number' ? ` (HTTP ${error.status})` : '';
  return `Could not load the relations of run ${run}: ${error?.message || error}${status}. Pick the run again or another one; check that TensorBoard is still running.`;
}
