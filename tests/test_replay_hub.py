"""Replay of a published checkpoint series from the hub, offline: a cache laid out as huggingface_hub
lays it out holds several revisions of a tiny Pythia-architecture model (and MultiBERTs-style
repositories, one per step); `tb-attention replay ORG/MODEL --revisions ...` run with HF_HUB_OFFLINE=1
stores at each revision's step that revision's own eager attention (within 1/255); revisions are
chosen by name, by range and by spacing; what is not there is refused before any model is loaded."""

import os
import subprocess
import sys

import huggingface_hub
import numpy as np
import pytest
import torch

import hub_cache
import model_zoo
from tb_attention_plugin import read_run
from tb_attention_plugin.callback import hub_revisions
from tb_attention_plugin.callback.hub_revisions import choose_revisions, step_of

TOLERANCE = 1.0 / 255 + 1e-6
PROBE = "the cat is very sad because it could not find food to eat ."
REPO = "tiny-org/pythia-tiny"
STEPS = {"step0": 0, "step1000": 1000, "step2000": 2000, "step4000": 4000}


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """-> (cache directory, {revision: saved model folder}) with REPO's branches and `main`."""
    root = tmp_path_factory.mktemp("hub")
    cache, folders = str(root / "cache"), {}
    for seed, revision in enumerate(STEPS):
        model, tokenizer, _ = model_zoo.build("gpt-neox", seed=seed)
        with torch.no_grad():  # weights far enough apart that each revision's maps are told apart
            for weight in (p for p in model.parameters() if p.dim() == 2):
                weight.normal_(0.0, 0.3)
        folders[revision] = str(root / revision)
        model.save_pretrained(folders[revision])
        tokenizer.save_pretrained(folders[revision])
        commit = hub_cache.add_revision(cache, REPO, revision, folders[revision])
    hub_cache.point(cache, REPO, "main", commit)
    hub_cache.add_revision(cache, REPO, "fine-tuned", folders["step0"])  # a branch naming no step
    for seed, revision in enumerate(("step_1k", "step_2k")):  # MultiBERTs: one repository per step
        model, tokenizer, _ = model_zoo.build("bert", seed=10 + seed)
        folder = str(root / revision)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        hub_cache.add_revision(cache, f"tiny-org/bert-seed_0-{revision}", "main", folder)
    scanned = huggingface_hub.scan_cache_dir(cache)  # huggingface_hub reads the layout as its own
    assert not scanned.warnings and len(scanned.repos) == 3
    (pythia,) = [repo for repo in scanned.repos if repo.repo_id == REPO]
    assert {ref for revision in pythia.revisions for ref in revision.refs} == {*STEPS, "main", "fine-tuned"}
    return cache, folders


def offline_cli(cache, *args):
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=cache, HF_HOME=os.path.dirname(cache))
    command = [sys.executable, "-m", "tb_attention_plugin.cli", "replay", *args, "--quiet"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def own_attention(folder, tokens):
    """[L, H, T, T] of the probe through the revision's model, loaded from its own folder."""
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()
    ids = tokenizer(PROBE, return_tensors="pt")["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids[0]) == tokens
    with torch.no_grad():
        return np.stack([a[0].numpy() for a in model(input_ids=ids, output_attentions=True).attentions])


def test_hub_revisions_replay_offline_with_each_revisions_own_attention(hub, tmp_path):
    cache, folders = hub
    logs = str(tmp_path / "pythia")
    done = offline_cli(cache, REPO, "--revisions", "step0..step2000", "--log-dir", logs, "--probes", PROBE)
    assert done.returncode == 0, done.stderr
    assert "replayed 3 checkpoint(s)" in done.stdout and "(steps 0..2000)" in done.stdout
    probe = read_run(logs).probe(read_run(logs).probes[0])
    assert probe.steps == [0, 1000, 2000]
    for revision in ("step0", "step1000", "step2000"):
        stored = probe.attention(STEPS[revision], "self")
        own = own_attention(folders[revision], probe.tokens)
        assert stored.shape == own.shape
        assert np.abs(stored - own).max() <= TOLERANCE, revision
    # the revisions differ, so a revision's attention under another's step would be caught
    assert np.abs(probe.attention(0, "self") - probe.attention(2000, "self")).max() > 3 * TOLERANCE

    again = offline_cli(cache, REPO, "--revisions", "step0,step2000..step4000", "--log-dir", logs, "--probes", PROBE)
    assert again.returncode == 0, again.stderr
    assert "replayed 1 checkpoint(s)" in again.stdout  # only step4000 is new
    assert read_run(logs).probe(read_run(logs).probes[0]).steps == [0, 1000, 2000, 4000]


def test_one_repository_per_step_replays_from_the_steps_in_the_names(hub, tmp_path):
    cache, _ = hub
    logs = str(tmp_path / "multiberts")
    done = offline_cli(
        cache,
        "--checkpoint",
        "tiny-org/bert-seed_0-step_1k",
        "--checkpoint",
        "tiny-org/bert-seed_0-step_2k@main",
        "--log-dir",
        logs,
        "--probes",
        PROBE,
    )
    assert done.returncode == 0, done.stderr
    assert read_run(logs).probe(read_run(logs).probes[0]).steps == [1000, 2000]


def test_what_is_not_in_the_cache_is_refused_before_any_model_loads(hub, tmp_path):
    cache, _ = hub
    logs = str(tmp_path / "none")
    missing = offline_cli(cache, REPO, "--revisions", "step0,step3000", "--log-dir", logs, "--probes", PROBE)
    assert missing.returncode != 0
    assert "has no revision 'step3000' in the local cache" in missing.stderr
    assert "step0, step1000, step2000, step4000" in missing.stderr  # what it has, in step order
    unknown = offline_cli(cache, "tiny-org/other", "--revisions", "step0", "--log-dir", logs, "--probes", PROBE)
    assert "not in the local hub cache" in unknown.stderr and "HF_HUB_OFFLINE" in unknown.stderr
    nobranch = offline_cli(
        cache, "--checkpoint", "tiny-org/bert-seed_0-step_1k@v2", "--log-dir", logs, "--probes", PROBE
    )
    assert "has no revision 'v2' in the local cache" in nobranch.stderr
    assert not os.path.exists(logs)


@pytest.mark.parametrize(
    "name, step",
    [
        ("step1000", 1000),  # Pythia
        ("step1000-tokens4B", 1000),  # OLMo
        ("stage1-step1000-tokens5B", 1000),  # OLMo 2
        ("google/multiberts-seed_0-step_20k", 20000),  # MultiBERTs
        ("main", None),
        ("step1-step2", None),
        ("steps", None),
    ],
)
def test_the_step_is_read_from_the_name(name, step):
    assert step_of(name) == step


def test_revisions_are_chosen_by_name_range_and_spacing(monkeypatch):
    listed = ["main", "step0", "step1", "step2", "step4", "step512", "step1000", "step2000", "step3000", "v1"]
    monkeypatch.setattr(hub_revisions, "listed_revisions", lambda repo: listed)
    monkeypatch.setattr(hub_revisions, "_offline", lambda: True)

    def chosen(spec):
        return [(r.name, r.step) for r in choose_revisions("org/m", spec)]

    assert chosen("step0..step1000") == [
        ("step0", 0),
        ("step1", 1),
        ("step2", 2),
        ("step4", 4),
        ("step512", 512),
        ("step1000", 1000),
    ]
    assert [s for _, s in chosen("0..3000..1000")] == [0, 1000, 2000, 3000]
    assert [s for _, s in chosen("1..600..3")] == [1, 4, 512]  # each kept revision >= 3 steps after the last
    assert chosen(["step2000", "step1000..step2000", "v1:5000"]) == [
        ("step1000", 1000),
        ("step2000", 2000),
        ("v1", 5000),
    ]
    with pytest.raises(ValueError, match=r"'v1' names no training step .* give it as v1:STEP"):
        choose_revisions("org/m", "v1")
    with pytest.raises(ValueError, match=r"all hold step 1000: choose one, or give each its own step"):
        choose_revisions("org/m", "step1000,main:1000")
    with pytest.raises(ValueError, match=r"no revision in 'step5000..step9000' in the local cache"):
        choose_revisions("org/m", "step5000..step9000")
    for bad in ("1..", "a..b", "10..1", "0..10..0", "0..10..x"):
        with pytest.raises(ValueError, match="range|neither a step|EVERY"):
            choose_revisions("org/m", bad)
    with pytest.raises(ValueError, match="no revisions given"):
        choose_revisions("org/m", " , ")


def test_deleting_downloads_removes_only_what_the_replay_downloaded(hub, tmp_path):
    cache, folders = hub
    logs = str(tmp_path / "kept")
    done = offline_cli(cache, REPO, "--revisions", "step0", "--delete-downloads", "--log-dir", logs, "--probes", PROBE)
    assert done.returncode == 0, done.stderr
    scanned = huggingface_hub.scan_cache_dir(cache)  # offline nothing was downloaded: nothing is deleted
    assert {ref for repo in scanned.repos for rev in repo.revisions for ref in rev.refs} >= {*STEPS, "main"}

    copy = str(tmp_path / "cache")
    hub_cache.add_revision(copy, REPO, "step0", folders["step0"])
    before = hub_revisions.cached_commits(REPO, copy)
    hub_cache.add_revision(copy, REPO, "step1000", folders["step1000"])  # as a download during the replay
    hub_cache.add_revision(copy, REPO, "step2000", folders["step0"])  # the same files as step0: shared blobs
    hub_cache.point(copy, REPO, "step0-again", next(iter(before)))
    hub_revisions.delete_downloaded(REPO, before, copy)
    (left,) = huggingface_hub.scan_cache_dir(copy).repos
    assert {rev.commit_hash for rev in left.revisions} == before
    assert {ref for rev in left.revisions for ref in rev.refs} == {"step0", "step0-again"}
    model = os.path.join(next(iter(left.revisions)).snapshot_path, "model.safetensors")
    assert os.path.getsize(model) > 0  # the kept revision's blobs were not deleted with the copies' links
