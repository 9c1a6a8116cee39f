"""A run with a storage budget (full maps of 5 of 3 x 4 heads per snapshot, those that changed most)
in headless Chromium against a real `tensorboard`, and in its exported report: no head without a
stored map is ever painted as a map. The grid hatches those cells and shows their statistics (the
hover says why), the head view and the large map say "no map stored" with the head's statistics,
filmstrip frames of such steps are marked, the pickers' line says what the budget keeps, and B - A of
a run without a budget leaves those heads out too. Each check is against `read_run`'s stored_heads."""

import pytest

from conftest import ARTIFACTS, tab_frame, tensorboard_fixture, wait_until, open_exported_report
from grid_pixels import stats_js
from tb_attention_plugin import read_run
from tb_attention_plugin.devtools.synthetic import repeated_tokens, write_budget_run
from tb_attention_plugin.writer.head_choice import HeadChoice

RUN, FULL, PROBE = "budget", "full", "repeated"
LAYERS, HEADS, STEPS = 3, 4, list(range(0, 1200, 100))
STEP = 500
LINE = (
    "Storage budget: full maps of 5 of 3\u00d74 heads per snapshot (those that changed most since the "
    "previous snapshot); statistics of every head at every step."
)
WHY = "no map stored at step {} (storage budget: maps of 5 heads per snapshot, those that changed most since the previous snapshot)"
# per head's map in the grid (grid_pixels.py): pixels that are neither of the hatch's two colours
NOT_HATCH_JS = stats_js(
    """  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    const hatch = (d[i] === 200 && d[i + 1] === 204 && d[i + 2] === 208) || (d[i] === 248 && d[i + 1] === 249 && d[i + 2] === 250);
    if (!hatch) n++;
  }""",
    "n",
)


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    d = tmp_path_factory.mktemp("budget")
    for run, choice in ((RUN, HeadChoice(5, "changed")), (FULL, None)):
        write_budget_run(d / run, PROBE, repeated_tokens(16, 0), STEPS, layers=LAYERS, heads=HEADS, choice=choice)
    probe = read_run(str(d / RUN)).probe(PROBE)
    stored = {s: probe.stored_heads(s) for s in STEPS}
    return d, stored, probe.stats()


tb = tensorboard_fixture(2)


def has_map(stored, step, layer, head):
    """read_run's stored_heads: per layer the heads with a map, or None when every head has one."""
    heads = stored[step][layer]
    return heads is None or head in heads


def missing_at(stored, step):
    return [(l, h) for l in range(LAYERS) for h in range(HEADS) if not has_map(stored, step, l, h)]


def go_to(frame, step):
    frame.evaluate("(s) => window.tbAttention.setStep(s)", step)
    wait_until(frame, "(s) => window.tbAttention.paints.at(-1)?.step === s", step)


def select_run(frame, run):
    frame.locator('[data-testid="run-picker"]').select_option(run)
    wait_until(frame, "(r) => window.tbAttention.state.run === r", run)


def check_grid(frame, stored, stats, step):
    """Hatched cells with their statistics exactly where `read_run` has no map; the hover says why."""
    missing = missing_at(stored, step)
    assert missing and len(missing) < LAYERS * HEADS
    wait_until(frame, "(n) => document.querySelectorAll('[data-testid=\"cell\"].no-map').length === n", len(missing))
    not_hatch = frame.evaluate(NOT_HATCH_JS, '[data-testid="panel"] [data-testid="grid-cells"]')
    si = STEPS.index(step)
    for l in range(LAYERS):
        for h in range(HEADS):
            cell = frame.locator(f'[data-testid="cell"][data-layer="{l}"][data-head="{h}"]')
            if (l, h) in missing:
                assert not_hatch[l * HEADS + h] == 0, f"L{l}H{h} has no map but its cell is not hatched"
                assert "no-map" in cell.get_attribute("class")
                badge = cell.locator(".tba-badge").text_content()
                assert f"ent {stats['entropy'][si, l, h]:.2f}\nmax {stats['max'][si, l, h]:.2f}" in badge, badge
            else:
                assert not_hatch[l * HEADS + h] > 0 and "no-map" not in cell.get_attribute("class")
    count = frame.locator('[data-testid="no-map-count"]')
    assert count.get_attribute("data-count") == str(len(missing))
    l, h = missing[0]
    frame.locator(f'[data-testid="cell"][data-layer="{l}"][data-head="{h}"]').hover()
    readout = frame.locator('[data-testid="grid-readout"]').text_content()
    assert WHY.format(step) in readout and f"entropy (normalized) {stats['entropy'][si, l, h]:.2f}" in readout
    return missing


def test_heads_without_a_map_show_their_statistics_in_the_tab(browser, tb, logs):
    _, stored, stats = logs
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    frame = tab_frame(page, tb)
    select_run(frame, RUN)
    assert frame.locator('[data-testid="storage-note"]').text_content() == LINE
    go_to(frame, STEP)
    missing = check_grid(frame, stored, stats, STEP)

    # the head view and the evolution of a head without a map: the message and its numbers, no lines
    l, h = missing[0]
    frame.evaluate("([l, h]) => window.tbAttention.selectHead(l, h)", [l, h])
    note = frame.locator('[data-testid="hv-no-map"]')
    note.wait_for(state="visible", timeout=30000)
    text = note.text_content()
    assert f"L{l} H{h}: {WHY.format(STEP)}." in text
    assert f"entropy (normalized) {stats['entropy'][STEPS.index(STEP), l, h]:.2f}" in text
    assert frame.evaluate("window.tbAttention.app.views.head.weights.length") == 0
    big = frame.locator('[data-testid="bigmap-no-map"]')
    big.wait_for(state="visible", timeout=30000)
    assert WHY.format(STEP) in big.text_content()
    assert frame.locator('[data-testid="bigmap"]').is_hidden()
    check_filmstrip(frame, stored, l, h)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "storage-budget-tab.png"), full_page=True)
    frame.locator('[data-testid="model-view"]').screenshot(path=str(ARTIFACTS / "storage-budget-grid.png"))
    frame.locator('[data-testid="head-view"]').screenshot(path=str(ARTIFACTS / "storage-budget-head-view.png"))
    frame.locator('[data-testid="evolution"]').screenshot(path=str(ARTIFACTS / "storage-budget-evolution.png"))

    # a head with a map paints as before
    kept = next((a, b) for a in range(LAYERS) for b in range(HEADS) if (a, b) not in missing)
    frame.evaluate("([l, h]) => window.tbAttention.selectHead(l, h)", list(kept))
    note.wait_for(state="hidden", timeout=30000)
    frame.wait_for_function("window.tbAttention.app.views.head.weights.length === 1", timeout=30000)
    assert frame.locator('[data-testid="bigmap"]').is_visible()
    page.close()
    assert not errors, errors


def check_filmstrip(frame, stored, l, h):
    """Every frame of a step without the head's map is marked, the others are not."""
    wait_until(
        frame,
        """() => { const f = document.querySelectorAll('[data-testid="filmstrip"] .tba-frame');
                   return f.length > 1 && [...f].every((x) => x.dataset.state === 'data'); }""",
    )
    frames = frame.evaluate(
        """() => [...document.querySelectorAll('[data-testid="filmstrip"] .tba-frame')].map((f) =>
             [Number(f.dataset.step), f.classList.contains('no-map'), f.title, f.textContent])"""
    )
    for step, no_map, title, label in frames:
        assert no_map == (not has_map(stored, step, l, h)), (step, no_map)
        if no_map:
            assert WHY.format(step) in title and label.endswith("no map")


def test_b_minus_a_leaves_out_the_heads_a_has_no_map_of(page, tb, logs):
    _, stored, stats = logs
    page.goto(tb.plugin_page)
    page.wait_for_function("window.tbAttention && window.tbAttention.paints.length > 0", timeout=30000)
    select_run(page, RUN)
    page.locator('[data-testid="compare-picker"]').select_option(FULL)
    page.locator('[data-testid="compare-diff"]').click()
    go_to(page, STEP)
    panel_b = f'[data-testid="panel"][data-run="{FULL}"]'
    page.wait_for_selector(f'{panel_b}[data-state="data"]', timeout=30000)
    missing = missing_at(stored, STEP)
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel + ' [data-testid=\"cell\"].no-map').length === n",
        arg=[panel_b, len(missing)],
        timeout=30000,
    )
    not_hatch = page.evaluate(NOT_HATCH_JS, f'{panel_b} [data-testid="grid-cells"]')
    assert [not_hatch[l * HEADS + h] == 0 for l in range(LAYERS) for h in range(HEADS)] == [
        (l, h) in missing for l in range(LAYERS) for h in range(HEADS)
    ]
    page.locator(f'{panel_b} [data-testid="cell"][data-layer="{missing[0][0]}"][data-head="{missing[0][1]}"]').hover()
    assert (
        WHY.replace("at step {}", f"at run {RUN} step {STEP}")
        in page.locator(f'{panel_b} [data-testid="grid-readout"]').text_content()
    )
    # by pattern, A's head without a map is matched with nothing, and says why
    page.locator('[data-testid="match-mode"]').select_option("pattern")
    page.evaluate("([l, h]) => window.tbAttention.selectHead(l, h)", list(missing[0]))
    match = page.locator('[data-testid="hv-match"]')
    expected = f"B: A L{missing[0][0]}H{missing[0][1]} has no map stored at step {STEP}, nothing to match"
    page.wait_for_function(
        "(t) => document.querySelector('[data-testid=\"hv-match\"]').textContent === t", arg=expected
    )
    assert match.text_content() == expected
    page.screenshot(path=str(ARTIFACTS / "storage-budget-compare.png"), full_page=True)


def test_the_exported_report_shows_the_same(browser, logs, tmp_path):
    d, stored, stats = logs
    page, errors = open_exported_report(browser, d / RUN, tmp_path / "report.html", height=1200)
    assert page.locator('[data-testid="storage-note"]').text_content() == LINE
    go_to(page, STEP)
    missing = check_grid(page, stored, stats, STEP)
    page.evaluate("([l, h]) => window.tbAttention.selectHead(l, h)", list(missing[0]))
    page.locator('[data-testid="hv-no-map"]').wait_for(state="visible", timeout=30000)
    check_filmstrip(page, stored, *missing[0])
    page.screenshot(path=str(ARTIFACTS / "storage-budget-export.png"), full_page=True)
    page.context.close()
    assert not errors, errors
