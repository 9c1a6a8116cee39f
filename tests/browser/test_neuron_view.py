"""The neuron view card (issue #12) in headless Chromium against a real `tensorboard`, over logs written
by the real AttentionRecorder with neurons= on tiny models made from configs in code (tests/model_zoo.py,
no downloads), their weights changed between snapshots so each step's vectors differ: the softmax the
card computes in the browser from the query and key vectors it received equals the stored attention
(./snapshot, byte/255) within 1/255 and numpy's `softmax_of` of the record; masked keys are masked;
T5's position bias and the value-norm contributions are shown; a step without a record, a head that
was not captured and a run without neuron records say so in place; a failed request shows its error."""

import json
import re
import sys
import warnings
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest

from conftest import ARTIFACTS, tab_frame, tensorboard_fixture

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: model_zoo

import model_zoo  # noqa: E402 - from tests/, put on the path above

SAD = "the cat is very sad because it could not find food to eat ."
TOL = 1 / 255 + 1e-9
# T5 goes through transformers' attention interface (what the capture needs) in later 5.x releases only
T5_CAPTURED = model_zoo.attention_goes_through_the_interface("t5")


# a tiny model's attention at initialisation is nearly uniform: its query and key weights are scaled
# up so the heads attend somewhere, which a wrong softmax could not match by chance
QK_WEIGHTS = re.compile(r"(query|key|c_attn|\.q|\.k)\.weight$")
SHARPEN = {"gpt2": 8, "bert": 8, "t5": 2}


def _sharpen(model, factor):
    import torch

    with torch.no_grad():
        for name, p in model.named_parameters():
            if QK_WEIGHTS.search(name):
                p.mul_(factor)


def _perturb(model, seed):
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.3 * (p.std() if p.numel() > 1 else 1))


def _write(run_dir, family, steps, neurons):
    import model_zoo
    from tb_attention_plugin import AttentionRecorder

    model, tok, _ = model_zoo.build(family)
    _sharpen(model, SHARPEN[family])
    kwargs = {"induction_probe": False} if family == "gpt2" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = AttentionRecorder(model, tok, [SAD], run_dir, names=["sad"], neurons=neurons, **kwargs)
        for n, step in enumerate(steps):
            if n:
                _perturb(model, seed=step)
            rec.snapshot(step)
        rec.close()


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    d = tmp_path_factory.mktemp("neurons")
    # GPT-2 (causal): two heads, every second snapshot -> neuron records at steps 0 and 2 only
    _write(d / "gpt2", "gpt2", [0, 1, 2], {"heads": [(0, 1), (1, 3)], "every": 2})
    _write(d / "bert", "bert", [0, 3], True)  # [CLS] ... [SEP]
    _write(d / "t5", "t5", [0, 1], T5_CAPTURED or None)  # encoder (position bias), decoder, cross
    _write(d / "plain", "gpt2", [0, 1], None)  # no neuron records
    return d


tb = tensorboard_fixture(4, logdir_of=lambda logs: logs)


def record_of(logs, run, step, kind="self"):
    from tb_attention_plugin import read_run

    return read_run(str(logs / run)).probe("sad").neurons(step, kind)


def stored_row(tb, run, kind, step, layer, head, query):
    """The stored attention of one query row (./snapshot, byte/255)."""
    from tb_attention_plugin.server.http_payload import decode_container

    q = urlencode({"run": run, "probe": "sad", "kind": kind, "step": step, "layer": layer})
    header, data = decode_container(tb.get("snapshot?" + q))
    return data[0, head, query].astype(np.float64) * header["scale"]


def select(frame, run, kind=None, step=None, head=None):
    """Pick run (and kind, step, layer/head) as a user would: pickers, the step, a head."""
    frame.locator('[data-testid="run-picker"]').select_option(run)
    if kind is not None:
        frame.locator('[data-testid="kind-picker"]').select_option(kind)
    if step is not None:
        frame.evaluate(f"window.tbAttention.setStep({step})")
    if head is not None:
        frame.evaluate(f"window.tbAttention.selectHead({head[0]}, {head[1]})")


def wait_card(frame, state, **attrs):
    """Wait until the neuron card shows `state` (and data-step/layer/head/query as given)."""
    frame.wait_for_function(
        """([state, attrs]) => { const c = document.querySelector('[data-testid="neuron-view"]');
        return c && c.dataset.state === state && Object.entries(attrs).every(([k, v]) => c.dataset[k] === String(v)); }""",
        arg=[state, attrs],
        timeout=30000,
    )


def card_rows(frame):
    return frame.evaluate(
        """() => [...document.querySelectorAll('[data-testid="neuron-view"] [data-testid="nv-row"]')].map((r) => ({
          key: Number(r.dataset.key), allowed: r.dataset.allowed === '1', weight: Number(r.dataset.weight),
          dot: Number(r.dataset.dot), logit: r.dataset.logit,
          contribution: r.dataset.contribution === undefined ? null : Number(r.dataset.contribution),
          text: r.textContent }))"""
    )


def check_row(tb, logs, frame, run, kind, step, layer, head, query):
    """The card's weights = ./snapshot within 1/255 and numpy's softmax_of; its logits and
    contributions = numpy's; masked keys masked. -> the weights."""
    from tb_attention_plugin.analysis.neuron_math import contributions_of, softmax_of

    rows = card_rows(frame)
    record = record_of(logs, run, step, kind)
    i = record["heads"].index((layer, head))
    assert len(rows) == record["key"].shape[1] and [r["key"] for r in rows] == list(range(len(rows)))
    weights = np.array([r["weight"] for r in rows])
    stored = stored_row(tb, run, kind, step, layer, head, query)
    assert np.abs(weights - stored).max() <= TOL, (run, kind, step, layer, head, query)
    np.testing.assert_allclose(weights, softmax_of(record, i)[query], atol=1e-6)
    q, k = record["query"][i][query].astype(np.float64), record["key"][i].astype(np.float64)
    np.testing.assert_allclose([r["dot"] for r in rows], k @ q, rtol=1e-5, atol=1e-5)
    logits = k @ q * float(record["scale"][i])
    if record["bias"] is not None:
        logits = logits + record["bias"][i][query]
    allowed = record["allowed"][i][query]
    assert [r["allowed"] for r in rows] == [bool(a) for a in allowed]
    for r, want in zip(rows, logits):
        if r["allowed"]:
            assert float(r["logit"]) == pytest.approx(want, rel=1e-5, abs=1e-5)
        else:
            assert r["logit"] == "masked" and r["weight"] == 0 and "masked" in r["text"]
    expected = contributions_of(record, i)
    if expected is None:
        assert all(r["contribution"] is None for r in rows)
    else:
        np.testing.assert_allclose([r["contribution"] for r in rows], expected[query], atol=1e-6)
    return weights


def shot(frame, page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    frame.locator('[data-testid="neuron-view"]').scroll_into_view_if_needed()
    frame.locator('[data-testid="neuron-view"]').screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_the_card_computes_the_stored_attention_from_query_and_key(page, tb, logs):
    frame = tab_frame(page, tb)
    select(frame, "gpt2", step=2, head=(1, 3))
    tokens = frame.evaluate("window.tbAttention.state.index.runs.find(r => r.run === 'gpt2').probes[0].tokens")
    last = len(tokens) - 1
    wait_card(frame, "data", step=2, layer=1, head=3, query=last)  # causal: the last token by default
    check_row(tb, logs, frame, "gpt2", "self", 2, 1, 3, last)
    assert tokens[last].strip() in frame.locator('[data-testid="nv-query-token"]').text_content()
    # a query token from the picker: keys after it are masked
    frame.locator('[data-testid="nv-query"]').select_option("4")
    wait_card(frame, "data", step=2, query=4)
    at2 = check_row(tb, logs, frame, "gpt2", "self", 2, 1, 3, 4)
    assert at2.max() > 2 / 5, "the head attends somewhere (not uniformly over the 5 keys it sees)"
    rows = card_rows(frame)
    assert [r["allowed"] for r in rows] == [j <= 4 for j in range(len(rows))]
    shot(frame, page, "neuron-view-gpt2")
    # the same query at step 0: other vectors, other weights (the card never keeps step 2's)
    frame.evaluate("window.tbAttention.setStep(0)")
    wait_card(frame, "data", step=0, query=4)
    at0 = check_row(tb, logs, frame, "gpt2", "self", 0, 1, 3, 4)
    assert np.abs(at0 - at2).max() > 0.01, "the weights changed between steps"
    # clicking a key token in the card makes it the query
    frame.locator('[data-testid="nv-row"][data-key="6"] .tba-nv-tok').click()
    wait_card(frame, "data", step=0, query=6)
    check_row(tb, logs, frame, "gpt2", "self", 0, 1, 3, 6)
    page.screenshot(path=str(ARTIFACTS / "neuron-view-tab.png"), full_page=True)


def test_a_step_without_record_and_a_head_not_captured_say_so(page, tb, logs):
    frame = tab_frame(page, tb)
    select(frame, "gpt2", step=1, head=(1, 3))
    wait_card(frame, "step-none")
    message = frame.locator('[data-testid="nv-message"]')
    assert "No neuron record at step 1" in message.text_content()
    assert frame.locator('[data-testid="nv-row"]').count() == 0
    buttons = frame.locator('[data-testid="nv-goto-step"]')
    assert [buttons.nth(n).get_attribute("data-step") for n in range(buttons.count())] == ["0", "2"]
    shot(frame, page, "neuron-view-no-record")
    buttons.nth(1).click()
    wait_card(frame, "data", step=2, layer=1, head=3)
    assert frame.evaluate("window.tbAttention.state.step") == 2
    # a head that was not captured: which heads were, as buttons
    frame.evaluate("window.tbAttention.selectHead(0, 0)")
    wait_card(frame, "not-captured")
    text = message.text_content()
    assert "L0 H0 was not captured" in text and "L0H1" in text and "L1H3" in text
    assert frame.locator('[data-testid="nv-row"]').count() == 0, "no other head's data"
    shot(frame, page, "neuron-view-not-captured")
    frame.locator('[data-testid="nv-message"] [data-testid="nv-head"][data-layer="0"][data-head="1"]').click()
    wait_card(frame, "data", step=2, layer=0, head=1)
    assert frame.evaluate("[window.tbAttention.state.layer, window.tbAttention.state.head]") == [0, 1]


@pytest.mark.skipif(not T5_CAPTURED, reason="this transformers' T5 does not use the attention interface")
def test_t5_encoder_bias_and_cross_attention(page, tb, logs):
    frame = tab_frame(page, tb)
    select(frame, "t5", kind="encoder", step=1, head=(1, 2))
    wait_card(frame, "data", step=1, layer=1, head=2, query=0)  # T5 has no [CLS]: the first token
    assert "position bias" in frame.locator('[data-testid="nv-formula"]').text_content()
    assert "+ bias" in frame.locator('[data-testid="neuron-view"] .tba-nv-colhead').nth(4).text_content()
    check_row(tb, logs, frame, "t5", "encoder", 1, 1, 2, 0)
    frame.locator('[data-testid="nv-query"]').select_option("5")
    wait_card(frame, "data", step=1, query=5)
    check_row(tb, logs, frame, "t5", "encoder", 1, 1, 2, 5)
    shot(frame, page, "neuron-view-t5-encoder")
    # cross attention: decoder queries over encoder keys; the default is the first non-special token
    frame.locator('[data-testid="kind-picker"]').select_option("cross")
    probe = frame.evaluate("window.tbAttention.state.index.runs.find(r => r.run === 't5').probes[0]")
    first = next(i for i, sp in enumerate(probe["decoder_special"]) if not sp)  # the decoder start is special
    wait_card(frame, "data", step=1, layer=1, head=2, query=first)
    check_row(tb, logs, frame, "t5", "cross", 1, 1, 2, first)
    frame.locator('[data-testid="kind-picker"]').select_option("decoder")
    last = len(probe["decoder_tokens"]) - 1
    wait_card(frame, "data", step=1, layer=1, head=2, query=last)  # causal: the last
    check_row(tb, logs, frame, "t5", "decoder", 1, 1, 2, last)


def test_bert_contributions_next_to_the_weights(page, tb, logs):
    frame = tab_frame(page, tb)
    select(frame, "bert", step=3, head=(0, 2))
    wait_card(frame, "data", step=3, layer=0, head=2, query=1)  # the first token after [CLS]
    weights = check_row(tb, logs, frame, "bert", "self", 3, 0, 2, 1)
    rows = card_rows(frame)
    assert record_of(logs, "bert", 3)["value_norm"] is not None
    assert all(r["contribution"] is not None for r in rows)
    assert "contribution" in frame.locator('[data-testid="neuron-view"]').text_content()
    assert not np.allclose(weights, [r["contribution"] for r in rows], atol=1e-3)
    # over training: first-token and [SEP] mass by weight and by contribution, as read_run computes them
    from tb_attention_plugin import read_run

    frame.wait_for_function(
        "() => document.querySelector('[data-testid=\"nv-contrib\"]')?.dataset.state === 'data'", timeout=30000
    )
    chart = frame.evaluate("window.tbAttention.app.views.neuron.chart.lastChart.data")
    expected = read_run(str(logs / "bert")).probe("sad").contributions()
    heads = record_of(logs, "bert", 0)["heads"]
    i = heads.index((0, 2))
    assert chart[0] == sorted(expected)
    for column, (name, j) in zip(chart[1:], [("first", 0), ("first", 1), ("sep", 0), ("sep", 1)]):
        np.testing.assert_allclose(column, [expected[s][name][i][j] for s in chart[0]], atol=1e-9)
    assert "by contribution" in frame.locator('[data-testid="nv-contrib-note"]').text_content()
    shot(frame, page, "neuron-view-bert")


def test_a_run_without_neuron_records_says_how_to_turn_them_on(page, tb):
    frame = tab_frame(page, tb)
    select(frame, "plain", step=1)
    wait_card(frame, "run-none")
    text = frame.locator('[data-testid="nv-message"]').text_content()
    assert "no neuron records" in text and "neurons=True" in text and '"every": k' in text
    assert frame.locator('[data-testid="nv-row"]').count() == 0
    shot(frame, page, "neuron-view-run-none")


def test_a_failed_request_shows_its_error_in_place(page, tb, logs):
    frame = tab_frame(page, tb)
    select(frame, "gpt2", step=2, head=(1, 3))
    wait_card(frame, "data", step=2, layer=1, head=3)

    def handle(route):
        if "step=0" in route.request.url:
            route.fulfill(status=500, content_type="application/json", body=json.dumps({"error": "test: disk on fire"}))
        else:
            route.continue_()

    page.route(re.compile(r"/neurons\?"), handle)
    frame.evaluate("window.tbAttention.setStep(0)")
    wait_card(frame, "error")
    error = frame.locator('[data-testid="nv-error"]').text_content()
    assert "test: disk on fire (HTTP 500)" in error and "L1 H3 at step 0" in error
    assert frame.locator('[data-testid="nv-row"]').count() == 0, "step 2's vectors are not shown for step 0"
    shot(frame, page, "neuron-view-error")
    page.unroute(re.compile(r"/neurons\?"))
    frame.evaluate("window.tbAttention.setStep(2)")
    wait_card(frame, "data", step=2, layer=1, head=3)
    frame.evaluate("window.tbAttention.setStep(0)")
    wait_card(frame, "data", step=0, layer=1, head=3)  # asked again: failures are not cached
    query = frame.locator('[data-testid="neuron-view"]').get_attribute("data-query")
    check_row(tb, logs, frame, "gpt2", "self", 0, 1, 3, int(query))
