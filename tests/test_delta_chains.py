"""The one walk of delta chains (blobs.walk_chain / decode_chain) and the plugin's use of it
(plugin_snapshot.SnapshotReader): stops at a decoded layer, bounded chains, retry on a stale reference."""

from types import SimpleNamespace

import numpy as np
import pytest

from tb_attention_plugin.format.blobs import MAX_CHAIN, decode_chain, decode_layer_at, encode_layer, walk_chain
from tb_attention_plugin.format.metadata import FormatError
from tb_attention_plugin.server.provider.series import Record
from tb_attention_plugin.server.provider.snapshot import SnapshotReader

SHAPE = (2, 3, 4)


def layers(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, SHAPE, dtype=np.uint8) for _ in range(n)]


def chain_blobs(truth, keyframes=(0,)):
    """{step: blob}: a keyframe at each step of `keyframes`, else a delta to the previous step."""
    return {
        s: encode_layer(q) if s in keyframes else encode_layer(q, truth[s - 1], ref_step=s - 1)
        for s, q in enumerate(truth)
    }


def test_walk_stops_at_a_decoded_layer_and_decodes_forward():
    truth = layers(4)
    blobs = chain_blobs(truth)
    read = []

    def blob_of(step):
        read.append(step)
        return blobs[step]

    chain = walk_chain(3, blob_of, {1: truth[1]}.get, SHAPE)
    assert [link.step for link in chain.links] == [3, 2] and chain.base_step == 1 and read == [3, 2]
    kept = {}
    np.testing.assert_array_equal(decode_chain(chain, SHAPE, kept.__setitem__), truth[3])
    assert sorted(kept) == [2, 3]
    chain = walk_chain(3, blobs.get, None, SHAPE)
    assert [link.step for link in chain.links] == [3, 2, 1, 0] and chain.base is None
    np.testing.assert_array_equal(decode_chain(chain, SHAPE), truth[3])
    decoded = {}
    np.testing.assert_array_equal(decode_layer_at(2, blobs.get, decoded, SHAPE), truth[2])
    assert sorted(decoded) == [0, 1, 2]


def test_walk_refuses_long_chains_later_references_and_other_shapes():
    truth = layers(MAX_CHAIN + 1)
    blobs = chain_blobs(truth)
    with pytest.raises(FormatError, match=f"within {MAX_CHAIN} blobs"):
        walk_chain(MAX_CHAIN, blobs.get, None, SHAPE)
    looped = {0: encode_layer(truth[0], truth[1], ref_step=1), 1: encode_layer(truth[1], truth[0], ref_step=0)}
    with pytest.raises(FormatError, match="refers to step 1: not an earlier step"):
        walk_chain(0, looped.get, None, SHAPE)
    with pytest.raises(FormatError, match="^layer 7: attention layer blob holds 2x3x4"):
        walk_chain(0, blobs.get, None, (2, 3, 5), label="layer 7: ")
    with pytest.raises(FormatError, match="reference snapshot at step 0 is missing"):
        decode_layer_at(1, {1: blobs[1]}.get, expected=SHAPE)


class Provider:
    def __init__(self, blobs):
        self.blobs, self.reads = blobs, []

    def read_blob(self, ctx=None, *, blob_key):
        self.reads.append(blob_key)
        return self.blobs[blob_key]


def series_of(blobs, wall=1.0):
    """A plugin series of one layer: step -> Record(wall time, (header key, layer 0 key))."""
    refs = {s: Record(wall, (f"h{s}", f"l{s}")) for s in blobs}
    return SimpleNamespace(refs=refs, steps=sorted(refs))


def test_plugin_reader_follows_chains_and_reads_again_when_a_cached_reference_is_stale():
    truth = layers(3)
    provider = Provider({f"l{s}": b for s, b in chain_blobs(truth).items()})
    series = series_of(chain_blobs(truth))
    reader = SnapshotReader(provider, workers=2)
    (got,) = reader.read(None, series, 2, [0], SHAPE)
    np.testing.assert_array_equal(got, truth[2])
    assert sorted(provider.reads) == ["l0", "l1", "l2"]
    # A stale decoded layer under step 1's key (its record rewritten, the series not re-listed yet):
    # the delta's CRC refuses it, and the chain is read again from the provider.
    reader.decoded.put(("l1", 1.0), layers(1, seed=9)[0])
    reader.decoded.pop(("l2", 1.0))
    provider.reads.clear()
    (got,) = reader.read(None, series, 2, [0], SHAPE)
    np.testing.assert_array_equal(got, truth[2])
    assert provider.reads.count("l2") == 2 and "l1" in provider.reads  # the walk, then the retry
    np.testing.assert_array_equal(reader.decoded.get(("l1", 1.0)), truth[1])


def test_plugin_reader_reports_a_chain_that_stays_broken_and_a_step_not_loaded():
    truth = layers(2)
    blobs = chain_blobs(truth)
    blobs[0] = encode_layer(layers(1, seed=5)[0])  # the keyframe was overwritten by another record
    reader = SnapshotReader(Provider({f"l{s}": b for s, b in blobs.items()}), workers=2)
    with pytest.raises(FormatError, match="overwritten"):
        reader.read(None, series_of(blobs), 1, [0], SHAPE)
    with pytest.raises(FormatError, match="step 0 is not loaded"):
        reader.read(None, series_of({1: blobs[1]}), 1, [0], SHAPE)
