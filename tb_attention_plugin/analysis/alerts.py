"""The model overview's alerts, from the per-head statistics: each rule, and the steps where it held.

- sharp (information): the head's normalized entropy fell below SHARP_ENTROPY and below SHARP_RATIO
  of its value at the first snapshot: nearly one-hot rows. Heads that specialise do this (induction,
  previous-token heads), so it is not a warning.
- collapse (warning): entropy collapse as Zhai et al. 2023 describe it. The head is sharp, and its
  largest attention logit grew to LOGIT_GROWTH times its first-snapshot value and past LOGIT_FLOOR.
  Dehghani et al. 2023 and Wortsman et al. 2023 report this logit growth before loss divergence; the
  floor is the line QK-clip holds logits to in Kimi K2's training (100). A head needs a logit margin
  of a few nats, not hundreds, to be one-hot: the sharp heads of our healthy runs stay at 75 or
  below (bench/collapse_runs.py, the induction demo), the unstable runs' pass 4,000. A sharp head
  whose logits stay there is a specialised head, not a collapse. Logs without `max_logit` (written
  before Dec 2026, or models whose logits are not measured) have no collapse alert, only sharp heads.
- sink (information): the head puts SINK_MASS or more of its attention on the first token, averaged
  over the query rows (Xiao et al. 2023).

Each alert is a head and the runs of consecutive snapshots where its rule held, as [first step, last
step] intervals; the tab shows the alerts whose interval holds the cursor step, with its first step.
"""

import numpy as np

SHARP_ENTROPY = 0.1
SHARP_RATIO = 0.1
LOGIT_GROWTH = 2.0
LOGIT_FLOOR = 100.0
SINK_MASS = 0.5


def rules():
    """The rules' constants, as the stats answer states them."""
    return {
        "sharp": {"entropy_below": SHARP_ENTROPY, "ratio_to_first": SHARP_RATIO},
        "collapse": {"logit_growth": LOGIT_GROWTH, "logit_floor": LOGIT_FLOOR},
        "sink": {"first_mass": SINK_MASS},
    }


def holds(stats):
    """{rule: bool [S, L, H]} from {statistic: float [S, L, H]}; a rule whose statistics the log lacks
    (collapse without a measured max_logit) is left out: it cannot tell, which is not "no alert"."""
    entropy = stats.get("entropy")
    out = {}
    with np.errstate(invalid="ignore"):
        if entropy is not None:
            entropy = np.asarray(entropy, dtype=np.float64)
            out["sharp"] = (entropy < SHARP_ENTROPY) & (entropy < SHARP_RATIO * entropy[:1])
        logits = stats.get("max_logit")
        logits = None if logits is None else np.asarray(logits, dtype=np.float64)
        if entropy is not None and logits is not None and np.isfinite(logits).any():
            grew = (logits >= LOGIT_GROWTH * logits[:1]) & (logits >= LOGIT_FLOOR)
            out["collapse"] = out["sharp"] & grew
        if stats.get("first") is not None:
            out["sink"] = np.asarray(stats["first"], dtype=np.float64) >= SINK_MASS
    return out


def alert_intervals(steps, stats):
    """{rule: [{layer, head, intervals: [[first step, last step], ...]}]}: the heads for which a rule
    held at some snapshot, with the runs of consecutive snapshots where it did."""
    steps = np.asarray(steps)
    out = {}
    for rule, held in holds(stats).items():
        found = []
        for layer, head in zip(*np.nonzero(held.any(axis=0))):
            found.append({"layer": int(layer), "head": int(head), "intervals": _runs(steps, held[:, layer, head])})
        out[rule] = found
    return out


def _runs(steps, held):
    edges = np.diff(np.concatenate([[0], held.astype(np.int8), [0]]))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0] - 1
    return [[int(steps[s]), int(steps[e])] for s, e in zip(starts, ends)]
