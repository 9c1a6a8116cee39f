// A chart on the step axis as a figure (figure.js) for the save buttons, pure: axes with ticks,
// each curve as a vector polyline (gaps where it is undefined), the step cursor, the snapshot steps
// as ticks on the x axis, and the legend, all as text and paths. `seriesFigure` takes a chart's own
// uPlot data and series (the evolution, predictions, relations, layer and contribution charts).

const M = { left: 44, right: 12, top: 28, bottom: 30 };

/** About `n` round tick values covering [lo, hi]. */
export function niceTicks(lo, hi, n = 6) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.round(v / step) * step);
  return out;
}

const label = (v) => (Math.abs(v) >= 1e5 ? `${Math.round(v / 100) / 10}k` : String(Math.round(v * 1000) / 1000));

function axes(items, x, y, [x0, x1], yMax, plot) {
  items.push({ t: 'rect', x: plot.x, y: plot.y, w: plot.w, h: plot.h, stroke: '#dadce0', width: 1 });
  for (const v of niceTicks(0, yMax, 4)) {
    items.push({ t: 'path', segs: [[plot.x, y(v), plot.x + plot.w, y(v)]], stroke: '#f1f3f4', width: 1 });
    items.push({ t: 'text', x: plot.x - 4, y: y(v), text: label(v), size: 10, fill: '#5f6368', anchor: 'end' });
  }
  for (const v of niceTicks(x0, x1, 6)) {
    const at = plot.y + plot.h;
    items.push({ t: 'path', segs: [[x(v), at, x(v), at + 4]], stroke: '#5f6368', width: 1 });
    items.push({ t: 'text', x: x(v), y: at + 12, text: label(v), size: 10, fill: '#5f6368', anchor: 'middle' });
  }
}

function legend(items, curves, top, width) {
  let [x, y] = [M.left, top];
  for (const c of curves) {
    const w = 28 + 6 * c.label.length;
    if (x + w > width && x > M.left) [x, y] = [M.left, y + 16];
    items.push({ t: 'path', segs: [[x, y, x + 18, y]], stroke: c.color, width: c.width || 1.5, dash: c.dash });
    items.push({ t: 'text', x: x + 22, y, text: c.label, size: 10, fill: '#3c4043' });
    x += w + 8;
  }
  return y + 12;
}

/**
 * {width, height, items}: `curves` [{label, color, width?, dash?, ys}] over `xs`, x from
 * `range` [x0, x1], y from 0 to `yMax`; `step` the cursor, `marks` the snapshot steps.
 */
export function chartFigure({ title, xs, curves, range, yMax, step, marks = [], width = 800, height = 200 }) {
  const plot = { x: M.left, y: M.top, w: width - M.left - M.right, h: height - M.top - M.bottom };
  const [x0, x1] = range[1] > range[0] ? range : [range[0], range[0] + 1];
  const x = (v) => plot.x + ((v - x0) / (x1 - x0)) * plot.w;
  const y = (v) => plot.y + plot.h - (v / yMax) * plot.h;
  const items = [{ t: 'text', x: 0, y: 10, text: title, size: 12, weight: 600 }];
  axes(items, x, y, [x0, x1], yMax, plot);
  const inside = (v) => v >= x0 && v <= x1;
  const bottom = plot.y + plot.h;
  const ticks = marks.filter(inside).map((s) => [x(s), bottom - 5, x(s), bottom]);
  if (ticks.length) items.push({ t: 'path', segs: ticks, stroke: '#1a73e8', width: 1, opacity: 0.6 });
  for (const c of curves) {
    const points = xs.map((s, i) => (c.ys[i] === null || !inside(s) ? null : [x(s), y(c.ys[i])]));
    items.push({ t: 'poly', points, stroke: c.color, width: c.width || 1.5, dash: c.dash });
  }
  if (step !== null && step !== undefined && inside(step))
    items.push({ t: 'path', segs: [[x(step), plot.y, x(step), bottom]], stroke: '#d93025', width: 1.5 });
  const end = legend(items, curves, height + 4, width);
  return { width, height: end + 4, items };
}

/**
 * The figure of a chart drawn from uPlot `data` and its `series` ({label, stroke, width?, dash?}; the
 * first is x), y from 0 to its largest value (at least `yMin`); the rest as for chartFigure.
 */
export function seriesFigure({ title, data, series, range, step, marks, width, yMin = 1 }) {
  const curves = series.slice(1).map((c, i) => ({
    label: c.label,
    color: typeof c.stroke === 'function' ? c.stroke() : c.stroke,
    width: c.width,
    dash: c.dash,
    ys: data[i + 1],
  }));
  const values = curves.flatMap((c) => c.ys).filter((v) => v !== null && Number.isFinite(v));
  const yMax = Math.max(yMin, ...values);
  return chartFigure({ title, xs: data[0], curves, range, yMax, step, marks, width });
}
