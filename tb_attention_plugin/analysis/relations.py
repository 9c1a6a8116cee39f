"""Labelled relations between a probe's words (coreference `it -> cat`, object -> verb, ...) over
training: the one home of their measures, used by the writer, `read_run` and the plugin (numpy only).

A probe's metadata may hold `word_of` ({token list name: word index or -1 per token}) and
`relations` ([{"relation", "source": [[side, word]...], "target": [[side, word]...], "source_text",
"target_text"}]). In a kind whose query side holds a relation's source word and whose key side its
target word, each snapshot stores the relation's word attention (`features`): from the source word
(its tokens' rows, averaged) to every word of the key side (the word's tokens' columns, summed), per
head; the source word's own column is NaN (a word does not "choose" itself); the metadata's part, its
checks and the instances it holds, is the format's (format/metadata.py). From those:
- mass: the attention from source to target;
- accuracy (Clark et al. 2019): whether the target is the word the head attends to most;
- a probing classifier: a linear combination of every head's word attention, fitted to pick the
  target among the candidate words (ridge regression on the candidates, solved in its dual form),
  scored on held-out relation instances (leave-one-out up to 10 instances, else 5 folds); with fewer
  than MIN_HELDOUT_PAIRS instances it gives no accuracy ("too few pairs"), only its weights.
Both accuracies are proportions of `pairs` instances: each comes with its 95% Wilson interval
(uncertainty.py), so 1.00 from 3 pairs reads [0.44, 1.00].
"""

from typing import NamedTuple

import numpy as np

from ..format import arrays
from .head_types import held_at_the_end
from .uncertainty import wilson_interval

FORMED_ACCURACY = 0.5  # a relation has "formed" once its best head picks the target this often
CLASSIFIER_STEPS = 64  # steps the classifier is fitted at, at most (evenly spread, the last included)
RIDGE = 1e-2
MIN_HELDOUT_PAIRS = 10  # fewer labelled pairs give no held-out accuracy (a few pairs say little)


def features(attention, meta):
    """float attention [L, H, Q, K] -> float32 [instances, key words, L, H] (see the module doc), or
    None when this kind measures no relation."""
    found, words = meta.relation_instances(), meta.relation_key_words()
    if not found or not words:
        return None
    # an array on an accelerator (format/arrays.py) is measured there: only the features come back
    a = attention if arrays.is_foreign(attention) else np.asarray(attention, dtype=np.float32)
    xp = arrays.namespace(a)
    membership = np.zeros((a.shape[-1], len(words)), np.float32)
    for w, tokens in enumerate(words):
        membership[tokens, w] = 1.0
    membership = arrays.like(a, membership)
    out = np.empty((len(found), len(words)) + tuple(a.shape[:2]), np.float32)
    query_of = (meta.word_of or {}).get(meta.query)
    for i, inst in enumerate(found):
        rows = xp.mean(arrays.float32(a[:, :, list(inst.source_tokens), :]), axis=2)  # [L, H, K]
        out[i] = np.moveaxis(arrays.to_host(rows @ membership), -1, 0)
        if meta.query == meta.key:
            out[i, query_of[inst.source_tokens[0]]] = np.nan  # the source word itself
    return out


class Measured(NamedTuple):
    """One relation across the probes of a run."""

    relation: str
    instances: list  # [(probe, kind, source_text, target_text)]
    steps: list
    mass: object  # float32 [steps, L, H]
    accuracy: object  # float32 [steps, L, H]
    classifier_steps: list
    classifier_accuracy: list  # held-out accuracy at each classifier step
    classifier_weights: object  # float32 [L, H] at the last classifier step
    formed_step: object  # int or None
    pairs: int  # labelled instances: each accuracy is a proportion of them (NaN: too few to hold out)

    def accuracy_interval(self):
        """(low, high) float32 [steps, L, H]: the 95% Wilson interval of each head's accuracy."""
        low, high = wilson_interval(self.accuracy * self.pairs, self.pairs)
        return low.astype(np.float32), high.astype(np.float32)

    def classifier_interval(self):
        """[(low, high)] at each classifier step: the 95% Wilson interval of its held-out accuracy
        (NaN where there is none: fewer than MIN_HELDOUT_PAIRS pairs)."""
        acc = np.asarray(self.classifier_accuracy, dtype=np.float64)
        low, high = wilson_interval(acc * self.pairs, self.pairs)
        return list(zip(low.tolist(), high.tolist()))


def measure(series):
    """series: [(probe, kind, meta, steps, float32 [S, instances, words, L, H])] of one model size ->
    [Measured], one per relation name (steps: those every probe holding that relation logged)."""
    by_name = {}
    for probe, kind, meta, steps, feats in series:
        for i, inst in enumerate(meta.relation_instances()):
            by_name.setdefault(inst.relation, []).append(
                (probe, kind, inst, dict(zip(steps, range(len(steps)))), feats, i)
            )
    out = []
    for name, rows in by_name.items():
        steps = sorted(set.intersection(*(set(r[3]) for r in rows)))
        if not steps:
            continue
        picked = [[r[4][r[3][s], r[5]] for r in rows] for s in steps]  # [S][instances] of [W, L, H]
        targets = [r[2].target for r in rows]
        mass = np.stack([np.mean([f[t] for f, t in zip(per_step, targets)], axis=0) for per_step in picked])
        accuracy = np.stack([np.mean([_hits(f, t) for f, t in zip(per_step, targets)], axis=0) for per_step in picked])
        chosen = _spread(len(steps), CLASSIFIER_STEPS)
        fitted = [classify(picked[i], targets) for i in chosen]
        best = np.nanmax(accuracy.reshape(len(steps), -1), axis=1)
        out.append(
            Measured(
                relation=name,
                instances=[(r[0], r[1], r[2].source_text, r[2].target_text) for r in rows],
                steps=steps,
                mass=mass.astype(np.float32),
                accuracy=accuracy.astype(np.float32),
                classifier_steps=[steps[i] for i in chosen],
                classifier_accuracy=[f[0] for f in fitted],
                classifier_weights=fitted[-1][1],
                formed_step=formed(steps, best),
                pairs=len(rows),
            )
        )
    return sorted(out, key=lambda m: m.relation)


def _hits(feats, target):
    """[L, H]: 1 where the target is the most-attended word (ties count for the first)."""
    filled = np.where(np.isnan(feats), -np.inf, feats)
    return (np.argmax(filled, axis=0) == target).astype(np.float32)


def _spread(n, most):
    return sorted(set(np.linspace(0, n - 1, min(n, most)).round().astype(int).tolist()))


def formed(steps, best):
    """The first step from which `best` stays >= FORMED_ACCURACY to the end, or None when it does not
    hold at the last FORMED_SNAPSHOTS snapshots (head_types: one snapshot over the line is noise)."""
    holds = np.asarray(best) >= FORMED_ACCURACY
    if not len(holds) or not held_at_the_end(holds):
        return None
    broken = np.nonzero(~holds)[0]
    return int(steps[broken[-1] + 1] if len(broken) else steps[0])


def _fit(rows, targets):
    """Ridge weights over heads from candidate rows ([W_i, L*H] per instance, NaN rows dropped)."""
    x = np.concatenate(rows)
    y = np.concatenate([np.arange(len(r)) == t for r, t in zip(rows, targets)]).astype(np.float64)
    gram = x @ x.T
    ridge = RIDGE * (np.trace(gram) / len(x) + 1e-12)
    alpha = np.linalg.solve(gram + ridge * np.eye(len(x)), y - y.mean())
    return x.T @ alpha


def classify(per_instance, targets):
    """(held-out accuracy, float32 [L, H] weights fitted on every instance) of the probing classifier
    at one step; per_instance: [W, L, H] word attention of each instance. The accuracy is NaN with
    fewer than MIN_HELDOUT_PAIRS instances, the weights with fewer than 2."""
    shape = per_instance[0].shape[1:]
    rows, kept = [], []
    for feats, target in zip(per_instance, targets):
        flat = np.nan_to_num(feats.reshape(len(feats), -1).astype(np.float64), nan=0.0)
        rows.append(flat)
        kept.append(target)
    n = len(rows)
    if n < 2:
        return float("nan"), np.full(shape, np.nan, np.float32)
    weights = _fit(rows, kept).reshape(shape).astype(np.float32)
    if n < MIN_HELDOUT_PAIRS:
        return float("nan"), weights
    folds = [[i] for i in range(n)] if n <= 10 else [list(range(k, n, 5)) for k in range(5)]
    correct = 0
    for held in folds:
        train = [i for i in range(n) if i not in held]
        fold = _fit([rows[i] for i in train], [kept[i] for i in train])
        for i in held:
            scores = rows[i] @ fold
            scores[np.isnan(per_instance[i][:, 0, 0])] = -np.inf  # the source word is no candidate
            correct += int(np.argmax(scores) == kept[i])
    return correct / n, weights
