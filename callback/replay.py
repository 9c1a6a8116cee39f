"""Attention over training for runs that never had the callback: replay their saved checkpoints.

    from .replay import replay
    replay("out", ["The cat sat on the mat."], log_dir="logs/replayed")   # out/checkpoint-N/ ...

or `tb-attention replay out --probes "The cat sat on the mat."`. Every `checkpoint-N` folder of a
Trainer output directory (or an explicit list of (model directory, step)) is loaded in step order, one
model at a time, and its probes run exactly as the callback runs them (ProbeRunner: the same inputs,
checks and eager attention); the snapshots are written at the checkpoint steps, with the run's loss and
metrics from `trainer_state.json`, so the tab shows the run as if the callback had been there. PEFT
adapter checkpoints load their base model first. Re-running skips the checkpoints already logged.

A published checkpoint series replays the same way, one hub revision at a time through the standard
cache: `replay("EleutherAI/pythia-70m", probes, "logs/pythia", revisions="step1000..step20000")`
(hub_revisions.py says which revisions and steps).
"""

import gc
import json
import os
import re
from typing import NamedTuple

from tb_attention_plugin.reading.reader import read_run
from tb_attention_plugin.writer.summary_writer import AttentionSummaryWriter

from .hub_revisions import (
    cached_commits,
    check_hub_revision,
    choose_revisions,
    delete_downloaded,
    looks_like_repo_id,
    step_of,
)
from .probe_options import ProbeOptions
from .probes.sentences import DEFAULT_MAX_TOKENS
from .snapshot_driver import SnapshotDriver

_CHECKPOINT = re.compile(r"^checkpoint-([0-9]+)$")
_TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json", "vocab.txt", "tokenizer.model", "vocab.json")


class Checkpoint(NamedTuple):
    step: int
    path: str  # a local model directory, or a hub repository id when `revision` is set
    revision: str | None = None


def find_checkpoints(output_dir):
    """The `checkpoint-N` folders of a Trainer output directory, in step order."""
    if not os.path.isdir(output_dir):
        raise FileNotFoundError(
            f"{output_dir} is not a directory: pass a Trainer output_dir holding checkpoint-N folders, "
            f"or a hub repository id with revisions= (--revisions)"
        )
    found = sorted(
        Checkpoint(int(m.group(1)), os.path.join(output_dir, name))
        for name in os.listdir(output_dir)
        if (m := _CHECKPOINT.match(name)) and os.path.isdir(os.path.join(output_dir, name))
    )
    if not found:
        raise ValueError(
            f"{output_dir} holds no checkpoint-N folders: pass the output_dir of a Trainer that saved "
            f"checkpoints (save_strategy='steps'), or model directories with their steps"
        )
    return found


def explicit_checkpoints(pairs):
    """[(model directory, step)] or ["DIR:STEP"] -> checkpoints in step order. A hub repository
    (`ORG/NAME[@REVISION]`, not a local path) may stand for a directory, its step read from its name
    when it holds one (MultiBERTs' `..._step_20k`)."""
    found = []
    for pair in pairs:
        path, step = _path_and_step(pair)
        try:
            step = int(step)
        except ValueError:
            raise ValueError(f"{pair!r}: the step after ':' must be an integer") from None
        if step < 0:
            raise ValueError(f"{pair!r}: the step must be >= 0")
        found.append(_local_or_hub(step, os.fspath(path)))
    steps = [c.step for c in found]
    if len(set(steps)) != len(steps):
        raise ValueError(f"two model directories have the same step: {sorted(steps)}")
    return sorted(found)


def _path_and_step(pair):
    if not isinstance(pair, str):
        return pair
    named = step_of(pair.split("@")[0])  # a hub repository's name: ORG/NAME[@REVISION]
    if ":" not in pair and not os.path.exists(pair) and named is not None:
        return pair, named
    if ":" not in pair:
        raise ValueError(f"{pair!r}: give the model directory with its step, as DIR:STEP")
    return pair.rsplit(":", 1)


def _local_or_hub(step, path):
    if os.path.exists(path) or not looks_like_repo_id(path.split("@")[0]):
        return Checkpoint(step, path)
    repo, _, revision = path.partition("@")
    return Checkpoint(step, repo, revision or "main")


def check_checkpoint(checkpoint):
    """A clear error for a folder that holds no model: before anything is loaded."""
    if checkpoint.revision is not None:
        check_hub_revision(checkpoint.path, checkpoint.revision)
        return
    has = set(os.listdir(checkpoint.path)) if os.path.isdir(checkpoint.path) else None
    if has is None:
        raise FileNotFoundError(f"{checkpoint.path} (step {checkpoint.step}) is not a directory")
    if "config.json" not in has and "adapter_config.json" not in has:
        raise ValueError(
            f"{checkpoint.path} (step {checkpoint.step}) is not a model checkpoint: it holds neither "
            f"config.json (a saved model) nor adapter_config.json (a PEFT adapter)"
        )


def load_model(path, base_model=None, revision=None):
    """The model saved in `path` (or the hub repository `path` at `revision`), with eager attention
    (its probes need the attention weights); a PEFT adapter is loaded onto its base model
    (`base_model`, else the one its config names)."""
    if revision is not None:
        return _load_full(path, f"{path} at revision {revision}", revision)
    if os.path.exists(os.path.join(path, "adapter_config.json")):
        from peft import PeftConfig, PeftModel

        base = base_model or PeftConfig.from_pretrained(path).base_model_name_or_path
        return PeftModel.from_pretrained(_load_full(base, f"the base model of the adapter in {path}"), path)
    return _load_full(path, path)


def _load_full(path, what, revision=None):
    import transformers

    # a hub revision goes through the standard cache (and obeys HF_HUB_OFFLINE); a directory is local
    where = {"revision": revision} if revision is not None else {"local_files_only": True}
    try:
        config = transformers.AutoConfig.from_pretrained(path, **where)
        names = getattr(config, "architectures", None) or []
        model_class = getattr(transformers, names[0], None) if names else None
        model_class = model_class or transformers.AutoModel
        return model_class.from_pretrained(path, attn_implementation="eager", **where).eval()
    except OSError as e:
        raise ValueError(
            f"cannot load {what} from {path!r} ({e}); pass base_model= (--base-model) a local path"
        ) from None


def load_tokenizer(paths):
    """The tokenizer saved with the checkpoints (the Trainer saves its processing_class there)."""
    from transformers import AutoTokenizer

    for path in paths:
        if os.path.isdir(path) and any(os.path.exists(os.path.join(path, f)) for f in _TOKENIZER_FILES):
            return AutoTokenizer.from_pretrained(path, local_files_only=True)
    raise ValueError(
        f"no tokenizer saved in {paths[0]} or next to it: pass tokenizer= (--tokenizer) a local tokenizer directory"
    )


def load_hub_tokenizer(checkpoint):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(checkpoint.path, revision=checkpoint.revision)
    except (OSError, ValueError) as e:
        raise ValueError(
            f"no tokenizer in {checkpoint.path} at revision {checkpoint.revision} ({e}): "
            f"pass tokenizer= (--tokenizer) a tokenizer directory"
        ) from None


def _logged(log_dir):
    """(steps every probe of the run directory has a snapshot at, {scalar tag: steps})."""
    if not os.path.isdir(log_dir):
        return set(), {}
    run = read_run(log_dir)
    per_probe = [set(run.probe(name).steps) for name in run.probes]
    steps = set.intersection(*per_probe) if per_probe else set()
    return steps, {tag: set(run.scalars(tag)[0].tolist()) for tag in run.scalar_tags}


def _log_history(checkpoints):
    """The log history of the latest checkpoint that has one (it holds the earlier ones)."""
    for checkpoint in reversed([c for c in checkpoints if c.revision is None]):  # hub revisions have none
        state = os.path.join(checkpoint.path, "trainer_state.json")
        if os.path.exists(state):
            with open(state) as f:
                return json.load(f).get("log_history", [])
    return []


def _write_scalars(writer, history, logged):
    from transformers.integrations.integration_utils import rewrite_logs  # the TensorBoardCallback's tags

    for entry in history:
        step = entry.get("step")
        if not isinstance(step, int):
            continue
        values = rewrite_logs({k: v for k, v in entry.items() if k != "step"})
        new = {tag: v for tag, v in values.items() if step not in logged.get(tag, ())}
        if new:
            writer.add_scalars(new, step)


def replay(
    source,
    probes,
    log_dir=None,
    *,
    names=None,
    max_tokens=DEFAULT_MAX_TOKENS,
    induction_probe=None,
    tokenizer=None,
    base_model=None,
    progress=True,
    relations=None,
    predictions=None,
    neurons=None,
    attention_budget=None,
    attention_heads="changed",
    revisions=None,
    keep_downloads=True,
):
    """Write attention snapshots of `probes` at every checkpoint of `source` into `log_dir`.

    source: a Trainer output directory (its checkpoint-N folders), or [(model directory, step)] /
        ["DIR:STEP"], or a hub repository id with `revisions`. log_dir: the run directory (default:
        SOURCE/runs/replay for an output directory).
    revisions: hub revisions of `source` by name ("step1000", "NAME:STEP") or range
        ("step1000..step20000", "0..143000..10000"), as hub_revisions.choose_revisions reads them.
    keep_downloads: False deletes each hub revision the replay downloaded once its snapshot is
        written (what the cache held before stays).
    tokenizer: a tokenizer or its directory (default: the one saved with the checkpoints);
    base_model: PEFT adapter checkpoints' base model directory (default: the adapter's config's).
    Other arguments (names, max_tokens, induction_probe, relations, predictions, neurons,
    attention_budget, attention_heads) as for AttentionCallback (neurons' "every" counts checkpoints;
    the budget is shared among the checkpoints).
    -> the steps written (checkpoints already in log_dir are skipped)."""
    options = ProbeOptions(
        probes, names, max_tokens, induction_probe, relations, predictions, neurons, attention_budget, attention_heads
    )  # bad options: first
    log_dir, output_dir = _where_to(log_dir, source, revisions)
    checkpoints = _checkpoints_of(source, revisions)
    done, scalars = _logged(log_dir)
    todo = [c for c in checkpoints if c.step not in done]
    after_each = _download_cleaner(checkpoints, keep_downloads)
    tokenizer = _tokenizer_of(tokenizer, checkpoints, output_dir)
    bar = _progress(todo, progress)
    with AttentionSummaryWriter(log_dir, background=True) as writer:
        _snapshot_each(writer, bar, checkpoints, options, tokenizer, base_model, after_each)
        _write_scalars(writer, _log_history(checkpoints), scalars)
    return [c.step for c in todo]


def _where_to(log_dir, source, revisions):
    """-> (the run directory to write, the Trainer output directory replayed or None)."""
    output_dir = os.fspath(source) if isinstance(source, (str, os.PathLike)) and revisions is None else None
    if log_dir is None and output_dir is None:
        raise ValueError("log_dir is needed when the checkpoints are given as a list or as hub revisions")
    return (os.fspath(log_dir) if log_dir is not None else os.path.join(output_dir, "runs", "replay")), output_dir


def _checkpoints_of(source, revisions):
    """Every checkpoint to replay, each checked (before anything is loaded)."""
    if revisions is None:
        from_output_dir = isinstance(source, (str, os.PathLike))
        checkpoints = find_checkpoints(os.fspath(source)) if from_output_dir else explicit_checkpoints(source)
        for checkpoint in checkpoints:
            check_checkpoint(checkpoint)
        return checkpoints
    source = os.fspath(source) if isinstance(source, os.PathLike) else source
    if not isinstance(source, str) or os.path.exists(source) or not looks_like_repo_id(source):
        raise ValueError(f"revisions= needs a hub repository id (ORG/NAME) as the source, not {source!r}")
    return [Checkpoint(r.step, source, r.name) for r in choose_revisions(source, revisions)]


def _tokenizer_of(tokenizer, checkpoints, output_dir):
    """The tokenizer given, or loaded from the directory given, else from the checkpoints' folders
    (then the output directory), else the latest hub revision's."""
    if tokenizer is not None and not isinstance(tokenizer, (str, os.PathLike)):
        return tokenizer
    hub = [c for c in checkpoints if c.revision is not None]
    if tokenizer is None and hub:
        return load_hub_tokenizer(hub[-1])
    paths = [os.fspath(tokenizer)] if tokenizer is not None else [c.path for c in checkpoints]
    return load_tokenizer(paths + ([output_dir] if output_dir is not None else []))


def _download_cleaner(checkpoints, keep_downloads):
    """-> what to do once a checkpoint's snapshot is written: with keep_downloads=False, delete the
    hub revisions downloaded since now (the commits cached now are kept)."""
    repos = {c.path for c in checkpoints if c.revision is not None}
    if keep_downloads or not repos:
        return lambda checkpoint: None
    kept = {repo: cached_commits(repo) for repo in repos}

    def delete_new(checkpoint):
        if checkpoint.revision is not None:
            delete_downloaded(checkpoint.path, kept[checkpoint.path])

    return delete_new


def _snapshot_each(writer, todo, checkpoints, options, tokenizer, base_model, after_each):
    """Load each checkpoint of `todo` in turn (one model at a time) and write its probes' snapshot
    with the replay's one writer; `checkpoints` (all of them) count which capture the neuron view."""
    declared = []

    def open_writer(runner):  # the writer of the whole replay, its probes declared once
        if not declared:
            runner.declare(writer)
            writer.keep_drift_reference = runner.plan.keeps_reference  # before the first snapshot
            declared.append(True)
        return writer

    for checkpoint in todo:
        # each checkpoint is a run of its own: the first pass, at these weights, is its snapshot
        driver = SnapshotDriver(options)
        driver.start(
            load_model(checkpoint.path, base_model, checkpoint.revision),
            tokenizer,
            checkpoint.step,
            open_writer,
            capture_neurons=_captures_neurons(options, checkpoints.index(checkpoint)),
            planned_snapshots=len(checkpoints),
        )
        writer.flush()
        del driver
        gc.collect()
        after_each(checkpoint)


def _progress(items, enabled):
    if not enabled or not items:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc="tb-attention replay", unit="checkpoint")


def _captures_neurons(options, index):
    """Whether the index-th checkpoint captures the neuron view: every k-th one."""
    neurons = options.neuron_options
    return not (neurons is not None and index % (neurons.every or 1))  # checkpoints are few: all, unless told
