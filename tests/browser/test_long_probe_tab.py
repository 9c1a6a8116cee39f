"""A long probe (1,536 tokens, 2 layers x 2 heads, written by the real writer) in headless Chromium
against a real `tensorboard`: no view asks for a whole unpooled snapshot or layer; the large map
paints the head's block means first, then, zoomed in, its exact weights (pixels checked against
`read_run`'s bytes and the server's block means), says what it shows on hover, keeps its window over
a step change and pans; the head view keeps only the rows in view in the DOM, scrolls, and its find
box jumps to a token."""

import math
import re

import numpy as np
import pytest
from playwright.sync_api import expect

from conftest import ARTIFACTS, tensorboard_fixture
from map_pixels import MAP_PX, PIXELS_JS, expected_pixels
from tb_attention_plugin import read_run
from tb_attention_plugin.devtools.synthetic import SyntheticHeads, repeated_tokens
from tb_attention_plugin.server.pooling import block_means
from tb_attention_plugin.writer.summary_writer import AttentionSummaryWriter

RUN, PROBE, N, STEPS = "long", "long probe", 1536, (0, 100, 200)
POOL = math.ceil(N / MAP_PX)  # its overview's blocks (mapWindow.overviewPool)


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    d = tmp_path_factory.mktemp("long")
    toks = repeated_tokens(N, 3)
    maps = SyntheticHeads(2, 2, toks, causal=True, last_step=100, seed=0)  # L0H0: previous token, formed by 200
    with AttentionSummaryWriter(str(d / RUN)) as w:
        w.add_probe(PROBE, toks, special=[i == 0 for i in range(N)])
        for step in STEPS:
            w.add_attention(step, PROBE, maps.at(step), causal=True)
    return d, read_run(str(d / RUN)).probe(PROBE), toks


tb = tensorboard_fixture(1)


def open_tab(page, tb):
    page.goto(tb.plugin_page)
    page.wait_for_function("window.tbAttention && window.tbAttention.paints.length > 0", timeout=60000)


def map_state(page):
    return page.evaluate("(() => ({...document.querySelector('.tba-bigmap').dataset}))()")


def wait_map(page, source, step):
    page.wait_for_function(
        "([source, step]) => { const m = document.querySelector('.tba-bigmap').dataset;"
        " return m.state === 'data' && m.source === source && m.step === String(step); }",
        arg=[source, step],
        timeout=60000,
    )
    return [int(v) for v in map_state(page)["window"].split(",")]


def check_pixels(page, levels, win, scale):
    """Every pixel of the large map against `levels` in window `win` (within 1 per channel)."""
    got = np.array(page.evaluate(PIXELS_JS), dtype=np.int64).reshape(MAP_PX, MAP_PX, 4)[:, :, :3]
    diff = np.abs(got - expected_pixels(levels, win, scale)).max(axis=2)
    assert (diff <= 1).all(), f"{(diff > 1).sum()} of {MAP_PX**2} pixels differ, first at {np.argwhere(diff > 1)[0]}"
    assert len(np.unique(got.reshape(-1, 3), axis=0)) > 8, "the map is (nearly) blank"


def test_no_view_asks_for_a_whole_unpooled_snapshot_or_layer(page, tb):
    open_tab(page, tb)
    wait_map(page, "pooled", STEPS[-1])
    page.wait_for_function("document.querySelector('[data-testid=\"head-view\"]').dataset.state === 'data'")
    page.evaluate("window.tbAttention.setStep(100)")
    wait_map(page, "pooled", 100)
    asked = [u.split("?", 1)[1] for u in page.watch.requests if "/snapshot?" in u]
    assert asked and all("pool=" in q or "head=" in q for q in asked), asked
    grid = [q for q in asked if "layer=" not in q]
    assert grid and all(re.search(r"pool=\d+", q) for q in grid), "the grid asks for block means"
    assert any("head=0" in q and "pool=" not in q for q in asked), "the head view's exact head"


def test_large_map_overview_then_exact_weights_when_zoomed(page, tb, logs):
    _, probe, toks = logs
    open_tab(page, tb)
    step = STEPS[-1]
    page.locator('[data-testid="bigmap"]').scroll_into_view_if_needed()
    win = wait_map(page, "pooled", step)
    assert win == [0, N, 0, N] and map_state(page)["pool"] == str(POOL)
    exact = probe.quantized(step, layer=0, head=0)
    pooled = block_means(exact[None], POOL)[0]
    check_pixels(page, (2 * pooled.astype(np.int64) + 257) // 514, win, POOL)  # heatmap.js byteLevels
    expect(page.locator('[data-testid="bigmap-window"]')).to_have_text("whole map")
    # hover: a block mean, over the rows and columns it covers
    canvas = page.locator('[data-testid="bigmap"]')
    canvas.hover(position={"x": 301, "y": 302})
    text = page.locator('[data-testid="bigmap-readout"]').inner_text()
    m = re.match(
        r"block mean over rows (\d+)\u2013(\d+) \u00d7 columns (\d+)\u2013(\d+): (\d\.\d{4}) \(at (.+) #(\d+) \u2192 (.+) #(\d+)\)",
        text,
    )
    assert m, text
    r0, r1, c0, c1 = (int(m.group(i)) for i in range(1, 5))
    assert (r1 - r0 + 1, c1 - c0 + 1) == (POOL, POOL) and r0 % POOL == 0 and c0 % POOL == 0
    assert r0 <= int(m.group(7)) <= r1 and m.group(6) == toks[int(m.group(7))]
    assert float(m.group(5)) == pytest.approx(exact[r0 : r1 + 1, c0 : c1 + 1].mean() / 255, abs=6e-5)
    page.screenshot(path=str(ARTIFACTS / "long-probe-overview.png"), full_page=True)

    # zoom in with the wheel about a point: the exact head is loaded, the window painted from it
    canvas.hover(position={"x": 250, "y": 250})  # on the diagonal (token 960), where the weights are
    for _ in range(4):
        page.mouse.wheel(0, -350)
    win = wait_map(page, "exact", step)
    assert win[1] - win[0] < N / 4 and win[0] <= 960 < win[1] and win[2] <= 960 < win[3], win  # about the pointer
    check_pixels(page, exact, win, 1)
    expect(page.locator('[data-testid="bigmap-window"]')).to_have_text(
        f"rows {win[0]}\u2013{win[1] - 1} \u00d7 columns {win[2]}\u2013{win[3] - 1}"
    )
    canvas.hover(position={"x": 120, "y": 330})
    text = page.locator('[data-testid="bigmap-readout"]').inner_text()
    m = re.match(r"(.+) #(\d+) \u2192 (.+) #(\d+): (\d\.\d{3})$", text)
    assert m, text
    qi, ki = int(m.group(2)), int(m.group(4))
    assert (m.group(1), m.group(3)) == (toks[qi], toks[ki])
    assert float(m.group(5)) == pytest.approx(exact[qi, ki] / 255, abs=6e-4)
    page.locator(".tba-evo-row").screenshot(path=str(ARTIFACTS / "long-probe-zoomed.png"))

    # a step change keeps the window: the new step's block means first (or at once its exact weights)
    page.evaluate("window.tbAttention.setStep(100)")
    assert wait_map(page, "exact", 100) == win
    check_pixels(page, probe.quantized(100, layer=0, head=0), win, 1)

    # a drag pans; "whole" shows the whole map's block means again
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 200, box["y"] + 200)
    page.mouse.down()
    page.mouse.move(box["x"] + 100, box["y"] + 150, steps=4)
    page.mouse.up()
    page.wait_for_function(
        "(w) => document.querySelector('.tba-bigmap').dataset.window !== w", arg=",".join(map(str, win))
    )
    moved = wait_map(page, "exact", 100)
    span = win[1] - win[0]
    assert (moved[0] - win[0], moved[2] - win[2]) == (round(0.125 * span), round(0.25 * span)), (win, moved)
    page.locator('[data-testid="bigmap-zoom-fit"]').click()
    assert wait_map(page, "pooled", 100) == [0, N, 0, N]


def test_head_view_is_virtualised_scrolls_and_finds_a_token(page, tb, logs):
    _, _, toks = logs
    open_tab(page, tb)
    hv = page.locator('[data-testid="head-view"]')
    page.wait_for_function("document.querySelector('[data-testid=\"head-view\"]').dataset.state === 'data'")
    left = page.locator('[data-testid="hv-left"] .tba-tok')
    assert 20 < left.count() < 200, "only the rows in view are in the DOM"
    assert page.evaluate("document.querySelector('[data-testid=\"hv-left\"]').offsetHeight") == N * 11
    # scroll to the end: the last tokens are there, the first ones gone, lines drawn in view
    page.evaluate("(() => { const b = document.querySelector('.tba-hv-body'); b.scrollTop = b.scrollHeight; })()")
    page.wait_for_function(f'!!document.querySelector(\'[data-testid="hv-left"] .tba-tok[data-index="{N - 1}"]\')')
    assert page.locator('[data-testid="hv-left"] .tba-tok[data-index="1"]').count() == 0
    assert 20 < left.count() < 200

    # find: the token at 1200 is also at 1200 - 767 (the probe repeats its first half)
    target = 1200
    twin = [i for i, t in enumerate(toks) if t == toks[target]]
    assert len(twin) == 2 and target in twin
    find = page.locator('[data-testid="hv-find"]')
    find.fill(toks[target])
    expect(page.locator('[data-testid="hv-find-count"]')).to_have_text("1 of 2")
    find.press("Enter")
    expect(page.locator('[data-testid="hv-find-count"]')).to_have_text("2 of 2")
    current = page.locator('[data-testid="hv-left"] .tba-tok.found-current')
    expect(current).to_have_attribute("data-index", str(target))
    in_view = """(() => { const b = document.querySelector('.tba-hv-body').getBoundingClientRect();
      const t = document.querySelector('.tba-tok.found-current').getBoundingClientRect();
      return t.top >= b.top && t.bottom <= b.bottom; })()"""
    assert page.evaluate(in_view), "the view scrolled to the match"
    expect(page.locator('[data-testid="hv-focus"]')).to_contain_text(f"{toks[target]} #{target} attends to:")
    hv.screenshot(path=str(ARTIFACTS / "long-probe-head-view-find.png"))
    find.press("Shift+Enter")
    expect(current).to_have_attribute("data-index", str(twin[0]))
    find.fill("#77")
    expect(current).to_have_attribute("data-index", "77")
    find.fill("no such token")
    expect(page.locator('[data-testid="hv-find-count"]')).to_have_text("not found")
    assert page.locator(".tba-tok.found").count() == 0
