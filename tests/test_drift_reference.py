"""Drift after a resume (writer/drift_reference.py): a writer that resumes a run measures drift from the
first snapshot's float16 weights, kept in the run directory, exactly as the writer that took it did. The
stored maps (steps of 1/255) would overstate a small drift at 128 tokens about tenfold. A missing or
damaged file falls back to the stored first snapshot with a warning, and never costs a snapshot."""

import json
import os
import shutil
import warnings

import numpy as np
import pytest

from tb_attention_plugin import AttentionSummaryWriter, read_run
from tb_attention_plugin.writer import drift_reference
from tb_attention_plugin.writer.drift_reference import DIRECTORY, FOOTER

TOKENS = ["<s>"] + [f"w{i % 37}" for i in range(127)]  # 128 tokens: the default max_tokens
SHAPE = (2, 3, 128, 128)


def _maps(logits):
    causal = np.where(np.triu(np.ones(SHAPE[2:], bool), 1), -np.inf, logits)
    e = np.exp(causal - causal.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def snapshots():
    """Four snapshots of a slowly moving model: true drift of about 0.01."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=SHAPE)
    out = {}
    for step in range(4):
        out[step] = _maps(logits)
        logits = logits + 0.02 * rng.normal(size=SHAPE)
    return out


def _write(run, snapshots, start=None, **options):
    w = AttentionSummaryWriter(run, **options)
    w.add_probe("p", TOKENS)
    if start is not None:
        w.add_session_start(start)
    for step, a in snapshots.items():
        w.add_attention(step, "p", a, causal=True)
    w.close()


def _drift(run):
    p = read_run(str(run)).probe("p")
    return dict(zip(p.stats_steps(), p.stats()["drift"]))


def _resumed(tmp_path, name, snapshots, between=None):
    """Steps 0-1 by one writer, then (after `between(run)`) 2-3 by a writer that resumes at 2."""
    run = tmp_path / name
    _write(run, {s: snapshots[s] for s in (0, 1)})
    if between is not None:
        between(run)
    _write(run, {s: snapshots[s] for s in (2, 3)}, start=2)
    return _drift(run)


def test_a_resumed_writer_measures_drift_as_the_uninterrupted_one(snapshots, tmp_path):
    _write(tmp_path / "whole", snapshots)
    whole = _drift(tmp_path / "whole")
    assert all((whole[s] > 0.003).all() and (whole[s] < 0.03).all() for s in (1, 2, 3))
    files = os.listdir(tmp_path / "whole" / DIRECTORY)
    assert len(files) == 1 and files[0].endswith("-0.f16")  # the first snapshot's, complete
    resumed = _resumed(tmp_path, "resumed", snapshots)
    for step in (1, 2, 3):  # the same float16 reference, the same arithmetic
        np.testing.assert_array_equal(resumed[step], whole[step])
    # the uninterrupted writer measured the reference's terms from the float16 heads it kept, the
    # resumed one read them back from the run directory: the same numbers (above)
    # what the stored first snapshot gives instead: the reference file gone before the resume
    coarse = _resumed(tmp_path, "coarse", snapshots, between=lambda run: shutil.rmtree(run / DIRECTORY))
    assert (coarse[2] > 3 * whole[2]).all() and (coarse[3] > 3 * whole[3]).all()


def test_the_reference_is_read_back_for_drift_only_not_for_its_fixed_terms(snapshots, tmp_path, monkeypatch):
    """Each row's sum x ln x of the first snapshot, and whether it is zero above the diagonal, are
    measured once, from the float16 heads as they are kept: never by reading the kept heads back
    (a pass over the whole first snapshot, from disk, at the second snapshot). A resumed writer
    reads them from its reference file."""
    from tb_attention_plugin.writer import snapshot_stream
    from tb_attention_plugin.writer.scratch_file import SpilledHeads

    read_back = []
    for name in ("row_plogp", "zero_above_diagonal"):
        original = getattr(snapshot_stream, name)

        def counting(reference, *args, original=original, name=name, **kwargs):
            if isinstance(reference, SpilledHeads):
                read_back.append(name)
            return original(reference, *args, **kwargs)

        monkeypatch.setattr(snapshot_stream, name, counting)
    _write(tmp_path / "whole", snapshots)
    assert read_back == []
    _resumed(tmp_path, "resumed", snapshots)
    assert sorted(set(read_back)) == ["row_plogp", "zero_above_diagonal"]


def test_without_keep_drift_reference_nothing_is_left_in_the_run_directory(snapshots, tmp_path):
    _write(tmp_path / "run", {s: snapshots[s] for s in (0, 1)}, keep_drift_reference=False)
    assert not (tmp_path / "run" / DIRECTORY).exists()
    assert _drift(tmp_path / "run")[1].min() > 0.003  # drift itself is measured as before


def _only_file(run):
    (name,) = os.listdir(run / DIRECTORY)
    return run / DIRECTORY / name


def _truncate(run):
    path = _only_file(run)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 5)


def _another_probe(run):
    """A well-formed file whose index names another probe (say, copied from elsewhere)."""
    path = _only_file(run)
    data = path.read_bytes()
    length, magic = FOOTER.unpack(data[-FOOTER.size :])
    start = len(data) - FOOTER.size - length
    index = json.loads(data[start : -FOOTER.size])
    index["probe"] = "q"
    body = json.dumps(index).encode()
    path.write_bytes(data[:start] + body + FOOTER.pack(len(body), magic))


def _huge_index(run):
    """A footer that claims an index larger than the file: no allocation of that size."""
    path = _only_file(run)
    data = path.read_bytes()
    path.write_bytes(data[: -FOOTER.size] + FOOTER.pack(1 << 62, drift_reference.MAGIC))


@pytest.mark.parametrize("damage", [_truncate, _another_probe, _huge_index])
def test_a_reference_file_that_fails_a_check_is_not_used(damage, snapshots, tmp_path):
    coarse = _resumed(tmp_path, "coarse", snapshots, between=lambda run: shutil.rmtree(run / DIRECTORY))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        damaged = _resumed(tmp_path, "damaged", snapshots, between=damage)
    assert [str(c.message) for c in caught if "is not used" in str(c.message)], [str(c.message) for c in caught]
    for step in (2, 3):  # the stored first snapshot instead, and every snapshot written
        np.testing.assert_array_equal(damaged[step], coarse[step])


def _index(path):
    data = path.read_bytes()
    length, _ = FOOTER.unpack(data[-FOOTER.size :])
    return json.loads(data[len(data) - FOOTER.size - length : -FOOTER.size])


def _rewritten_index(run, change):
    """The file with its index changed by `change(index)` (a JSON-able value), frames as they were."""
    path = _only_file(run)
    data = path.read_bytes()
    length, magic = FOOTER.unpack(data[-FOOTER.size :])
    start = len(data) - FOOTER.size - length
    body = change(json.loads(data[start : -FOOTER.size])).encode()
    path.write_bytes(data[:start] + body + FOOTER.pack(len(body), magic))


def _hostile_offset(run):
    _rewritten_index(run, lambda index: json.dumps(index).replace('"layers": [[[0,', '"layers": [[[1e999,'))


def _deeply_nested(run):
    _rewritten_index(
        run, lambda index: json.dumps(index).replace('"shape": ', '"shape": ' + "[" * 100000 + "]" * 100000 + ', "x": ')
    )


def _one_layer_short(run):
    _rewritten_index(run, lambda index: json.dumps({**index, "layers": index["layers"][:1]}))


def _flip_a_byte_of_layer_0(run):
    path = _only_file(run)
    data = bytearray(path.read_bytes())
    data[_index(path)["layers"][0][0][0] + 40] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_hostile_offset, _deeply_nested, _one_layer_short, _flip_a_byte_of_layer_0])
def test_hostile_or_damaged_indexes_and_first_layers_are_not_used(damage, snapshots, tmp_path):
    """Each costs the exact drift of this resume only: a warning, the stored first snapshot, every
    snapshot written, and (a writer that does not stop) the same at the next snapshot."""
    coarse = _resumed(tmp_path, "coarse", snapshots, between=lambda run: shutil.rmtree(run / DIRECTORY))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        damaged = _resumed(tmp_path, "damaged", snapshots, between=damage)
    assert len([c for c in caught if "is not used" in str(c.message)]) == 1, [str(c.message) for c in caught]
    for step in (2, 3):
        np.testing.assert_array_equal(damaged[step], coarse[step])


def test_a_file_left_by_a_hidden_run_is_never_taken_for_this_runs(snapshots, tmp_path):
    """Run A keeps its reference of step 0; run B starts over at step 0 (A hidden) without keeping one;
    a resume of B must not measure drift from A's file."""
    run = tmp_path / "run"
    rng = np.random.default_rng(7)
    other = {s: _maps(rng.normal(size=SHAPE)) for s in (0, 1)}
    _write(run, other)  # run A: another model
    _write(run, {s: snapshots[s] for s in (0, 1)}, start=0, keep_drift_reference=False)  # run B
    assert not (run / DIRECTORY).exists() or not os.listdir(run / DIRECTORY)  # B removed A's
    _write(run, {s: snapshots[s] for s in (2, 3)}, start=2)  # B resumed
    coarse = _resumed(tmp_path, "coarse", snapshots, between=lambda r: shutil.rmtree(r / DIRECTORY))
    np.testing.assert_array_equal(_drift(run)[2], coarse[2])  # the stored first snapshot: B's


def test_a_reference_copied_from_another_run_is_refused_by_its_first_layer(snapshots, tmp_path):
    rng = np.random.default_rng(7)
    _write(tmp_path / "other", {s: _maps(rng.normal(size=SHAPE)) for s in (0, 1)})
    coarse = _resumed(tmp_path, "coarse", snapshots, between=lambda r: shutil.rmtree(r / DIRECTORY))

    def copy_the_other_runs(run):
        shutil.rmtree(run / DIRECTORY)
        shutil.copytree(tmp_path / "other" / DIRECTORY, run / DIRECTORY)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        drift = _resumed(tmp_path, "run", snapshots, between=copy_the_other_runs)
    assert [c for c in caught if "differs from the stored first snapshot" in str(c.message)]
    np.testing.assert_array_equal(drift[2], coarse[2])


def test_a_frame_that_fails_its_checksum_costs_drift_not_the_snapshot(snapshots, tmp_path):
    def flip_a_byte_of_layer_1(run):
        path = _only_file(run)
        data = bytearray(path.read_bytes())
        data[_index(path)["layers"][1][0][0] + 40] ^= 0xFF  # inside layer 1's first frame
        path.write_bytes(bytes(data))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        drift = _resumed(tmp_path, "run", snapshots, between=flip_a_byte_of_layer_1)
    assert len([c for c in caught if "could not be read" in str(c.message)]) == 1
    assert np.isfinite(drift[2][0]).all() and np.isnan(drift[2][1]).all()  # layer 1 only
    p = read_run(str(tmp_path / "run")).probe("p")
    assert p.stats_steps() == [0, 1, 2, 3]
    entropy = p.stats()["entropy"]
    assert np.isfinite(entropy).all()  # the other statistics are all there


@pytest.mark.parametrize("background", [False, True])
def test_a_full_temporary_disk_costs_drift_not_the_snapshots(snapshots, tmp_path, monkeypatch, background):
    # the scratch file refuses its third head (ENOSPC): every snapshot is written, drift is left out
    # from then on (NaN, said once, pointing at TMPDIR), the other statistics are the same as ever
    from tb_attention_plugin.writer.scratch_file import ScratchFile

    put, calls = ScratchFile.put, []

    def fills_up(self, array):
        calls.append(1)
        if len(calls) >= 3:
            raise OSError(28, "No space left on device")
        return put(self, array)

    _write(tmp_path / "healthy", snapshots)
    monkeypatch.setattr(ScratchFile, "put", fills_up)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _write(tmp_path / "full", snapshots, background=background)
    told = [str(c.message) for c in caught if "could not be kept in a scratch" in str(c.message)]
    assert len(told) == 1 and "TMPDIR" in told[0]
    assert not any("could not be written" in str(c.message) for c in caught)
    healthy, full = (read_run(str(tmp_path / run)).probe("p") for run in ("healthy", "full"))
    assert full.stats_steps() == healthy.stats_steps() == [0, 1, 2, 3]
    drift = full.stats()["drift"]
    assert (drift[0] == 0).all() and np.isnan(drift[1:]).all()
    assert (healthy.stats()["drift"][1:] > 0.005).all()
    for name, values in healthy.stats().items():
        if name != "drift":
            np.testing.assert_array_equal(full.stats()[name], values)
    for step in full.steps:
        np.testing.assert_array_equal(full.quantized(step), healthy.quantized(step))
    assert not (tmp_path / "full" / "tb-attention-drift").exists()  # no partial reference left behind
