"""Summarized heads in two-run comparison and in the exported report (headless Chromium, a real
`tensorboard`): two runs of 2 x 3 heads on a 480-token probe written with storage budgets that rotate
(A: maps of 2, summaries of 2; B: maps of 1, summaries of 3), so at step 100 A and B both keep only a
summary of L1H1, and of L1H0 A keeps the map, B a summary. B's grid panel paints B's summaries from
their block means, B - A subtracts two summaries' block means and says plainly that a summary and a
map are not subtracted; B's large map shows B's summary (B - A: the difference of the two summaries'
means, labelled); B's head view draws B's summarized head from its top keys; matching says on what it
compared (block means for a summarized head of A, with the score read_run's numbers give) and how
many of B's summarized heads it left out. The exported report paints the summaries' block means too.
Every picture is checked pixel by pixel against read_run's summaries; screenshots in
artifacts/summaries-compare."""

import numpy as np
import pytest

from conftest import ARTIFACTS, tensorboard_fixture, wait_until, open_exported_report
from grid_pixels import cell_pixels, corner_mask, expected_cell, expected_diff_cell
from map_pixels import DIV_LUT, LUT, MAP_PX, PIXELS_JS, expected_diff_pixels, expected_pixels
from tb_attention_plugin import read_run
from tb_attention_plugin.devtools.synthetic import repeated_tokens, write_budget_run
from tb_attention_plugin.writer.head_choice import HeadChoice

A, B, PROBE, N, LAYERS, HEADS, STEPS = "sum-a", "sum-b", "long", 480, 2, 3, (0, 100, 200)
STEP = 100
BOTH, MIXED = (1, 1), (1, 0)  # at STEP: summaries in both runs; A's map, B's summary
SHOTS = ARTIFACTS / "summaries-compare"
SUMMARY_HATCH = {(232, 240, 254), (138, 180, 248)}  # gridCanvas.js


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    d = tmp_path_factory.mktemp("summaries-compare")
    toks = repeated_tokens(N, 5)
    for run, seed, choice in (
        (A, 1, HeadChoice(2, "rotate", summaries=2)),
        (B, 2, HeadChoice(1, "rotate", summaries=3)),
    ):
        write_budget_run(d / run, PROBE, toks, STEPS, layers=LAYERS, heads=HEADS, choice=choice, seed=seed)
    probes = {run: read_run(str(d / run)).probe(PROBE) for run in (A, B)}
    for run, kept in ((A, "map"), (B, "summary")):
        assert kind_of(probes[run], *MIXED) == kept and kind_of(probes[run], *BOTH) == "summary"
    return d, probes


tb = tensorboard_fixture(2)


def kind_of(probe, layer, head, step=STEP):
    stored, summarized = probe.stored_heads(step)[layer], probe.summarized_heads(step)[layer]
    return "map" if stored is None or head in stored else "summary" if head in summarized else "statistics"


def levels(probe, layer, head):
    """The colour levels (heatmap.js byteLevels) of a summary's block means."""
    return (2 * probe.summary(STEP, layer, head).means.astype(np.int64) + 257) // 514


def block_means(probe, layer, head, block):
    """A head's means over `block` tiles as the tab compares them (blockMeans.js): its summary's, or its
    map's bytes pooled."""
    if kind_of(probe, layer, head) == "summary":
        return probe.summary(STEP, layer, head).means.astype(np.float64).ravel() / 65535
    q = probe.quantized(STEP, layer=layer, head=head).astype(np.float64) / 255
    rows, cols = -(-q.shape[0] // block), -(-q.shape[1] // block)
    return np.array(
        [q[i * block : (i + 1) * block, j * block : (j + 1) * block].mean() for i in range(rows) for j in range(cols)]
    )


def cosine(a, b):
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def open_compare(page, tb, layer, head):
    page.goto(tb.plugin_page)
    page.wait_for_function("window.tbAttention && window.tbAttention.paints.length > 0", timeout=60000)
    page.locator('[data-testid="run-picker"]').select_option(A)
    page.locator('[data-testid="compare-picker"]').select_option(B)
    page.evaluate("(s) => window.tbAttention.setStep(s)", STEP)
    page.evaluate("([l, h]) => window.tbAttention.selectHead(l, h)", [layer, head])
    page.wait_for_selector(f'[data-testid="panel"][data-run="{B}"][data-state="data"]', timeout=60000)


def wait_big_b(page, source):
    page.wait_for_function(
        "(s) => document.querySelector('.tba-bigmap-b').dataset.source === s", arg=source, timeout=60000
    )


def big_b_pixels(page):
    js = PIXELS_JS.replace('"bigmap"', '"bigmap-b"')
    return np.array(page.evaluate(js), dtype=np.int64).reshape(MAP_PX, MAP_PX, 4)[:, :, :3]


def check_summary_cells(page, grid, probe, heads):
    """Each of `heads` in the grid at `grid` (a canvas selector) shows its summary's block means,
    every pixel, and the summary's corner."""
    cells = cell_pixels(page, grid)
    for layer, head in heads:
        got = cells[layer * HEADS + head]
        corner = corner_mask(got.shape[0])
        diff = np.abs(got - expected_cell(levels(probe, layer, head), got.shape[0], LUT)).max(axis=2)
        assert (diff[~corner] <= 1).all(), f"{(diff[~corner] > 1).sum()} pixels differ at L{layer}H{head}"
        assert {tuple(c) for c in got[corner]} <= SUMMARY_HATCH


def readout(page, panel, layer, head):
    page.locator(f'{panel} [data-testid="cell"][data-layer="{layer}"][data-head="{head}"]').hover()
    return page.locator(f'{panel} [data-testid="grid-readout"]').text_content()


def test_b_panel_and_b_minus_a_in_the_grid(page, tb, logs):
    _, probes = logs
    open_compare(page, tb, *BOTH)
    panel_b = f'[data-testid="panel"][data-run="{B}"]'
    summarized = [(l, h) for l in range(LAYERS) for h in range(HEADS) if kind_of(probes[B], l, h) == "summary"]
    check_summary_cells(page, f'{panel_b} [data-testid="grid-cells"]', probes[B], summarized)
    block = probes[B].summary(STEP, *BOTH).block
    assert f"summary at step {STEP}: block means of {block}\u00d7{block} tokens" in readout(page, panel_b, *BOTH)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator('[data-testid="model-view"]').screenshot(path=str(SHOTS / "grid-b.png"))

    page.locator('[data-testid="compare-diff"]').click()
    page.wait_for_selector(f'{panel_b}[data-state="data"]', timeout=30000)
    wait_until(page, "(sel) => document.querySelector(sel).textContent.includes('\u2212')", f"{panel_b} b")
    cells = cell_pixels(page, f'{panel_b} [data-testid="grid-cells"]')
    got = cells[BOTH[0] * HEADS + BOTH[1]]
    corner = corner_mask(got.shape[0])
    want = expected_diff_cell(levels(probes[B], *BOTH) - levels(probes[A], *BOTH), got.shape[0], DIV_LUT)
    diff = np.abs(got - want).max(axis=2)
    assert (diff[~corner] <= 1).all(), f"{(diff[~corner] > 1).sum()} pixels of B - A differ"
    text = readout(page, panel_b, *BOTH)
    assert f"difference of block means of {block}\u00d7{block} tokens: summaries at step {STEP} and run {A}" in text
    mixed = cells[MIXED[0] * HEADS + MIXED[1]]
    assert {tuple(c) for c in mixed.reshape(-1, 3)} == SUMMARY_HATCH, "a summary against a map: hatched"
    text = readout(page, panel_b, *MIXED)
    assert f"no difference painted: only a summary (block means) at step {STEP}, the full map at run {A}" in text
    page.locator('[data-testid="model-view"]').screenshot(path=str(SHOTS / "grid-b-minus-a.png"))


def test_b_large_map_and_head_view_show_bs_summary(page, tb, logs):
    _, probes = logs
    open_compare(page, tb, *MIXED)
    wait_big_b(page, "summary-means")
    summary = probes[B].summary(STEP, *MIXED)
    want = expected_pixels(levels(probes[B], *MIXED), [0, N, 0, N], summary.block)
    diff = np.abs(big_b_pixels(page) - want).max(axis=2)
    assert (diff <= 1).all(), f"{(diff > 1).sum()} pixels of B's summary differ"
    caption = page.locator('[data-testid="bigmap-b-caption"]').text_content()
    assert f"summary: block means of {summary.block}\u00d7{summary.block} tokens" in caption, caption
    # by index, scored on block means: A's map pooled to B's summary's blocks
    score = cosine(block_means(probes[A], *MIXED, summary.block), block_means(probes[B], *MIXED, summary.block))
    label = f"B L1H0 = A L1H0 ({score:.2f} on block means)"
    wait_until(page, "(t) => document.querySelector('[data-testid=\"hv-match\"]').textContent === t", label)
    # B's head view: lines from B's top keys, said so
    wait_until(page, "() => document.querySelector('[data-testid=\"head-view-b\"]').dataset.summary === 'L1H0'")
    note = page.locator('[data-testid="hv-b-summary"]').text_content()
    assert f"L1 H0: summary at step {STEP}: lines from each row's top 8 keys only" in note
    inked = "() => { const c = document.querySelector('[data-testid=\"hv-b-canvas\"]');"
    inked += " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
    inked += " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"
    assert page.evaluate(inked) > 500, "B's head view draws lines"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "b-summary.png"), full_page=True)

    # B - A: a summary against a map is said, not painted
    page.locator('[data-testid="compare-diff"]').click()
    no_map = page.locator('[data-testid="bigmap-b-no-map"]')
    no_map.wait_for(state="visible", timeout=30000)
    assert f"run {B} at step {STEP} kept only a summary" in no_map.text_content()
    assert f"run {A} at step {STEP} the full map" in no_map.text_content()
    # two summaries: the difference of their block means, labelled
    page.evaluate("([l, h]) => window.tbAttention.selectHead(l, h)", list(BOTH))
    wait_big_b(page, "summary-means")
    diff_levels = levels(probes[B], *BOTH) - levels(probes[A], *BOTH)
    want = expected_diff_pixels(diff_levels, [0, N, 0, N], summary.block)
    diff = np.abs(big_b_pixels(page) - want).max(axis=2)
    assert (diff <= 1).all(), f"{(diff > 1).sum()} pixels of B - A's summaries differ"
    caption = page.locator('[data-testid="bigmap-b-caption"]').text_content()
    assert "B \u2212 A" in caption and "(difference of the means): summaries of B and A, not full maps" in caption
    page.locator(".tba-evo-row").screenshot(path=str(SHOTS / "b-minus-a-summaries.png"))


def test_matching_by_pattern_with_summaries(page, tb, logs):
    _, probes = logs
    open_compare(page, tb, *BOTH)
    page.locator('[data-testid="match-mode"]').select_option("pattern")
    block = probes[A].summary(STEP, *BOTH).block
    # A's L1H1 is a summary: matched on block means with every head of B that has a map or a summary
    a = block_means(probes[A], *BOTH, block)
    scores = {
        (l, h): cosine(a, block_means(probes[B], l, h, block))
        for l in range(LAYERS)
        for h in range(HEADS)
        if kind_of(probes[B], l, h) != "statistics"
    }
    (l, h), score = max(scores.items(), key=lambda item: item[1])
    label = f"B L{l}H{h} \u2248 A L1H1 ({score:.2f} on block means)"
    wait_until(page, "(t) => document.querySelector('[data-testid=\"hv-match\"]').textContent === t", label)
    # A's L1H0 has a map: matched exactly with B's maps; B's summaries left out, said
    page.evaluate("([l, h]) => window.tbAttention.selectHead(l, h)", list(MIXED))
    a = probes[A].quantized(STEP, layer=1, head=0).astype(np.float64).ravel()
    maps = [(l, h) for l in range(LAYERS) for h in range(HEADS) if kind_of(probes[B], l, h) == "map"]
    exact = {x: cosine(a, probes[B].quantized(STEP, layer=x[0], head=x[1]).astype(np.float64).ravel()) for x in maps}
    (l, h), score = max(exact.items(), key=lambda item: item[1])
    n = sum(kind_of(probes[B], l2, h2) == "summary" for l2 in range(LAYERS) for h2 in range(HEADS))
    label = f"B L{l}H{h} \u2248 A L1H0 ({score:.2f}) \u00b7 {n} summarized heads of B not compared (only block means stored)"
    wait_until(page, "(t) => document.querySelector('[data-testid=\"hv-match\"]').textContent === t", label)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator('[data-testid="head-view-b"]').screenshot(path=str(SHOTS / "match-by-pattern.png"))


def test_the_exported_report_paints_the_summaries(browser, logs, tmp_path):
    d, probes = logs
    page, errors = open_exported_report(browser, d / A, tmp_path / "report.html")
    page.evaluate("(s) => window.tbAttention.setStep(s)", STEP)
    wait_until(page, "(s) => window.tbAttention.paints.at(-1)?.step === s", STEP)
    summarized = [(l, h) for l in range(LAYERS) for h in range(HEADS) if kind_of(probes[A], l, h) == "summary"]
    wait_until(page, "(n) => document.querySelectorAll('[data-testid=\"cell\"].summary').length === n", len(summarized))
    check_summary_cells(page, '[data-testid="panel"] [data-testid="grid-cells"]', probes[A], summarized)
    assert f"summary at step {STEP}: block means of" in readout(page, '[data-testid="panel"]', *summarized[0])
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator('[data-testid="model-view"]').screenshot(path=str(SHOTS / "export-grid.png"))
    page.context.close()
    assert not errors, errors
