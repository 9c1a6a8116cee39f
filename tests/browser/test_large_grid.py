"""The model grid of a large model (48 layers x 32 heads, one canvas of its viewport) in headless
Chromium against a real `tensorboard`: 'fit' shows every head, the hover readout names the head under
the pointer, a click picks it; zooming in scrolls the grid and brings up the overview, whose click
picks a head (the grid scrolls to it) and whose drag pans; "go to head" selects and reveals a head;
badge cells exist only for the heads in view. No timings here (bench/frontend/bench_frontend.py)."""

import re

import pytest
from playwright.sync_api import expect

from conftest import ARTIFACTS, TensorBoard
from grid_pixels import stats_js
from tb_attention_plugin.devtools import synthetic

LAYERS, HEADS = 48, 32
INKED_JS = stats_js(
    """  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i] < 250 || d[i + 1] < 250 || d[i + 2] < 250) n++;""",
    "n",
)
# the page coordinates of the centre of head (layer, head) on the grid (its content scrolls)
CELL_POINT_JS = """([l, h]) => {
  const c = document.querySelector('[data-testid="grid"] .tba-grid-content');
  const r = c.getBoundingClientRect(), p = Number(c.dataset.pitch), s = Number(c.dataset.cell);
  return [r.left + h * p + s / 2, r.top + l * p + s / 2];
}"""


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    d = tmp_path_factory.mktemp("large")
    synthetic.write_run(d / "big", layers=LAYERS, heads=HEADS, tokens=16, steps=3, pair_probe=False)
    tb = TensorBoard(d)
    try:
        tb.wait_for_runs(1)
        yield tb
    finally:
        tb.close()


def selected(page):
    return page.evaluate("[window.tbAttention.state.layer, window.tbAttention.state.head]")


def cell_size(page):
    return int(page.locator('[data-testid="grid"] .tba-grid-content').get_attribute("data-cell"))


def test_a_large_grid_fits_zooms_and_picks_heads(page, large):
    page.goto(large.plugin_page)
    page.wait_for_function("window.tbAttention && window.tbAttention.paints.length > 0", timeout=30000)
    grid = page.locator('[data-testid="grid"]')
    assert grid.get_attribute("data-layers") == str(LAYERS) and grid.get_attribute("data-heads") == str(HEADS)
    # fit: every head in view and painted, no scrolling, no overview, no per-head elements
    inked = page.evaluate(INKED_JS, '[data-testid="grid-cells"]')
    assert len(inked) == LAYERS * HEADS and all(n > 0 for n in inked)
    expect(page.locator('[data-testid="grid-overview"]')).to_be_hidden()
    assert page.locator('[data-testid="cell"]').count() == 0, "cells this small have no badge elements"
    expect(page.locator('[data-testid="zoom-level"]')).to_contain_text("fit")
    page.evaluate("document.querySelector('[data-testid=\"grid-scroll\"]').scrollIntoView()")

    # hover names the head under the pointer; a click picks it
    page.mouse.move(*page.evaluate(CELL_POINT_JS, [30, 20]))
    expect(page.locator('[data-testid="grid-readout"]')).to_contain_text("L30 H20")
    page.mouse.click(*page.evaluate(CELL_POINT_JS, [30, 20]))
    assert selected(page) == [30, 20]
    expect(page.locator('[data-testid="head-view"] .tba-card-title')).to_contain_text("L30 H20")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "large-grid-fit.png"), full_page=True)

    # zoom in: the grid scrolls, the overview shows, the selected head stays in view with its badge
    for _ in range(4):
        page.locator('[data-testid="zoom-in"]').click()
    assert cell_size(page) >= 48
    expect(page.locator('[data-testid="grid-overview"]')).to_be_visible()
    chosen = page.locator('[data-testid="cell"][data-layer="30"][data-head="20"]')
    expect(chosen).to_have_class(re.compile(r"\bselected\b"))
    assert chosen.locator(".tba-badge").inner_text() not in ("", "\u2013")
    shown = page.locator('[data-testid="cell"]').count()
    assert 0 < shown < LAYERS * HEADS / 4, f"{shown} badge cells: only the heads in view have one"

    # the overview picks a head and the grid scrolls to it
    block = 6  # px per head in the overview at this size
    page.locator('[data-testid="grid-overview"] canvas').click(position={"x": 3 * block + 3, "y": 5 * block + 3})
    assert selected(page) == [5, 3]
    expect(page.locator('[data-testid="cell"][data-layer="5"][data-head="3"]')).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "large-grid-zoomed.png"), full_page=True)

    # a drag on the overview pans the grid (no selection)
    box = page.locator('[data-testid="grid-overview"] canvas').bounding_box()
    top = page.evaluate("document.querySelector('[data-testid=\"grid-scroll\"]').scrollTop")
    page.mouse.move(box["x"] + 20, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + 60, box["y"] + 250, steps=5)
    page.mouse.up()
    assert page.evaluate("document.querySelector('[data-testid=\"grid-scroll\"]').scrollTop") > top + 100
    assert selected(page) == [5, 3]

    # go to a head by name; a name of no head is refused
    find = page.locator('[data-testid="find-head"]')
    find.fill("L47 H31")
    find.press("Enter")
    assert selected(page) == [47, 31]
    expect(page.locator('[data-testid="cell"][data-layer="47"][data-head="31"]')).to_have_count(1)
    find.fill("L99 H0")
    find.press("Enter")
    expect(find).to_have_class(re.compile(r"\binvalid\b"))
    assert selected(page) == [47, 31]

    # back to fit
    page.locator('[data-testid="zoom-fit"]').click()
    expect(page.locator('[data-testid="grid-overview"]')).to_be_hidden()
    assert page.locator('[data-testid="cell"]').count() == 0
