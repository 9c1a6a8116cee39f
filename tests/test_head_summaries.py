"""Head summaries (format/summaries.py, docs/format.md "Storage budget"): what a storage budget keeps of
a head it leaves without a map: its block means and each query row's top-k keys with their weights.
Checked against the definitions written out here, through the writer's choice (maps and summaries of
the heads offered a layer at a time), read_run, both plugin sources, and damaged blobs."""

import numpy as np
import pytest

from plugin_fixtures import App, assert_json_error, tokens
from tb_attention_plugin import read_run
from tb_attention_plugin.devtools.synthetic import DriftingMaps
from tb_attention_plugin.format.blobs import (
    ENCODING_HEAD_PARTS,
    LAYER_HEADER,
    PART_ENTRY,
    compress_head,
    compressor,
    decompress,
    decompress_prefix,
    encode_heads,
    layer_blob_info,
    HeadsLayer,
)
from tb_attention_plugin.format.metadata import FormatError
from tb_attention_plugin.format.summaries import (
    SUMMARY_HEADER,
    decode_block_means,
    decode_summary,
    encode_summary,
    summary_block,
    top_keys,
)
from tb_attention_plugin.writer.head_choice import ChoiceState, HeadChoice
from tb_attention_plugin.writer.summary_writer import AttentionSummaryWriter


def _compress(data):
    return compressor().compress(data)


def _rows(q, k, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.random((q, k)) ** 4
    return (w / w.sum(-1, keepdims=True)).astype(np.float32)


def _block_means(w, b):
    """The definition: the mean of each b x b tile over the cells it really has."""
    q, k = w.shape
    return np.array(
        [[w[i : i + b, j : j + b].mean() for j in range(0, k, b)] for i in range(0, q, b)], dtype=np.float64
    )


@pytest.mark.parametrize("q, k", [(5, 7), (64, 64), (100, 37), (1000, 1000)])
def test_a_summary_holds_the_block_means_and_each_rows_strongest_keys(q, k):
    w = _rows(q, k)
    w[3 % q, :2] = w[3 % q, 0]  # a tie: the lower key first
    s = decode_summary(encode_summary(w, _compress), q, k, decompress)
    assert s.block == summary_block(q, k) and max(s.means.shape) <= 32
    assert np.abs(s.block_means() - _block_means(w, s.block)).max() <= 1 / 131070 + 1e-7
    top = min(8, k)
    assert s.keys.shape == (q, top)
    for row in range(q):
        order = sorted(range(k), key=lambda j: (-w[row, j], j))[:top]
        assert list(s.keys[row]) == order
        assert np.abs(s.top_weights()[row] - w[row, order]).max() <= 1 / 255 + 1e-7
    sparse = s.sparse()
    assert sparse.shape == (q, k) and np.isnan(sparse).sum() == q * (k - top)
    # the grid's read: the block means alone, the top keys left compressed
    means = decode_block_means(encode_summary(w, _compress), q, k, decompress_prefix)
    np.testing.assert_array_equal(means, s.means)


@pytest.mark.parametrize("q", [7, 300])
def test_ties_at_the_last_place_go_to_the_lower_keys(q):
    """Causal rows with fewer real keys than places (their zeros tie), a uniform row, and rows whose
    8th and 9th strongest weights tie: each keeps exactly the keys of the definition."""
    w = np.tril(_rows(q, q, seed=5) + 0.01)
    w[q // 2] = 1.0
    w[-1, :10] = 1.0
    w /= w.sum(-1, keepdims=True)
    keys, weights = top_keys(w)
    for row in range(q):
        order = sorted(range(q), key=lambda j: (-w[row, j], j))[:8]
        assert list(keys[row]) == order, row
        assert list(weights[row]) == list(w[row, order])


def _offer_all(choice, layers, state=None):
    selection = choice.selection(state or ChoiceState())
    for index, layer in enumerate(layers):
        selection.offer(index, layer, np.zeros((9, layer.shape[0])))
    return [HeadsLayer(b, layers[0].shape) for b in selection.blobs(len(layers), *layers[0].shape[1:])]


def test_the_next_heads_after_the_maps_keep_summaries_even_when_pushed_out_of_the_maps_later():
    maps = DriftingMaps(3, 4, 9, seed=3, drift=0.0)
    first = maps.next()
    later = first.copy()
    # the most changed heads arrive last: the two of layer 0 that had maps are pushed out of them
    for rank, (l, h) in enumerate([(0, 1), (1, 2), (2, 0), (2, 3)]):
        later[l, h] = np.roll(first[l, h], 1 + rank, axis=-1) * 0.5 + first[l, h] * 0.5
    later[2, 3] = np.eye(9, dtype=np.float32)
    later[2, 0] = np.roll(np.eye(9, dtype=np.float32), 1, axis=-1)
    state = ChoiceState()
    _offer_all(HeadChoice(2, "changed", summaries=2), list(first), state)
    layers = _offer_all(HeadChoice(2, "changed", summaries=2), list(later), state)
    maps_kept = {(l, h) for l, layer in enumerate(layers) for h in layer.info.held}
    summarized = {(l, h) for l, layer in enumerate(layers) for h in layer.summarized}
    assert maps_kept == {(2, 0), (2, 3)}
    assert summarized == {(0, 1), (1, 2)}
    for l, h in summarized:
        s = layers[l].summary(h)
        assert np.abs(s.block_means() - _block_means(later[l, h], s.block)).max() <= 1 / 131070 + 1e-7


def test_rotate_gives_every_head_its_map_in_turn_and_summaries_to_the_next():
    layers = list(DriftingMaps(2, 3, 6, seed=4, drift=0.1).next())
    state = ChoiceState()
    turns = [_offer_all(HeadChoice(2, "rotate", summaries=1), layers, state) for _ in range(3)]
    flat = [
        (
            sorted(l * 3 + h for l, x in enumerate(t) for h in x.info.held),
            [l * 3 + h for l, x in enumerate(t) for h in x.summarized],
        )
        for t in turns
    ]
    assert flat == [([0, 1], [2]), ([2, 3], [4]), ([4, 5], [0])]


def _write(path, steps, choice, shape=(2, 3, 40)):
    layers, heads, n = shape
    maps = DriftingMaps(layers, heads, n, seed=5, drift=0.3)
    written = []
    with AttentionSummaryWriter(str(path)) as w:
        w.add_probe("p", tokens(n))
        for step in range(steps):
            snapshot = maps.next()
            written.append(snapshot)
            stream = w.open_snapshot(step, "p", "self", causal=False, heads=choice)
            for layer in snapshot:
                stream.add_layer(layer)
            stream.commit()
    return written


def test_read_run_and_both_plugin_sources_answer_a_heads_summary(tmp_path):
    written = _write(tmp_path / "run", 2, HeadChoice(2, "rotate", summaries=2))
    probe = read_run(str(tmp_path / "run")).probe("p")
    assert probe.meta["self"].storage == {"maps": 2, "choice": "rotate", "summaries": 2}
    summarized = probe.summarized_heads(1)
    assert summarized == {0: (), 1: (1, 2)} and probe.stored_heads(1) == {0: (2,), 1: (0,)}
    s = probe.summary(1, 1, 2)
    assert np.abs(s.block_means() - _block_means(written[1][1, 2], s.block)).max() <= 1 / 131070 + 1e-7
    assert probe.summary(1, 0, 2) is None and probe.summary(1, 0, 0) is None  # a map; nothing
    for read_files in (True, False):
        app = App(tmp_path, read_files=read_files)
        header, _ = app.container("snapshot", run="run", probe="p", kind="self", step=1)
        assert header["summarized"] == [[], [1, 2]]
        header, data = app.container(
            "snapshot", run="run", probe="p", kind="self", step=1, layer=1, head=2, part="summary"
        )
        assert header["part"] == "summary" and header["block"] == s.block and header["top_k"] == 8
        assert np.array_equal(np.array(header["means"]).reshape(header["means_shape"]), s.means)
        assert data.shape == (40, 2, 8)
        assert np.array_equal(data[:, 0], s.keys) and np.array_equal(data[:, 1], s.weights)
        for head, words in ((2, "its map is stored"), (0, "kept no summary")):
            response = app.get(
                "snapshot", run="run", probe="p", kind="self", step=1, layer=0, head=head, part="summary"
            )
            assert_json_error(response, 404)
            assert words in response.get_data(as_text=True)
        bad = app.get("snapshot", run="run", probe="p", kind="self", step=1, layer=0, part="summary")
        assert_json_error(bad, 400)
        bad = app.get("snapshot", run="run", probe="p", kind="self", step=1, layer=0, head=1, part="map")
        assert_json_error(bad, 400)


def _parts_blob(summary=None):
    q = np.full((5, 6), 40, np.uint8)
    summary = summary or encode_summary(_rows(5, 6), _compress)
    return encode_heads([1], [compress_head(q)], 5, 6, [(3, summary)])


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b[:-1], "do not fill"),
        (
            lambda b: (
                b[: LAYER_HEADER.size + PART_ENTRY.size]
                + PART_ENTRY.pack(3, 7, PART_ENTRY.unpack_from(b, LAYER_HEADER.size + PART_ENTRY.size)[2])
                + b[LAYER_HEADER.size + 2 * PART_ENTRY.size :]
            ),
            "unknown kind",
        ),
    ],
)
def test_a_damaged_blob_of_maps_and_summaries_is_refused_before_it_is_decompressed(damage, message):
    info = layer_blob_info(_parts_blob(), (4, 5, 6))
    assert (info.encoding, info.stored, info.summarized) == (ENCODING_HEAD_PARTS, (1,), (3,))
    with pytest.raises(FormatError, match=message):
        layer_blob_info(damage(_parts_blob()), (4, 5, 6))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda s: SUMMARY_HEADER.pack(9, 6) + s[SUMMARY_HEADER.size :], "does not fit"),  # another block
        (lambda s: SUMMARY_HEADER.pack(1, 7) + s[SUMMARY_HEADER.size :], "does not fit"),  # top 7 of 6 keys
        (lambda s: SUMMARY_HEADER.pack(1, 5) + s[SUMMARY_HEADER.size :], "declares 150 bytes"),  # sizes disagree
        (lambda s: s[:3], "truncated"),
    ],
)
def test_a_damaged_summary_is_refused(damage, message):
    good = encode_summary(_rows(5, 6), _compress)
    layer = HeadsLayer(_parts_blob(damage(good)), (4, 5, 6))
    with pytest.raises(FormatError, match=message):
        layer.summary(3)
    if message != "declares 150 bytes":  # the means alone: the header checked the same way
        with pytest.raises(FormatError, match=message):
            layer.summary_means(3)


def test_a_summary_too_short_for_its_block_means_is_refused():
    short = SUMMARY_HEADER.pack(1, 5) + _compress(b"\0" * 10)  # 6 x 7 means need 84 bytes
    with pytest.raises(FormatError, match="shorter than its block means"):
        decode_block_means(short, 6, 7, decompress_prefix)


def test_a_summary_naming_a_key_beyond_the_map_is_refused():
    keys = np.full((5, 6), 6, "<u2").tobytes()  # block 1: means [5, 6], then keys [5, 6], weights
    frame = _compress(bytes(2 * 30) + keys + bytes(30))
    layer = HeadsLayer(_parts_blob(SUMMARY_HEADER.pack(1, 6) + frame), (4, 5, 6))
    with pytest.raises(FormatError, match="beyond"):
        layer.summary(3)


@pytest.mark.parametrize("summaries", [-1, 1.5, True, "2"])
def test_a_number_of_summaries_that_is_not_a_count_is_refused(summaries):
    with pytest.raises(ValueError, match="summaries must be a number of heads >= 0"):
        HeadChoice(2, "changed", summaries=summaries)
    assert HeadChoice(2, [(0, 1)]).summaries == 0  # named heads: maps only
