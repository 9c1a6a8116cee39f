"""The shared synthetic-log generator (tb_attention_plugin/devtools/synthetic.py) and the dev server over it
(frontend/dev/serve.py): what they write reads back with read_run as promised."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import pytest

from tb_attention_plugin.format.blobs import ENCODING_DELTA, ENCODING_KEYFRAME, layer_blob_info
from tb_attention_plugin.format.metadata import BEST_CHECKPOINT_TAG_PREFIX
from tb_attention_plugin import read_run
from tb_attention_plugin.devtools import synthetic

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVE = os.path.join(REPO, "frontend", "dev", "serve.py")
# what each pattern of SyntheticHeads becomes, as head_types names it
TYPE_OF = {"prev": "previous-token", "first": "first-token", "self": "self", "sep": "separator", "next": "next-token"}


def test_write_run_reads_back_with_its_sizes_steps_scalars_and_best_checkpoint(tmp_path):
    steps = synthetic.write_run(tmp_path / "r", layers=2, heads=3, tokens=12, steps=6, every=100, best_checkpoint=200)
    assert steps == [0, 100, 200, 300, 400, 500]
    run = read_run(str(tmp_path / "r"))
    assert run.probes == [synthetic.REPEATED_PROBE, synthetic.PAIR_PROBE]

    rep = run.probe(synthetic.REPEATED_PROBE)
    assert rep.steps == steps and rep.tokens == synthetic.repeated_tokens(12, 0)
    assert rep.meta["self"].causal is True
    for s in steps:
        a = rep.attention(s)
        assert a.shape == (2, 3, 12, 12)
        assert (np.triu(a, 1) == 0).all()  # causal: nothing above the diagonal
        np.testing.assert_allclose(a.sum(-1), 1.0, atol=1 / 255)

    pair = run.probe(synthetic.PAIR_PROBE)
    tokens, segments, special = synthetic.pair_tokens()
    assert pair.tokens == tokens and synthetic.XSS_TOKEN in pair.tokens
    assert pair.segments == segments and pair.special == special
    assert pair.meta["self"].causal is False and pair.attention(500).shape == (2, 3, len(tokens), len(tokens))

    assert {"train/loss", "train/learning_rate", "eval/loss"} <= set(run.scalar_tags)
    assert list(run.scalars("eval/loss")[0]) == [0, 200, 400]
    best_steps, best_values = run.scalars(BEST_CHECKPOINT_TAG_PREFIX + "eval/loss")
    assert list(best_steps) == [200] and best_values[0] == run.scalars("eval/loss")[1][1]

    synthetic.write_run(tmp_path / "plain", steps=2, causal=False, pair_probe=False, scalars=False)
    plain = read_run(str(tmp_path / "plain"))
    assert plain.probes == [synthetic.REPEATED_PROBE] and plain.scalar_tags == []
    assert plain.probe(synthetic.REPEATED_PROBE).meta["self"].causal is False


def test_heads_form_at_their_steps(tmp_path):
    """Each head takes its pattern's head type about at its `form` step (read back through the
    statistics and head types of read_run), and keeps no such type when it forms after the run."""
    every, n = 50, 21
    synthetic.write_run(tmp_path / "r", layers=3, heads=4, steps=n, every=every, scalars=False)
    last = every * (n - 1)
    tokens, _, special = synthetic.pair_tokens()
    gen = synthetic.SyntheticHeads(3, 4, tokens, causal=False, k_special=special, last_step=last, seed=1)
    pair = read_run(str(tmp_path / "r")).probe(synthetic.PAIR_PROBE)
    found = {(t["layer"], t["head"], t["type"]): t["formed_step"] for t in pair.head_types()}
    checked = 0
    for i, pattern in enumerate(gen.patterns):
        layer, head = divmod(i, 4)
        if pattern not in TYPE_OF:
            continue
        form = gen.form[layer, head]
        key = (layer, head, TYPE_OF[pattern])
        if form <= 0.8 * last:
            assert key in found, (key, form, found)
            assert abs(found[key] - form) <= every + gen.width, (key, form, found[key])
            checked += 1
        elif form >= last + 2 * gen.width:
            assert key not in found, (key, form)
    assert checked >= 3
    # the grid changes visibly: a formed head's map moves far from where it started
    first, end = pair.attention(0), pair.attention(last)
    assert np.abs(end - first).max() > 0.5


def test_encoder_decoder_run_has_three_kinds(tmp_path):
    steps = synthetic.write_encoder_decoder_run(tmp_path / "t5", layers=2, heads=4, steps=3)
    probe = read_run(str(tmp_path / "t5")).probe("translation")
    assert probe.kinds == ["encoder", "decoder", "cross"] and probe.steps == steps == [0, 100, 200]
    assert probe.tokens == synthetic.ENCODER_TOKENS and probe.decoder_tokens == synthetic.DECODER_TOKENS
    assert probe.attention(200, kind="encoder").shape == (2, 4, 10, 10)
    assert probe.attention(200, kind="decoder").shape == (2, 4, 7, 7)
    assert probe.attention(200, kind="cross").shape == (2, 4, 7, 10)
    assert probe.meta["decoder"].causal is True
    assert (np.triu(probe.attention(100, kind="decoder"), 1) == 0).all()


def test_drifting_run_continues_and_stores_deltas(tmp_path):
    """write_drifting_run (the plugin tests' write_run): the maps drift slowly, so the writer stores
    deltas; a second call with the returned writer and maps continues the same run."""
    writer, maps = synthetic.write_drifting_run(tmp_path / "r", range(3), n_tokens=8, close=False)
    before = maps["p"].logits.copy()
    synthetic.write_drifting_run(tmp_path / "r", range(3, 6), n_tokens=8, writer=writer, maps=maps)
    assert not np.array_equal(before, maps["p"].logits)  # the same maps went on drifting
    probe = read_run(str(tmp_path / "r")).probe("p")
    assert probe.steps == list(range(6)) and probe.tokens == synthetic.plain_tokens(8)
    assert probe.attention(5).shape == (2, 3, 8, 8)
    encodings = {layer_blob_info(blob)[0] for s in range(6) for blob in probe._snapshots["self"][s][1:]}
    assert encodings == {ENCODING_KEYFRAME, ENCODING_DELTA}
    step_1 = synthetic.DriftingMaps(2, 3, 8, seed=0)
    step_1.next()
    np.testing.assert_allclose(probe.attention(1), step_1.next(), atol=1 / 255 + 1e-6)


def test_demo_command_line_writes_the_demo_runs(tmp_path, capsys):
    synthetic.main([str(tmp_path), "--steps", "3", "--encdec"])
    assert sorted(os.listdir(tmp_path)) == ["induction", "induction-b", "t5"]
    assert "tensorboard --logdir" in capsys.readouterr().out
    run = read_run(str(tmp_path / "induction"))
    assert run.probe(synthetic.REPEATED_PROBE).steps == [0, 100, 200]
    assert BEST_CHECKPOINT_TAG_PREFIX + "eval/loss" in run.scalar_tags


@pytest.mark.parametrize("flags, runs", [(["--encdec"], ["induction", "induction-b", "t5"]), (["--empty"], [])])
def test_dev_server_serves_the_index_of_its_synthetic_logs(flags, runs):
    """frontend/dev/serve.py runs the real TensorBoard on its logs; they are gone when it stops."""
    proc = subprocess.Popen(
        [sys.executable, SERVE, "--port", "0", "--steps", "3", *flags],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines, url, logdir = [], [], []

    def drain():
        for line in proc.stderr:
            lines.append(line)
            if m := re.search(r" in (\S+)$", line.strip()):
                logdir.append(m.group(1))
            if m := re.search(r"TensorBoard \S+ at (http://\S+?)/? \(Press CTRL\+C", line):
                url.append(m.group(1))

    threading.Thread(target=drain, daemon=True).start()
    try:
        deadline = time.monotonic() + 90
        while not url and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert url, "".join(lines[-30:])
        listed = None
        while time.monotonic() < deadline:
            with urllib.request.urlopen(url[0] + "/data/plugin/attention/index", timeout=30) as r:
                listed = json.loads(r.read())
            if sorted(r["run"] for r in listed["runs"]) == runs and all(
                len(k["steps"]) == 3 for r in listed["runs"] for p in r["probes"] for k in p["kinds"]
            ):
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the index never listed {runs} with 3 steps each: {listed}")
        assert os.path.isdir(logdir[0])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # serve.py passes it on to TensorBoard, then cleans up
        proc.wait(timeout=30)
    assert not os.path.exists(logdir[0])
