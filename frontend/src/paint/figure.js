// A view's picture for the save buttons: what it shows as a list of drawing items in CSS pixels,
// rendered two ways from the same list, so the PNG and the SVG never disagree: a canvas (the PNG)
// and an SVG document where text stays text (escaped, never parsed as markup) and lines stay
// vector paths; a raster item (the grid's heatmaps: one pixel per weight) is embedded as a PNG image.
//
// Items: {t: 'rect', x, y, w, h, fill?, stroke?}, {t: 'path', segs: [[x0, y0, x1, y1], ...], stroke,
// width, opacity?, dash?} (disconnected segments), {t: 'poly', points: [[x, y], ...] (null: a gap),
// stroke, width, dash?}, {t: 'text', x, y, text, size?, fill?, anchor? ('start'|'middle'|'end'),
// weight?}, {t: 'image', x, y, w, h, canvas} and {t: 'group', dx, dy, items}.

export const FONT = 'system-ui, -apple-system, Segoe UI, Roboto, sans-serif';

// XML 1.0 allows only these characters; anything else in a token (a control character, a lone
// surrogate) would make the file unreadable, so it becomes U+FFFD.
const NOT_XML = /[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu;

/** Text made safe as XML character data or an attribute value. */
export function xmlText(value) {
  return String(value)
    .replace(NOT_XML, '\ufffd')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

const num = (v) => String(Math.round(v * 100) / 100);
const attrs = (pairs) =>
  Object.entries(pairs)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => ` ${k}="${xmlText(typeof v === 'number' ? num(v) : v)}"`)
    .join('');

function polyD(points) {
  let d = '';
  let pen = false;
  for (const p of points) {
    if (!p) pen = false;
    else {
      d += `${pen ? 'L' : 'M'}${num(p[0])} ${num(p[1])}`;
      pen = true;
    }
  }
  return d;
}

function svgItem(it) {
  const dash = it.dash ? it.dash.join(' ') : undefined;
  switch (it.t) {
    case 'rect':
      return `<rect${attrs({ x: it.x, y: it.y, width: it.w, height: it.h, fill: it.fill || 'none', stroke: it.stroke })}/>`;
    case 'path': {
      const d = it.segs.map(([a, b, c, e]) => `M${num(a)} ${num(b)}L${num(c)} ${num(e)}`).join('');
      const style = {
        stroke: it.stroke,
        'stroke-width': it.width,
        'stroke-opacity': it.opacity,
        'stroke-dasharray': dash,
      };
      return d ? `<path fill="none"${attrs({ d, ...style })}/>` : '';
    }
    case 'poly':
      return `<path fill="none"${attrs({ d: polyD(it.points), stroke: it.stroke, 'stroke-width': it.width, 'stroke-dasharray': dash })}/>`;
    case 'text': {
      const a = { x: it.x, y: it.y, 'font-size': it.size || 11, fill: it.fill || '#202124' };
      Object.assign(a, {
        'text-anchor': it.anchor || 'start',
        'font-weight': it.weight,
        'dominant-baseline': 'middle',
      });
      return `<text${attrs(a)}>${xmlText(it.text)}</text>`;
    }
    case 'image':
      return `<image${attrs({ x: it.x, y: it.y, width: it.w, height: it.h, href: it.canvas.toDataURL('image/png') })} preserveAspectRatio="none" style="image-rendering: pixelated"/>`;
    case 'group':
      return `<g transform="translate(${num(it.dx)} ${num(it.dy)})">${it.items.map(svgItem).join('')}</g>`;
    default:
      return '';
  }
}

/** The SVG document of `fig` ({width, height, items}). */
export function figureSvg(fig) {
  const size = attrs({ width: fig.width, height: fig.height, viewBox: `0 0 ${num(fig.width)} ${num(fig.height)}` });
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"${size}` +
    ` font-family="${FONT}">\n<rect width="100%" height="100%" fill="#ffffff"/>\n` +
    fig.items.map(svgItem).join('\n') +
    '\n</svg>\n'
  );
}

/** A polyline's points (null: a gap) as segments. */
function polySegs(points) {
  const segs = [];
  for (let i = 1; i < points.length; i++) {
    const [p, q] = [points[i - 1], points[i]];
    if (p && q) segs.push([p[0], p[1], q[0], q[1]]);
  }
  return segs;
}

function strokeStyle(ctx, it) {
  ctx.strokeStyle = it.stroke;
  ctx.lineWidth = it.width || 1;
  ctx.globalAlpha = it.opacity ?? 1;
  ctx.setLineDash(it.dash || []);
}

function drawItem(ctx, it) {
  ctx.save();
  if (it.t === 'rect') {
    if (it.fill) ctx.fillStyle = it.fill;
    if (it.fill) ctx.fillRect(it.x, it.y, it.w, it.h);
    if (it.stroke) strokeStyle(ctx, it);
    if (it.stroke) ctx.strokeRect(it.x, it.y, it.w, it.h);
  } else if (it.t === 'path' || it.t === 'poly') {
    strokeStyle(ctx, it);
    ctx.beginPath();
    const segs = it.t === 'path' ? it.segs : polySegs(it.points);
    for (const [a, b, c, d] of segs) {
      ctx.moveTo(a, b);
      ctx.lineTo(c, d);
    }
    ctx.stroke();
  } else if (it.t === 'text') {
    ctx.font = `${it.weight || 'normal'} ${it.size || 11}px ${FONT}`;
    ctx.fillStyle = it.fill || '#202124';
    ctx.textAlign = { start: 'left', middle: 'center', end: 'right' }[it.anchor || 'start'];
    ctx.textBaseline = 'middle';
    ctx.fillText(String(it.text), it.x, it.y); // drawn as text: never parsed
  } else if (it.t === 'image') {
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(it.canvas, it.x, it.y, it.w, it.h);
  } else if (it.t === 'group') {
    ctx.translate(it.dx, it.dy);
    for (const sub of it.items) drawItem(ctx, sub);
  }
  ctx.restore();
}

/** `fig` painted on a new canvas at `scale` device pixels per CSS pixel (the PNG). */
export function figureCanvas(fig, scale = window.devicePixelRatio || 1) {
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, Math.round(fig.width * scale));
  canvas.height = Math.max(1, Math.round(fig.height * scale));
  const ctx = canvas.getContext('2d');
  ctx.scale(scale, scale);
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, fig.width, fig.height);
  for (const it of fig.items) drawItem(ctx, it);
  return canvas;
}

/** Figures side by side (compare panels), `gap` px apart, as one. */
export function besideEachOther(figs, gap = 16) {
  let x = 0;
  const items = [];
  for (const f of figs) {
    items.push({ t: 'group', dx: x, dy: 0, items: f.items });
    x += f.width + gap;
  }
  return { width: Math.max(0, x - gap), height: Math.max(0, ...figs.map((f) => f.height)), items };
}

/** A file name from its parts: letters, digits, '.', '_' and '-' only. */
export function fileName(parts, ext) {
  const base = parts
    .filter((p) => p !== null && p !== undefined && p !== '')
    .map((p) => String(p).replace(/[^A-Za-z0-9._-]+/g, '_'))
    .join('-')
    .replace(/^[._-]+/, '')
    .slice(0, 120);
  return `${base || 'attention'}.${ext}`;
}
