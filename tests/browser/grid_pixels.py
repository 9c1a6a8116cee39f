"""Where the tests read a canvas's pixels: a model grid is ONE canvas of its viewport
(`[data-testid="grid-cells"]`), split here into each visible head's map (inside its frame, from the
geometry the grid writes on its content: `data-cell`, `data-pitch`, `data-pad`); any other canvas
is one region. `stats_js(body)` wraps a per-region pixel loop into `(selector) => [...]`."""

REGIONS_JS = """(c) => {
  if (!c.classList.contains('tba-grid-cells')) return [[0, 0, c.width, c.height]];
  const content = c.parentElement, scroll = content.parentElement, grid = scroll.parentElement;
  const [cell, pitch, pad] = ['cell', 'pitch', 'pad'].map((k) => Number(content.dataset[k]));
  const dpr = c.width / c.clientWidth, out = [];
  for (let l = 0; l < Number(grid.dataset.layers); l++)
    for (let h = 0; h < Number(grid.dataset.heads); h++) {
      const x = Math.round((h * pitch + pad - scroll.scrollLeft) * dpr);
      const y = Math.round((l * pitch + pad - scroll.scrollTop) * dpr);
      const s = Math.round((cell - 2 * pad) * dpr);
      if (x >= 0 && y >= 0 && x + s <= c.width && y + s <= c.height) out.push([x, y, s, s]);
    }
  return out;
}"""


def stats_js(body, result):
    """`(sel) => [result per region]`: `body` loops over `d`, the RGBA bytes of a region `rw` x `rh`."""
    return (
        "(sel) => Array.from(document.querySelectorAll(sel)).flatMap((c) => (%s)(c).map(([x, y, rw, rh]) => {\n"
        "  const d = c.getContext('2d').getImageData(x, y, rw, rh).data;\n%s\n  return %s;\n}))"
    ) % (REGIONS_JS, body, result)


# each visible head's map region as [side, RGBA bytes]
CELLS_JS = stats_js("", "[rw, Array.from(d)]")


def cell_pixels(page, selector):
    """[side, side, 3] RGB of each visible head's map region of the grid canvases at `selector`."""
    import numpy as np

    return [
        np.array(d, dtype=np.int64).reshape(side, side, 4)[:, :, :3] for side, d in page.evaluate(CELLS_JS, selector)
    ]


def _spans(n, out_n):
    """frontend/src/paint/heatmap.js spans: the [start, end) of the values each of `out_n` pixels covers."""
    starts = [(i * n) // out_n for i in range(out_n)]
    return [(a, max(a + 1, ((i + 1) * n) // out_n)) for i, a in enumerate(starts)]


def expected_cell(levels, side, lut):
    """[side, side, 3]: heatmap.js fillCell of byte `levels` [q, k] on a cell of `side` px, each pixel
    the colour of the largest level it covers (one value enlarged over several pixels)."""
    import numpy as np

    rows = np.array([levels[a:b].max(axis=0) for a, b in _spans(levels.shape[0], side)])
    return lut[np.array([rows[:, a:b].max(axis=1) for a, b in _spans(levels.shape[1], side)]).T]


def corner_mask(side):
    """[side, side] bool: the top-right triangle that marks a cell painted from a summary (gridCanvas.js
    cornerPixels, heatmap.js fillCorner)."""
    import numpy as np

    size = min(side, max(4, int(np.floor(side / 4 + 0.5))))
    y, x = np.indices((side, side))
    return (y < size) & (x >= side - size + y)


def expected_diff_cell(diff, side, div_lut):
    """[side, side, 3]: heatmap.js fillDiffCell of `diff` (a - b of byte levels [q, k]) on a cell of
    `side` px that each value covers one or more pixels of: its diverging colour."""
    rows, cols = _spans(diff.shape[0], side), _spans(diff.shape[1], side)
    assert all(b - a == 1 for a, b in rows + cols), "each pixel covers one value"
    return div_lut[diff[[a for a, _ in rows]][:, [a for a, _ in cols]] + 255]
