// The PNG and SVG buttons of a view's card: `figureOf()` gives what the view shows as a figure
// (figure.js; null: nothing to save yet) and `nameOf()` the file name's parts. The file is made in
// the page and handed to the browser as a download (a blob URL): nothing leaves the machine.

import { el } from '../../paint/dom.js';
import { figureCanvas, figureSvg, fileName } from '../../paint/figure.js';

function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: name, hidden: true });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** Save `figureOf()` as `ext` ('png' or 'svg'); false when the view has nothing to save. */
export function saveFigure(figureOf, nameOf, ext) {
  const fig = figureOf();
  if (!fig) return false;
  const name = fileName(nameOf(), ext);
  if (ext === 'svg') download(new Blob([figureSvg(fig)], { type: 'image/svg+xml' }), name);
  else figureCanvas(fig, Math.max(2, window.devicePixelRatio || 1)).toBlob((b) => b && download(b, name), 'image/png');
  return true;
}

/** The two buttons (test ids `${tid}-png`, `${tid}-svg`). */
export function saveButtons(tid, figureOf, nameOf) {
  const button = (ext) =>
    el(
      'button',
      {
        class: 'tba-save',
        'data-testid': `${tid}-${ext}`,
        title: `Save what this view shows as ${ext.toUpperCase()}`,
        onclick: () => saveFigure(figureOf, nameOf, ext),
      },
      ext.toUpperCase(),
    );
  return el('span', { class: 'tba-save-buttons' }, button('png'), button('svg'));
}
