"""AttentionSummaryWriter: values round-trip through read_run and TensorBoard's own loader; resumes;
I/O errors never stop the caller."""

import contextlib
import errno
import os
import warnings

import numpy as np
import pytest

from tb_attention_plugin import AttentionSummaryWriter, read_run
from tb_attention_plugin.format import event_file
from tb_attention_plugin.format.blobs import ENCODING_DELTA, ENCODING_KEYFRAME, layer_blob_info
from tb_attention_plugin.format.metadata import FormatError, STAT_NAMES
from tb_attention_plugin.format.event_file import event_files, iter_events
from tb_attention_plugin.format.quantize import dequantize, quantize
from tb_attention_plugin.analysis.statistics import head_statistics
from tiny_models import tensorboard_python_read

STEP = 1.0 / 255
TOKENS = ["[CLS]", "the", "cat", "sat", "[SEP]", "on", "it", "[SEP]"]
SPECIAL = [1, 0, 0, 0, 1, 0, 0, 1]
SEGMENTS = [0, 0, 0, 0, 0, 1, 1, 1]


def attention(seed, shape=(2, 3, 8, 8), causal=False, base=None, noise=0.02):
    """Softmax attention; with `base`, a small change of it (as between two training steps)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=shape) * 2 if base is None else np.log(base + 1e-9) + rng.normal(scale=noise, size=shape)
    if causal:
        logits = np.where(np.tril(np.ones(shape[-2:], bool)), logits, -np.inf)
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def layer_encodings(run_dir, tag):
    """{step: [encoding per layer]} straight from the event files."""
    out = {}
    for path in event_files(run_dir):
        for event in iter_events(path):
            for value in event.summary.value:
                if value.tag == tag:
                    out[event.step] = [layer_blob_info(b)[0] for b in value.tensor.string_val[1:]]
    return out


def test_round_trip_values_stats_and_metadata(tmp_path):
    steps = [0, 5, 10, 15]
    series = [attention(0)]
    for k in range(1, len(steps)):
        series.append(attention(k, base=series[-1]))
    with AttentionSummaryWriter(tmp_path) as w:
        w.add_probe("pair", TOKENS, segments=SEGMENTS, special=SPECIAL)
        for step, a in zip(steps, series):
            w.add_attention(step, "pair", a)
        w.add_scalar("train/loss", 2.5, 5)
    run = read_run(str(tmp_path))
    assert run.probes == ["pair"]
    p = run.probe("pair")
    assert p.kinds == ["self"] and p.steps == steps and p.stats_steps() == steps
    assert p.tokens == TOKENS and p.segments == SEGMENTS and p.special == [bool(s) for s in SPECIAL]
    assert p.layers() == 2 and p.heads() == 3 and not p.causal()
    for step, a in zip(steps, series):
        got = p.attention(step)
        assert got.shape == a.shape and got.dtype == np.float32
        assert np.abs(got - a).max() <= STEP + 1e-6
        assert np.abs(got.sum(-1) - 1).max() <= STEP
        np.testing.assert_array_equal(p.attention(step, layer=1), got[1])
    stats = p.stats()
    for k, (step, a) in enumerate(zip(steps, series)):
        want = head_statistics(
            a,
            causal=False,
            self_attention=True,
            query_tokens=TOKENS,
            key_tokens=TOKENS,
            key_special=SPECIAL,
            reference=None if k == 0 else series[0],
        )
        for i, name in enumerate(STAT_NAMES):
            np.testing.assert_allclose(stats[name][k], want[i], rtol=1e-3, atol=1e-3, equal_nan=True)  # float16
    assert (stats["drift"][0] == 0).all() and (stats["drift"][-1] > 0).all()
    # small changes are stored as deltas against the keyframe of step 0
    encodings = layer_encodings(str(tmp_path), "attention/pair/self")
    assert encodings[0] == [ENCODING_KEYFRAME] * 2
    assert ENCODING_DELTA in encodings[5] + encodings[10] + encodings[15]
    assert run.scalars("train/loss")[1].tolist() == [2.5]


def test_tensorboard_python_loader_sees_the_same_values(tmp_path):
    run_dir = tmp_path / "run1"
    series = [attention(0, causal=True)]
    for k in range(1, 13):  # more than the 10 steps TensorBoard keeps unless told to keep all
        series.append(attention(k, base=series[-1], causal=True))
    w = AttentionSummaryWriter(run_dir)
    w.add_probe("lm", ["<s>", "a", "b", "c", "a", "b", "c", "d"])
    for step, a in enumerate(series):
        w.add_attention(step * 10, "lm", a)
        w.add_scalars(
            {"train/loss": 3.0 - step * 0.1, "train/epoch": step, "flag": True, "nan": float("nan"), "text": "x"},
            step * 10,
        )
    w.close()
    tb = tensorboard_python_read(str(tmp_path))["run1"]
    p = read_run(str(run_dir)).probe("lm")
    assert p.causal()
    assert sorted(tb["attention"]["attention/lm/self"]) == p.steps == [s * 10 for s in range(13)]
    for step, a in zip(p.steps, series):
        from_tb = tb["attention"]["attention/lm/self"][step]
        np.testing.assert_array_equal(from_tb, p.attention(step))
        assert np.abs(from_tb - a).max() <= STEP + 1e-6
        assert (from_tb[..., np.triu(np.ones((8, 8), bool), 1)] == 0).all()
        np.testing.assert_array_equal(tb["stats"]["attention_stats/lm/self"][step], p._stats["self"][step])
    assert tb["meta"]["attention/lm/self"].causal is True
    assert tb["scalars"]["train/loss"][120] == pytest.approx(1.8)
    assert set(tb["scalars"]) == {"train/loss", "train/epoch"}  # bools, NaN and strings are not scalars


def test_encoder_decoder_kinds(tmp_path):
    enc, dec = ["a", "b", "c", "</s>"], ["<pad>", "x", "y"]
    w = AttentionSummaryWriter(tmp_path)
    w.add_probe("s2s", enc, special=[0, 0, 0, 1], decoder_tokens=dec, decoder_special=[1, 0, 0])
    data = {
        "encoder": attention(1, (2, 2, 4, 4)),
        "decoder": attention(2, (2, 2, 3, 3), causal=True),
        "cross": attention(3, (2, 2, 3, 4)),
    }
    for kind, a in data.items():
        w.add_attention(0, "s2s", a, kind=kind)
    w.close()
    p = read_run(str(tmp_path)).probe("s2s")
    assert p.kinds == ["encoder", "decoder", "cross"]
    assert p.decoder_tokens == dec and p.decoder_special == [True, False, False]
    assert p.causal("decoder") and not p.causal("encoder") and not p.causal("cross")
    for kind, a in data.items():
        assert np.abs(p.attention(0, kind) - a).max() <= STEP + 1e-6
    assert np.isnan(p.stats("cross")["prev"]).all() and not np.isnan(p.stats("decoder")["prev"]).any()
    with pytest.raises(KeyError, match="self"):
        p.attention(0, "self")


def test_bad_input_is_refused_with_a_message(tmp_path):
    w = AttentionSummaryWriter(tmp_path)
    w.add_probe("p", ["a", "b", "c"])
    with pytest.raises(ValueError, match="unique"):
        w.add_probe("p", ["a"])
    for name in ("", "a/b", None):
        with pytest.raises(ValueError, match="probe name"):
            w.add_probe(name, ["a"])
    with pytest.raises(ValueError, match="no tokens"):
        w.add_probe("empty", [])
    with pytest.raises(ValueError, match="special"):
        w.add_probe("q", ["a", "b"], special=[1])
    with pytest.raises(KeyError, match="add_probe"):
        w.add_attention(0, "nope", attention(0, (1, 1, 3, 3)))
    with pytest.raises(ValueError, match="padding"):
        w.add_attention(0, "p", attention(0, (1, 1, 4, 4)))  # a padded row and column
    with pytest.raises(ValueError, match="decoder_tokens"):
        w.add_attention(0, "p", attention(0, (1, 1, 3, 3)), kind="cross")
    bad = attention(0, (1, 1, 3, 3))
    bad[0, 0, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        w.add_attention(0, "p", bad)
    with pytest.raises(ValueError, match="layers, heads"):
        w.add_attention(0, "p", np.ones((3, 3)))
    with pytest.raises(TypeError):
        w.add_scalar("x", "1.0", 0)
    w.close()
    with pytest.raises(RuntimeError, match="closed"):
        w.add_scalar("x", 1.0, 0)


def test_hparams_reach_the_hparams_plugin(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata as hp_metadata

    w = AttentionSummaryWriter(tmp_path)
    w.add_hparams(
        {
            "learning_rate": 1e-3,
            "model": "bert",
            "layers": 2,
            "fp16": False,
            "skip": None,
            "list": [1, 2],
            "bad": float("inf"),
        }
    )
    w.close()
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    content = acc.PluginTagToContent(hp_metadata.PLUGIN_NAME)
    assert content
    info = hp_metadata.parse_session_start_info_plugin_data(next(iter(content.values())))
    hp = {k: v for k, v in info.hparams.items()}
    assert hp["learning_rate"].number_value == pytest.approx(1e-3)
    assert hp["model"].string_value == "bert" and hp["layers"].number_value == 2
    assert hp["fp16"].bool_value is False and hp["list"].string_value == "[1, 2]"
    assert "skip" not in hp and hp["bad"].string_value == "inf"


def test_resume_drops_the_abandoned_steps_and_drift_uses_the_first_snapshot(tmp_path):
    tokens = ["<s>"] + list("abcdefg")
    first = {s: attention(s, causal=True) for s in (0, 2, 4, 6, 8)}
    w = AttentionSummaryWriter(tmp_path)
    w.add_probe("lm", tokens)
    w.add_session_start(0)
    for s, a in first.items():
        w.add_attention(s, "lm", a)
        w.add_scalar("train/loss", 1.0, s)
    w.close()
    # resumed from the checkpoint of step 4: 4 and 6 are written again, then training stops
    second = {s: attention(100 + s, causal=True) for s in (4, 6)}
    w = AttentionSummaryWriter(tmp_path)
    w.add_probe("lm", tokens)
    w.add_session_start(4)
    for s, a in second.items():
        w.add_attention(s, "lm", a)
        w.add_scalar("train/loss", 2.0, s)
    w.close()
    files = event_files(str(tmp_path))  # the first run's, its restart marker, the resumed run's
    assert len(files) == 3 and files[1] == files[0] + ".restart-4"
    run = read_run(str(tmp_path))
    p = run.probe("lm")
    assert p.steps == [0, 2, 4, 6] and p.stats_steps() == [0, 2, 4, 6]  # 8 was abandoned
    latest = {**first, **second}
    for s in p.steps:
        assert np.abs(p.attention(s) - latest[s]).max() <= STEP + 1e-6
    assert run.scalars("train/loss")[0].tolist() == [0, 2, 4, 6]
    assert run.scalars("train/loss")[1].tolist() == [1, 1, 2, 2]
    drift = p.stats()["drift"]
    for k, s in enumerate(p.steps):
        # drift after the resume is still measured against step 0 (read back from disk: within 1/255)
        want = head_statistics(
            latest[s],
            causal=True,
            self_attention=True,
            query_tokens=tokens,
            key_tokens=tokens,
            key_special=[False] * 8,
            reference=None if s == 0 else first[0],
        )[STAT_NAMES.index("drift")]
        np.testing.assert_allclose(drift[k], want, atol=0.02)
        assert s == 0 or (drift[k] > 0.05).all()
    # TensorBoard's Python loader sees the same: without the restart mark it keeps a step's FIRST record
    tb = tensorboard_python_read(str(tmp_path))["."]
    assert sorted(tb["attention"]["attention/lm/self"]) == p.steps
    for s in p.steps:
        np.testing.assert_array_equal(tb["attention"]["attention/lm/self"][s], p.attention(s))
    assert tb["scalars"]["train/loss"] == {0: 1.0, 2: 1.0, 4: 2.0, 6: 2.0}


def test_without_restart_marks_the_latest_record_of_a_step_wins(tmp_path):
    values = []
    for k in range(2):
        values.append(attention(k, (1, 1, 3, 3)))
        with (
            AttentionSummaryWriter(tmp_path) as w,
            pytest.warns(UserWarning, match="already holds") if k else contextlib.nullcontext(),
        ):
            w.add_probe("p", ["a", "b", "c"])
            w.add_attention(5, "p", values[-1])
            w.add_attention(9 - k, "p", values[-1])
    p = read_run(str(tmp_path)).probe("p")
    assert p.steps == [5, 8, 9]
    assert np.abs(p.attention(5) - values[1]).max() <= STEP + 1e-6


def test_many_writers_in_one_second_keep_their_order(tmp_path):
    # file names carry a per-process counter: the 11th writer of a second must still sort last
    values = [attention(k, (1, 1, 3, 3)) for k in range(12)]
    for k, a in enumerate(values):
        with (
            AttentionSummaryWriter(tmp_path) as w,
            pytest.warns(UserWarning, match="already holds") if k else contextlib.nullcontext(),
        ):
            w.add_probe("p", ["a", "b", "c"])
            w.add_attention(0, "p", a)
    p = read_run(str(tmp_path)).probe("p")
    assert np.abs(p.attention(0) - values[-1]).max() <= STEP + 1e-6


def test_delta_whose_keyframe_was_overwritten_is_reported_not_misdecoded(tmp_path, caplog):
    base = attention(0)
    w = AttentionSummaryWriter(tmp_path)
    w.add_probe("p", TOKENS)
    w.add_attention(0, "p", base)
    w.add_attention(1, "p", attention(1, base=base, noise=0.001))
    w.add_attention(2, "p", attention(2, base=base, noise=0.001))
    w.close()
    assert layer_encodings(str(tmp_path), "attention/p/self")[2] == [ENCODING_DELTA] * 2
    w = AttentionSummaryWriter(tmp_path)  # a later run rewrites step 0 only
    w.add_probe("p", TOKENS)
    with pytest.warns(UserWarning, match="already holds"):
        w.add_attention(0, "p", attention(7))
    w.close()
    p = read_run(str(tmp_path)).probe("p")
    assert np.abs(p.attention(0) - attention(7)).max() <= STEP + 1e-6
    with pytest.raises(FormatError, match="overwritten"):
        p.attention(2)


class _Disk:
    """EventFileWriter.write that fails with ENOSPC while `full` is set."""

    def __init__(self, monkeypatch):
        self.full = False
        self.calls = 0
        original = event_file.EventFileWriter.write

        def write(writer, event):
            self.calls += 1
            if self.full:
                raise OSError(errno.ENOSPC, "No space left on device")
            return original(writer, event)

        monkeypatch.setattr(event_file.EventFileWriter, "write", write)


def test_disk_full_warns_once_and_keeps_what_was_written(tmp_path, monkeypatch):
    disk = _Disk(monkeypatch)
    w = AttentionSummaryWriter(tmp_path)
    w.add_probe("p", TOKENS)
    a0 = attention(0)
    w.add_attention(0, "p", a0)
    w.add_scalar("train/loss", 1.0, 0)
    disk.full = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(1, 6):
            w.add_attention(step, "p", attention(step, base=a0))
            w.add_scalar("train/loss", 1.0 - step / 10, step)
        w.flush()
    ours = [c for c in caught if "could not write" in str(c.message)]
    assert len(ours) == 1 and issubclass(ours[0].category, RuntimeWarning)
    assert "No space left" in str(ours[0].message)
    p = read_run(str(tmp_path)).probe("p")
    assert p.steps == [0] and np.abs(p.attention(0) - a0).max() <= STEP + 1e-6
    # failed attempts leave no empty files behind
    assert len(event_files(str(tmp_path))) == 1
    # the disk recovers: writing goes on in a new file, starting with a keyframe
    disk.full = False
    a6 = attention(6, base=a0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        w.add_attention(6, "p", a6)
        w.close()
    assert not caught
    run = read_run(str(tmp_path))
    p = run.probe("p")
    assert p.steps == [0, 6]
    assert np.abs(p.attention(6) - a6).max() <= STEP + 1e-6
    assert layer_encodings(str(tmp_path), "attention/p/self")[6] == [ENCODING_KEYFRAME] * 2
    assert run.scalars("train/loss")[0].tolist() == [0]


def test_directory_that_cannot_be_created_warns_once(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    w = AttentionSummaryWriter(os.path.join(blocker, "run"))
    w.add_probe("p", ["a", "b"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(3):
            w.add_attention(step, "p", attention(step, (1, 1, 2, 2)))
        w.close()
    assert len([c for c in caught if "could not write" in str(c.message)]) == 1


def test_run_directory_removed_mid_training_warns_once_and_starts_over(tmp_path):
    run_dir = tmp_path / "run"
    w = AttentionSummaryWriter(run_dir)
    w.add_probe("p", TOKENS)
    a0 = attention(0)
    w.add_attention(0, "p", a0)
    w.add_attention(1, "p", attention(1, base=a0))
    import shutil

    shutil.rmtree(run_dir)  # the user (or a cleanup job) deletes the logs while training runs
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(2, 5):
            w.add_attention(step, "p", attention(step, base=a0))
            w.add_scalar("train/loss", 1.0 / step, step)
        w.close()
    ours = [c for c in caught if "could not write" in str(c.message)]
    assert len(ours) == 1 and "was removed" in str(ours[0].message)
    run = read_run(str(run_dir))
    p = run.probe("p")
    assert p.steps == [2, 3, 4]  # what was deleted is gone; everything after is on disk and readable
    assert np.abs(p.attention(4) - attention(4, base=a0)).max() <= STEP + 1e-6
    assert layer_encodings(str(run_dir), "attention/p/self")[2] == [ENCODING_KEYFRAME] * 2
    assert run.scalars("train/loss")[0].tolist() == [2, 3, 4]


# ---------------------------------------------------------------- input is stored as given, or refused


def test_quantize_keeps_every_weight_within_one_level_whatever_the_row_sums_to():
    rng = np.random.default_rng(0)
    rows = [np.full(5, 0.4), np.array([0.5, 0.503, 0.0]), np.full(7, 0.1), np.zeros(4), np.array([1.0, 1.0])]
    for scale in (0.05, 0.5, 0.97, 1.0, 1.0 + STEP, 1.7):  # sinks / dropped mass, exact, a bit over, far over
        rows.extend(np.minimum(rng.dirichlet(np.full(9, 0.3), size=200) * scale, 1.0))
    for row in rows:
        stored = dequantize(quantize(row)).astype(np.float64)
        assert np.abs(stored - row).max() <= STEP + 1e-6, (row, stored)
    # [0.4] * 5 used to be clipped on its last keys: [0.4, 0.4, 0.2, 0, 0]
    np.testing.assert_allclose(dequantize(quantize(np.full(5, 0.4))), np.full(5, 102 / 255), atol=1e-6)
    # a row summing to less than 1 keeps its smaller sum (to within half a level)
    sink = np.array([0.05, 0.3, 0.2, 0.01])
    assert abs(int(quantize(sink).astype(int).sum()) - 255 * sink.sum()) <= 0.5


def test_rows_summing_to_less_than_one_or_a_level_more_are_stored_within_the_bound(tmp_path):
    """Attention with sinks (rows summing to < 1), empty rows, and bfloat16-rounded rows a little over 1."""
    a = attention(3, (2, 2, 4, 4))
    a[0, 0] *= 0.6  # 40% of the mass went to a sink that is not a token
    a[0, 1, 2] = 0  # a row that attends to no real token
    a[1, 0, 1] = [0.5, 0.503, 0.0, 0.0]  # sums to 1.003 (< 1 + 1/255): used to lose 0.005
    a[1, 1, 3] = [0.25, 0.25, 0.25, 0.25 + 0.9 * STEP]
    w = AttentionSummaryWriter(tmp_path)
    w.add_probe("p", ["a", "b", "c", "d"])
    w.add_attention(0, "p", a)
    w.close()
    got = read_run(str(tmp_path)).probe("p").attention(0)
    assert np.abs(got - a).max() <= STEP + 1e-6
    np.testing.assert_allclose(got.sum(-1), a.sum(-1), atol=0.5 * STEP + 1e-6)
    assert (got[0, 1, 2] == 0).all()


def test_a_row_summing_to_more_than_one_is_refused_with_where_it_is(tmp_path):
    w = AttentionSummaryWriter(tmp_path)
    w.add_probe("cat", ["a", "b", "c", "d", "e"])
    a = np.full((2, 3, 5, 5), 0.2, dtype=np.float32)
    a[1, 2, 3] = 0.4  # [0.4] * 5: sums to 2
    a[1, 2, 4] = 0.4
    with pytest.raises(ValueError) as error:
        w.add_attention(7, "cat", a)
    message = str(error.value)
    assert "probe 'cat'" in message and "layer 1, head 2, query row 3 ('d')" in message
    assert "sums to 2" in message and "2 rows" in message
    assert np.swapaxes(a, -1, -2).sum(-1).max() > 1  # the usual mistake: a transposed map is refused too
    with pytest.raises(ValueError, match="layer 0, head 0, query row 0"):
        w.add_attention(7, "cat", np.swapaxes(attention(1, (1, 1, 5, 5)), -1, -2) * 2)
    assert not os.path.exists(tmp_path) or event_files(str(tmp_path)) == []  # nothing was written
    w.close()


def test_nan_and_negative_weights_name_where_they_are(tmp_path):
    w = AttentionSummaryWriter(tmp_path)
    w.add_probe("p", ["a", "b", "c"])
    bad = attention(0, (2, 2, 3, 3))
    bad[1, 0, 2, 1] = -0.01
    with pytest.raises(
        ValueError,
        match=r"negative weights \(1 of them; the first at layer 1, head 0, "
        r"query row 2 \('c'\)\)",
    ):
        w.add_attention(0, "p", bad)
    assert event_files(str(tmp_path)) == []


class _Gpu:
    """Like a CUDA tensor: numpy cannot read it."""

    def __array__(self, *args, **kwargs):
        raise TypeError("can't convert cuda:0 device type tensor to numpy")


STEP_ERRORS = [
    (1.5, TypeError, "integer"),
    (np.float64(2.0), TypeError, "integer"),
    ("3", TypeError, "integer"),
    (True, TypeError, "bool"),
    (np.True_, TypeError, "bool"),
    (None, TypeError, "integer"),
    (-1, ValueError, "between 0 and"),
    (2**63, ValueError, "between 0 and"),
]


@pytest.mark.parametrize("step, error, message", STEP_ERRORS)
def test_steps_must_be_non_negative_integers(tmp_path, step, error, message):
    w = AttentionSummaryWriter(tmp_path)
    w.add_probe("p", ["a", "b"])
    a = attention(0, (1, 1, 2, 2))
    with pytest.raises(error, match=message):
        w.add_attention(step, "p", a)
    with pytest.raises(error, match=message):
        w.add_scalar("train/loss", 1.0, step)
    with pytest.raises(error, match=message):
        w.add_scalars({"train/loss": 1.0}, step)
    with pytest.raises(error, match=message):
        w.add_session_start(step)
    w.close()
    assert event_files(str(tmp_path)) == []  # refused before anything was written


def test_python_and_numpy_integer_steps_are_accepted(tmp_path):
    w = AttentionSummaryWriter(tmp_path)
    w.add_probe("p", ["a", "b"])
    for step in (0, np.int64(3), np.uint8(4), np.int32(2**31 - 1), 2**63 - 1):
        w.add_attention(step, "p", attention(int(step) % 7, (1, 1, 2, 2)))
        w.add_scalar("train/loss", 1.0, step)
    w.close()
    run = read_run(str(tmp_path))
    assert run.probe("p").steps == [0, 3, 4, 2**31 - 1, 2**63 - 1]
    assert run.scalars("train/loss")[0].tolist() == [0, 3, 4, 2**31 - 1, 2**63 - 1]


@pytest.mark.parametrize(
    "value, error, message",
    [
        (np.zeros((0, 2, 3, 3), np.float32), ValueError, "0 layers"),
        (np.zeros((2, 0, 3, 3), np.float32), ValueError, "0 heads"),
        ([], ValueError, "0 layers"),
        ([np.full((1, 3, 3), 1 / 3), np.full((2, 3, 3), 1 / 3)], ValueError, "differ in shape"),
        (np.eye(3, dtype=bool)[None, None], TypeError, "boolean"),
        (np.full((1, 1, 3, 3), 1 / 3 + 0j), TypeError, "complex"),
        (np.full((1, 1, 3, 3), "0.3"), TypeError, "real numbers"),
        (_Gpu(), TypeError, "cpu"),
        ([_Gpu()], TypeError, "layer 0"),
        ([np.full((2, 1, 3, 3), 1 / 3)] * 2, ValueError, r"batch axis of 2 .*\[layer\[i\] for layer in attentions\]"),
        (np.full((2, 3, 1, 3, 3), 1 / 3), ValueError, r"batch axis of 3 sequences.* a\[:, i\]"),
    ],
)
def test_wrong_shapes_and_types_are_refused_before_anything_is_written(tmp_path, value, error, message):
    w = AttentionSummaryWriter(tmp_path)
    w.add_probe("p", ["a", "b", "c"])
    with pytest.raises(error, match=f"(?i)probe 'p'.*{message}"):
        w.add_attention(0, "p", value)
    w.close()
    assert event_files(str(tmp_path)) == []


def test_a_batch_axis_of_one_sequence_is_taken_as_transformers_and_transformer_lens_give_it(tmp_path):
    torch = pytest.importorskip("torch")
    a = attention(3, (2, 4, 3, 3))
    w = AttentionSummaryWriter(tmp_path)
    w.add_probe("p", ["a", "b", "c"])
    w.add_attention(0, "p", tuple(torch.from_numpy(layer)[None] for layer in a))  # outputs.attentions
    w.add_attention(1, "p", torch.from_numpy(a)[:, None])  # stack_activation("pattern")
    w.close()
    p = read_run(str(tmp_path)).probe("p")
    for step in (0, 1):
        assert np.abs(p.attention(step) - a).max() <= STEP + 1e-6


def test_a_probes_model_size_cannot_change_within_a_writer(tmp_path):
    w = AttentionSummaryWriter(tmp_path)
    w.add_probe("p", ["a", "b", "c"])
    w.add_attention(0, "p", attention(0, (2, 4, 3, 3)))
    for shape in ((3, 4, 3, 3), (2, 2, 3, 3)):
        with pytest.raises(
            ValueError,
            match=r"step 5 has \d layers x \d heads, but the probe's first snapshot "
            r"\(step 0\) had 2 x 4",
        ):
            w.add_attention(5, "p", attention(5, shape))
    w.add_attention(5, "p", attention(5, (2, 4, 3, 3)))
    w.close()
    p = read_run(str(tmp_path)).probe("p")
    assert p.steps == [0, 5] and p.sizes() == {(2, 4): [0, 5]}
    assert np.abs(p.attention(5) - attention(5, (2, 4, 3, 3))).max() <= STEP + 1e-6


def test_drift_is_measured_from_the_first_snapshot_kept_a_head_at_a_time(tmp_path):
    """The first snapshot, drift's reference, is kept in float16 a head at a time (scratch_file
    .SpilledHeads): drift at later steps equals the Jensen-Shannon distance to the first float maps."""
    from tb_attention_plugin.analysis.statistics import js_distance
    from tb_attention_plugin.devtools.synthetic import DriftingMaps

    maps = DriftingMaps(2, 3, 20, seed=6, causal=False, drift=0.3)
    snapshots = [maps.next() for _ in range(3)]
    with AttentionSummaryWriter(str(tmp_path)) as w:
        w.add_probe("p", [f"t{i}" for i in range(20)])
        for step, snapshot in enumerate(snapshots):
            w.add_attention(step, "p", snapshot)
    drift = read_run(str(tmp_path)).probe("p").stats()["drift"]
    for step, snapshot in enumerate(snapshots):
        want = js_distance(snapshot, snapshots[0]).mean(-1)
        np.testing.assert_allclose(drift[step], want, atol=2e-3)
    assert (drift[1:] > 0.05).all()  # the maps moved: a test that could fail
