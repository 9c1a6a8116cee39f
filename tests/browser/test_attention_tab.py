"""The Attention tab in headless Chromium against a real `tensorboard` serving logs from the real writer."""

import json
import time

import pytest
from playwright.sync_api import expect

from conftest import ARTIFACTS, TensorBoard, tab_frame
from grid_pixels import stats_js
import synthetic_logs

# Pixel summary of canvases: [non-white pixel count, a checksum] per canvas.
# [inked pixels, checksum, width, height] of each head's map (grid_pixels.py) or canvas
CANVAS_STATS_JS = stats_js(
    """  let n = 0, h = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] && (d[i] < 250 || d[i + 1] < 250 || d[i + 2] < 250)) n++;
    h = (h * 31 + d[i] + 7 * d[i + 1] + 13 * d[i + 2]) >>> 0;
  }""",
    "[n, h, rw, rh]",
)


def open_tab(page, tb):
    page.goto(tb.plugin_page)
    wait_painted(page)
    return page


def wait_painted(page, step=None, count=None, timeout=30000):
    """Wait for the frontend's grid-painted hook (optionally for a given step / paint count)."""
    page.wait_for_function(
        """([step, count]) => window.tbAttention && window.tbAttention.paints.length > (count ?? 0)
           && (step === null || window.tbAttention.paints[window.tbAttention.paints.length - 1].step === step)""",
        arg=[step, count],
        timeout=timeout,
    )


def state(page, key):
    return page.evaluate(f"window.tbAttention.state[{json.dumps(key)}]")


def paint_count(page):
    return page.evaluate("window.tbAttention.paints.length")


def grid_stats(page):
    return page.evaluate(CANVAS_STATS_JS, '[data-testid="grid-cells"]')


def test_tab_opens_inside_tensorboard(page, tensorboard):
    frame = tab_frame(page, tensorboard)
    assert frame.locator('[data-testid="cell"]').count() == 3 * 4
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "tensorboard-attention-tab.png"), full_page=True)


def test_grid_paints_every_head_and_changes_with_the_step(page, tensorboard):
    open_tab(page, tensorboard)
    assert page.locator('[data-testid="cell"]').count() == 12
    assert state(page, "step") == 1100, "opens at the latest snapshot"
    first = grid_stats(page)
    assert len(first) == 12
    for n, _, w, h in first:
        assert n > 0.05 * w * h, "a heatmap is (almost) blank"
    before = paint_count(page)
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    wait_painted(page, step=800, count=before)
    assert page.locator('[data-testid="step-value"]').inner_text() == "800"
    second = grid_stats(page)
    changed = sum(a[1] != b[1] for a, b in zip(first, second))
    assert changed >= 6, f"only {changed} of 12 heatmaps changed between steps 1100 and 800"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "attention-tab.png"), full_page=True)


def test_step_navigation_keys_clamp_and_timeline_click(page, tensorboard):
    open_tab(page, tensorboard)
    page.keyboard.press("ArrowRight")  # already at the last snapshot
    assert state(page, "step") == 1100
    page.keyboard.press("Home")
    assert state(page, "step") == 0
    page.keyboard.press("ArrowLeft")
    assert state(page, "step") == 0
    # click at ~40% of the loss chart's width: snaps to a logged step near 40% of the range
    over = page.locator('[data-testid="timeline-chart"] .u-over')
    box = over.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + box["height"] / 2)
    step = state(page, "step")
    assert step in range(300, 600, 100), step
    # drag to the right end
    page.mouse.move(box["x"] + 5, box["y"] + 10)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 2, box["y"] + 10, steps=5)
    page.mouse.up()
    assert state(page, "step") == 1100


def test_play_animates_through_snapshots(page, tensorboard):
    open_tab(page, tensorboard)
    page.keyboard.press("Home")
    page.get_by_role("button", name="Play").click()
    page.wait_for_function("window.tbAttention.state.step >= 300", timeout=15000)
    assert state(page, "playing") is True
    page.get_by_role("button", name="Pause").click()
    assert state(page, "playing") is False
    s = state(page, "step")
    page.wait_for_timeout(800)
    assert state(page, "step") == s, "kept playing after pause"


def test_loss_curve_is_drawn(page, tensorboard):
    open_tab(page, tensorboard)
    # scalars load independently of the grid: wait for them
    expect(page.locator('[data-testid="timeline"] .u-legend')).to_contain_text("eval/loss")
    expect(page.locator('[data-testid="timeline"] .u-legend')).to_contain_text("train/loss")
    # train/loss is drawn in #1a73e8: look for its pixels on the chart canvas
    blue_js = """() => {
      const c = document.querySelector('[data-testid="timeline-chart"] canvas');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4)
        if (Math.abs(d[i] - 26) < 30 && Math.abs(d[i + 1] - 115) < 30 && Math.abs(d[i + 2] - 232) < 30 && d[i + 3] > 200) n++;
      return n;
    }"""
    try:
        page.wait_for_function(f"() => ({blue_js})() > 100", timeout=10000)
    except Exception:
        pass
    blue = page.evaluate(blue_js)
    assert blue > 100, f"train/loss curve not drawn ({blue} blue pixels)"
    # the best checkpoint (step 400 in this run) is a mark across the plot, not a curve
    assert state(page, "scalars")["marks"][0]["step"] == 400
    assert "best_checkpoint" not in page.locator('[data-testid="timeline"]').inner_text()
    mark_js = """() => {
      const c = document.querySelector('[data-testid="timeline-chart"] canvas');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const xs = new Set();
      for (let i = 0; i < d.length; i += 4)
        if (Math.abs(d[i] - 194) < 30 && Math.abs(d[i + 1] - 24) < 30 && Math.abs(d[i + 2] - 91) < 30 && d[i + 3] > 200)
          xs.add((i / 4) % c.width);
      return [...xs];
    }"""
    xs = page.evaluate(mark_js)
    assert xs, "the best checkpoint's mark is not drawn"
    x400 = page.evaluate("""() => { const u = window.tbAttention.app.views.timeline.u;
                                    return u.valToPos(400, 'x', true); }""")
    assert min(abs(x - x400) for x in xs) <= 2
    page.locator('[data-testid="timeline"]').screenshot(path=str(ARTIFACTS / "timeline-best-checkpoint.png"))
    # another scalar of the run can be added
    page.locator('[data-testid="timeline"] select').select_option("train/learning_rate")
    page.wait_for_function(
        "document.querySelector('[data-testid=\"timeline\"] .u-legend').innerText.includes('train/learning_rate')"
    )


def tensorboard_smoothing(values, weight):
    """TensorBoard's Scalars smoothing, written from its definition: a debiased exponential moving average
    over the finite values (a constant series as it is)."""
    if all(v == values[0] for v in values):
        return list(values)
    out, moving, count = [], 0.0, 0
    for v in values:
        moving = moving * weight + (1 - weight) * v
        count += 1
        out.append(moving / (1 - weight**count))
    return out


def test_the_timeline_smooths_its_curves_as_the_scalars_tab_does(page, tensorboard, logdir):
    from tb_attention_plugin import read_run

    open_tab(page, tensorboard)
    slider = page.locator('[data-testid="smoothing"]')
    assert float(slider.input_value()) == 0.6  # TensorBoard's default
    expect(page.locator('[data-testid="smoothing-value"]')).to_have_text("0.6")
    steps, loss = read_run(str(logdir / "induction")).scalars("train/loss")
    curve_js = """(label) => { const u = window.tbAttention.app.views.timeline.u;
      const i = u.series.findIndex((s) => s.label === label);
      return u.data[0].map((x, j) => [x, u.data[i][j]]).filter(([, y]) => y !== null && y !== undefined); }"""
    for weight in (0.6, 0.0, 0.95):
        if weight != 0.6:
            slider.fill(f"{weight:g}")  # as the input writes it back ("0", not "0.0": playwright 1.40 checks)
            expect(page.locator('[data-testid="smoothing-value"]')).to_have_text(f"{weight:g}")
        shown = page.evaluate(curve_js, "train/loss")
        raw = page.evaluate(curve_js, "train/loss raw")
        assert [x for x, _ in shown] == steps.tolist() and [x for x, _ in raw] == steps.tolist()
        want = tensorboard_smoothing([float(v) for v in loss], weight)
        assert max(abs(y - w) for (_, y), w in zip(shown, want)) < 1e-5 * max(abs(v) for v in want), weight
        assert max(abs(y - float(v)) for (_, y), v in zip(raw, loss)) < 1e-6  # the logged curve, faint behind
    page.locator('[data-testid="timeline"]').screenshot(path=str(ARTIFACTS / "timeline-smoothing.png"))


def test_clicking_a_cell_opens_its_head_view_and_evolution(page, tensorboard):
    open_tab(page, tensorboard)
    page.locator('[data-testid="cell"][data-layer="1"][data-head="2"]').click()
    assert (state(page, "layer"), state(page, "head")) == (1, 2)
    expect(page.locator('[data-testid="head-view"] .tba-card-title')).to_contain_text("L1 H2")
    expect(page.locator('[data-testid="evolution"] .tba-card-title')).to_contain_text("layer 1, head 2")
    assert page.locator('[data-testid="cell"][data-layer="1"][data-head="2"]').get_attribute("class").count("selected")
    # head view: one token per row on each side, lines drawn
    expect(page.locator('[data-testid="hv-left"] .tba-tok')).to_have_count(24)
    page.wait_for_function("""() => {
      const c = document.querySelector('[data-testid="hv-canvas"]');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) return true;
      return false;
    }""")
    # evolution: stat curves drawn over steps and a filmstrip of the head
    legend = page.locator('[data-testid="evolution"] .u-legend').inner_text()
    for name in ("entropy", "previous token", "drift since first snapshot", "induction score"):
        assert name in legend
    evo = page.evaluate(CANVAS_STATS_JS, '[data-testid="evolution-chart"] canvas')
    assert evo and evo[0][0] > 500
    page.wait_for_function("document.querySelectorAll('[data-testid=\"filmstrip\"] canvas').length >= 2")
    frames = page.evaluate(CANVAS_STATS_JS, '[data-testid="filmstrip"] canvas')
    page.wait_for_function(f"""() => ({CANVAS_STATS_JS})('[data-testid="filmstrip"] canvas').every(([n]) => n > 0)""")
    # a filmstrip frame moves the shared cursor
    page.locator('[data-testid="filmstrip"] .tba-frame').first.click()
    assert state(page, "step") == 0
    assert frames


def test_hovering_a_token_isolates_its_lines(page, tensorboard):
    open_tab(page, tensorboard)
    page.wait_for_function(f"() => ({CANVAS_STATS_JS})('[data-testid=\"hv-canvas\"]')[0][0] > 0")
    all_lines = page.evaluate(CANVAS_STATS_JS, '[data-testid="hv-canvas"]')[0][0]
    page.locator('[data-testid="hv-left"] .tba-tok').nth(10).hover()
    one = page.evaluate(CANVAS_STATS_JS, '[data-testid="hv-canvas"]')[0][0]
    assert 0 < one < all_lines


def test_xss_probe_token_is_text(page, tensorboard):
    open_tab(page, tensorboard)
    # a flag that any executed payload (alert/onerror) would raise
    page.evaluate("""() => {
      window.__xss = 0;
      window.alert = () => { window.__xss++; };
      window.addEventListener('error', (e) => { if (e.target && e.target.tagName === 'IMG') window.__xss++; }, true);
    }""")
    page.locator('[data-testid="probe-picker"]').select_option("sentence pair")
    wait_painted(page)
    expect(page.locator('[data-testid="hv-left"] .tba-tok')).to_have_count(15)
    toks = page.locator('[data-testid="hv-left"] .tba-tok').all_inner_texts()
    assert synthetic_logs.XSS_TOKEN in toks
    assert page.locator("img").count() == 0, "a token was parsed as HTML"
    assert page.evaluate("window.__xss") == 0
    assert not [u for u in page.watch.requests if u.rstrip("/").endswith("/x")], "the payload's image was requested"
    # segments of the sentence pair are shown; hiding special tokens renormalizes
    assert page.locator('[data-testid="hv-left"] .tba-tok.seg1').count() == 6
    n = page.locator('[data-testid="hv-left"] .tba-tok').count()
    page.locator('[data-testid="hide-special"]').check()
    expect(page.locator('[data-testid="hv-left"] .tba-tok')).to_have_count(n - 3)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "attention-sentence-pair.png"), full_page=True)


# the colour of each head's frame on the grid canvas (its top-left pixel), "r,g,b"
FRAMES_JS = """() => {
  const c = document.querySelector('[data-testid="grid-cells"]'), content = c.parentElement;
  const grid = content.parentElement.parentElement, pitch = Number(content.dataset.pitch);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, out = [];
  for (let l = 0; l < Number(grid.dataset.layers); l++)
    for (let h = 0; h < Number(grid.dataset.heads); h++) {
      const i = 4 * (Math.round(l * pitch + 1) * c.width + Math.round(h * pitch + 1));
      out.push(`${d[i]},${d[i + 1]},${d[i + 2]}`);
    }
  return out;
}"""


def test_badge_and_drift_colouring(page, tensorboard):
    open_tab(page, tensorboard)
    badges = page.locator('[data-testid="cell"] .tba-badge').all_inner_texts()
    assert len(badges) == 12 and all(b not in ("", "–") for b in badges)
    page.locator('[data-testid="badge-stat"]').select_option("drift")
    drift = page.locator('[data-testid="cell"] .tba-badge').all_inner_texts()
    assert drift != badges
    page.locator('[data-testid="color-by-drift"]').check()
    bgs = page.evaluate(FRAMES_JS)
    assert len(bgs) == 12 and len(set(bgs)) > 3, "drift colouring should differ between heads"
    page.keyboard.press("Home")  # drift is 0 everywhere at the first snapshot
    bgs0 = page.evaluate(FRAMES_JS)
    assert len(set(bgs0)) == 1
    assert set(page.locator('[data-testid="cell"] .tba-badge').all_inner_texts()) == {"0.00"}


def test_diff_mode_paints_a_diverging_map(page, tensorboard):
    open_tab(page, tensorboard)
    before = paint_count(page)
    page.locator('[data-testid="diff-toggle"]').click()
    wait_painted(page, count=before)
    reddish = page.evaluate("""() => {
      let red = 0, blue = 0;
      for (const c of document.querySelectorAll('[data-testid="grid-cells"]')) {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < d.length; i += 4) {
          if (d[i] > d[i + 2] + 40) red++;
          if (d[i + 2] > d[i] + 40) blue++;
        }
      }
      return [red, blue];
    }""")
    assert reddish[0] > 0 and reddish[1] > 0, f"diff should show gains and losses: {reddish}"
    page.keyboard.press("Home")  # step 0 minus step 0: all white
    page.wait_for_function("window.tbAttention.paints.at(-1).step === 0")
    stats = grid_stats(page)
    assert all(n == 0 for n, *_ in stats)


def test_two_runs_side_by_side(page, tensorboard):
    open_tab(page, tensorboard)
    before = paint_count(page)
    page.locator('[data-testid="compare-picker"]').select_option("induction-b")
    wait_painted(page, count=before)
    grids = page.locator('[data-testid="grid"]')
    assert grids.count() == 2
    assert grids.nth(1).get_attribute("data-run") == "induction-b"
    a = page.evaluate(CANVAS_STATS_JS, '[data-testid="grid"][data-run="induction"] [data-testid="grid-cells"]')
    b = page.evaluate(CANVAS_STATS_JS, '[data-testid="grid"][data-run="induction-b"] [data-testid="grid-cells"]')
    assert all(n > 0 for n, *_ in b)
    assert [x[1] for x in a] != [x[1] for x in b]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "attention-compare.png"), full_page=True)


def test_encoder_decoder_kinds_and_cross_attention(page, tensorboard):
    open_tab(page, tensorboard)
    page.locator('[data-testid="run-picker"]').select_option("t5")
    kinds = page.locator('[data-testid="kind-picker"] option').evaluate_all("os => os.map(o => o.value)")
    assert sorted(kinds) == ["cross", "decoder", "encoder"]
    page.locator('[data-testid="kind-picker"]').select_option("cross")
    wait_painted(page)
    expect(page.locator('[data-testid="hv-left"] .tba-tok')).to_have_count(7)
    left = page.locator('[data-testid="hv-left"] .tba-tok').all_inner_texts()
    right = page.locator('[data-testid="hv-right"] .tba-tok').all_inner_texts()
    assert len(left) == 7 and left[1] == "\u2581Das", left
    assert len(right) == 10 and right[0] == "\u2581translate", right
    expect(page.locator('[data-testid="head-view"]')).to_contain_text("decoder (query)")
    assert page.locator('[data-testid="cell"]').count() == 2 * 4
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "attention-cross.png"), full_page=True)


def test_errors_are_shown_not_thrown(page, tensorboard):
    # the backend answers 404 with {"error"}: the API client turns it into a message
    open_tab(page, tensorboard)
    msg = page.evaluate("""async () => {
      try { await window.tbAttention.app.data.api.snapshot({run: 'induction', probe: 'nope', kind: 'self', step: 0}); return null; }
      catch (e) { return [e.status, e.message]; }
    }""")
    assert msg and msg[0] == 404 and msg[1]


def test_empty_logdir_explains_how_to_log(page, tmp_path):
    from tb_attention_plugin import AttentionSummaryWriter

    with AttentionSummaryWriter(tmp_path / "only-scalars") as w:
        w.add_scalar("train/loss", 1.0, 1)
    tb = TensorBoard(tmp_path)
    try:
        page.goto(tb.plugin_page)
        page.wait_for_selector('[data-testid="empty-state"]', timeout=30000)
        text = page.locator('[data-testid="empty-state"]').inner_text()
        assert "AttentionCallback(probes=[" in text
        assert "No attention logs yet" in text
    finally:
        tb.close()


def test_live_run_shows_new_steps(page, tmp_path):
    synthetic_logs.write_run(tmp_path / "live", steps=3, pair_probe=False, scalars=False)
    tb = TensorBoard(tmp_path)
    try:
        tb.wait_for_runs(1)
        open_tab(page, tb)
        assert state(page, "step") == 200
        # training goes on: three more snapshots in a second file of the same run
        from tb_attention_plugin import AttentionSummaryWriter

        rep = synthetic_logs.repeated_tokens(24, 0)
        heads = synthetic_logs.SyntheticHeads(3, 4, rep, causal=True, last_step=500, seed=0)
        with AttentionSummaryWriter(tmp_path / "live", filename_suffix=".attention2") as w:
            w.add_probe("repeated random tokens", rep, special=[i == 0 for i in range(len(rep))])
            for s in (300, 400, 500):
                w.add_attention(s, "repeated random tokens", heads.at(s), kind="self", causal=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            idx = json.loads(tb.get("index"))
            if idx["runs"][0]["probes"][0]["kinds"][0]["steps"][-1] == 500:
                break
            time.sleep(0.5)
        else:
            pytest.fail("tensorboard did not pick up the new steps")
        page.evaluate("window.tbAttention.app.refreshIndex()")  # what the 30 s poll does
        page.wait_for_function("window.tbAttention.state.step === 500", timeout=10000)
        assert "6/6" in page.locator('[data-testid="timeline"]').inner_text()
    finally:
        tb.close()
