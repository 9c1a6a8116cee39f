"""Head types derived from the per-head statistics, and the step at which each head formed.

A head has a type at a step when the type's statistic reaches its threshold there (several types may
hold at once). A head is given a type when it held it at the last FORMED_SNAPSHOTS logged snapshots
(at every snapshot of a shorter run): one snapshot over a threshold is noise, not a head that formed.
It "formed at step N" when N is the first logged step from which the type held at every later
snapshot. Thresholds follow Clark et al. 2019 (positional heads > 0.5) and Olsson et al. 2022
(induction; duplicate-token heads, Wang et al. 2022, take the same line); they are documented in
docs/format.md.

A type is judged where it applies: induction and duplicate scores count only the rows whose token came
before. A head that matches tokens rests somewhere on the rows with nothing to match (an induction head
in a probe's unrepeated part sits on its own token), so "self" must hold on the rows whose token came
before as well (`self_repeated`); else a single head would be typed both induction and self.
"""

import numpy as np

# type name -> (statistic, threshold): a head has the type when statistic >= threshold.
HEAD_TYPES = {
    "previous-token": ("prev", 0.5),
    "next-token": ("next", 0.5),
    "self": ("self", 0.5),
    "first-token": ("first", 0.5),
    "separator": ("sep", 0.5),
    "induction": ("induction", 0.4),
    "duplicate-token": ("duplicate", 0.4),
    "broad": ("entropy", 0.85),
}


# type -> the statistic that must also reach the threshold where it is defined (see above)
ALSO_WHERE_MATCHING = {"self": "self_repeated"}

# consecutive snapshots up to the last that a type (or a relation's accuracy) must hold to count as formed
FORMED_SNAPSHOTS = 3


def held_at_the_end(holds):
    """bool [S, ...] -> bool [...]: held at the last FORMED_SNAPSHOTS snapshots (all of a shorter run)."""
    return np.asarray(holds)[-FORMED_SNAPSHOTS:].all(axis=0)


def _holds(values, threshold, also):
    """bool [S, L, H]: the statistic reaches the threshold (NaN does not) and so does `also` (an
    array of the same shape, or None) wherever it is defined."""
    with np.errstate(invalid="ignore"):
        holds = values >= threshold
        if also is not None:
            holds &= ~(np.asarray(also, dtype=np.float64) < threshold)
    return holds


def thresholds():
    return {name: {"stat": stat, "threshold": t} for name, (stat, t) in HEAD_TYPES.items()}


def classify_heads(steps, stats):
    """steps: sorted list[int]; stats: {name: float array [S, L, H]} -> list of dicts.

    One dict per (head, type) held at the last FORMED_SNAPSHOTS snapshots: layer, head, type, score
    (the statistic at the last step) and formed_step.
    """
    result = []
    if not steps:
        return result
    steps = np.asarray(steps)
    for type_name, (stat, threshold) in HEAD_TYPES.items():
        values = stats.get(stat)
        if values is None:
            continue
        values = np.asarray(values, dtype=np.float64)
        holds = _holds(values, threshold, stats.get(ALSO_WHERE_MATCHING.get(type_name)))
        formed = held_at_the_end(holds)
        if not formed.any():
            continue
        # Index of the first step of the final unbroken run of True, per head.
        broken = ~holds
        last_break = np.where(broken.any(axis=0), len(steps) - 1 - np.argmax(broken[::-1], axis=0), -1)
        for layer, head in zip(*np.nonzero(formed)):
            result.append(
                {
                    "layer": int(layer),
                    "head": int(head),
                    "type": type_name,
                    "score": float(values[-1, layer, head]),
                    "formed_step": int(steps[last_break[layer, head] + 1]),
                }
            )
    result.sort(key=lambda r: (r["layer"], r["head"], r["type"]))
    return result
