// Shared pieces of the step-axis charts (loss timeline, head evolution, relations, layers,
// predictions, contributions): the same x range and axis widths so every plot lines up, the step
// cursor, the snapshot ticks, click/drag to choose a step, and the options of a chart under the
// timeline (`stepChartOptions`).

import { stepsOf } from '../../state/selection.js';
import { seriesFigure } from './chartFigure.js';

export const AXIS_LEFT = 58;
export const AXIS_RIGHT = 58;

export const MARK_COLOR = '#c2185b'; // not a curve colour (timeline.js) nor the cursor's

export const COMPARE_TICK_COLOR = '#00838f'; // the compare run's snapshot steps (hollow, above): no curve colour

/** A uPlot plugin that draws snapshot ticks (the compare run's as hollow teal diamonds above),
 * marked steps (e.g. the best checkpoint, as [{step, label}]) and the shared step cursor. */
export function stepCursorPlugin({
  getStep,
  getSnapshotSteps,
  getCompareSteps = () => [],
  getMarks = () => [],
  cursorColor = '#e8710a',
}) {
  return {
    hooks: {
      draw: (u) => {
        const { ctx } = u;
        const { left, top, width, height } = u.bbox;
        const dpr = devicePixelRatio || 1;
        ctx.save();
        ctx.beginPath();
        ctx.rect(left, top, width, height);
        ctx.clip();
        drawSnapshotTicks(u, getSnapshotSteps() || [], dpr);
        drawCompareTicks(u, getCompareSteps() || [], dpr);
        for (const mark of getMarks() || []) drawMark(u, mark, dpr);
        const step = getStep();
        if (step !== null && step !== undefined) drawCursor(u, step, cursorColor, dpr);
        ctx.restore();
      },
    },
  };
}

/** Snapshot steps: small diamonds along the bottom edge of the plot. */
function drawSnapshotTicks(u, steps, dpr) {
  if (!steps.length) return;
  u.ctx.fillStyle = 'rgba(232,113,10,0.75)';
  diamondsPath(u, steps, dpr, 0);
  u.ctx.fill();
}

/** The compare run's snapshot steps: hollow diamonds in another colour, one row above. */
function drawCompareTicks(u, steps, dpr) {
  if (!steps.length) return;
  u.ctx.strokeStyle = COMPARE_TICK_COLOR;
  u.ctx.lineWidth = 1.5 * dpr;
  diamondsPath(u, steps, dpr, 1);
  u.ctx.stroke();
}

/** A path of small diamonds at `steps` along the bottom of the plot, in row 0 (lowest) or 1. */
function diamondsPath(u, steps, dpr, row) {
  const { ctx } = u;
  const { top, height } = u.bbox;
  const r = (steps.length > 150 ? 2 : 3.5) * dpr;
  const y = row === 0 ? top + height - r - 1 * dpr : top + height - 3 * r - 3 * dpr;
  ctx.beginPath();
  for (const s of steps) {
    const x = u.valToPos(s, 'x', true);
    ctx.moveTo(x, y - r);
    ctx.lineTo(x + r, y);
    ctx.lineTo(x, y + r);
    ctx.lineTo(x - r, y);
    ctx.closePath();
  }
}

/** A marked step: a dashed line across the plot, its label at the top. */
function drawMark(u, mark, dpr) {
  const { ctx } = u;
  const { left, top, width, height } = u.bbox;
  const x = Math.round(u.valToPos(mark.step, 'x', true));
  ctx.strokeStyle = MARK_COLOR;
  ctx.lineWidth = 1.5 * dpr;
  ctx.setLineDash([4 * dpr, 3 * dpr]);
  ctx.beginPath();
  ctx.moveTo(x, top);
  ctx.lineTo(x, top + height);
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.fillStyle = MARK_COLOR;
  ctx.font = `${11 * dpr}px sans-serif`;
  ctx.textBaseline = 'top';
  const w = ctx.measureText(mark.label).width;
  ctx.fillText(mark.label, x + 3 * dpr + w > left + width ? x - 3 * dpr - w : x + 3 * dpr, top + 9 * dpr);
}

/** The step cursor: a line with a triangle at the top. */
function drawCursor(u, step, color, dpr) {
  const { ctx } = u;
  const { top, height } = u.bbox;
  const x = Math.round(u.valToPos(step, 'x', true));
  ctx.strokeStyle = color;
  ctx.lineWidth = 2 * dpr;
  ctx.beginPath();
  ctx.moveTo(x, top);
  ctx.lineTo(x, top + height);
  ctx.stroke();
  ctx.fillStyle = color;
  ctx.beginPath();
  ctx.moveTo(x - 5 * dpr, top);
  ctx.lineTo(x + 5 * dpr, top);
  ctx.lineTo(x, top + 7 * dpr);
  ctx.fill();
}

/** Click or drag on the plot to pick a step (`onStep` gets the raw step value). */
export function attachStepDrag(u, onStep) {
  const over = u.over;
  let dragging = false;
  const pick = (e) => {
    const rect = over.getBoundingClientRect();
    const x = Math.max(0, Math.min(rect.width, e.clientX - rect.left));
    const v = u.posToVal(x, 'x');
    if (Number.isFinite(v)) onStep(v);
  };
  const onMove = (e) => dragging && pick(e);
  const onUp = () => {
    dragging = false;
    window.removeEventListener('pointermove', onMove);
    window.removeEventListener('pointerup', onUp);
  };
  over.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return;
    dragging = true;
    pick(e);
    window.addEventListener('pointermove', onMove);
    window.addEventListener('pointerup', onUp);
    e.preventDefault();
  });
}

/** Observe an element's width and call back (debounced to one per frame). */
export function onWidth(el, cb) {
  let last = -1;
  let raf = 0;
  const ro = new ResizeObserver(() => {
    cancelAnimationFrame(raf);
    raf = requestAnimationFrame(() => {
      const w = Math.floor(el.clientWidth);
      if (w !== last && w > 0) {
        last = w;
        cb(w);
      }
    });
  });
  ro.observe(el);
  return ro;
}

/** Tick spacings of a step axis: whole steps only (1, 2, 5, 10, 20, 50, ...), never 0.5. */
export const STEP_INCRS = Array.from({ length: 10 }, (_, e) => [1, 2, 5].map((m) => m * 10 ** e)).flat();

/** The x axis of every chart drawn on the step axis. */
export const STEP_AXIS = { size: 34, values: (u, vals) => vals.map(formatStep), gap: 4, incrs: STEP_INCRS };

export function formatStep(v) {
  if (!Number.isFinite(v)) return '';
  const a = Math.abs(v);
  if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M';
  if (a >= 1e4) return (v / 1e3).toFixed(a >= 1e5 ? 0 : 1) + 'k';
  return String(Math.round(v));
}

const DEFAULT_TAGS = ['train/loss', 'eval/loss'];

/** The scalar series the timeline shows without being asked: the losses, else one series. */
export function defaultTags(tags) {
  const names = Object.keys(tags || {});
  const picked = DEFAULT_TAGS.filter((t) => names.includes(t));
  if (picked.length) return picked;
  const loss = names.filter((t) => /loss/i.test(t)).slice(0, 2);
  return loss.length ? loss : names.slice(0, 1);
}

/**
 * uPlot's options of a chart on the timeline's step axis: `width` x `height`, the step cursor and
 * snapshot ticks of `getState()` (more `cursor` options: compare steps, marks), the shared x range,
 * `y` (uPlot's range: an array or a function), the two y axes, `series`, and extra `plugins`.
 */
export function stepChartOptions({ width, height, getState, y, series, cursor = {}, plugins = [] }) {
  return {
    width,
    height,
    plugins: [
      stepCursorPlugin({ getStep: () => getState().step, getSnapshotSteps: () => stepsOf(getState()), ...cursor }),
      ...plugins,
    ],
    scales: { x: { time: false, range: () => xRange(getState()) }, y: { range: y } },
    axes: [
      STEP_AXIS,
      { scale: 'y', size: AXIS_LEFT },
      { scale: 'y', side: 1, size: AXIS_RIGHT, grid: { show: false } },
    ],
    cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 5 } },
    legend: { live: true },
    series,
  };
}

let xKey = null;
let xValue = null;

/** The x range shared by the loss timeline and the evolution chart (same state: same array). */
export function xRange(s) {
  const key = [s.index, s.scalars, s.run, s.probe, s.kind, s.compareRun, s.extraTags];
  if (xKey && key.every((v, i) => v === xKey[i])) return xValue;
  let lo = Infinity;
  let hi = -Infinity;
  const take = (arr) => {
    if (arr && arr.length) {
      lo = Math.min(lo, arr[0]);
      hi = Math.max(hi, arr[arr.length - 1]);
    }
  };
  take(stepsOf(s));
  if (s.compareRun) take(stepsOf(s, s.compareRun));
  const tags = s.scalars?.tags || {};
  for (const t of [...defaultTags(tags), ...(s.extraTags || [])]) take(tags[t]?.steps);
  if (!Number.isFinite(lo)) [lo, hi] = [0, 1];
  if (hi <= lo) hi = lo + 1;
  const pad = (hi - lo) * 0.01;
  xKey = key;
  xValue = [lo - pad, hi + pad];
  return xValue;
}

/** The figure (chartFigure.js) of a step-axis chart as shown: `chart` {data, series} as given to
 * uPlot (null: nothing drawn yet), titled, with the state's x range, cursor and snapshot steps. */
export function stepChartFigure(chart, state, title, width, yMin = 1) {
  if (!chart) return null;
  const { data, series } = chart;
  const marks = stepsOf(state);
  return seriesFigure({ title, data, series, range: xRange(state), step: state.step, marks, width, yMin });
}
