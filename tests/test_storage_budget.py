"""The storage budget (callback/storage_plan.py, writer/head_choice.py, docs/format.md "Storage
budget"): every map when it fits, else the statistics of every head and the maps of the heads chosen;
the plan logged before training and refused there when it cannot fit; the stored maps still the
model's own eager attention within 1/255; heads without a map read as such, never as zeros."""

import os

import numpy as np
import pytest
import torch

import model_zoo
from plugin_fixtures import App, tokens
from tb_attention_plugin import read_run
from tb_attention_plugin.callback import AttentionRecorder
from tb_attention_plugin.callback.capture.model_access import base_model
from tb_attention_plugin.callback.storage_plan import DEFAULT_BUDGET, parse_budget, plan_storage
from tb_attention_plugin.devtools.synthetic import DriftingMaps
from tb_attention_plugin.format.blobs import HEAD_ENTRY, LAYER_HEADER, compress_head, encode_heads, layer_blob_info
from tb_attention_plugin.format.metadata import FormatError
from tb_attention_plugin.writer.head_choice import HeadChoice
from tb_attention_plugin.writer.summary_writer import AttentionSummaryWriter

PROBES = ["the cat sat on the mat because the cat was tired", "a dog and a cat and a dog"]


# ------------------------------------------------------------------ the plan
def test_bert_size_defaults_keep_every_map_and_llama_8b_keeps_what_fits():
    bert = {(f"p{i}", "self"): (12, 12, 128, 128) for i in range(8)}
    assert plan_storage(bert, 202, DEFAULT_BUDGET).choice is None
    llama = {("p", "self"): (32, 32, 512, 512)}
    plan = plan_storage(llama, 202, DEFAULT_BUDGET)
    per_snapshot = DEFAULT_BUDGET // 202
    assert plan.stored_bytes <= per_snapshot < plan.full_bytes
    # up to half of what the statistics leave goes to summaries (block means 32 x 32 of 16 x 16 tokens,
    # each row's top 8 keys: 2 + 3 bytes each), the rest to maps
    left, summary = per_snapshot - 10 * 32 * 32 * 2, 4 + 2 * 32 * 32 + 3 * 512 * 8
    assert plan.choice.summaries == left // 2 // summary == 689
    assert plan.choice.maps == (left - 689 * summary) // (512 * 512) == 37
    assert "maps of 37 heads per probe" in plan.describe() and "summary" in plan.describe()
    assert plan_storage(llama, 202, DEFAULT_BUDGET, [(0, 1)]).choice.summaries == 0  # named: those only


def test_drift_reference_is_kept_when_it_takes_a_tenth_of_the_budget_at_most():
    """BERT-size: kept (a resume measures drift exactly), still every map; Llama-8B at 512 tokens: its
    537 MB would take more than a tenth of 4 GB, so not kept, and the plan says what that costs."""
    bert = {(f"p{i}", "self"): (12, 12, 128, 128) for i in range(8)}
    plan = plan_storage(bert, 202, DEFAULT_BUDGET)
    assert plan.keeps_reference and plan.reference_bytes == 8 * 12 * 12 * 128 * 128 * 2
    assert plan.choice is None and "37.7 MB once: drift's reference" in plan.describe()
    llama = plan_storage({("p", "self"): (32, 32, 512, 512)}, 202, DEFAULT_BUDGET)
    assert not llama.keeps_reference and llama.reference_bytes == 32 * 32 * 512 * 512 * 2
    assert "drift's reference (536.9 MB) is not kept" in llama.describe()
    assert "overstates small drifts" in llama.describe()
    tight = plan_storage(bert, 202, 4 * 10**8)  # a budget that keeps it takes it off the snapshots' share
    assert tight.keeps_reference and tight.choice is not None
    assert tight.stored_bytes <= (4 * 10**8 - tight.reference_bytes) // 202


def test_a_temporary_disk_without_room_for_drifts_reference_is_said_before_training(tmp_path, monkeypatch):
    import collections
    import shutil
    import warnings

    from tb_attention_plugin.callback import storage_plan

    usage = collections.namedtuple("usage", "total used free")
    plan = plan_storage({("p", "self"): (32, 32, 512, 512)}, 202, DEFAULT_BUDGET)  # 537 MB of reference
    monkeypatch.setattr(shutil, "disk_usage", lambda where: usage(10**9, 10**9 - 10**8, 10**8))
    with pytest.warns(RuntimeWarning, match=r"up to 536.9 MB.* 100.0 MB free.*Set TMPDIR"):
        storage_plan.log_plan(plan)
    monkeypatch.setattr(shutil, "disk_usage", lambda where: usage(10**10, 0, 10**10))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        storage_plan.log_plan(plan)  # room enough: nothing said but the plan


def test_sizes_are_read_as_users_write_them():
    assert parse_budget("500MB") == 500 * 10**6 and parse_budget("2GiB") == 2 * 2**30
    assert parse_budget(12345) == 12345 and parse_budget(None) == DEFAULT_BUDGET
    for bad in ("lots", 0, -1, True, "3 parsecs"):
        with pytest.raises(ValueError, match="attention_budget"):
            parse_budget(bad)


def test_a_budget_too_small_for_one_map_is_refused_before_anything_is_written(tmp_path):
    model, tok, _ = model_zoo.build("llama-gqa")
    with pytest.raises(ValueError, match="not even one head's map of every probe fits.*at least"):
        AttentionRecorder(model, tok, PROBES, tmp_path / "run", attention_budget=1000, planned_snapshots=10)
    assert not os.path.exists(tmp_path / "run") or not os.listdir(tmp_path / "run")


def test_named_heads_the_model_lacks_are_refused(tmp_path):
    model, tok, _ = model_zoo.build("llama-gqa")
    with pytest.raises(ValueError, match=r"names \[\(5, 0\)\].*2 layers x 4 heads"):
        AttentionRecorder(model, tok, PROBES, tmp_path / "run", attention_heads=[(0, 1), (5, 0)])


# ------------------------------------------------------------------ a run within a budget
def _eager(model, probe):
    inner = base_model(model)
    implementation = inner.config._attn_implementation
    inner.config._attn_implementation = "eager"
    try:
        with torch.no_grad():
            out = inner(input_ids=torch.tensor([probe.input_ids]), output_attentions=True)
    finally:
        inner.config._attn_implementation = implementation
    return np.stack([a[0].float().numpy() for a in out.attentions])


@pytest.mark.parametrize("heads", ["changed", "rotate", [(0, 1), (1, 3)]])
def test_stored_maps_are_the_models_eager_attention_and_every_head_keeps_its_statistics(tmp_path, caplog, heads):
    torch.manual_seed(0)
    model, tok, _ = model_zoo.build("llama-gqa")
    steps, budget = 4, 60_000
    with caplog.at_level("WARNING", logger="tb_attention"):
        recorder = AttentionRecorder(
            model,
            tok,
            PROBES,
            tmp_path / "run",
            attention_budget=budget,
            attention_heads=heads,
            planned_snapshots=steps,
        )
    assert "the statistics of every head, the maps of" in caplog.text
    plan = recorder.runner.plan
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    expected = {}
    for step in range(steps):
        recorder.snapshot(step)
        expected[step] = {p.name: _eager(model, p) for p in recorder.runner.probes}
        ids = torch.randint(5, 40, (2, 12))
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    recorder.close()
    run = read_run(str(tmp_path / "run"))
    seen = set()
    for name in recorder.probes:
        probe = run.probe(name)
        assert probe.meta["self"].storage == plan.choice.describe()
        assert probe.stats()["entropy"].shape == (steps, 2, 4)
        assert not np.isnan(probe.stats()["entropy"]).any()  # every head, every step
        for step in range(steps):
            stored = [(l, h) for l, hs in probe.stored_heads(step).items() for h in hs]
            assert len(stored) == plan.choice.maps
            seen.update(stored)
            got = probe.attention(step)
            for l, h in stored:
                assert np.abs(got[l, h] - expected[step][name][l, h]).max() <= 1 / 255
            missing = np.ones((2, 4), bool)
            missing[tuple(np.array(stored).T)] = False
            assert np.isnan(got[missing]).all()
            summarized = [(l, h) for l, hs in probe.summarized_heads(step).items() for h in hs]
            assert len(summarized) == min(plan.choice.summaries, 8 - plan.choice.maps)
            assert not set(summarized) & set(stored)
            for l, h in summarized:
                _assert_summary_of(probe.summary(step, l, h), expected[step][name][l, h])
    if heads == "rotate":
        assert len(seen) == 8  # each head in turn
    elif heads != "changed":
        assert seen == {(0, 1), (1, 3)}
    size = sum(os.path.getsize(f) for f in (tmp_path / "run").iterdir())
    assert size <= budget  # the whole log, metadata included, within what the user allowed


def _assert_summary_of(summary, exact):
    """A summary holds the block means of the model's map within 1/255 and each row's strongest keys
    with their weights within 1/255 (a key left out is no stronger than the weakest kept, up to the
    capture's own rounding)."""
    b = summary.block
    q, k = exact.shape
    padded = np.full((-(-q // b) * b, -(-k // b) * b), np.nan)
    padded[:q, :k] = exact
    means = np.nanmean(padded.reshape(padded.shape[0] // b, b, -1, b), axis=(1, 3))
    assert np.abs(summary.block_means() - means).max() <= 1 / 255
    keys = summary.keys.astype(int)
    at_keys = np.take_along_axis(exact, keys, axis=1)
    assert np.abs(summary.top_weights() - at_keys).max() <= 1 / 255
    others = exact.copy()
    np.put_along_axis(others, keys, -1, axis=1)
    assert (others.max(axis=1) <= at_keys.min(axis=1) + 1e-6).all()


def test_more_snapshots_than_planned_warn_once_and_drop_nothing(tmp_path):
    model, tok, _ = model_zoo.build("llama-gqa")
    recorder = AttentionRecorder(model, tok, PROBES, tmp_path / "run", planned_snapshots=2, induction_probe=False)
    recorder.snapshot(0)
    recorder.snapshot(1)
    with pytest.warns(UserWarning, match="more snapshots than the 2 its storage plan assumed"):
        recorder.snapshot(2)
    recorder.snapshot(3)
    recorder.close()
    assert read_run(str(tmp_path / "run")).probe(recorder.probes[0]).steps == [0, 1, 2, 3]


# ------------------------------------------------------------------ the choice, on known maps
def _write(path, maps_by_step, choice):
    with AttentionSummaryWriter(str(path)) as w:
        w.add_probe("p", tokens(maps_by_step[0].shape[-1]))
        for step, maps in enumerate(maps_by_step):
            stream = w.open_snapshot(step, "p", "self", causal=False, heads=choice)
            for layer in maps:
                stream.add_layer(layer)
            stream.commit()
    return read_run(str(path)).probe("p")


def test_changed_keeps_the_heads_that_moved_since_the_previous_snapshot(tmp_path):
    first = DriftingMaps(3, 4, 10, seed=1, drift=0.0).next()
    later = first.copy()
    later[2, 1] = np.roll(first[2, 1], 3, axis=-1)  # two heads move; the rest stay as they were
    later[0, 3] = np.eye(10, dtype=np.float32)
    probe = _write(tmp_path / "run", [first, later], HeadChoice(2, "changed"))
    assert probe.stored_heads(0) == {0: (0, 1), 1: (), 2: ()}  # nothing to compare with: layer order
    assert probe.stored_heads(1) == {0: (3,), 1: (), 2: (1,)}


def test_the_snapshot_answer_lists_the_heads_with_a_map_from_either_source(tmp_path):
    maps = DriftingMaps(2, 3, 7, seed=2, drift=0.2)
    _write(tmp_path / "run", [maps.next(), maps.next()], HeadChoice(2, "rotate"))
    for read_files in (True, False):
        app = App(tmp_path, read_files=read_files)
        index = app.json("index")
        assert index["runs"][0]["probes"][0]["kinds"][0]["storage"] == {"maps": 2, "choice": "rotate", "summaries": 0}
        header, data = app.container("snapshot", run="run", probe="p", kind="self", step=1)
        assert header["stored"] == [[2], [0]]
        assert not data[0, :2].any() and data[0, 2].any()
        header, _ = app.container("snapshot", run="run", probe="p", kind="self", step=1, layer=1, pool=2)
        assert header["stored"] == [[0]]


# ------------------------------------------------------------------ hostile blobs
def _blob():
    q = np.full((5, 6), 40, np.uint8)
    return encode_heads([1, 3], [compress_head(q), compress_head(q)], 5, 6)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b[: LAYER_HEADER.size + 3], "truncated"),
        (lambda b: b + b"x", "do not fill"),
        (lambda b: b[: LAYER_HEADER.size] + HEAD_ENTRY.pack(3, 0) + b[LAYER_HEADER.size + HEAD_ENTRY.size :], "sorted"),
        (lambda b: b[: LAYER_HEADER.size] + HEAD_ENTRY.pack(9, 0) + b[LAYER_HEADER.size + HEAD_ENTRY.size :], "sorted"),
    ],
)
def test_a_damaged_heads_blob_is_refused_before_it_is_decompressed(damage, message):
    assert layer_blob_info(_blob(), (4, 5, 6)).stored == (1, 3)
    with pytest.raises(FormatError, match=message):
        layer_blob_info(damage(_blob()), (4, 5, 6))
    with pytest.raises(FormatError, match="5x6"):
        layer_blob_info(_blob(), (4, 6, 6))


# ------------------------------------------------------------------ under the Trainer
def test_the_trainer_plans_from_max_steps_and_refuses_before_the_first_update(tmp_path, caplog):
    from tiny_models import make_trainer

    from tb_attention_plugin import AttentionCallback

    callback = AttentionCallback(PROBES, every_n_steps=2, log_dir=tmp_path / "small", attention_budget="1kB")
    trainer = make_trainer("llama", tmp_path, callback, max_steps=4)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    with pytest.raises(ValueError, match="over 4 snapshots leaves 250 B per snapshot"):
        trainer.train()
    assert trainer.state.global_step == 0
    assert all(torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())

    callback = AttentionCallback(PROBES, every_n_steps=2, log_dir=tmp_path / "run", attention_budget="40kB")
    trainer = make_trainer("llama", tmp_path, callback, max_steps=4)
    with caplog.at_level("WARNING", logger="tb_attention"):
        trainer.train()
    assert "allows over 4 snapshots" in caplog.text  # step 0, 2, 4 and the end (planned as its own)
    probe = read_run(str(tmp_path / "run")).probe(callback._driver.runner.names[0])
    assert probe.steps == [0, 2, 4]
    assert all(len(hs) < 4 for step in probe.steps for hs in probe.stored_heads(step).values())
