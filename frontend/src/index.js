// Entry point of the Attention tab. TensorBoard's iframe does
//   import("./index.js").then((m) => m.render())
// with <base href="plugin/attention/">, so every request below is relative.

import { injectStyles } from './styles.js';
import { App } from './app.js';
import { el } from './paint/dom.js';

let app = null;

export function render(target = document.body, options = {}) {
  injectStyles(document);
  const root = el('div', { class: 'tba-root' });
  target.appendChild(root);
  app = new App(root, options);
  // Hooks for the browser tests and the benchmark (no effect on the UI).
  window.tbAttention = {
    app,
    get state() {
      return app.state;
    },
    setStep: (s) => app.setStep(s),
    selectHead: (l, h) => app.selectHead(l, h),
    paints: app.paints,
    cache: app.data.snapshots,
  };
  app.start();
  return app;
}
