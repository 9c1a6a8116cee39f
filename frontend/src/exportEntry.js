// Entry of an exported report (`tb-attention export`, bundled as static/export.js and inlined in the
// HTML by tb_attention_plugin/tools/export.py): the tab rendered from the page's embedded data
// (embedded.js) instead of the plugin's routes; nothing is fetched.

import { render } from './index.js';
import { DataSource } from './data/dataSource.js';
import { embeddedApi } from './data/embedded.js';
import { el } from './paint/dom.js';

const DAY_MS = 24 * 3600 * 1000; // the index never changes: it is polled as seldom as the App allows

function note(payload) {
  const shown = payload.steps.length;
  return el(
    'div',
    {
      class: 'tba-export-note',
      'data-testid': 'export-note',
      style: { font: '12px system-ui, sans-serif', color: '#5f6368', margin: '8px 12px 0' },
    },
    `tb-attention report of run ${payload.run}: snapshots at ${shown} of ${payload.logged_steps} logged steps ` +
      '(statistics and curves at every step); ← / → step through them.',
  );
}

function start() {
  const payload = JSON.parse(document.getElementById('tb-attention-data').textContent);
  document.body.appendChild(note(payload));
  render(document.body, {
    data: new DataSource({ api: embeddedApi(payload) }),
    pollMs: DAY_MS,
    initial: payload.initial || {}, // the probe and step a notebook's show(...) opens at
  });
}

start();
