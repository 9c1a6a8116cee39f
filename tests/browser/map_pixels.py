"""The large map's pixels as the tests expect them (frontend/src/paint/colorScale.js's sequential and
diverging LUTs at the default contrast, paint/mapRegion.js's windows): `expected_pixels(levels, win,
scale)` of a window of byte levels, `expected_diff_pixels` of a difference, and `PIXELS_JS`, the
canvas's pixels as the page has them."""

import math

import numpy as np

MAP_PX = 400  # the large map of a long probe (mapWindow.mapPixels), at device scale 1

# frontend/src/paint/colorScale.js: the sequential LUT at the default contrast (sqrt)
SEQ_STOPS = [
    (0.0, (255, 255, 255)),
    (0.15, (222, 235, 247)),
    (0.4, (107, 174, 214)),
    (0.7, (33, 113, 181)),
    (1.0, (8, 29, 88)),
]


# the diverging LUT's two sides (a - b < 0: blue, > 0: red)
DIV_NEG = [(0.0, (255, 255, 255)), (0.5, (103, 169, 207)), (1.0, (5, 48, 97))]
DIV_POS = [(0.0, (255, 255, 255)), (0.5, (239, 138, 98)), (1.0, (103, 0, 31))]


def _interpolate(stops, t):
    """colorScale.js interpolateStops."""
    for (t0, c0), (t1, c1) in zip(stops, stops[1:]):
        if t <= t1:
            u = 0 if t1 == t0 else (t - t0) / (t1 - t0)
            return tuple(math.floor(a + (b - a) * u + 0.5) for a, b in zip(c0, c1))
    return stops[-1][1]


def colour(level):
    return _interpolate(SEQ_STOPS, math.sqrt(level / 255))


LUT = np.array([colour(level) for level in range(256)], dtype=np.int64)
# colorScale.js divergingLUT at the default contrast: index a - b + 255 of two byte levels
DIV_LUT = np.array(
    [_interpolate(DIV_NEG if d < 0 else DIV_POS, math.sqrt(abs(d) / 255)) for d in range(-255, 256)], dtype=np.int64
)


def region_starts(t0, t1, scale, out_n, n):
    """frontend/src/paint/mapRegion.js regionSpans: the first value each pixel covers (a pixel covers
    the values up to the next pixel's first, or that one value when the next starts there too), and
    the end of the last pixel's values."""
    d = (t1 - t0) / out_n
    starts = [min(n - 1, math.floor((t0 + i * d) / scale)) for i in range(out_n)]
    return np.array(starts), min(n, max(starts[-1] + 1, math.floor(t1 / scale)))


def expected_pixels(levels, win, scale):
    """[MAP_PX, MAP_PX, 3]: the canvas showing window `win` of `levels` (a byte level per value, each
    value `scale` tokens a side), each pixel the colour of the largest level of the values it covers."""
    rows, row_end = region_starts(win[0], win[1], scale, MAP_PX, levels.shape[0])
    cols, col_end = region_starts(win[2], win[3], scale, MAP_PX, levels.shape[1])
    pooled = np.maximum.reduceat(levels[:row_end], rows, axis=0)
    pooled = np.maximum.reduceat(pooled[:, :col_end], cols, axis=1)
    return LUT[pooled]


def expected_diff_pixels(diff, win, scale):
    """[MAP_PX, MAP_PX, 3]: the canvas showing window `win` of `diff` (a - b of byte levels, each value
    `scale` tokens a side) where every pixel covers one value (an enlarged window): its diverging colour."""
    rows, row_end = region_starts(win[0], win[1], scale, MAP_PX, diff.shape[0])
    cols, col_end = region_starts(win[2], win[3], scale, MAP_PX, diff.shape[1])
    assert row_end - rows[-1] <= 1 and col_end - cols[-1] <= 1 and MAP_PX >= diff.shape[0], "a pixel covers one value"
    return DIV_LUT[diff[rows][:, cols] + 255]


PIXELS_JS = """() => {
  const c = document.querySelector('[data-testid="bigmap"]');
  return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);
}"""
