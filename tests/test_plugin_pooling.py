"""The `snapshot` route's `pool=B` answer (server/pooling.py, docs/http-api.md): each head's map as the
means of its B x B blocks, in uint16 steps of 1/65535, from either source; without `pool` (or with
`pool=1`) the exact answer, byte for byte."""

import numpy as np
import pytest

from tb_attention_plugin import read_run
from tb_attention_plugin.devtools.synthetic import DriftingMaps
from tb_attention_plugin.writer.summary_writer import AttentionSummaryWriter

from plugin_fixtures import App, assert_json_error, tokens

N_TOKENS = 13  # no block from 2 to 6 divides it: every pooled map has a partial last block
STEPS = (0, 1, 2)
STEP = 1 / 65535
STORED_BOUND = STEP / 2 + 1e-12  # a value against the block mean of the stored weights
EXACT_BOUND = 1 / 255 + STORED_BOUND  # ... against the block mean of the weights written


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """Two runs (one causal) whose maps as written are kept: {run: {step: float32 [L, H, Q, K]}}."""
    root = tmp_path_factory.mktemp("pooling")
    written = {}
    for run, causal in (("full", False), ("causal", True)):
        maps = DriftingMaps(3, 2, N_TOKENS, seed=7, causal=causal, drift=0.3)
        written[run] = {}
        with AttentionSummaryWriter(str(root / run)) as w:
            w.add_probe("p", tokens(N_TOKENS), special=[1] + [0] * (N_TOKENS - 2) + [1])
            for step in STEPS:
                written[run][step] = maps.next()
                w.add_attention(step, "p", written[run][step], causal=causal)
    return root, written


@pytest.fixture(scope="module", params=["files", "provider"])
def app(request, logs):
    return App(logs[0], read_files=request.param == "files")


def block_means(maps, block):
    """The mean of each block x block tile of [..., Q, K] (a last partial tile over its real cells)."""
    q, k = maps.shape[-2:]
    rows, cols = np.arange(0, q, block), np.arange(0, k, block)
    sums = np.add.reduceat(np.add.reduceat(maps.astype(np.float64), cols, axis=-1), rows, axis=-2)
    return sums / np.outer(np.diff(np.r_[rows, q]), np.diff(np.r_[cols, k]))


@pytest.mark.parametrize("run", ["full", "causal"])
@pytest.mark.parametrize("block", [2, 3, 4, 6, 12, 13, 50])
def test_pooled_values_are_the_block_means_of_the_stored_and_the_written_weights(app, logs, run, block):
    probe = read_run(str(logs[0] / run)).probe("p")
    for step in STEPS:
        header, data = app.container("snapshot", run=run, probe="p", kind="self", step=step, pool=block)
        pooled = -(-N_TOKENS // block)
        assert data.dtype == np.uint16 and header["dtype"] == "uint16"
        assert header["shape"] == [3, 2, pooled, pooled] and header["pool"] == block
        assert (header["query_len"], header["key_len"], header["layers"]) == (N_TOKENS, N_TOKENS, [0, 1, 2])
        assert header["scale"] == pytest.approx(STEP)
        values = data * header["scale"]
        stored = block_means(probe.quantized(step) / 255, block)
        assert np.abs(values - stored).max() <= STORED_BOUND
        assert np.abs(values - block_means(logs[1][run][step], block)).max() <= EXACT_BOUND


def test_a_pooled_layer_is_that_layer_of_the_pooled_snapshot(app):
    _, whole = app.container("snapshot", run="full", probe="p", kind="self", step=2, pool=4)
    for layer in range(3):
        header, data = app.container("snapshot", run="full", probe="p", kind="self", step=2, layer=layer, pool=4)
        assert header["layers"] == [layer] and header["shape"] == [1, 2, 4, 4]
        np.testing.assert_array_equal(data[0], whole[layer])


def test_without_pool_or_with_pool_1_the_answer_is_the_exact_one_byte_for_byte(app):
    exact = app.get("snapshot", run="full", probe="p", kind="self", step=1).get_data()
    assert app.get("snapshot", run="full", probe="p", kind="self", step=1, pool=1).get_data() == exact
    assert app.get("snapshot", run="full", probe="p", kind="self", step=1, pool="").get_data() == exact
    assert b'"pool"' not in exact and b'"uint8"' in exact


@pytest.mark.parametrize("pool", ["0", "-2", "abc", "1.5", "2x", "4097", "9" * 30])
def test_a_bad_pool_is_a_400_that_names_it(app, pool):
    message = assert_json_error(app.get("snapshot", run="full", probe="p", kind="self", step=1, pool=pool), 400)
    assert "'pool'" in message


def test_the_largest_pool_is_one_block_per_map(app, logs):
    probe = read_run(str(logs[0] / "full")).probe("p")
    _, data = app.container("snapshot", run="full", probe="p", kind="self", step=0, pool=4096)
    assert data.shape == (3, 2, 1, 1)
    assert np.abs(data * STEP - block_means(probe.quantized(0) / 255, N_TOKENS)).max() <= STORED_BOUND
