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
