// Geometry of the layers x heads grid, pure (unit-tested): cell size for a zoom, where a cell
// is, which cell a point is on, which cells a scrolled viewport shows and how to scroll to one.
// Coordinates are CSS pixels in the grid's scrolled content (cells only: the layer and head
// labels are frozen outside it), so a 80 x 64 grid paints and hit-tests only what is in view.

/** Cell sizes (CSS px) of the zoom steps; 'fit' fits every head in the width. */
export const ZOOMS = [8, 12, 16, 24, 32, 48, 64, 96, 128];
export const MIN_CELL = 4;
export const MAX_FIT = 150;
/** From this size up a cell shows its badge as text; from TYPE_CELL up, its head types. */
export const BADGE_CELL = 36;
export const TYPE_CELL = 64;

export const gapFor = (cell) => (cell < 16 ? 1 : cell < 40 ? 2 : 3);

/** The largest cell (MIN_CELL..MAX_FIT) such that `heads` cells and their gaps fit `width`. */
export function fitCell(width, heads) {
  let best = MIN_CELL;
  for (const gap of [3, 2, 1]) {
    const cell = Math.floor((width + gap) / Math.max(1, heads)) - gap;
    if (gapFor(cell) <= gap) best = Math.max(best, cell); // its own gap is no wider: it fits
  }
  return Math.min(MAX_FIT, best);
}

/** Cell size of a zoom ('fit' or a size in px) for `heads` heads in `width` px. */
export function zoomCell(zoom, width, heads) {
  return zoom === 'fit' || !(zoom > 0) ? fitCell(width, heads) : zoom;
}

/** The next zoom step from the current cell size: dir +1 larger, -1 smaller. */
export function stepZoom(cell, dir) {
  if (dir > 0) return ZOOMS.find((z) => z > cell) ?? ZOOMS[ZOOMS.length - 1];
  return [...ZOOMS].reverse().find((z) => z < cell) ?? ZOOMS[0];
}

/** {layers, heads, cell, gap, pitch, pad, width, height} of a grid at `cell` px. */
export function gridGeometry(layers, heads, cell) {
  const gap = gapFor(cell);
  const pitch = cell + gap;
  return {
    layers,
    heads,
    cell,
    gap,
    pitch,
    pad: cell < 24 ? 1 : 2, // the frame around the map (drift colour when colouring by drift)
    width: Math.max(0, heads * pitch - gap),
    height: Math.max(0, layers * pitch - gap),
  };
}

/**
 * Device pixels of a cell at `dpr`: `size` the cell, `pad` its frame (doubled when `framed`, the
 * drift colour) and `map` the attention map inside it.
 */
export function cellPixels(g, dpr, framed = false) {
  const size = Math.max(1, Math.round(g.cell * dpr));
  const pad = Math.round((framed ? 2 * g.pad : g.pad) * dpr);
  return { size, pad, map: Math.max(1, size - 2 * pad) };
}

/**
 * The block a map of `tokens` tokens painted `pixels` px wide is fetched at (./snapshot?pool=B):
 * ceil(tokens / pixels), each pixel one block's mean; null (the stored weights) below 2.
 */
export function poolFor(tokens, pixels) {
  const block = Math.ceil(tokens / Math.max(1, pixels));
  return block >= 2 ? block : null;
}

/** The cell under content point (x, y) (a gap belongs to the cell before it), or null. */
export function cellAt(g, x, y) {
  if (x < 0 || y < 0) return null;
  const head = Math.floor(x / g.pitch);
  const layer = Math.floor(y / g.pitch);
  if (head >= g.heads || layer >= g.layers) return null;
  return { layer, head };
}

/** Cells of the viewport (left, top, w x h): layers l0..l1-1, heads h0..h1-1. */
export function visibleRange(g, left, top, w, h) {
  const clamp = (v, n) => Math.max(0, Math.min(n, v));
  return {
    l0: clamp(Math.floor(top / g.pitch), g.layers),
    l1: clamp(Math.ceil((top + h) / g.pitch), g.layers),
    h0: clamp(Math.floor(left / g.pitch), g.heads),
    h1: clamp(Math.ceil((left + w) / g.pitch), g.heads),
  };
}

/**
 * Scroll offsets that show cell (layer, head) in a viewport ({left, top, w, h}): unchanged
 * when it is in view, else centred on it (clamped to the content).
 */
export function scrollToCell(g, layer, head, view) {
  const axis = (pos, scroll, size, total) => {
    if (pos >= scroll && pos + g.cell <= scroll + size) return scroll;
    return Math.max(0, Math.min(total - size, Math.round(pos + g.cell / 2 - size / 2)));
  };
  return {
    left: axis(head * g.pitch, view.left, view.w, g.width),
    top: axis(layer * g.pitch, view.top, view.h, g.height),
  };
}

/** Every how many rows/columns a label fits (labels of `px` px on cells `pitch` px apart). */
export function labelEvery(pitch, px) {
  for (const n of [1, 2, 4, 5, 8, 10, 16, 20, 25, 50]) if (n * pitch >= px) return n;
  return 100;
}

/**
 * The labels of the rows or columns (`n` of them) in a viewport from `start` over `size` px: every
 * `every`-th and the `active` one, each with its centre `c` in viewport px.
 */
export function labelsInView(g, start, size, n, every, active) {
  const out = [];
  const last = Math.min(n, Math.ceil((start + size) / g.pitch));
  for (let i = Math.max(0, Math.floor(start / g.pitch)); i < last; i++) {
    if (i % every && i !== active) continue;
    out.push({ i, c: i * g.pitch + g.cell / 2 - start, active: i === active });
  }
  return out;
}
