// A small colour-scale legend (a gradient canvas).
import { el } from '../../paint/dom.js';
import { sequentialLUT, divergingLUT } from '../../paint/colorScale.js';

export function legendCanvas(kind, contrast) {
  const w = 128;
  const c = el('canvas', { width: w, height: 1, 'aria-hidden': 'true' });
  const ctx = c.getContext('2d');
  const img = ctx.createImageData(w, 1);
  const out = new Uint32Array(img.data.buffer);
  const lut = kind === 'diverging' ? divergingLUT(contrast) : sequentialLUT(contrast);
  for (let x = 0; x < w; x++) out[x] = lut[Math.round((x / (w - 1)) * (lut.length - 1))];
  ctx.putImageData(img, 0, 0);
  return c;
}
