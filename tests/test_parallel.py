"""A large layer's work spread over threads (analysis/parallel.py) gives exactly what one thread gives;
the writer's background thread stays on one thread; a forked child makes its own threads."""

import multiprocessing
import threading

import numpy as np
import pytest

from tb_attention_plugin.analysis import parallel, statistics
from tb_attention_plugin.analysis.statistics import head_statistics, row_plogp
from tb_attention_plugin.devtools.synthetic import DriftingMaps
from tb_attention_plugin.format.metadata import STAT_NAMES
from tb_attention_plugin.writer.head_choice import ChoiceState, HeadChoice, every_head
from tb_attention_plugin.writer.scratch_file import ScratchFile, SpilledHeads
from tb_attention_plugin.writer.write_queue import WriteQueue

needs_two_cpus = pytest.mark.skipif(parallel.usable_cpus() < 2, reason="one usable CPU: nothing is spread")


def _serially(fn):
    """fn() on a thread that keeps serial, as the writer's background thread does."""
    out = {}

    def run():
        parallel.keep_serial()
        out["result"] = fn()

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out["result"]


def test_results_come_back_in_order_and_errors_are_raised():
    assert parallel.map_spread(lambda x: x * x, range(50)) == [x * x for x in range(50)]

    def fail(x):
        if x == 7:
            raise ValueError("seven")
        return x

    with pytest.raises(ValueError, match="seven"):
        parallel.map_spread(fail, range(20))


@needs_two_cpus
def test_a_caller_spreads_and_the_background_writer_does_not():
    def threads_used():
        return {name for name in parallel.map_spread(lambda _: threading.current_thread().name, range(64))}

    assert any(name.startswith("tb-attention-spread") for name in threads_used())
    queue = WriteQueue(1 << 20)
    seen = []
    queue.submit(lambda: seen.append((threading.current_thread().name, threads_used())), nbytes=10)
    queue.drain()
    queue.close()
    [(writer_thread, used)] = seen
    assert used == {writer_thread}


def _layer_and_reference(heads=6, tokens=300):
    maps = DriftingMaps(1, heads, tokens, seed=11, drift=0.3, causal=True)
    return maps.next()[0], maps.next()[0]


def test_statistics_and_drift_over_threads_equal_one_threads(monkeypatch):
    layer, first = _layer_and_reference()
    monkeypatch.setattr(statistics, "BLOCK", 2 * layer[0].size)  # blocks of two heads: three to spread
    assert len(statistics._blocks(1, layer.shape[0], layer[0].size, statistics.BLOCK)) == 3
    scratch = ScratchFile()
    try:
        reference = SpilledHeads(scratch, [scratch.put(head.astype(np.float16)) for head in first])
        tokens = list(range(layer.shape[1]))
        args = dict(causal=True, self_attention=True, query_tokens=tokens, key_tokens=tokens)
        args["key_special"] = [False] * len(tokens)

        def measure():
            plogp = row_plogp(reference)
            return plogp, head_statistics(layer[None], reference=reference, reference_plogp=plogp, **args)

        spread, alone = measure(), _serially(measure)
    finally:
        scratch.close()
    np.testing.assert_array_equal(spread[0], alone[0])
    np.testing.assert_array_equal(spread[1], alone[1])
    assert (spread[1][STAT_NAMES.index("drift")] > 0.01).all()


def test_the_heads_kept_over_threads_equal_one_threads():
    layers = DriftingMaps(3, 5, 40, seed=2, drift=0.4)
    snapshots = [layers.next() for _ in range(3)]

    def choose():
        state, blobs = ChoiceState(), []
        for snapshot in snapshots:
            selection = HeadChoice(4, "changed", summaries=3).selection(state)
            for index, layer in enumerate(snapshot):
                selection.offer(index, layer, np.zeros((8, layer.shape[0])))
            blobs.append(selection.blobs(len(snapshot), 40, 40))
        return blobs, every_head(snapshots[-1][0])

    assert choose() == _serially(choose)


def _spread_in_child(queue):
    queue.put(parallel.map_spread(lambda x: x + 1, range(16)))


@needs_two_cpus
def test_a_forked_child_makes_its_own_threads():
    parallel.map_spread(abs, range(8))  # the parent's pool exists
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_spread_in_child, args=(queue,))
    child.start()
    child.join(60)
    assert child.exitcode == 0, "the forked child hung or failed spreading work"
    assert queue.get(timeout=5) == list(range(1, 17))


@needs_two_cpus
def test_a_block_of_spilled_heads_is_decompressed_over_threads_and_reads_the_same(monkeypatch):
    # a GPU layer's drift reads its float16 reference a block of heads at a time on the caller's thread
    layer, _ = _layer_and_reference()
    scratch = ScratchFile()
    try:
        spilled = SpilledHeads(scratch, [scratch.put(head.astype(np.float16)) for head in layer])
        get, threads = ScratchFile.get, set()

        def recorded(self, where):
            threads.add(threading.current_thread().name)
            return get(self, where)

        monkeypatch.setattr(ScratchFile, "get", recorded)
        spread = spilled[0:1, 1:5, 7:20]
        assert any(name.startswith("tb-attention-spread") for name in threads)
        alone = _serially(lambda: spilled[0:1, 1:5, 7:20])
    finally:
        scratch.close()
    np.testing.assert_array_equal(spread, alone)
    np.testing.assert_array_equal(spread[0], layer[1:5, 7:20].astype(np.float16))
