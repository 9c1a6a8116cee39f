"""The tab's predictions (issue #12) in headless Chromium against a real `tensorboard`, over logs
written by the real AttentionRecorder with predictions on (prediction_logs.py: a tiny GPT-2 and a
tiny BERT classifier built from configs in code and trained for a few dozen steps): the head view's
hovered token shows its top-k at the cursor step, the Predictions card's strip and chart show the
route's values, a classifier shows its label distributions, a run without predictions says so, and
a failed request shows its error in place."""

import json
from urllib.parse import urlencode

import pytest

from conftest import ARTIFACTS, TensorBoard, ensure_bundle, tab_frame
import prediction_logs


@pytest.fixture(scope="module")
def tb(tmp_path_factory):
    logdir = prediction_logs.write_all(tmp_path_factory.mktemp("predictions"))
    ensure_bundle()
    server = TensorBoard(logdir)
    try:
        server.wait_for_runs(3)
        yield server
    finally:
        server.close()


def route(tb, run, probe):
    return json.loads(tb.get("predictions?" + urlencode({"run": run, "probe": probe})))


def show(frame, run, probe="sad", step=None, card_state="data"):
    """Select run/probe (and a step), wait for the head view and the Predictions card to settle."""
    frame.locator('[data-testid="run-picker"]').select_option(run)
    frame.locator('[data-testid="probe-picker"]').select_option(probe)
    if step is not None:
        frame.evaluate(f"window.tbAttention.setStep({step})")
    frame.wait_for_function(
        """([run, probe, step, want]) => { const t = window.tbAttention, s = t.state;
        const card = document.querySelector('[data-testid="predictions"]');
        const hv = document.querySelector('[data-testid="head-view"]');
        return s.run === run && s.probe === probe && (step === null || s.step === step)
          && hv.dataset.state === 'data' && card.dataset.state === want
          && card.dataset.run === run && card.dataset.probe === probe; }""",
        arg=[run, probe, step, card_state],
        timeout=30000,
    )


def hovered_predictions(frame, side, index, state="data"):
    """Hover token `index` of the head view's column `side` and read the predictions box."""
    col = "hv-left" if side == "q" else "hv-right"
    frame.locator(f'[data-testid="{col}"] .tba-tok[data-index="{index}"]').hover()
    box = frame.locator('[data-testid="hv-predictions"]')
    frame.wait_for_function(
        """([i, state]) => { const b = document.querySelector('[data-testid="hv-predictions"]');
        return b.dataset.state === state && (state !== 'data' || b.dataset.index === String(i)); }""",
        arg=[index, state],
        timeout=10000,
    )
    items = [
        (item.get_attribute("data-token"), float(item.get_attribute("data-prob")))
        for item in box.locator(".tba-pred-item").all()
    ]
    target = box.locator(".tba-pred-target")
    prob = float(target.get_attribute("data-prob")) if target.count() else None
    return box.inner_text(), items, prob


def test_hovering_a_token_shows_its_top_k_at_the_cursor_step(page, tb):
    answer = route(tb, "lm", "sad")
    assert answer["mode"] == "next-token" and answer["steps"] == list(range(0, 61, 5))
    frame = tab_frame(page, tb)
    show(frame, "lm", step=30)
    at = answer["predictions"][answer["steps"].index(30)]
    tokens = frame.evaluate("window.tbAttention.app.state.index.runs.find(r => r.run === 'lm').probes[0].tokens")
    for side, i in (("q", 3), ("q", 7), ("k", 5)):
        text, items, prob = hovered_predictions(frame, side, i)
        assert items == [(t, pytest.approx(p, abs=1e-9)) for t, p in at["top"][i]], (side, i)
        assert len(items) == 5, "the recorder's top-5"
        assert prob == pytest.approx(at["target_probs"][i], abs=1e-9)
        assert f"true next \u201c{at['targets'][i]}\u201d" in text and "at step 30" in text
        assert at["targets"][i] == tokens[i + 1]
    # the last token has nothing to come next: its top-k, no target
    last = len(tokens) - 1
    text, items, prob = hovered_predictions(frame, "q", last)
    assert items == [(t, pytest.approx(p, abs=1e-9)) for t, p in at["top"][last]] and prob is None
    # a step change while hovering: the same token's predictions at the new step, never the old ones
    frame.locator('[data-testid="hv-left"] .tba-tok[data-index="3"]').hover()
    frame.evaluate("window.tbAttention.setStep(10)")
    frame.wait_for_function(
        "document.querySelector('[data-testid=\"hv-predictions\"]').textContent.includes('at step 10')",
        timeout=10000,
    )
    at10 = answer["predictions"][answer["steps"].index(10)]
    _, items, prob = hovered_predictions(frame, "q", 3)
    assert items == [(t, pytest.approx(p, abs=1e-9)) for t, p in at10["top"][3]]
    assert prob == pytest.approx(at10["target_probs"][3], abs=1e-9)
    assert at10["top"][3] != at["top"][3], "training changed the predictions between steps 10 and 30"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "predictions-hover.png"), full_page=True)


def strip_and_chart(page):
    return page.evaluate(
        """() => { const v = window.tbAttention.app.views.predictions;
        const segs = [...document.querySelectorAll('[data-testid="pred-strip"] [data-testid="pred-segment"]')].map((e) => ({
          token: e.dataset.token, first: Number(e.dataset.first), last: Number(e.dataset.last),
          text: e.textContent, left: e.getBoundingClientRect().left, right: e.getBoundingClientRect().right,
          right_class: e.classList.contains('right'), changed: e.classList.contains('changed') }));
        const over = v.u.over.getBoundingClientRect();
        const xs = v.lastChart.data[0].map((s) => over.left + v.u.valToPos(s, 'x'));
        return {segs, data: v.lastChart.data, labels: v.lastChart.series.map((s) => s.label), xs,
                plot: [over.left, over.right],
                position: document.querySelector('[data-testid="pred-position"]').value}; }"""
    )


ROW_JS = """(name) => { const row = document.querySelector(`.tba-pred-row[data-probe="${name}"]`);
  return {selected: row.classList.contains('selected'),
          segs: [...row.querySelectorAll('[data-testid="pred-segment"]')].map((e) => ({
            token: e.dataset.token, first: Number(e.dataset.first), last: Number(e.dataset.last),
            text: e.textContent, left: e.getBoundingClientRect().left, right: e.getBoundingClientRect().right,
            right_class: e.classList.contains('right'), changed: e.classList.contains('changed') }))}; }"""


def check_strip(strip, steps, top1, target):
    """Every step is in exactly one segment, whose token is that step's top-1; changes are marked;
    each segment lies over its steps on the chart's x axis."""
    covered = []
    for n, seg in enumerate(strip["segs"]):
        i, j = steps.index(seg["first"]), steps.index(seg["last"])
        assert all(t == seg["token"] for t in top1[i : j + 1]), seg
        assert (
            seg["text"] == seg["token"] and seg["changed"] == (n > 0) and seg["right_class"] == (seg["token"] == target)
        )
        # each segment spans its steps on the chart's x axis, from halfway to the step before to
        # halfway to the step after (the ends: within the plot)
        xs = strip["xs"]
        lo = (xs[i - 1] + xs[i]) / 2 if i > 0 else strip["plot"][0]
        hi = (xs[j] + xs[j + 1]) / 2 if j + 1 < len(xs) else strip["plot"][1]
        assert seg["left"] == pytest.approx(lo, abs=1) and seg["right"] == pytest.approx(hi, abs=1), seg
        covered += steps[i : j + 1]
    assert covered == steps
    for a, b in zip(strip["segs"], strip["segs"][1:]):
        assert a["token"] != b["token"], "consecutive segments differ"


def test_the_strip_and_chart_show_the_routes_values(page, tb):
    answer = route(tb, "lm", "sad")
    steps = answer["steps"]
    page.goto(tb.plugin_page)
    page.wait_for_function("window.tbAttention && window.tbAttention.paints.length > 0", timeout=30000)
    show(page, "lm")
    # click a token of the head view: it becomes the card's position
    page.locator('[data-testid="hv-left"] .tba-tok[data-index="0"]').click()
    page.wait_for_function("document.querySelector('[data-testid=\"pred-position\"]').value === '0'", timeout=10000)
    strip = strip_and_chart(page)
    top1 = [p["top"][0][0][0] for p in answer["predictions"]]
    assert len(set(top1)) > 1, "the top-1 after <s> changes over training (the two texts start differently)"
    check_strip(strip, steps, top1, answer["predictions"][-1]["targets"][0])
    assert strip["data"][0] == steps
    assert strip["data"][1] == pytest.approx([p["target_probs"][0] for p in answer["predictions"]], abs=1e-9)
    assert strip["data"][2] == pytest.approx([p["top"][0][0][1] for p in answer["predictions"]], abs=1e-9)
    # another position from the picker, and a token of its top-k that is not the target
    page.locator('[data-testid="pred-position"]').select_option("4")
    page.wait_for_function(
        "document.querySelector('[data-testid=\"predictions\"]').dataset.position === '4'", timeout=10000
    )
    options = page.locator('[data-testid="pred-token"] option').all()
    other = options[1].get_attribute("value")
    page.locator('[data-testid="pred-token"]').select_option(other)
    page.wait_for_function(
        f"document.querySelector('[data-testid=\"predictions\"]').dataset.token === {json.dumps(other)}", timeout=10000
    )
    strip = strip_and_chart(page)
    expected = [dict(p["top"][4]).get(other) for p in answer["predictions"]]
    assert [v is None for v in strip["data"][1]] == [v is None for v in expected]
    assert [v for v in strip["data"][1] if v is not None] == pytest.approx([v for v in expected if v is not None])
    check_strip(
        strip, steps, [p["top"][4][0][0] for p in answer["predictions"]], answer["predictions"][-1]["targets"][4]
    )
    # the readout at the cursor step, and a click on the strip goes to its segment's first step
    seg = strip["segs"][0]
    page.locator('[data-testid="pred-segment"]').first.click()
    page.wait_for_function(f"window.tbAttention.state.step === {seg['first']}", timeout=10000)
    readout = page.locator('[data-testid="pred-readout"]')
    page.wait_for_function(  # the card updates after the grid has shown the step
        f"document.querySelector('[data-testid=\"pred-readout\"]').dataset.step === '{seg['first']}'", timeout=10000
    )
    at = answer["predictions"][steps.index(seg["first"])]
    assert readout.get_attribute("data-top1") == at["top"][4][0][0]
    assert float(readout.get_attribute("data-top1-prob")) == pytest.approx(at["top"][4][0][1], abs=1e-9)
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator('[data-testid="predictions"]').screenshot(path=str(ARTIFACTS / "predictions-card.png"))


def test_a_classifier_shows_its_label_distribution_over_steps(page, tb):
    page.goto(tb.plugin_page)
    page.wait_for_function("window.tbAttention && window.tbAttention.paints.length > 0", timeout=30000)
    for probe, winner in (("sad", "LABEL_1"), ("happy", "LABEL_0")):
        answer = route(tb, "classifier", probe)
        assert answer["mode"] == "label"
        show(page, "classifier", probe=probe)
        strip = strip_and_chart(page)
        assert strip["labels"][1:] == [winner, "LABEL_0" if winner == "LABEL_1" else "LABEL_1"]
        for label, ys in zip(strip["labels"][1:], strip["data"][1:]):
            assert ys == pytest.approx([dict(p["top"][0])[label] for p in answer["predictions"]], abs=1e-9)
        check_strip(strip, answer["steps"], [p["top"][0][0][0] for p in answer["predictions"]], None)
        assert strip["segs"][-1]["token"] == winner, "trained: the probe's own label wins"
        assert page.locator('[data-testid="pred-position"]').is_hidden()
        # one row per probe: its top label at each step, on the chart's x axis
        page.wait_for_function(
            "[...document.querySelectorAll('.tba-pred-row')].every((r) => r.dataset.state === 'data')", timeout=10000
        )
        for name in ("sad", "happy"):
            row_answer = route(tb, "classifier", name)
            row = page.evaluate(ROW_JS, name)
            check_strip(
                {**strip, "segs": row["segs"]},
                row_answer["steps"],
                [p["top"][0][0][0] for p in row_answer["predictions"]],
                None,
            )
            assert row["selected"] == (name == probe)
        text, items, _ = hovered_predictions(page, "q", 2)
        at = answer["predictions"][answer["steps"].index(page.evaluate("window.tbAttention.state.step"))]
        assert "the probe\u2019s labels" in text and items == [(t, pytest.approx(p, abs=1e-9)) for t, p in at["top"][0]]
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator('[data-testid="predictions"]').screenshot(path=str(ARTIFACTS / "predictions-classifier.png"))


def test_a_run_without_predictions_says_so_in_place(page, tb):
    with pytest.raises(OSError, match="404"):
        tb.get("predictions?run=no-predictions&probe=sad")
    page.goto(tb.plugin_page)
    page.wait_for_function("window.tbAttention && window.tbAttention.paints.length > 0", timeout=30000)
    show(page, "no-predictions", card_state="missing")
    message = page.locator('[data-testid="pred-none"]')
    assert message.is_visible() and "predictions=True" in message.inner_text()
    assert message.inner_text().startswith("No predictions for probe \u201csad\u201d (run 'no-predictions' has no")
    assert page.locator('[data-testid="pred-chart"]').is_hidden()
    hovered_predictions(page, "q", 2, state="missing")
    assert "no predictions logged" in page.locator('[data-testid="hv-predictions"]').inner_text()
    # back to a run with predictions: its data, not the message
    show(page, "lm")
    assert message.is_hidden() and page.locator('[data-testid="pred-segment"]').count() > 0
    page.locator('[data-testid="run-picker"]').select_option("no-predictions")
    page.wait_for_function("document.querySelector('[data-testid=\"predictions\"]').dataset.state === 'missing'")
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator('[data-testid="predictions"]').screenshot(path=str(ARTIFACTS / "predictions-none.png"))


def test_a_failed_request_shows_its_error_in_place(page, tb):
    page.route(
        "**/predictions?*",
        lambda r: r.fulfill(status=500, content_type="application/json", body='{"error": "disk on fire"}'),
    )
    page.goto(tb.plugin_page)
    page.wait_for_function("window.tbAttention && window.tbAttention.paints.length > 0", timeout=30000)
    show(page, "lm", card_state="error")
    error = page.locator('[data-testid="pred-error"]')
    assert "disk on fire (HTTP 500)" in error.inner_text() and "predictions of probe" in error.inner_text()
    assert page.locator('[data-testid="pred-segment"]').count() == 0
    hovered_predictions(page, "q", 2, state="error")
    assert "disk on fire" in page.locator('[data-testid="hv-predictions"]').inner_text()
