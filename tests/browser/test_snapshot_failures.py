"""A snapshot that fails (the plugin's 404 for a corrupted record, an intercepted 404, a network failure)
is shown as its error in every view that wanted it, never as another probe's or another step's weights,
and the views recover when a later request succeeds."""

import json
import re

from playwright.sync_api import expect

from conftest import ARTIFACTS, TensorBoard
import synthetic_logs
from test_attention_tab import CANVAS_STATS_JS, grid_stats, open_tab, paint_count, state, wait_painted

PAIR = "sentence pair"
REPEATED = "repeated random tokens"

# Whether a canvas holds any visible pixel (a line of the head view, a heatmap).
INKED_JS = """(sel) => Array.from(document.querySelectorAll(sel)).map((c) => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
  return n;
})"""


def corrupt_step(run_dir, probe, kind, step):
    """Break every layer blob of one probe's snapshot at one step (bad magic), keeping valid framing."""
    from tb_attention_plugin.format.metadata import snapshot_tag
    from tb_attention_plugin.format.event_file import event_files, frame_record, iter_events

    tag = snapshot_tag(probe, kind)
    hit = 0
    for path in event_files(str(run_dir)):
        events = list(iter_events(path))
        for e in events:
            if e.step == step:
                for v in e.summary.value:
                    if v.tag == tag:
                        for i in range(1, len(v.tensor.string_val)):  # blob 0 is the JSON header
                            v.tensor.string_val[i] = b"XX" + v.tensor.string_val[i][2:]
                            hit += 1
        with open(path, "wb") as f:
            for e in events:
                f.write(frame_record(e.SerializeToString()))
    assert hit, f"no {tag} record at step {step}"


def step_by(page, delta):
    """The previous/next snapshot, as the arrow keys do (keys are tested elsewhere; here a key could
    reach a picker that still has the focus on a loaded machine)."""
    page.evaluate("(d) => window.tbAttention.app.stepBy(d)", delta)


def blur(page):
    """Keys go to the tab, not to the picker that was just used."""
    page.evaluate("document.activeElement && document.activeElement.blur()")


def hv_lines(page):
    return page.evaluate(INKED_JS, '[data-testid="hv-canvas"]')[0]


def wait_hv_lines(page):
    page.wait_for_function(f"() => ({INKED_JS})('[data-testid=\"hv-canvas\"]')[0] > 0")


def visible_tokens(page):
    return page.locator('[data-testid="hv-left"] .tba-tok:visible').all_inner_texts()


def wait_grid_state(page, value, run=None):
    sel = '[data-testid="panel"]' + (f'[data-run="{run}"]' if run else "")
    page.wait_for_function(
        """([sel, v]) => { const p = document.querySelector(sel); return p && p.dataset.state === v; }""",
        arg=[sel, value],
        timeout=30000,
    )


def watch_failures(page):
    page.evaluate("""() => { window.__failed = [];
      window.addEventListener('tb-attention:grid-failed', (e) => window.__failed.push(e.detail)); }""")


def wait_failed(page, step):
    """Wait for the grid's `grid-failed` event of `step` (the frontend fires it when a step fails)."""
    page.wait_for_function("(s) => window.__failed.some((d) => d.step === s)", arg=step, timeout=30000)
    return [d for d in page.evaluate("window.__failed") if d["step"] == step]


def wait_head_view_failed(page):
    """The head view has settled on a failure (its status says so)."""
    page.wait_for_function(
        """() => document.querySelector('[data-testid="head-view"] .tba-sub')
      .textContent.includes('could not load')""",
        timeout=30000,
    )


def assert_all_recovered(page, n_tokens):
    wait_grid_state(page, "data")
    expect(page.locator('[data-testid="grid-error"]:visible')).to_have_count(0)
    assert all(n > 0 for n, *_ in grid_stats(page))
    expect(page.locator('[data-testid="head-view"]')).to_have_attribute("data-state", "data")
    expect(page.locator('[data-testid="hv-error"]')).to_be_hidden()
    wait_hv_lines(page)
    expect(page.locator('[data-testid="hv-left"] .tba-tok:visible')).to_have_count(n_tokens)
    page.wait_for_function("document.querySelector('.tba-bigmap').dataset.state === 'data'")
    expect(page.locator('[data-testid="bigmap-error"]')).to_be_hidden()
    assert page.evaluate(INKED_JS, '[data-testid="bigmap"]')[0] > 0


def test_corrupted_snapshot_shows_its_error_not_the_previous_probe(page, tmp_path):
    run = tmp_path / "run"
    synthetic_logs.write_run(run, seed=0, pair_probe=True)
    corrupt_step(run, PAIR, "self", 1100)
    tb = TensorBoard(tmp_path)
    try:
        tb.wait_for_runs(1)
        open_tab(page, tb)
        page.evaluate("clearInterval(window.tbAttention.app.pollTimer)")  # the test refreshes the index itself
        assert (state(page, "probe"), state(page, "step")) == (REPEATED, 1100)
        wait_hv_lines(page)
        before = visible_tokens(page)
        assert len(before) == 24 and sum(t.startswith("tok") for t in before) == 22
        watch_failures(page)

        # the probe whose step-1100 record is corrupted: the plugin answers 404 with {"error"}
        page.locator('[data-testid="probe-picker"]').select_option(PAIR)
        blur(page)
        failed = wait_failed(page, 1100)
        assert failed[-1]["step"] == 1100 and "sentence pair" in failed[-1]["error"]
        assert state(page, "step") == 1100
        wait_head_view_failed(page)
        # head view: the previous probe's lines and tokens are gone, the error is shown in their place
        assert hv_lines(page) == 0, "the head view still draws the previous probe's lines"
        assert not [t for t in visible_tokens(page) if t in before], "previous probe's tokens still shown"
        hv_error = page.locator('[data-testid="hv-error"]')
        expect(hv_error).to_be_visible()
        assert "'sentence pair'" in hv_error.inner_text() and "Pick another step" in hv_error.inner_text()
        assert page.evaluate("window.tbAttention.app.views.head.weights") is None
        head = page.locator('[data-testid="head-view"]')
        expect(head).to_have_attribute("data-state", "error")
        expect(head.locator(".tba-card-title")).to_contain_text("L0 H0")

        # model grid: blank cells under the server's message
        assert all(n == 0 for n, *_ in grid_stats(page)), "the grid still shows pixels"
        grid_error = page.locator('[data-testid="grid-error"]')
        expect(grid_error).to_be_visible()
        text = grid_error.inner_text()
        assert "'sentence pair'" in text and "1100" in text and "HTTP 404" in text, text
        assert "Pick another step" in text
        wait_grid_state(page, "error")

        # head evolution: the large map says why it is blank; the frame of step 1100 is marked failed
        page.wait_for_function("document.querySelector('.tba-bigmap').dataset.state === 'error'")
        expect(page.locator('[data-testid="bigmap-error"]')).to_contain_text("'sentence pair'")
        assert page.evaluate(INKED_JS, '[data-testid="bigmap"]')[0] == 0
        last_frame = page.locator('[data-testid="filmstrip"] .tba-frame[data-step="1100"]')
        expect(last_frame).to_have_attribute("data-state", "error")
        expect(page.locator('[data-testid="filmstrip-error"]')).to_be_visible()
        page.wait_for_function("""() => Array.from(document.querySelectorAll('[data-testid="filmstrip"] .tba-frame'))
          .filter((f) => f.dataset.step !== '1100').every((f) => f.dataset.state === 'data')""")
        frames = page.evaluate(INKED_JS, '[data-testid="filmstrip"] .tba-frame[data-step="1100"] canvas')
        assert frames == [0]
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "snapshot-error-corrupted.png"), full_page=True)

        # what the message says to do: another step of this probe loads and replaces every error
        before_paints = paint_count(page)
        step_by(page, -1)
        wait_painted(page, step=1000, count=before_paints)
        assert_all_recovered(page, 15)
        assert visible_tokens(page)[:3] == ["[CLS]", "the", "cat"]
        page.screenshot(path=str(ARTIFACTS / "snapshot-error-recovered.png"), full_page=True)

        # back to the broken step (asked again, fails again), then to the other probe: recovered there
        step_by(page, 1)
        wait_grid_state(page, "error")
        expect(page.locator('[data-testid="hv-error"]')).to_be_visible()
        page.locator('[data-testid="probe-picker"]').select_option(REPEATED)
        blur(page)
        assert_all_recovered(page, 24)
        assert visible_tokens(page) == before

        # the plugin leaves the step out of the index once it failed: the tab follows the new index
        page.evaluate("window.tbAttention.app.refreshIndex()")
        page.wait_for_function("""() => { const r = window.tbAttention.state.index.runs[0];
          const p = r.probes.find((p) => p.name === 'sentence pair'); return !p.kinds[0].steps.includes(1100); }""")
        page.locator('[data-testid="probe-picker"]').select_option(PAIR)
        assert state(page, "step") == 1000
        assert_all_recovered(page, 15)
    finally:
        tb.close()


def test_failed_step_in_compare_view_and_network_failure(page, tensorboard):
    open_tab(page, tensorboard)
    before = paint_count(page)
    page.locator('[data-testid="compare-picker"]').select_option("induction-b")
    blur(page)
    wait_painted(page, count=before)
    wait_hv_lines(page)
    at_1100 = grid_stats(page)
    watch_failures(page)
    failing = {"compare": True, "network": True}

    def handle(route):
        url = route.request.url
        if failing["compare"] and "run=induction-b&" in url and "step=1000" in url:
            route.fulfill(
                status=404,
                content_type="application/json",
                body=json.dumps({"error": "test: no snapshot of induction-b at step 1000"}),
            )
        elif failing["network"] and "run=induction&" in url and "step=900" in url:
            route.abort("connectionreset")
        else:
            route.continue_()

    route = re.compile(r"/snapshot\?")
    page.route(route, handle)
    # the idle read-ahead may have loaded step 1000 before the route was in place: forget it
    page.evaluate("window.tbAttention.app.data.snapshots.clear(); window.tbAttention.app.data.heads.clear()")

    # step 1000: the main run paints; the compare panel shows its own error, not step 1100's pixels
    step_by(page, -1)
    wait_failed(page, 1000)
    other = page.evaluate(CANVAS_STATS_JS, '[data-testid="grid"][data-run="induction-b"] [data-testid="grid-cells"]')
    assert all(n == 0 for n, *_ in other), "the compare panel still shows another step"
    wait_grid_state(page, "error", run="induction-b")
    wait_grid_state(page, "data", run="induction")
    compare_error = page.locator('[data-testid="panel"][data-run="induction-b"] [data-testid="grid-error"]')
    expect(compare_error).to_contain_text("test: no snapshot of induction-b at step 1000")
    expect(compare_error).to_contain_text("Pick another step")
    expect(page.locator('[data-testid="panel"][data-run="induction"] [data-testid="grid-error"]')).to_be_hidden()
    main = page.evaluate(CANVAS_STATS_JS, '[data-testid="grid"][data-run="induction"] [data-testid="grid-cells"]')
    assert all(n > 0 for n, *_ in main) and [x[1] for x in main] != [x[1] for x in at_1100[:12]]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "snapshot-error-compare.png"), full_page=True)

    # step 900: the network fails (twice: the tab retries once) for the main run; every view of it
    # drops step 1000's data and says so; the compare run loads. Nothing of step 900 is cached
    # (the filmstrip may have loaded its head): every view has to ask for it.
    page.evaluate("window.tbAttention.app.data.snapshots.clear(); window.tbAttention.app.data.heads.clear()")
    step_by(page, -1)
    wait_failed(page, 900)
    wait_head_view_failed(page)
    assert hv_lines(page) == 0, "the head view still draws step 1000's lines"
    assert all(
        n == 0
        for n, *_ in page.evaluate(
            CANVAS_STATS_JS, '[data-testid="grid"][data-run="induction"] [data-testid="grid-cells"]'
        )
    ), "the grid still shows step 1000"
    wait_grid_state(page, "error", run="induction")
    wait_grid_state(page, "data", run="induction-b")
    main_error = page.locator('[data-testid="panel"][data-run="induction"] [data-testid="grid-error"]')
    expect(main_error).to_contain_text("step 900")
    expect(main_error).to_contain_text("retried once")
    expect(page.locator('[data-testid="head-view"]')).to_have_attribute("data-state", "error")
    expect(page.locator('[data-testid="hv-error"]')).to_contain_text("retried once")
    page.wait_for_function("document.querySelector('.tba-bigmap').dataset.state === 'error'")
    assert page.evaluate(INKED_JS, '[data-testid="bigmap"]')[0] == 0
    page.screenshot(path=str(ARTIFACTS / "snapshot-error-network.png"), full_page=True)

    # the server is back: going back to the same steps loads them
    failing.update(compare=False, network=False)
    step_by(page, 1)
    wait_grid_state(page, "data", run="induction-b")
    step_by(page, -1)
    wait_painted(page, step=900)
    wait_grid_state(page, "data", run="induction-b")
    assert_all_recovered(page, 24)
    assert page.locator('[data-testid="grid-error"]:visible').count() == 0
    page.unroute(route)
