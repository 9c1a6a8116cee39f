"""The model overview's alert rules (analysis/alerts.py) on statistics made for them: a head that
becomes sharp while its largest logit stays put is a sharp head (information), one whose logit grows
with it is an entropy collapse (the warning), a log without max_logit has no collapse rule, and each
alert carries the runs of snapshots where its rule held."""

import numpy as np

from tb_attention_plugin.analysis import alerts

STEPS = [0, 10, 20, 30, 40]


def series(*per_head):
    """[S, 1, heads] from one list of S values per head."""
    return np.array(per_head, dtype=np.float64).T[:, None, :]


def test_sharp_heads_collapse_only_when_their_logits_grow():
    stats = {
        # head 0 specialises (logits steady), head 1 collapses (logits x10), head 2 stays broad,
        # head 3 is sharp from the start (never fell: not an alert), head 4 sharpens and recovers
        "entropy": series(
            [0.8, 0.5, 0.05, 0.04, 0.03],
            [0.8, 0.5, 0.05, 0.04, 0.03],
            [0.9, 0.9, 0.9, 0.9, 0.9],
            [0.05, 0.05, 0.05, 0.05, 0.05],
            [0.8, 0.05, 0.5, 0.05, 0.05],
        ),
        "max_logit": series(
            [8, 9, 30, 40, 60],  # sharp with logits a healthy head has
            [8, 12, 300, 600, 800],
            [8, 900, 900, 900, 900],  # logits alone are no collapse
            [8, 8, 8, 8, 8],
            [30, 30, 30, 30, 30],
        ),
        "first": series([0.1] * 5, [0.1] * 5, [0.6, 0.6, 0.2, 0.6, 0.6], [0.1] * 5, [0.1] * 5),
    }
    found = alerts.alert_intervals(STEPS, stats)
    by_rule = {rule: {(a["layer"], a["head"]): a["intervals"] for a in heads} for rule, heads in found.items()}
    assert by_rule["sharp"] == {(0, 0): [[20, 40]], (0, 1): [[20, 40]], (0, 4): [[10, 10], [30, 40]]}
    assert by_rule["collapse"] == {(0, 1): [[20, 40]]}  # 300 >= 2 x 8 and >= 100 from step 20
    assert by_rule["sink"] == {(0, 2): [[0, 10], [30, 40]]}
    assert alerts.rules()["collapse"] == {"logit_growth": alerts.LOGIT_GROWTH, "logit_floor": alerts.LOGIT_FLOOR}


def test_a_log_without_max_logit_has_sharp_heads_and_no_collapse_rule():
    stats = {"entropy": series([0.8, 0.05, 0.05, 0.05, 0.05]), "first": series([0.0] * 5)}
    found = alerts.alert_intervals(STEPS, stats)
    assert "collapse" not in found and found["sharp"] == [{"layer": 0, "head": 0, "intervals": [[10, 40]]}]
    nan_logits = dict(stats, max_logit=series([np.nan] * 5))  # a model whose logits are not measured
    assert "collapse" not in alerts.alert_intervals(STEPS, nan_logits)
