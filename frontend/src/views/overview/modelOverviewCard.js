// The model overview card: the whole model over training, from ./stats (and ./relations,
// ./similarity): per-layer curves (layerCurves.js), the alerts (alerts.js), the sortable table
// of heads against a reference step (headTable.js) and the head-to-head similarity of each
// layer at the cursor step (similarityView.js).

import { el } from '../../paint/dom.js';
import { LayerCurves } from './layerCurves.js';
import { HeadTable } from './headTable.js';
import { Alerts } from './alerts.js';
import { SimilarityView } from './similarityView.js';
import { saveButtons } from '../common/saveButtons.js';

const SERIES = ['run', 'probe', 'kind', 'index', 'stats'];

/** Inputs: `data` (DataSource), the actions `set`, `setStep`, `selectHead`; update(state, changed). */
export class ModelOverviewCard {
  constructor({ data, set, setStep, selectHead }) {
    this.curves = new LayerCurves({ set, setStep });
    this.table = new HeadTable({ set, selectHead });
    this.alerts = new Alerts({ selectHead });
    this.similarity = new SimilarityView({ data, set });
    this.el = el(
      'section',
      { class: 'tba-card tba-overview', 'data-testid': 'overview' },
      el(
        'div',
        { class: 'tba-card-head' },
        el('span', { class: 'tba-card-title' }, 'Model overview'),
        el('span', { class: 'tba-sub' }, 'per layer, over its heads:'),
        this.curves.picker,
        el('span', { class: 'tba-spacer' }),
        saveButtons(
          'layers-save',
          () => this.curves.figure(this.title()),
          () => ['attention-layers', this.state?.run, this.state?.probe, this.state?.kind, this.curves.picker.value],
        ),
      ),
      this.curves.el,
      this.alerts.el,
      el('div', { class: 'tba-overview-body' }, this.table.el, this.similarity.el),
    );
  }

  /** The layer chart's title in a saved figure. */
  title() {
    const s = this.state;
    const stat = this.curves.picker.selectedOptions[0]?.textContent || '';
    return `${s.run} \u00b7 ${s.probe} (${s.kind}) \u00b7 ${stat}, per layer`;
  }

  update(state, changed) {
    this.state = state;
    const has = (keys) => keys.some((k) => changed.has(k));
    if (has([...SERIES, 'overviewStat'])) this.curves.render(state);
    else if (changed.has('step')) this.curves.redraw(state);
    if (has([...SERIES, 'step'])) this.alerts.render(state);
    if (has([...SERIES, 'step', 'layer', 'head', 'overviewRef', 'overviewSort', 'relations'])) this.table.render(state);
    // the similarity is computed by the backend from the whole snapshot: not while playing
    if (!state.playing && has([...SERIES, 'step', 'similarityLayer', 'playing'])) this.similarity.render(state);
  }
}
