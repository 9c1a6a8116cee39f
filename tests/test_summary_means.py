"""The snapshot route's `part=summary_means` (docs/http-api.md): the block means of every summarized head
of a step in one answer (what the grid paints), from both plugin sources, against read_run's summaries;
bad requests are a 4xx with a message, never a 500."""

import numpy as np
import pytest

from plugin_fixtures import App, assert_json_error, tokens
from tb_attention_plugin import read_run
from tb_attention_plugin.devtools.synthetic import DriftingMaps
from tb_attention_plugin.format.summaries import summary_block
from tb_attention_plugin.writer.head_choice import HeadChoice
from tb_attention_plugin.writer.summary_writer import AttentionSummaryWriter

LAYERS, HEADS, TOKENS, STEPS = 3, 4, 70, 3
QUERY = {"run": "run", "probe": "p", "kind": "self"}


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    root = tmp_path_factory.mktemp("means")
    maps = DriftingMaps(LAYERS, HEADS, TOKENS, seed=3, drift=0.3)
    with AttentionSummaryWriter(str(root / "run")) as w:
        w.add_probe("p", tokens(TOKENS))
        for step in range(STEPS):
            stream = w.open_snapshot(step, "p", "self", causal=False, heads=HeadChoice(3, "rotate", summaries=4))
            for layer in maps.next():
                stream.add_layer(layer)
            stream.commit()
    return root


@pytest.fixture(scope="module", params=[True, False], ids=["files", "provider"])
def app(request, logs):
    return App(logs, read_files=request.param)


def _expected(probe, step, layers):
    """read_run's summarized heads of `layers` at `step` and their block means, in the answer's order."""
    summarized = probe.summarized_heads(step)
    heads = [list(summarized.get(layer, ())) for layer in layers]
    means = [probe.summary(step, layer, h).means for layer, ids in zip(layers, heads) for h in ids]
    return heads, means


@pytest.mark.parametrize("layer", [None, 1])
def test_every_summarized_heads_block_means_in_one_answer(app, logs, layer):
    probe = read_run(str(logs / "run")).probe("p")
    block = summary_block(TOKENS, TOKENS)
    for step in range(STEPS):
        where = {} if layer is None else {"layer": layer}
        header, data = app.container("snapshot", **QUERY, step=step, **where, part="summary_means")
        layers = list(range(LAYERS)) if layer is None else [layer]
        heads, means = _expected(probe, step, layers)
        assert sum(map(len, heads)) == (4 if layer is None else len(heads[0])) and header["summarized"] == heads
        assert header["part"] == "summary_means" and header["layers"] == layers and header["heads"] == HEADS
        assert header["block"] == block and header["scale"] == 1 / 65535
        assert (header["query_len"], header["key_len"], header["causal"]) == (TOKENS, TOKENS, False)
        assert data.dtype == np.uint16 and data.shape == (len(means), -(-TOKENS // block), -(-TOKENS // block))
        for got, want in zip(data, means):
            assert np.array_equal(got, want)
        full, _ = app.container("snapshot", **QUERY, step=step, **where)  # the heads it lists (when any)
        assert full.get("summarized", [[] for _ in layers]) == heads


def test_a_layer_without_summaries_answers_no_means(app, logs):
    probe = read_run(str(logs / "run")).probe("p")
    bare = [layer for layer in range(LAYERS) if not probe.summarized_heads(0).get(layer)]
    assert bare, "the rotation leaves a layer of step 0 without summaries"
    header, data = app.container("snapshot", **QUERY, step=0, layer=bare[0], part="summary_means")
    assert header["summarized"] == [[]] and data.shape[0] == 0


@pytest.mark.parametrize(
    "params, status, words",
    [
        ({"step": 1, "layer": 0, "head": 1, "part": "summary_means"}, 400, "without 'head'"),
        ({"step": 1, "pool": 4, "part": "summary_means"}, 400, "never with 'pool'"),
        ({"step": 1, "part": "means"}, 400, "may only be"),
        ({"step": 1, "layer": -1, "part": "summary_means"}, 400, "layer"),
        ({"step": 1, "layer": LAYERS, "part": "summary_means"}, 404, "does not exist"),
        ({"step": 99, "part": "summary_means"}, 404, "no 'self' snapshot"),
        ({"step": "x", "part": "summary_means"}, 400, "integer"),
    ],
)
def test_a_bad_request_is_a_4xx_that_says_what_to_change(app, params, status, words):
    response = app.get("snapshot", **QUERY, **params)
    assert_json_error(response, status)
    assert words in response.get_data(as_text=True)
