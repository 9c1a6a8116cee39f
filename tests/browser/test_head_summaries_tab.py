"""Head summaries in the tab (issue #20): a run written with a storage budget that keeps the maps of 2
of 2 x 3 heads per snapshot and a summary (block means + each row's top 8 keys) of 2 more, on a
480-token probe, in headless Chromium against a real `tensorboard`. The grid paints summarized heads
from their block means (every pixel against `read_run`'s summary) with a blue cross-hatched corner,
apart from those with statistics only (hatched grey), and the hover says it is a summary; a
summarized head's large map paints its block means (every pixel against `read_run`'s summary), zoomed
in its top keys exactly and every other cell hatched as not stored (every pixel again), the readout
gives the weight of a top key and the block mean elsewhere; the head view draws its lines from the
top keys and lists them on a token; the filmstrip marks its frames. Screenshots in artifacts/head-summaries."""

import numpy as np
import pytest
from playwright.sync_api import expect

from conftest import ARTIFACTS, tensorboard_fixture
from grid_pixels import cell_pixels, corner_mask, expected_cell, stats_js
from map_pixels import LUT, MAP_PX, PIXELS_JS, expected_pixels, region_starts
from tb_attention_plugin import read_run
from tb_attention_plugin.devtools.synthetic import repeated_tokens, write_budget_run
from tb_attention_plugin.writer.head_choice import HeadChoice

RUN, PROBE, N, LAYERS, HEADS, STEPS = "summaries", "long", 480, 2, 3, (0, 100, 200)
STEP = STEPS[-1]
SHOTS = ARTIFACTS / "head-summaries"
NOT_STORED = {True: (200, 204, 208), False: (241, 243, 244)}  # summaryMap.js: the hatch's line, its ground
SUMMARY_HATCH = {(232, 240, 254), (138, 180, 248)}  # gridCanvas.js
PLAIN_HATCH = {(248, 249, 250), (200, 204, 208)}
# per head of the grid: the set of its pixels' colours, as "r,g,b" strings
COLOURS_JS = stats_js(
    """  const seen = new Set();
  for (let i = 0; i < d.length; i += 4) seen.add(`${d[i]},${d[i + 1]},${d[i + 2]}`);""",
    "[...seen]",
)


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    d = tmp_path_factory.mktemp("summaries")
    toks = repeated_tokens(N, 5)
    write_budget_run(
        d / RUN, PROBE, toks, STEPS, layers=LAYERS, heads=HEADS, choice=HeadChoice(2, "rotate", summaries=2), seed=1
    )
    return d, read_run(str(d / RUN)).probe(PROBE), toks


tb = tensorboard_fixture(1)


def heads_at(probe, step):
    """{(layer, head): 'map' | 'summary' | 'statistics'} as read_run has them at `step`."""
    stored, summarized = probe.stored_heads(step), probe.summarized_heads(step)
    out = {}
    for l in range(LAYERS):
        for h in range(HEADS):
            has_map = stored[l] is None or h in stored[l]
            out[(l, h)] = "map" if has_map else "summary" if h in summarized[l] else "statistics"
    return out


def open_at(page, tb, layer, head):
    page.goto(tb.plugin_page)
    page.wait_for_function("window.tbAttention && window.tbAttention.paints.length > 0", timeout=60000)
    page.evaluate("([l, h]) => window.tbAttention.selectHead(l, h)", [layer, head])


def map_data(page):
    return page.evaluate("(() => ({...document.querySelector('.tba-bigmap').dataset}))()")


def wait_map(page, source):
    page.wait_for_function(
        "([source, step]) => { const m = document.querySelector('.tba-bigmap').dataset;"
        " return m.state === 'data' && m.source === source && m.step === String(step); }",
        arg=[source, STEP],
        timeout=60000,
    )
    return [int(v) for v in map_data(page)["window"].split(",")]


def canvas_pixels(page):
    return np.array(page.evaluate(PIXELS_JS), dtype=np.int64).reshape(MAP_PX, MAP_PX, 4)[:, :, :3]


def test_the_grid_marks_summarized_heads_apart_from_statistics_only(page, tb, logs):
    _, probe, _ = logs
    kinds = heads_at(probe, STEP)
    assert sorted(kinds.values()).count("summary") == 2 and "statistics" in kinds.values()
    l, h = next(k for k, v in kinds.items() if v == "summary")
    open_at(page, tb, l, h)
    page.wait_for_function(
        "(n) => document.querySelectorAll('[data-testid=\"cell\"].summary').length === n", arg=2, timeout=30000
    )
    grid = '[data-testid="panel"] [data-testid="grid-cells"]'
    colours = page.evaluate(COLOURS_JS, grid)
    cells = cell_pixels(page, grid)
    count = page.locator('[data-testid="no-map-count"]')
    assert count.get_attribute("data-summaries") == "2" and count.get_attribute("data-maps") == "2"
    block = probe.summary(STEP, l, h).block
    for (layer, head), kind in kinds.items():
        seen = {tuple(map(int, c.split(","))) for c in colours[layer * HEADS + head]}
        cell = page.locator(f'[data-testid="cell"][data-layer="{layer}"][data-head="{head}"]')
        classes = cell.get_attribute("class").split()
        assert ("summary" in classes) == (kind == "summary"), (layer, head, kind, classes)
        assert ("no-map" in classes) == (kind != "map"), (layer, head, kind, classes)
        if kind == "summary":  # its block means, every pixel, and the corner that marks a summary
            got = cells[layer * HEADS + head]
            levels = (2 * probe.summary(STEP, layer, head).means.astype(np.int64) + 257) // 514
            corner = corner_mask(got.shape[0])
            diff = np.abs(got - expected_cell(levels, got.shape[0], LUT)).max(axis=2)
            assert (diff[~corner] <= 1).all(), f"{(diff[~corner] > 1).sum()} pixels differ at L{layer}H{head}"
            assert {tuple(c) for c in got[corner]} <= SUMMARY_HATCH and len(seen - SUMMARY_HATCH) > 8
        elif kind == "statistics":
            assert seen == PLAIN_HATCH, (layer, head, seen)
        else:
            assert len(seen - PLAIN_HATCH - SUMMARY_HATCH) > 8, "a map is painted"
        cell.hover()
        readout = page.locator('[data-testid="grid-readout"]').text_content()
        summary = f"summary at step {STEP}: block means of {block}\u00d7{block} tokens, not the full map"
        assert (summary in readout) == (kind == "summary"), readout
        assert (f"no map stored at step {STEP}" in readout) == (kind == "statistics"), readout
    SHOTS.mkdir(exist_ok=True)
    page.locator('[data-testid="panel"]').first.screenshot(path=str(SHOTS / "grid.png"))


def test_a_summarized_heads_large_map_head_view_and_filmstrip(page, tb, logs):
    _, probe, toks = logs
    kinds = heads_at(probe, STEP)
    l, h = next(k for k, v in kinds.items() if v == "summary")
    summary = probe.summary(STEP, l, h)
    open_at(page, tb, l, h)
    big = page.locator('[data-testid="bigmap"]')
    big.scroll_into_view_if_needed()

    # the overview: the block means, as heatmap.js's byteLevels colours them
    assert wait_map(page, "summary-means") == [0, N, 0, N]
    assert map_data(page)["pool"] == str(summary.block)
    levels = (2 * summary.means.astype(np.int64) + 257) // 514
    got = canvas_pixels(page)
    diff = np.abs(got - expected_pixels(levels, [0, N, 0, N], summary.block)).max(axis=2)
    assert (diff <= 1).all(), f"{(diff > 1).sum()} pixels differ, first at {np.argwhere(diff > 1)[0]}"
    assert len(np.unique(got.reshape(-1, 3), axis=0)) > 8, "the map is (nearly) blank"
    caption = page.locator('[data-testid="bigmap-caption"]').text_content()
    assert f"summary: block means of {summary.block}\u00d7{summary.block} tokens" in caption, caption
    big.hover(position={"x": 300, "y": 100})
    readout = page.locator('[data-testid="bigmap-readout"]').text_content()
    assert readout.startswith("summary: block mean over rows "), readout
    SHOTS.mkdir(exist_ok=True)
    page.locator(".tba-evo-row").screenshot(path=str(SHOTS / "large-map-means.png"))

    # zoomed in (a token >= 1.5 px): each row's top keys exactly, every other cell hatched
    for _ in range(2):
        page.locator('[data-testid="bigmap-zoom-in"]').click()
    win = wait_map(page, "summary-top")
    q0, q1, k0, k1 = win
    assert q1 - q0 == N // 4, win
    known = np.full((N, N), -1, np.int64)
    np.put_along_axis(known, summary.keys.astype(np.int64), summary.weights.astype(np.int64), axis=1)
    rows, _ = region_starts(q0, q1, 1, MAP_PX, N)
    cols, _ = region_starts(k0, k1, 1, MAP_PX, N)
    shown = known[rows][:, cols]
    oy, ox = np.indices(shown.shape)
    hatch = np.where(((ox + oy) % 8 < 1)[..., None], NOT_STORED[True], NOT_STORED[False])
    expected = np.where((shown >= 0)[..., None], LUT[np.maximum(shown, 0)], hatch)
    got = canvas_pixels(page)
    diff = np.abs(got - expected).max(axis=2)
    assert (diff <= 1).all(), f"{(diff > 1).sum()} pixels differ, first at {np.argwhere(diff > 1)[0]}"
    assert (shown >= 0).sum() > 1000 and (shown < 0).sum() > 1000

    # the readout: a top key's weight, and elsewhere the block mean
    px = MAP_PX / (q1 - q0)
    in_window = [
        (summary.weights[q, j], q, j) for q in range(q0, q1) for j in range(8) if k0 <= summary.keys[q, j] < k1
    ]
    _, qi, j = max(in_window)  # the strongest top key in the window
    ki = int(summary.keys[qi, j])
    big.hover(position={"x": (ki - k0 + 0.5) * px, "y": (qi - q0 + 0.5) * px})
    readout = page.locator('[data-testid="bigmap-readout"]')
    weight = summary.weights[qi, j] / 255
    expect(readout).to_have_text(f"{toks[qi]} #{qi} \u2192 {toks[ki]} #{ki}: {weight:.3f} (among the row's top 8)")
    other = next(k for k in range(k0, k1) if k not in summary.keys[qi])
    big.hover(position={"x": (other - k0 + 0.5) * px, "y": (qi - q0 + 0.5) * px})
    mean = summary.block_means()[qi // summary.block, other // summary.block]
    expect(readout).to_have_text(
        f"{toks[qi]} #{qi} \u2192 {toks[other]} #{other}: not among the row's top 8; block mean {mean:.4f}"
    )
    page.locator(".tba-evo-row").screenshot(path=str(SHOTS / "large-map-top-keys.png"))

    # the head view: lines from the top keys, said in a note; a token's focus lists them
    hv = page.locator('[data-testid="head-view"]')
    page.wait_for_function(
        "(h) => { const v = document.querySelector('[data-testid=\"head-view\"]').dataset;"
        " return v.state === 'data' && v.summary === h; }",
        arg=f"L{l}H{h}",
        timeout=30000,
    )
    expect(page.locator('[data-testid="hv-summary"]')).to_contain_text(
        f"L{l} H{h}: summary at step {STEP}: lines from each row's top 8 keys only"
    )
    inked = "(() => { const c = document.querySelector('[data-testid=\"hv-canvas\"]');"
    inked += " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
    inked += " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; })()"
    assert page.evaluate(inked) > 500, "the head view draws lines"
    page.locator('[data-testid="hv-find"]').fill(f"#{qi}")
    focus = page.locator('[data-testid="hv-focus"]')
    top = int(summary.keys[qi, 0])  # the row's strongest key, listed first
    expect(focus).to_contain_text(f"{toks[qi]} #{qi} attends to: {toks[top]} #{top} {summary.weights[qi, 0] / 255:.2f}")
    hv.screenshot(path=str(SHOTS / "head-view.png"))

    # the filmstrip: a frame per step, marked as what read_run holds of the head there
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"filmstrip\"] .tba-frame')]"
        ".every((f) => f.dataset.state === 'data')",
        timeout=30000,
    )
    frames = page.evaluate(
        """() => [...document.querySelectorAll('[data-testid="filmstrip"] .tba-frame')].map((f) =>
             [Number(f.dataset.step), f.classList.contains('summary'), f.classList.contains('no-map'), f.textContent])"""
    )
    assert [f[0] for f in frames] == list(STEPS)
    for step, summarized, no_map, label in frames:
        kind = heads_at(probe, step)[(l, h)]
        assert (summarized, no_map) == (kind == "summary", kind == "statistics"), (step, kind)
        assert label.endswith(" \u00b7 summary") == (kind == "summary"), label
    page.locator('[data-testid="filmstrip"]').screenshot(path=str(SHOTS / "filmstrip.png"))
