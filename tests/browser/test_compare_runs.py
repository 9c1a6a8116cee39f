"""Two-run comparison in headless Chromium against a real `tensorboard`: two seeds of the same model
whose snapshot steps differ (A every 100 steps, B every 150), so some cursor steps exist in A only.
Every view shows B beside A at the cursor step, B - A with the diverging scale, heads matched by
index or by pattern, and B's panels say when B has no snapshot at the cursor step."""

import re

import pytest
from playwright.sync_api import expect

from conftest import ARTIFACTS, TensorBoard
from grid_pixels import stats_js
from tb_attention_plugin.devtools import synthetic

A, B = "seed-a", "seed-b"

# [inked pixels, checksum, reddish, bluish] per head's map (grid_pixels.py) or canvas (inked: not
# white; the diverging scale is blue (< 0) - white - red (> 0)).
PIXELS_JS = stats_js(
    """  let n = 0, h = 0, red = 0, blue = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] && (d[i] < 250 || d[i + 1] < 250 || d[i + 2] < 250)) n++;
    if (d[i] > d[i + 2] + 40) red++;
    if (d[i + 2] > d[i] + 40) blue++;
    h = (h * 31 + d[i] + 7 * d[i + 1] + 13 * d[i + 2]) >>> 0;
  }""",
    "[n, h, red, blue]",
)


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory):
    d = tmp_path_factory.mktemp("compare")
    synthetic.write_run(d / A, seed=0, every=100, steps=12)  # 0, 100, ..., 1100
    synthetic.write_run(d / B, seed=5, every=150, steps=8)  # 0, 150, ..., 1050
    tb = TensorBoard(d)
    try:
        tb.wait_for_runs(2)
        yield tb
    finally:
        tb.close()


def pixels(page, sel):
    return page.evaluate(PIXELS_JS, sel)


def go_to(page, step):
    page.evaluate("(s) => window.tbAttention.setStep(s)", step)
    page.wait_for_function("(s) => window.tbAttention.paints.at(-1)?.step === s", arg=step, timeout=30000)


def wait_state(page, selector, value):
    page.wait_for_function(
        "([sel, v]) => document.querySelector(sel)?.dataset.state === v", arg=[selector, value], timeout=30000
    )


def wait_inked(page, selector):
    page.wait_for_function(
        f"(sel) => ({PIXELS_JS})(sel).every(([n]) => n > 0) && document.querySelectorAll(sel).length > 0",
        arg=selector,
        timeout=30000,
    )


def open_compare(page, tb):
    page.goto(tb.plugin_page)
    page.wait_for_function("window.tbAttention && window.tbAttention.paints.length > 0", timeout=30000)
    page.locator('[data-testid="run-picker"]').select_option(A)
    page.locator('[data-testid="compare-picker"]').select_option(B)
    page.locator("body").click(position={"x": 5, "y": 5})  # the pickers keep no key focus


def test_both_runs_in_every_view_and_b_minus_a(page, two_seeds):
    open_compare(page, two_seeds)
    go_to(page, 900)  # a step both runs logged
    wait_state(page, f'[data-testid="panel"][data-run="{B}"]', "data")

    # head views: A's and B's lines, B's head labelled with A's head it shows
    wait_state(page, '[data-testid="head-view-b"]', "data")
    wait_inked(page, '[data-testid="hv-canvas"]')
    wait_inked(page, '[data-testid="hv-b-canvas"]')
    expect(page.locator('[data-testid="hv-match"]')).to_have_text(re.compile(r"B L0H0 = A L0H0 \(\d\.\d\d\)"))
    expect(page.locator('[data-testid="hv-b-left"] .tba-tok')).to_have_count(24)

    # evolution: B's curves (dashed) over A's, a legend naming both runs; B's large map beside A's
    chart = page.locator('[data-testid="evolution-chart"]')
    expect(chart).not_to_have_attribute("data-compare-curves", "0")
    assert int(chart.get_attribute("data-compare-curves")) > 0
    legend = page.locator('[data-testid="evolution-legend"]')
    expect(legend).to_contain_text(f"A: {A} L0H0")
    expect(legend).to_contain_text(f"B: {B}")
    expect(page.locator('[data-testid="evolution-chart"] .u-legend')).to_contain_text("(B)")
    wait_state(page, ".tba-bigmap-b", "data")
    wait_inked(page, '[data-testid="bigmap-b"]')
    a_big, b_big = pixels(page, '[data-testid="bigmap"]')[0], pixels(page, '[data-testid="bigmap-b"]')[0]
    assert a_big[1] != b_big[1], "B's large map is A's"
    page.locator('[data-testid="bigmap-b"]').hover(position={"x": 30, "y": 200})
    expect(page.locator('[data-testid="bigmap-b-readout"]')).to_have_text(
        re.compile(r"\u2192 .*: B \d\.\d{3} \u00b7 A \d\.\d{3} \(\u0394 [+-]\d\.\d{3}\)")
    )
    # B's filmstrip at A's frame steps: B's frames painted where B logged the step, marked where not
    page.wait_for_function("""() => {
      const fs = Array.from(document.querySelectorAll('[data-testid="filmstrip-b"] .tba-frame'));
      return fs.length > 1 && fs.every((f) => ['data', 'missing'].includes(f.dataset.state));
    }""")
    frames = page.locator('[data-testid="filmstrip-b"] .tba-frame')
    states = frames.evaluate_all("fs => fs.map((f) => [Number(f.dataset.step), f.dataset.state])")
    b_steps = set(range(0, 1051, 150))
    assert all((st == "data") == (step in b_steps) for step, st in states), states
    assert any(st == "missing" for _, st in states) and any(st == "data" for _, st in states), states
    inked = pixels(page, '[data-testid="filmstrip-b"] .tba-frame[data-state="data"] canvas')
    assert inked and all(n > 0 for n, *_ in inked)
    expect(page.locator('[data-testid="filmstrip-b-label"]')).to_contain_text(f"B: {B} \u00b7 L0H0")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "compare-two-runs.png"), full_page=True)

    # B - A, one click away: the compare panel and B's large map in the diverging scale
    a_grid = pixels(page, f'[data-testid="grid"][data-run="{A}"] [data-testid="grid-cells"]')
    b_grid = pixels(page, f'[data-testid="grid"][data-run="{B}"] [data-testid="grid-cells"]')
    before = page.evaluate("window.tbAttention.paints.length")
    page.locator('[data-testid="compare-diff"]').click()
    page.wait_for_function("(n) => window.tbAttention.paints.length > n", arg=before, timeout=30000)
    expect(page.locator('[data-testid="compare-diff"]')).to_have_attribute("aria-pressed", "true")
    expect(page.locator('[data-testid="evo-compare-diff"]')).to_have_attribute("aria-pressed", "true")
    expect(page.locator(f'[data-testid="panel"][data-run="{B}"] .tba-panel-title')).to_contain_text(f"{B} \u2212 {A}")
    diff_grid = pixels(page, f'[data-testid="grid"][data-run="{B}"] [data-testid="grid-cells"]')
    assert sum(x[2] for x in diff_grid) > 0 and sum(x[3] for x in diff_grid) > 0, "B - A shows gains and losses"
    assert [x[1] for x in diff_grid] != [x[1] for x in a_grid]
    assert [x[1] for x in diff_grid] != [x[1] for x in b_grid]
    assert all(x[2] == 0 for x in a_grid + b_grid), "the plain maps are sequential (white-navy), never red"
    page.wait_for_function("document.querySelector('.tba-bigmap-b').dataset.diff === 'true'")
    wait_state(page, ".tba-bigmap-b", "data")
    diff_big = pixels(page, '[data-testid="bigmap-b"]')[0]
    assert diff_big[2] > 0 and diff_big[3] > 0, f"B - A large map not diverging: {diff_big}"
    assert diff_big[1] not in (a_big[1], b_big[1])
    expect(page.locator('[data-testid="bigmap-b-caption"]')).to_contain_text("B \u2212 A")
    page.screenshot(path=str(ARTIFACTS / "compare-b-minus-a.png"), full_page=True)
    page.locator('[data-testid="evo-compare-diff"]').click()
    expect(page.locator('[data-testid="compare-diff"]')).to_have_attribute("aria-pressed", "false")


def test_heads_matched_by_pattern(page, two_seeds):
    open_compare(page, two_seeds)
    go_to(page, 900)
    page.locator('[data-testid="match-mode"]').select_option("pattern")
    wait_state(page, '[data-testid="head-view-b"]', "data")
    label = re.compile(r"B L(\d)H(\d) \u2248 A L(\d)H(\d) \((0\.\d\d|1\.00)\)")
    seen = []
    for layer, head in [(0, 0), (0, 1), (1, 2), (2, 3)]:
        page.evaluate("([l, h]) => window.tbAttention.selectHead(l, h)", [layer, head])
        hv = page.locator('[data-testid="hv-match"]')
        expect(hv).to_have_text(re.compile(rf"\u2248 A L{layer}H{head} "))
        m = label.search(hv.inner_text())
        assert m, hv.inner_text()
        seen.append(tuple(int(g) for g in m.groups()[:4]))
        expect(page.locator('[data-testid="bigmap-b-caption"]')).to_contain_text(m.group(0))
        expect(page.locator('[data-testid="evolution-legend-b"]')).to_contain_text(m.group(0))
        wait_inked(page, '[data-testid="hv-b-canvas"]')
    # the seeds place the synthetic patterns at different heads: some match is at another index
    assert any((bl, bh) != (al, ah) for bl, bh, al, ah in seen), seen
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "compare-matched-heads.png"), full_page=True)


def test_steps_of_one_run_only(page, two_seeds):
    open_compare(page, two_seeds)
    go_to(page, 700)  # A logged 700, B 600 and 750
    text = f"run {B} has no snapshot at step 700; nearest: 600 / 750"
    panel = page.locator(f'[data-testid="panel"][data-run="{B}"]')
    expect(panel).to_have_attribute("data-state", "missing")
    expect(panel.locator('[data-testid="no-snapshot"]')).to_have_text(text)
    assert all(n == 0 for n, *_ in pixels(page, f'[data-testid="grid"][data-run="{B}"] [data-testid="grid-cells"]')), (
        "B shows a step"
    )
    expect(page.locator('[data-testid="head-view-b"] [data-testid="no-snapshot"]')).to_have_text(text)
    expect(page.locator('[data-testid="head-view-b"]')).to_have_attribute("data-state", "missing")
    expect(page.locator('.tba-bigmap-b [data-testid="no-snapshot"]')).to_have_text(text)
    expect(page.locator('[data-testid="panel"][data-run="' + A + '"]')).to_have_attribute("data-state", "data")
    wait_inked(page, '[data-testid="hv-canvas"]')
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "compare-missing-step.png"), full_page=True)
    go_to(page, 1100)  # after B's last step
    expect(panel.locator('[data-testid="no-snapshot"]')).to_have_text(
        f"run {B} has no snapshot at step 1100; nearest: 1050"
    )
    go_to(page, 600)  # both: B paints again
    expect(panel).to_have_attribute("data-state", "data")
    expect(panel.locator('[data-testid="no-snapshot"]')).to_be_hidden()
    wait_inked(page, f'[data-testid="grid"][data-run="{B}"] [data-testid="grid-cells"]')
    # the timeline marks B's snapshot steps (hollow teal diamonds, #00838f) besides A's
    blue = page.evaluate("""() => {
      const c = document.querySelector('[data-testid="timeline-chart"] canvas');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] < 40 && d[i + 1] > 110 && d[i + 1] < 150 && d[i + 2] > 120 && d[i + 2] < 165) n++;
      return n;
    }""")
    assert blue > 0, "no compare-run snapshot ticks on the timeline"
