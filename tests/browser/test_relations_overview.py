"""The relations card, the model overview and the timeline's events (issue #11) in the Attention tab inside
TensorBoard's own page, over logs written by the real writer with relation probes: two coreference
sentences (`it -> cat`, `it -> food`) and one object relation (`food -> eat`), 2 layers x 4 heads whose
every head starts as a next-token head; then, at known steps, head L1H2 turns to the antecedent (500),
L0H1 to the verb (700), L0H3 collapses onto the previous token (400: entropy near 0, its largest logit
growing 5 -> 305), L1H3 becomes a sharp self head whose logits stay put (600: a specialised head, not
a collapse) and L1H0 becomes an attention sink (300: 0.8 on [CLS]). The loss falls off a cliff at step
500."""

import json
import math
from urllib.parse import urlencode

import numpy as np
import pytest

from conftest import ARTIFACTS, TensorBoard, ensure_bundle, tab_frame
from tb_attention_plugin.devtools import synthetic
from tb_attention_plugin.server.http_payload import decode_container
from tb_attention_plugin.writer.summary_writer import AttentionSummaryWriter

STEPS = list(range(0, 1000, 100))
LAYERS, HEADS = 2, 4
SAD = "the cat is very sad . because it could not find food to eat .".split()
FOOD = "the cat did not eat the food because it was not fresh .".split()
PROBES = {  # name: (words, [(relation, source word, target word)])
    "cat sad": (SAD, [("coreference", 7, 1)]),
    "cat food": (FOOD, [("coreference", 8, 6), ("object", 6, 4)]),
}
CHANGES = {  # (layer, head): (what, step from which it holds)
    (1, 2): ("coreference", 500),
    (0, 1): ("object", 700),
    (0, 3): ("collapse", 400),
    (1, 3): ("sharp", 600),
    (1, 0): ("sink", 300),
}


def _sigmoid(x):
    return 1 / (1 + math.exp(-x))


def _maps(words, relations, step, rng_seed):
    """[layers, heads, n, n] at `step` for a probe of [CLS] words [SEP] (see the module doc)."""
    n = len(words) + 2
    rng = np.random.default_rng(rng_seed)
    start = np.empty((LAYERS, HEADS, n, n))
    for l in range(LAYERS):
        for h in range(HEADS):
            logits = 0.5 * rng.normal(size=(n, n))
            logits[np.arange(n), np.minimum(np.arange(n) + 1, n - 1)] += 3.0  # next token
            start[l, h] = synthetic.softmax(logits)
    out = start.copy()
    for (l, h), (what, at) in CHANGES.items():
        f = _sigmoid((step - (at - 50)) / 10)  # 0.007 one snapshot before `at`, 0.993 at `at`
        target = start[l, h].copy()
        if what == "collapse":
            target = np.eye(n, k=-1)
            target[0, 0] = 1
        elif what == "sharp":
            target = np.eye(n)
        elif what == "sink":
            target = 0.2 * start[l, h]
            target[:, 0] += 0.8
        else:
            for name, src, tgt in relations:
                if name == what:
                    target[src + 1] = 0.1 * start[l, h, src + 1]
                    target[src + 1, tgt + 1] += 0.9
        out[l, h] = (1 - f) * start[l, h] + f * target
    return out.astype(np.float32)


def _max_logits(step):
    """[layers, heads]: 5 everywhere, but L0H3's grows to 305 with its collapse."""
    logits = np.full((LAYERS, HEADS), 5.0)
    logits[0, 3] += 300 * _sigmoid((step - 350) / 10)
    return logits


def write_relation_run(run_dir):
    with AttentionSummaryWriter(str(run_dir)) as w:
        for name, (words, rels) in PROBES.items():
            tokens = ["[CLS]"] + words + ["[SEP]"]
            w.add_probe(
                name,
                tokens,
                special=[t in ("[CLS]", "[SEP]") for t in tokens],
                word_of={"tokens": [-1] + list(range(len(words))) + [-1]},
                relations=[
                    {
                        "relation": r,
                        "source": [["tokens", s]],
                        "target": [["tokens", t]],
                        "source_text": words[s],
                        "target_text": words[t],
                    }
                    for r, s, t in rels
                ],
            )
        for step in STEPS:
            for i, (name, (words, rels)) in enumerate(PROBES.items()):
                w.add_attention(step, name, _maps(words, rels, step, i), causal=False, max_logits=_max_logits(step))
        for s in range(10, STEPS[-1] + 1, 10):
            w.add_scalar("train/loss", 0.5 + 1.5 * (1 - _sigmoid((s - 480) / 15)), s)


@pytest.fixture(scope="module")
def tb(tmp_path_factory):
    logs = tmp_path_factory.mktemp("relations")
    write_relation_run(logs / "relations")
    synthetic.write_run(logs / "plain", steps=4, pair_probe=False)
    ensure_bundle()
    tb = TensorBoard(logs)
    try:
        tb.wait_for_runs(2)
        yield tb
    finally:
        tb.close()


def route(tb, name, **params):
    return decode_container(tb.get(f"{name}?{urlencode(params)}"))


def pick_run(frame, run, probe="cat food"):
    frame.locator('[data-testid="run-picker"]').select_option(run)
    settle(frame)
    if probe:
        frame.locator('[data-testid="probe-picker"]').select_option(probe)
    frame.evaluate("window.tbAttention.setStep(1e9)")  # the last step
    frame.wait_for_function(
        """([run, probe]) => { const s = window.tbAttention.state;
           return s.run === run && (!probe || s.probe === probe) && s.stats && s.relations && s.relations.run === run; }""",
        arg=[run, probe],
        timeout=30000,
    )
    settle(frame)


def settle(frame):
    """Wait until the tab has passed the last change on to every view (the deferred views update after
    the grid showed the step)."""
    frame.wait_for_function("() => !window.tbAttention.app.deferredWait && !window.tbAttention.app.deferred")


def state(frame, key):
    return frame.evaluate(f"window.tbAttention.state[{json.dumps(key)}]")


def rows(frame, testid):
    """[(layer, head, [cell texts])] of the rows with this test id."""
    found = frame.evaluate(
        """(tid) => [...document.querySelectorAll(`[data-testid="${tid}"]`)].map((r) =>
             [+r.dataset.layer, +r.dataset.head, [...r.cells].map((c) => c.textContent)])""",
        testid,
    )
    return [(layer, head, cells) for layer, head, cells in found]


def column(frame, key):
    """The values of one column of the overview's table, top to bottom (as the cells hold them)."""
    cells = frame.locator(f'[data-testid="head-row"] td[data-key="{key}"]')
    return [float(v) for v in cells.evaluate_all("(c) => c.map((x) => x.dataset.value)")]


def test_relations_card_ranks_heads_and_selects_them(page, tb):
    frame = tab_frame(page, tb)
    pick_run(frame, "relations")
    header, data = route(tb, "relations", run="relations")
    names = [r["relation"] for r in header["relations"]]
    assert names == ["coreference", "object"]
    card = frame.locator('[data-testid="relations"]')
    assert card.get_attribute("data-state") == "data"
    picker = frame.locator('[data-testid="relation-picker"]')
    assert [o.strip() for o in picker.locator("option").all_inner_texts()] == names
    picker.select_option("coreference")
    settle(frame)
    coref = header["relations"][0]
    assert coref["formed_step"] == 500
    assert frame.locator('[data-testid="relation-formed"]').inner_text() == "formed at step 500"
    assert "it \u2192 cat (cat sad)" in frame.locator('[data-testid="relation-pairs"]').inner_text()
    # at the last step (the cursor), ranked by mass: the route's values, highest first, L1H2 on top
    mass = data[0, 0, -1]  # [layers, heads]
    ranked = rows(frame, "relation-row")
    order = sorted(((-mass[l, h], l, h) for l in range(LAYERS) for h in range(HEADS)))
    assert [(l, h) for l, h, _ in ranked] == [(l, h) for _, l, h in order]
    assert ranked[0][:2] == (1, 2)
    low, high = data[0, 2:, -1, 1, 2]  # the accuracy's 95% interval over the 2 labelled pairs
    assert ranked[0][2][2] == f"{mass[1, 2]:.2f}" and ranked[0][2][3] == f"1.00 [{low:.2f}, {high:.2f}]"
    assert (round(float(low), 2), float(high)) == (0.34, 1.0)  # 2 of 2 says little: Wilson's [0.34, 1]
    assert (
        "accuracy over 2 labelled pairs, [95% interval]"
        in frame.locator('[data-testid="relation-table"] caption').inner_text()
    )
    # a click on a ranked row selects that head everywhere
    frame.locator('[data-testid="relation-row"]').nth(2).click()
    settle(frame)
    want = tuple(ranked[2][:2])
    assert (state(frame, "layer"), state(frame, "head")) == want
    frame.wait_for_function(
        "([l, h]) => document.querySelector(`[data-testid='cell'][data-layer='${l}'][data-head='${h}']`)?.classList.contains('selected')",
        arg=list(want),
    )
    assert frame.locator('[data-testid="relation-row"].selected').get_attribute("data-layer") == str(want[0])
    # the chart: the 5 top heads (the selected one among them); no classifier curve from 2 pairs
    assert frame.locator('[data-testid="relation-chart"]').get_attribute("data-curves") == "5"
    text = frame.locator('[data-testid="relation-classifier"]').inner_text()
    assert coref["classifier"]["heldout_accuracy"][-1] is None  # 2 pairs: too few to hold any out
    assert "too few pairs for a held-out accuracy (2; it takes 10 or more)" in text
    top = coref["classifier"]["top_heads"][0]  # its weights, fitted on both pairs, still rank the heads
    frame.locator('[data-testid="classifier-head"]').first.click()
    settle(frame)
    assert (state(frame, "layer"), state(frame, "head")) == (top["layer"], top["head"])
    # before the head formed (step 400) nothing points at the antecedent; the ranking follows the cursor
    frame.evaluate("window.tbAttention.setStep(400)")
    settle(frame)
    frame.wait_for_function(
        "document.querySelector('[data-testid=relation-table] caption').textContent.includes('step 400')"
    )
    early = data[0, 0, STEPS.index(400)]
    order = sorted(((-early[l, h], -data[0, 1, 4, l, h], l, h) for l in range(LAYERS) for h in range(HEADS)))
    assert [tuple(r[:2]) for r in rows(frame, "relation-row")] == [(l, h) for *_, l, h in order]
    assert early[1, 2] < 0.2 < mass[1, 2]
    frame.evaluate("window.tbAttention.setStep(900)")
    settle(frame)
    # the other relation, ranked by accuracy: one labelled pair, so no classifier accuracy
    picker.select_option("object")
    settle(frame)
    frame.locator('[data-testid="relation-rank-by"]').select_option("accuracy")
    settle(frame)
    frame.wait_for_function(
        "document.querySelector('[data-testid=relation-formed]').textContent === 'formed at step 700'"
    )
    assert rows(frame, "relation-row")[0][:2] == (0, 1)
    assert (
        "too few pairs for a held-out accuracy (1;" in frame.locator('[data-testid="relation-classifier"]').inner_text()
    )
    picker.select_option("coreference")
    settle(frame)
    frame.locator('[data-testid="relation-rank-by"]').select_option("mass")
    settle(frame)
    frame.evaluate("window.tbAttention.selectHead(1, 2)")
    settle(frame)
    card.scroll_into_view_if_needed()
    page.wait_for_timeout(400)
    ARTIFACTS.mkdir(exist_ok=True)
    card.screenshot(path=str(ARTIFACTS / "relations-card.png"))


def test_timeline_marks_where_heads_and_relations_formed(page, tb):
    frame = tab_frame(page, tb)
    pick_run(frame, "relations")
    header, _ = route(tb, "stats", run="relations", probe="cat food", kind="self")
    rel, _ = route(tb, "relations", run="relations")
    formed = {t["formed_step"] for t in header["head_types"] if t["formed_step"] not in (None, 0)}
    formed |= {r["formed_step"] for r in rel["relations"]}
    assert {300, 400, 500, 700} <= formed
    frame.wait_for_function("document.querySelectorAll('[data-testid=timeline-event]').length > 0")
    events = frame.evaluate(
        "[...document.querySelectorAll('[data-testid=timeline-event]')].map((e) => [+e.dataset.step, e.textContent])"
    )
    assert sorted(s for s, _ in events) == sorted(formed)
    text = dict(events)
    assert "coreference (relation)" in text[500] and "object (relation)" in text[700]
    assert "L1H0 [CLS]/BOS" in text[300] and "L0H3 previous-token" in text[400]
    # hovering the marker at step 500 names it; the cliff of the loss is there too
    over = frame.locator('[data-testid="timeline-chart"] .u-over')
    x = frame.evaluate(
        """() => { const u = document.querySelector('[data-testid=timeline-chart] .u-over').getBoundingClientRect();
           const r = window.tbAttention.app.views.timeline.u; return r.valToPos(500, 'x'); }"""
    )
    box = over.bounding_box()
    frame.locator('[data-testid="timeline-chart"] .u-over').hover(position={"x": x, "y": box["height"] / 2})
    tip = frame.locator('[data-testid="event-tip"]')
    assert tip.is_visible() and "step 500: " in tip.inner_text() and "coreference" in tip.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    frame.locator('[data-testid="timeline"]').screenshot(path=str(ARTIFACTS / "timeline-events.png"))


def test_overview_table_alerts_and_similarity(page, tb):
    frame = tab_frame(page, tb)
    pick_run(frame, "relations")
    card = frame.locator('[data-testid="overview"]')
    # per-layer curves: one per layer
    assert frame.locator('[data-testid="layer-chart"]').get_attribute("data-layers") == str(LAYERS)
    frame.locator('[data-testid="overview-stat"]').select_option("max_logit")  # each layer's largest, not mean
    settle(frame)
    last = frame.locator('[data-testid="layer-chart"]').get_attribute("data-last").split(",")
    assert [round(float(v)) for v in last] == [
        round(float(_max_logits(STEPS[-1])[layer].max())) for layer in range(LAYERS)
    ]
    frame.locator('[data-testid="overview-stat"]').select_option("entropy")
    settle(frame)
    assert frame.locator('[data-testid="layer-chart"] .u-legend').inner_text().count("layer ") == LAYERS
    # alerts at the last step: L0H3's entropy collapsed at 400 (its logits grew), L1H3 is sharp since
    # 600 (its logits did not: information, not the warning), L1H0 is a sink since 300
    collapse = frame.locator('[data-testid="alert-collapse"] [data-testid="alert-head"]')
    assert collapse.count() == 1
    assert (collapse.get_attribute("data-layer"), collapse.get_attribute("data-head")) == ("0", "3")
    assert collapse.get_attribute("data-since") == "400" and "since step 400" in collapse.inner_text()
    assert frame.locator('[data-testid="alert-collapse"]').get_attribute("role") == "alert"
    assert not frame.locator('[data-testid="collapse-unchecked"]').count()
    sharp = frame.locator('[data-testid="alert-sharp"] [data-testid="alert-head"]')
    assert [(sharp.nth(i).get_attribute("data-layer"), sharp.nth(i).get_attribute("data-head")) for i in range(2)] == [
        ("0", "3"),
        ("1", "3"),
    ]
    assert sharp.nth(1).get_attribute("data-since") == "600"
    assert frame.locator('[data-testid="alert-sharp"]').get_attribute("role") == "status"
    sink = frame.locator('[data-testid="alert-sink"] [data-testid="alert-head"]')
    assert [
        (sink.nth(i).get_attribute("data-layer"), sink.nth(i).get_attribute("data-head")) for i in range(sink.count())
    ] == [("1", "0")]
    assert sink.get_attribute("data-since") == "300"
    sink.click()
    settle(frame)
    assert (state(frame, "layer"), state(frame, "head")) == (1, 0)
    # before the collapse, no collapse alert
    frame.evaluate("window.tbAttention.setStep(300)")
    settle(frame)
    frame.wait_for_function("!document.querySelector('[data-testid=alert-collapse]')")
    frame.evaluate("window.tbAttention.setStep(900)")
    settle(frame)
    frame.wait_for_function("!!document.querySelector('[data-testid=alert-collapse]')")
    # the table: sorted by drift (descending), then ascending; values are the route's
    stats, sdata = route(tb, "stats", run="relations", probe="cat food", kind="self")
    drift = sdata[stats["stats"].index("drift"), -1]
    got = column(frame, "drift")
    assert got == sorted(got, reverse=True) and len(got) == LAYERS * HEADS
    assert got[0] == pytest.approx(float(drift.max()), abs=1e-6)
    frame.locator('[data-testid="sort-drift"] button').click()
    settle(frame)
    assert frame.locator('[data-testid="sort-drift"]').get_attribute("aria-sort") == "ascending"
    assert column(frame, "drift") == sorted(got)
    # sort by the change of [CLS] mass vs the first snapshot: the sink head on top
    frame.locator('[data-testid="sort-first"] button').click()
    settle(frame)
    first = sdata[stats["stats"].index("first")]
    top = frame.locator('[data-testid="head-row"]').first
    assert (top.get_attribute("data-layer"), top.get_attribute("data-head")) == ("1", "0")
    assert float(top.locator('td[data-key="first"]').get_attribute("data-value")) == pytest.approx(
        float(first[-1, 1, 0] - first[0, 1, 0]), abs=1e-6
    )
    # relation scores are columns; a row click selects the head
    assert frame.locator('[data-testid="sort-rel:coreference"]').count() == 1
    frame.locator('[data-testid="head-row"]').nth(3).click()
    settle(frame)
    l, h = (
        int(frame.locator('[data-testid="head-row"].selected').get_attribute("data-layer")),
        int(frame.locator('[data-testid="head-row"].selected').get_attribute("data-head")),
    )
    assert (state(frame, "layer"), state(frame, "head")) == (l, h)
    # against another reference step: the changes are step 900 minus step 400
    frame.locator('[data-testid="overview-ref"]').select_option("400")
    settle(frame)
    frame.wait_for_function(
        "document.querySelector('[data-testid=head-table-note]').textContent.startsWith('step 900 vs step 400')"
    )
    check_similarity(frame, tb)
    card.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    ARTIFACTS.mkdir(exist_ok=True)
    card.screenshot(path=str(ARTIFACTS / "model-overview.png"))


def check_similarity(frame, tb):
    """The per-layer heatmaps: painted from the route's distances (dark = alike), with a readout."""
    frame.wait_for_function("document.querySelector('[data-testid=similarity]').dataset.state === 'data'")
    header, dist = route(tb, "similarity", run="relations", probe="cat food", kind="self", step=900)
    assert dist.shape == (LAYERS, HEADS, HEADS)
    canvases = frame.locator('[data-testid="similarity-canvas"]')
    assert canvases.count() == LAYERS
    for layer in range(LAYERS):
        canvas = canvases.nth(layer)
        cell = int(canvas.get_attribute("data-cell"))
        pixels = canvas.evaluate(
            """(c, cell) => { const n = c.width / cell, d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, out = [];
               for (let i = 0; i < n; i++) { const row = [];
                 for (let j = 0; j < n; j++) { const o = ((i * cell + (cell >> 1)) * c.width + j * cell + (cell >> 1)) * 4; row.push(d[o] + d[o + 1] + d[o + 2]); }
                 out.push(row); } return out; }""",
            cell,
        )
        pixels = np.array(pixels)
        assert pixels.shape == (HEADS, HEADS)
        # brightness follows the distance: the diagonal (0) darkest, the order of the pairs kept
        d = dist[layer]
        assert (np.diag(pixels) == pixels.min()).all()
        iu = np.triu_indices(HEADS, 1)
        near, far = np.argmin(d[iu]), np.argmax(d[iu])
        assert pixels[iu][near] < pixels[iu][far]
        assert np.corrcoef(pixels[iu], d[iu])[0, 1] > 0.95
    canvas = canvases.nth(1)
    canvas.scroll_into_view_if_needed()
    cell = int(canvas.get_attribute("data-cell"))
    canvas.hover(position={"x": 2 * cell + cell / 2, "y": 0 * cell + cell / 2})
    readout = frame.locator('[data-testid="similarity-readout"]').inner_text()
    assert readout == f"L1: H0 vs H2 \u00b7 distance {dist[1, 0, 2]:.3f}"
    frame.locator('[data-testid="similarity-layer"]').select_option("1")
    settle(frame)
    assert canvases.count() == 1 and canvases.first.get_attribute("data-layer") == "1"


def test_a_run_without_relation_probes_says_what_to_add(page, tb):
    frame = tab_frame(page, tb)
    pick_run(frame, "plain", probe=None)
    card = frame.locator('[data-testid="relations"]')
    assert card.get_attribute("data-state") == "none"
    text = frame.locator('[data-testid="relations-message"]').inner_text()
    assert "no relation probes" in text and 'relations="english"' in text and '"relations"' in text
    assert not frame.locator('[data-testid="relation-row"]').count()
    assert (
        frame.locator('[data-testid="alerts-none"]').count() + frame.locator('[data-testid="alert-sink"]').count() >= 1
    )
    # written without max_logits: the tab says it cannot tell a collapse, rather than showing none
    assert "Entropy collapse not checked" in frame.locator('[data-testid="collapse-unchecked"]').inner_text()


def test_a_failed_relations_request_shows_its_error_in_place(page, tb):
    def fail(r):
        r.fulfill(status=500, content_type="application/json", body=json.dumps({"error": "disk on fire"}))

    page.route("**/relations?*", fail)
    page.goto(tb.plugin_page)
    page.wait_for_function("window.tbAttention && window.tbAttention.paints.length > 0", timeout=30000)
    pick_run(page, "relations")
    card = page.locator('[data-testid="relations"]')
    assert card.get_attribute("data-state") == "error"
    msg = page.locator('[data-testid="relations-message"]').inner_text()
    assert "disk on fire" in msg and "HTTP 500" in msg and "relations" in msg
    assert not page.locator('[data-testid="relation-row"]').count()
    # the timeline and the overview still work without relations
    assert page.locator('[data-testid="head-row"]').count() == LAYERS * HEADS
