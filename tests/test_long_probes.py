"""Long probes: a layer larger than blobs.HEADS_BLOB_WEIGHTS is written a head at a time (ENCODING_HEADS),
so readers decode one head without the others; a request for more than is decoded at once is refused
with what to ask for instead (docs/format.md "Limits", docs/http-api.md "snapshot")."""

import numpy as np
import pytest

from plugin_fixtures import App, assert_json_error, tokens
from tb_attention_plugin import read_run
from tb_attention_plugin.devtools.synthetic import DriftingMaps
from tb_attention_plugin.format.blobs import ENCODING_HEADS, HEADS_BLOB_WEIGHTS, layer_blob_info
from tb_attention_plugin.format.metadata import TooLarge
from tb_attention_plugin.server import answers
from tb_attention_plugin.server.pooling import block_means
from tb_attention_plugin.writer import snapshot_stream
from tb_attention_plugin.writer.summary_writer import AttentionSummaryWriter

N = 23
STEPS = (0, 5)


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """A run whose every layer is written a head at a time (the threshold lowered to this size), and
    the maps written: {step: float32 [L, H, N, N]}."""
    root = tmp_path_factory.mktemp("long")
    written = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(snapshot_stream, "HEADS_BLOB_WEIGHTS", 3 * N * N - 1)
        maps = DriftingMaps(2, 3, N, seed=4, causal=True, drift=0.2)
        with AttentionSummaryWriter(str(root / "run")) as w:
            w.add_probe("p", tokens(N))
            for step in STEPS:
                written[step] = maps.next()
                w.add_attention(step, "p", written[step], causal=True)
    return root, written


def test_the_threshold_is_a_large_layer():
    assert HEADS_BLOB_WEIGHTS == 1 << 24  # 16 MiB: 32 heads x 724 tokens; MiniLM's layers stay whole


def test_each_head_reads_back_alone_and_whole(logs):
    root, written = logs
    probe = read_run(str(root / "run")).probe("p")
    for step in STEPS:
        for blob in probe._snapshots["self"][step][1:]:
            assert layer_blob_info(blob).encoding == ENCODING_HEADS  # no deltas: every head its own frame
        assert probe.stored_heads(step) == {0: None, 1: None}  # every head has its map
        np.testing.assert_allclose(probe.attention(step), written[step], atol=1 / 255)
        for layer, head in np.ndindex(2, 3):
            one = probe.attention(step, layer=layer, head=head)
            assert one.shape == (N, N)
            np.testing.assert_array_equal(one, probe.attention(step)[layer, head])


@pytest.mark.parametrize("read_files", [True, False])
def test_the_plugin_serves_one_head_exact_or_pooled(logs, read_files):
    root, _ = logs
    app = App(root, read_files=read_files)
    probe = read_run(str(root / "run")).probe("p")
    header, data = app.container("snapshot", run="run", probe="p", kind="self", step=5, layer=1, head=2)
    assert header["head"] == 2 and "stored" not in header and data.shape == (1, 1, N, N)
    np.testing.assert_array_equal(data[0, 0], probe.quantized(5, layer=1, head=2))
    header, data = app.container("snapshot", run="run", probe="p", kind="self", step=5, layer=1, head=2, pool=4)
    np.testing.assert_array_equal(data[0, 0], block_means(probe.quantized(5, layer=1, head=2), 4))
    header, data = app.container("snapshot", run="run", probe="p", kind="self", step=0)
    np.testing.assert_array_equal(data, probe.quantized(0))
    assert "needs 'layer'" in assert_json_error(
        app.get("snapshot", run="run", probe="p", kind="self", step=5, head=1), 400
    )
    error = assert_json_error(app.get("snapshot", run="run", probe="p", kind="self", step=5, layer=0, head=3), 404)
    assert "3 heads" in error


@pytest.mark.parametrize("read_files", [True, False])
def test_more_than_one_answer_holds_is_a_400_that_says_what_to_ask_for(logs, read_files, monkeypatch):
    root, _ = logs
    monkeypatch.setattr(answers, "MAX_LAYER_WEIGHTS", 3 * N * N)  # one layer fits, two do not
    app = App(root, read_files=read_files)
    assert app.container("snapshot", run="run", probe="p", kind="self", step=5, layer=0)[1].shape == (1, 3, N, N)
    response = app.get("snapshot", run="run", probe="p", kind="self", step=5)
    assert "one layer (layer=), one head (head=) or block means (pool=)" in assert_json_error(response, 400)
    pooled = app.container("snapshot", run="run", probe="p", kind="self", step=5, pool=2)[1]
    assert pooled.shape == (2, 3, 12, 12)  # block means are never too large
    index = app.json("index")  # and the step stays listed: a request for too much is not a bad record
    assert index["runs"][0]["probes"][0]["kinds"][0]["steps"] == list(STEPS)


def test_read_run_refuses_a_whole_snapshot_beyond_the_bound(logs, monkeypatch):
    from tb_attention_plugin.reading import probe_log

    root, written = logs
    monkeypatch.setattr(probe_log, "MAX_SNAPSHOT_WEIGHTS", 3 * N * N)
    probe = read_run(str(root / "run")).probe("p")
    with pytest.raises(TooLarge, match="ask for a layer"):
        probe.attention(5)
    np.testing.assert_allclose(probe.attention(5, layer=1), written[5][1], atol=1 / 255)
